// A real single-node Kubernetes cluster on this machine, for tests and `make cluster`:
// kube-testenv's control plane (etcd, kube-apiserver, the garbage-collector and namespace
// controllers) plus what pods need, all from the same k8s.io/kubernetes release
// (test/controlplane/go.mod) or from Debian:
//
//   host network namespace, loopback only   kube-apiserver, etcd (kube-testenv)
//                                           kube-controller-manager, every other controller
//                                           kube-scheduler                  (bin/kube-node)
//   ┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄┄
//   the node: network namespace maaslab-node-XXXX (made here) and a private mount namespace
//     node0 10.245.N.1/30, default route          kubelet, kube-proxy (iptables) (bin/kube-node)
//                                                 kube-network-policies (bin/kube-network-policies)
//     cni0 (bridge) 10.244.0.1/24, the pods      containerd + runc (Debian), cgroupfs driver
//     0.0.0.0:<apiserver port> ──▶ Unix socket ──▶ this process ──▶ 127.0.0.1:<apiserver port>
//   host end of node0's veth pair: 10.245.N.2/30 (N random), so that the apiserver reaches the
//   kubelet at its InternalIP (logs, exec, port-forward); nothing listens on it.
//
// Nothing listens on a host interface but loopback; the pod network is Debian's
// containernetworking-plugins bridge inside the node's namespace. The sandbox ("pause")
// image is hack/build-pause-image.sh's, imported with `ctr images import`: no registry.
//
// The node's processes share one private mount namespace (a `sleep` held by `unshare`):
// containerd's overlay mounts, the kubelet's volume mounts and the pods' network namespace
// files all live there and go away with it, so nothing is ever mounted on the host. In it,
// three kernel sysctls the kubelet would otherwise rewrite machine-wide (vm.overcommit_memory,
// kernel.panic, kernel.panic_on_oops: see setupKernelTunables in the kubelet's container
// manager) are covered by files that already hold the kubelet's values; the host keeps its own.
//
// Teardown stops only what was started here, by process group, then the containers'
// shims (the processes left in that mount namespace), removes the node's cgroups and
// deletes the network namespace.
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { closeSync, openSync } from 'node:fs';
import {
  access,
  constants,
  mkdir,
  mkdtemp,
  readFile,
  readdir,
  readlink,
  rm,
  rmdir,
  writeFile,
} from 'node:fs/promises';
import { createConnection, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { CoreV1Api, DiscoveryV1Api, type V1EndpointSlice } from '@kubernetes/client-node';
import { type ControlPlane, repoRoot, startControlPlane } from './controlplane.js';
import { divertToQueue, enforcerArgs, NFQUEUE_ID, queueBound } from './network-policy.js';
import { waitFor } from './wait.js';

const exec = promisify(execFile);
const FORWARDER = fileURLToPath(new URL('./netns-forwarder.mjs', import.meta.url));

/** The pods' addresses: private to the node's network namespace, so fixed. */
export const POD_CIDR = '10.244.0.0/24';
/** Containerd's CRI namespace, where the kubelet finds its images. */
const K8S_NAMESPACE = 'k8s.io';
/** The v1 hierarchies the kubelet's cgroupfs driver writes (cgroup v2 has one, at the root). */
const CGROUP_V1 = [
  'cpu',
  'cpuacct',
  'cpuset',
  'memory',
  'devices',
  'freezer',
  'blkio',
  'pids',
  'systemd',
  'hugetlb',
  'net_cls',
  'net_prio',
  'perf_event',
];
/** Sysctls the kubelet insists on (its setupKernelTunables), faked inside the node's mount namespace. */
const KUBELET_SYSCTLS: Readonly<Record<string, string>> = {
  '/proc/sys/vm/overcommit_memory': '1',
  '/proc/sys/kernel/panic': '10',
  '/proc/sys/kernel/panic_on_oops': '1',
};

/** Options for {@link startCluster}. */
export interface ClusterOptions {
  /** A control plane to add the node to; default: a new one, stopped with the cluster. */
  controlPlane?: ControlPlane;
  /** The Node's name (default `maaslab-node-XXXX`, as its network namespace). */
  nodeName?: string;
  /** Labels the kubelet registers the Node with. */
  nodeLabels?: Readonly<Record<string, string>>;
  /** Taints the kubelet registers the Node with (`key=value:Effect`), e.g. to keep other tests' pods off. */
  nodeTaints?: readonly string[];
  /** How long to wait for the Node to be Ready (default 5 min: a loaded machine is slow). */
  readyTimeoutMs?: number;
  /**
   * Enforce NetworkPolicies with kube-network-policies (test/support/network-policy.ts);
   * default true. The enforcer runs before the kubelet, so no pod ever runs unenforced.
   */
  networkPolicies?: boolean;
  /** Keep the state directory (logs, configs) after stop(); default: removed. */
  keepDir?: boolean;
  /** Progress messages (default: none). */
  log?: (message: string) => void;
}

/** A running cluster. */
export interface Cluster {
  readonly controlPlane: ControlPlane;
  /** The state directory; `logs/` holds each component's log. */
  readonly dir: string;
  readonly nodeName: string;
  /** The node's network namespace. */
  readonly netns: string;
  /** The Node's InternalIP: in its namespace, routed to from the host through a veth pair. */
  readonly nodeIP: string;
  /** The kubelet's cgroup root (in each v1 hierarchy, or under the v2 root). */
  readonly cgroupRoot: string;
  /** The admin kubeconfig (the control plane's). */
  readonly kubeconfig: string;
  /** Containerd's socket, for `ctr --address`. */
  readonly containerdSocket: string;
  /** The sandbox image's name, as containerd knows it. */
  readonly pauseImage: string;
  /** Milliseconds from the call to the Node Ready, and per step. */
  readonly timings: Readonly<Record<string, number>>;
  /** Runs `ctr -n k8s.io ARGS` against the node's containerd; resolves with stdout. */
  ctr(args: readonly string[]): Promise<string>;
  /** Imports an OCI archive into the node's containerd (the kubelet's namespace); returns the image names. */
  importImage(archive: string): Promise<string[]>;
  /** Stops everything started here, in order; safe to call twice. */
  stop(): Promise<void>;
}

/** Started processes, each the leader of its own process group. */
interface Proc {
  readonly name: string;
  readonly child: ChildProcess;
  readonly exited: Promise<unknown>;
  readonly log: string;
}

/**
 * Starts a control plane (or uses `options.controlPlane`), the node's network and mount
 * namespaces, containerd, the kubelet, kube-proxy, kube-scheduler and the rest of the
 * controllers, and resolves once the Node is Ready. On failure everything started is
 * stopped and the error carries the end of the failing component's log.
 */
export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const began = Date.now();
  const timings: Record<string, number> = {};
  const mark = (step: string, since: number): void => {
    timings[step] = Date.now() - since;
  };
  const say = options.log ?? ((): void => undefined);
  const kubeNode = process.env.KUBE_NODE ?? join(repoRoot, 'bin', 'kube-node');
  const kubeTestenv = process.env.KUBE_TESTENV ?? join(repoRoot, 'bin', 'kube-testenv');
  const enforce = options.networkPolicies ?? true;
  const netpolBin = join(repoRoot, 'bin', 'kube-network-policies');
  for (const bin of [kubeNode, kubeTestenv, ...(enforce ? [netpolBin] : [])]) {
    try {
      await access(bin, constants.X_OK);
    } catch (err) {
      throw new Error(
        `${bin} is missing: run 'make kube-testenv kube-node kube-network-policies'`,
        {
          cause: err,
        },
      );
    }
  }
  for (const tool of ['containerd', 'runc', 'ctr', 'ip', 'iptables', 'nsenter', 'unshare']) {
    await exec('sh', ['-c', `command -v ${tool}`]).catch((err: unknown) => {
      throw new Error(`${tool} is missing: run 'make system-packages'`, { cause: err });
    });
  }
  await access('/usr/lib/cni/bridge', constants.X_OK).catch((err: unknown) => {
    throw new Error("Debian's containernetworking-plugins is missing: run 'make system-packages'", {
      cause: err,
    });
  });

  const tag = randomBytes(2).toString('hex');
  const netns = `maaslab-node-${tag}`;
  const nodeName = options.nodeName ?? netns;
  const cgroupRoot = `/maaslab-node-${tag}`;
  // A /30 of 10.245.0.0/16 per cluster, one that no interface of the host has yet, so that
  // two clusters on one machine do not collide.
  const inUse = (await exec('ip', ['-o', '-4', 'addr', 'show'])).stdout;
  let octet = randomBytes(1)[0]! % 64;
  while (inUse.includes(`10.245.${octet * 4}.`)) octet = (octet + 1) % 64;
  const nodeIP = `10.245.${octet * 4}.1`;
  const hostSideIP = `10.245.${octet * 4}.2`;
  const hostVeth = `mlnode${tag}`;
  const dir = await mkdtemp(join(tmpdir(), 'maaslab-cluster-'));
  const logs = join(dir, 'logs');
  await mkdir(logs);

  const procs: Proc[] = [];
  let holder: Proc | undefined;
  let apiProxy: Server | undefined;
  let ownControlPlane: ControlPlane | undefined;
  let netnsMade = false;
  let cgroupsMade = false;
  let nodeRegistered = false;
  let stopping: Promise<void> | undefined;

  /** Spawns a component in its own process group, its output to logs/NAME.log. */
  const start = (name: string, cmd: string, args: readonly string[]): Proc => {
    const log = join(logs, `${name}.log`);
    const fd = openSync(log, 'a');
    const child = spawn(cmd, args, { detached: true, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    const exited = once(child, 'exit').catch(() => undefined);
    const proc = { name, child, exited, log };
    procs.push(proc);
    return proc;
  };
  /** The same, inside the node's network and mount namespaces. */
  const startInNode = (name: string, cmd: string, args: readonly string[]): Proc => {
    if (!holder?.child.pid) throw new Error('the node mount namespace is not there');
    return start(name, 'nsenter', [
      `--mount=/proc/${holder.child.pid}/ns/mnt`,
      `--net=/run/netns/${netns}`,
      '--',
      cmd,
      ...args,
    ]);
  };
  const failed = async (proc: Proc, what: string): Promise<Error> =>
    new Error(`${proc.name} ${what}; the end of ${proc.log}:\n${await tail(proc.log, 30)}`);
  /** Resolves when `check` passes; rejects when `proc` exits first or time runs out. */
  const until = async (
    proc: Proc,
    description: string,
    check: () => Promise<boolean>,
    timeoutMs = 120_000,
  ): Promise<void> => {
    await waitFor(
      async () => {
        if (proc.child.exitCode !== null || proc.child.signalCode !== null)
          throw await failed(proc, 'exited');
        return check();
      },
      { timeoutMs, intervalMs: 250, description, explain: async () => tail(proc.log, 30) },
    ).catch(async (err: unknown) => {
      if (proc.child.exitCode !== null || proc.child.signalCode !== null)
        throw await failed(
          proc,
          `exited (${proc.child.signalCode ?? proc.child.exitCode}) before: ${description}`,
        );
      throw err;
    });
  };

  // A test runner that exits without stop(): no process or network namespace outlives it.
  const killAllSync = (): void => {
    for (const p of [...procs].reverse()) signalGroup(p, 'SIGKILL');
    if (holder) signalGroup(holder, 'SIGKILL');
    if (netnsMade) spawnSync('ip', ['netns', 'delete', netns]);
  };
  process.once('exit', killAllSync);

  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      const errors: unknown[] = [];
      const attempt = async (fn: () => Promise<unknown>): Promise<void> => {
        try {
          await fn();
        } catch (err) {
          errors.push(err);
        }
      };
      const byName = (name: string): Proc | undefined => procs.find((p) => p.name === name);
      // The kubelet first, so that it does not restart what is removed below.
      for (const name of ['kubelet', 'kube-proxy', 'kube-scheduler', 'kube-controller-manager']) {
        const p = byName(name);
        if (p) await attempt(() => stopGroup(p));
      }
      // On a control plane that stays, the Node and the kubernetes Service's endpoints go too.
      if (!ownControlPlane && options.controlPlane && nodeRegistered) {
        const cp = options.controlPlane;
        await attempt(() =>
          cp
            .kubeConfig()
            .makeApiClient(CoreV1Api)
            .deleteNode({ name: nodeName })
            .catch(unlessNotFound),
        );
        await attempt(() =>
          cp
            .kubeConfig()
            .makeApiClient(DiscoveryV1Api)
            .deleteNamespacedEndpointSlice({ name: 'kubernetes', namespace: 'default' })
            .catch(unlessNotFound),
        );
      }
      const containerd = byName('containerd');
      if (containerd && containerd.child.exitCode === null) {
        await attempt(() => removeContainers(ctrArgs));
        await attempt(() => stopGroup(containerd));
      }
      for (const p of procs) await attempt(() => stopGroup(p));
      // What is left in the node's mount namespace: the shims of containers (they leave
      // containerd's process group on purpose) and what they run. Then the namespace itself.
      if (holder) {
        await attempt(() => killMountNamespace(holder!));
        await attempt(() => stopGroup(holder!));
      }
      apiProxy?.close();
      if (cgroupsMade) await attempt(() => removeCgroups(cgroupRoot));
      if (netnsMade) {
        // The host's end of the veth pair first, synchronously: deleting the namespace takes
        // both ends too, but the kernel frees a namespace asynchronously, so the link (and the
        // host's route with it) can outlive `ip netns delete` for a while on a busy host.
        await attempt(() => exec('ip', ['link', 'delete', hostVeth]).catch(unlessNoDevice));
        await attempt(() => exec('ip', ['netns', 'delete', netns]));
      }
      if (ownControlPlane) await attempt(() => ownControlPlane!.stop());
      process.removeListener('exit', killAllSync);
      if (!options.keepDir) await attempt(() => rm(dir, { recursive: true, force: true }));
      if (errors.length > 0)
        throw new AggregateError(errors, `cluster teardown: ${errors.map(String).join('; ')}`);
    })());

  const containerdSocket = join(dir, 'containerd', 'containerd.sock');
  const ctrArgs = (args: readonly string[]): Promise<string> =>
    exec('ctr', ['--address', containerdSocket, '--namespace', K8S_NAMESPACE, ...args], {
      maxBuffer: 16 << 20,
    }).then((r) => r.stdout);

  try {
    let t = Date.now();
    const pause = await buildPauseImage();
    mark('pauseImage', t);

    t = Date.now();
    const cp = options.controlPlane ?? (ownControlPlane = await startControlPlane());
    mark('controlPlane', t);
    say(`control plane at ${cp.server}`);
    const apiPort = Number(new URL(cp.server).port);
    const pki = join(cp.dir, 'pki');

    // The node's network: loopback, an interface for its address and default route,
    // forwarding and bridged traffic through iptables (kube-proxy's rules) in it alone.
    t = Date.now();
    await exec('ip', ['netns', 'add', netns]);
    netnsMade = true;
    const inNetns = (args: readonly string[]): Promise<unknown> =>
      exec('ip', ['-n', netns, ...args]);
    await inNetns(['link', 'set', 'lo', 'up']);
    // A veth pair to the host (deleting the namespace deletes both ends and the host's
    // route): the apiserver reaches the kubelet at nodeIP. The host does not forward, so
    // the node reaches nothing beyond it.
    await exec('ip', [
      'link',
      'add',
      hostVeth,
      'type',
      'veth',
      'peer',
      'name',
      'node0',
      'netns',
      netns,
    ]);
    await exec('ip', ['addr', 'add', `${hostSideIP}/30`, 'dev', hostVeth]);
    await exec('ip', ['link', 'set', hostVeth, 'up']);
    await inNetns(['addr', 'add', `${nodeIP}/30`, 'dev', 'node0']);
    await inNetns(['link', 'set', 'node0', 'up']);
    await inNetns(['route', 'add', 'default', 'via', hostSideIP, 'dev', 'node0']);
    await exec('ip', [
      'netns',
      'exec',
      netns,
      'sysctl',
      '-qw',
      'net.ipv4.ip_forward=1',
      'net.bridge.bridge-nf-call-iptables=1',
    ]);

    // The mount namespace: held by a sleep, with the kubelet's sysctls covered.
    const sysctlDir = join(dir, 'sysctl');
    await mkdir(sysctlDir);
    const binds: string[] = [];
    for (const [path, value] of Object.entries(KUBELET_SYSCTLS)) {
      const file = join(sysctlDir, path.slice('/proc/sys/'.length).replaceAll('/', '.'));
      await writeFile(file, `${value}\n`);
      binds.push(`mount --bind ${file} ${path}`);
    }
    const holderLog = join(logs, 'mount-namespace.log');
    const holderChild = spawn(
      'unshare',
      [
        '--mount',
        '--propagation',
        'private',
        'sh',
        '-c',
        `set -e; ${binds.join('; ')}; echo ready; exec sleep infinity`,
      ],
      {
        detached: true,
        stdio: ['ignore', 'pipe', openSync(holderLog, 'a')],
      },
    );
    holder = {
      name: 'mount-namespace',
      child: holderChild,
      exited: once(holderChild, 'exit').catch(() => undefined),
      log: holderLog,
    };
    await Promise.race([
      once(createInterface({ input: holderChild.stdout! }), 'line'),
      holder.exited.then(async () => {
        throw await failed(holder!, 'exited');
      }),
    ]);
    mark('namespaces', t);

    // The apiserver, reachable from the node at 127.0.0.1 (and nodeIP) on its own port.
    const apiSocket = join(dir, 'apiserver.sock');
    apiProxy = createServer((client) => {
      const upstream = createConnection(apiPort, '127.0.0.1');
      const close = (): void => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', close).on('close', close);
      upstream.on('error', close).on('close', close);
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) =>
      apiProxy!.once('error', reject).listen(apiSocket, resolve),
    );
    const forwarder = startInNode('apiserver-forwarder', process.execPath, [
      FORWARDER,
      '0.0.0.0',
      String(apiPort),
      apiSocket,
    ]);
    await until(
      forwarder,
      'the apiserver forwarder listening',
      async () => (await readFile(forwarder.log, 'utf8')).includes('listening'),
      30_000,
    );

    // The rest of the controllers, beside kube-testenv's own two.
    const kcm = start('kube-controller-manager', kubeTestenv, [
      'controller-manager',
      `--kubeconfig=${join(pki, 'controller-manager.kubeconfig')}`,
      '--controllers=*,-garbage-collector-controller,-namespace-controller',
      '--leader-elect=false',
      '--secure-port=0',
      '--use-service-account-credentials=false',
      `--service-account-private-key-file=${join(pki, 'service-account.key')}`,
      `--root-ca-file=${join(pki, 'ca.crt')}`,
      `--cluster-signing-cert-file=${join(pki, 'ca.crt')}`,
      `--cluster-signing-key-file=${join(pki, 'ca.key')}`,
    ]);
    const scheduler = start('kube-scheduler', kubeNode, [
      'scheduler',
      `--kubeconfig=${cp.adminKubeconfig}`,
      '--leader-elect=false',
      '--secure-port=0',
    ]);

    // containerd, with its state, socket and pod network namespaces under dir.
    t = Date.now();
    const ctrDir = join(dir, 'containerd');
    const cniDir = join(dir, 'cni');
    await mkdir(ctrDir);
    await mkdir(join(cniDir, 'net.d'), { recursive: true });
    await writeFile(
      join(cniDir, 'net.d', '10-maaslab.conflist'),
      JSON.stringify(cniConfig(join(cniDir, 'ipam')), null, 2),
    );
    await writeFile(
      join(ctrDir, 'config.toml'),
      containerdConfig(ctrDir, containerdSocket, join(cniDir, 'net.d'), pause.name),
    );
    const containerd = startInNode('containerd', 'containerd', [
      '--config',
      join(ctrDir, 'config.toml'),
    ]);
    await until(
      containerd,
      'containerd answering',
      async () =>
        await ctrArgs(['version']).then(
          () => true,
          () => false,
        ),
    );
    await ctrArgs(['images', 'import', pause.archive]);
    mark('containerd', t);

    // NetworkPolicies enforced before the kubelet starts any pod; the queue rules go in once
    // the enforcer has synced its caches and bound the queue (it fails closed).
    const enforcer = enforce
      ? startInNode('kube-network-policies', netpolBin, enforcerArgs(cp.adminKubeconfig, nodeName))
      : undefined;
    if (enforcer) {
      t = Date.now();
      await until(enforcer, `netfilter queue ${NFQUEUE_ID} bound by kube-network-policies`, () =>
        queueBound(netns),
      );
      await divertToQueue(netns, POD_CIDR);
      mark('networkPolicies', t);
    }

    // The kubelet, with cgroupfs under a cgroup of its own.
    t = Date.now();
    await makeCgroups(cgroupRoot);
    cgroupsMade = true;
    const kubeletDir = join(dir, 'kubelet');
    await mkdir(join(kubeletDir, 'pod-logs'), { recursive: true });
    await writeFile(
      join(kubeletDir, 'config.yaml'),
      JSON.stringify(
        kubeletConfig(
          containerdSocket,
          cgroupRoot,
          join(kubeletDir, 'pod-logs'),
          join(pki, 'ca.crt'),
          nodeIP,
        ),
        null,
        2,
      ),
    );
    const labels = Object.entries(options.nodeLabels ?? {}).map(([k, v]) => `${k}=${v}`);
    nodeRegistered = true;
    const kubelet = startInNode('kubelet', kubeNode, [
      'kubelet',
      `--config=${join(kubeletDir, 'config.yaml')}`,
      `--kubeconfig=${cp.adminKubeconfig}`,
      `--root-dir=${join(kubeletDir, 'root')}`,
      `--hostname-override=${nodeName}`,
      `--node-ip=${nodeIP}`,
      ...(labels.length > 0 ? [`--node-labels=${labels.join(',')}`] : []),
      ...(options.nodeTaints?.length
        ? [`--register-with-taints=${options.nodeTaints.join(',')}`]
        : []),
      '--v=2',
    ]);
    const proxyConfig = join(dir, 'kube-proxy.yaml');
    await writeFile(
      proxyConfig,
      JSON.stringify(kubeProxyConfig(cp.adminKubeconfig, nodeName, nodeIP), null, 2),
    );
    const proxy = startInNode('kube-proxy', kubeNode, ['proxy', `--config=${proxyConfig}`]);

    const core = cp.kubeConfig().makeApiClient(CoreV1Api);
    const watched = [kubelet, proxy, containerd, kcm, scheduler, forwarder];
    if (enforcer) watched.push(enforcer);
    const readyBy = Date.now() + (options.readyTimeoutMs ?? 300_000);
    let last = 'no answer yet';
    for (;;) {
      for (const p of watched) {
        if (p.child.exitCode !== null || p.child.signalCode !== null)
          throw await failed(p, 'exited');
      }
      try {
        const node = await core.readNode({ name: nodeName });
        const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
        if (ready?.status === 'True') break;
        last = ready
          ? `Ready=${ready.status} ${ready.reason ?? ''}: ${ready.message ?? ''}`
          : 'no Ready condition';
      } catch (err) {
        last = String(err).split('\n')[0]!;
      }
      if (Date.now() > readyBy) {
        throw new Error(
          `Node ${nodeName} not Ready after ${options.readyTimeoutMs ?? 300_000} ms (${last}); the end of ${kubelet.log}:\n${await tail(kubelet.log, 30)}`,
        );
      }
      await delay(500);
    }
    mark('nodeReady', t);
    await publishApiServer(cp, nodeIP, apiPort);
    mark('total', began);
    say(`node ${nodeName} Ready after ${timings.total} ms`);

    return {
      controlPlane: cp,
      dir,
      nodeName,
      netns,
      nodeIP,
      cgroupRoot,
      kubeconfig: cp.adminKubeconfig,
      containerdSocket,
      pauseImage: pause.name,
      timings,
      ctr: ctrArgs,
      async importImage(archive: string) {
        const out = await ctrArgs(['images', 'import', '--all-platforms', archive]);
        return [...out.matchAll(/^unpacking (\S+)/gm)].map((m) => m[1]!);
      },
      stop,
    };
  } catch (err) {
    await stop().catch((teardown: unknown) => {
      process.stderr.write(`cluster: teardown after a failed start: ${String(teardown)}\n`);
    });
    throw err;
  }
}

/**
 * Points the `kubernetes` Service (10.0.0.1:443) at nodeIP:<apiserver port>, where the
 * node's forwarder listens, so that pods reach the apiserver the way in-cluster clients do.
 * kube-testenv runs the apiserver with --endpoint-reconciler-type=none (its loopback address
 * cannot be an endpoint), so nothing else writes this EndpointSlice.
 */
async function publishApiServer(cp: ControlPlane, nodeIP: string, apiPort: number): Promise<void> {
  const discovery = cp.kubeConfig().makeApiClient(DiscoveryV1Api);
  const body: V1EndpointSlice = {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: 'kubernetes',
      namespace: 'default',
      labels: {
        'kubernetes.io/service-name': 'kubernetes',
        'endpointslice.kubernetes.io/managed-by': 'test-cluster.maaslab.dev',
      },
    },
    addressType: 'IPv4',
    endpoints: [{ addresses: [nodeIP], conditions: { ready: true } }],
    ports: [{ name: 'https', port: apiPort, protocol: 'TCP' }],
  };
  try {
    await discovery.createNamespacedEndpointSlice({ namespace: 'default', body });
  } catch (err) {
    // Already there (another cluster on the same control plane): made to point here.
    if ((err as { code?: number }).code !== 409) throw err;
    await discovery.replaceNamespacedEndpointSlice({
      name: 'kubernetes',
      namespace: 'default',
      body,
    });
  }
}

/** hack/build-pause-image.sh: the archive and the image name (cached by its inputs). */
async function buildPauseImage(): Promise<{ archive: string; name: string }> {
  const { stdout } = await exec(join(repoRoot, 'hack', 'build-pause-image.sh'), [], {
    env: { ...process.env, PATH: `/usr/local/go/bin:${process.env.PATH ?? ''}` },
  });
  const [archive, name] = stdout.trim().split('\n');
  if (!archive || !name)
    throw new Error(`hack/build-pause-image.sh printed ${JSON.stringify(stdout)}`);
  return { archive, name };
}

/** containerd 1.6's config (version 2): private root, state and socket, the CRI plugin on Debian's CNI plugins. */
function containerdConfig(
  dir: string,
  socket: string,
  cniConfDir: string,
  sandboxImage: string,
): string {
  return `version = 2
root = "${join(dir, 'root')}"
state = "${join(dir, 'state')}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "${socket}"
[ttrpc]
  address = "${socket}.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${sandboxImage}"
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  # Pods may not lower their oom_score_adj below containerd's: runc's "failed to update
  # /proc/self/oom_score_adj: Permission denied" otherwise, where CAP_SYS_RESOURCE is not
  # in the bounding set (this firecracker VM's root lacks it; the kubelet gives pause -998).
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
    SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${cniConfDir}"
`;
}

/** One bridge for this one node, host-local addresses, masquerade out, portmap for hostPort. */
function cniConfig(ipamDir: string): object {
  return {
    cniVersion: '0.4.0',
    name: 'maaslab',
    plugins: [
      {
        type: 'bridge',
        bridge: 'cni0',
        isGateway: true,
        ipMasq: true,
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          ranges: [[{ subnet: POD_CIDR }]],
          routes: [{ dst: '0.0.0.0/0' }],
          dataDir: ipamDir,
        },
      },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  };
}

/** The kubelet: cgroupfs on this host's cgroups (v1 here), no swap check, nothing on a host interface. */
function kubeletConfig(
  socket: string,
  cgroupRoot: string,
  podLogsDir: string,
  clientCA: string,
  nodeIP: string,
): object {
  return {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    containerRuntimeEndpoint: `unix://${socket}`,
    cgroupDriver: 'cgroupfs',
    cgroupRoot,
    failSwapOn: false,
    // Kubernetes 1.34 still runs on cgroup v1 (in maintenance mode); say so explicitly.
    failCgroupV1: false,
    address: nodeIP,
    port: 10250,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: 10248,
    // Only client certificates of the control plane's CA: the apiserver's (logs, exec).
    authentication: {
      anonymous: { enabled: false },
      webhook: { enabled: false },
      x509: { clientCAFile: clientCA },
    },
    authorization: { mode: 'AlwaysAllow' },
    podLogsDir,
    // A shared, busy disk must not evict the pods or collect the imported images.
    evictionHard: {
      'memory.available': '1Mi',
      'nodefs.available': '1%',
      'imagefs.available': '1%',
      'nodefs.inodesFree': '1%',
    },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    serializeImagePulls: false,
    registerNode: true,
    staticPodPath: '',
    resolvConf: '/etc/resolv.conf',
    clusterDomain: 'cluster.local',
    maxPods: 30,
    syncFrequency: '10s',
    nodeStatusUpdateFrequency: '5s',
  };
}

/** kube-proxy in iptables mode; the conntrack sysctls are machine-wide, so it leaves them. */
function kubeProxyConfig(kubeconfig: string, nodeName: string, nodeIP: string): object {
  return {
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    clientConnection: { kubeconfig },
    mode: 'iptables',
    clusterCIDR: POD_CIDR,
    hostnameOverride: nodeName,
    bindAddress: nodeIP,
    healthzBindAddress: '127.0.0.1:10256',
    metricsBindAddress: '127.0.0.1:10249',
    conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
  };
}

/** Every running task and container of the kubelet's namespace, killed and removed. */
async function removeContainers(ctr: (args: readonly string[]) => Promise<string>): Promise<void> {
  const tasks = (await ctr(['tasks', 'list', '--quiet'])).split('\n').filter(Boolean);
  for (const id of tasks)
    await ctr(['tasks', 'kill', '--signal', 'SIGKILL', id]).catch(() => undefined);
  for (const id of tasks) {
    await waitFor(
      async () =>
        await ctr(['tasks', 'delete', id]).then(
          () => true,
          (e: unknown) => /not found/.test(String(e)),
        ),
      { timeoutMs: 20_000, intervalMs: 200, description: `task ${id} deleted` },
    ).catch(() => undefined);
  }
  const containers = (await ctr(['containers', 'list', '--quiet'])).split('\n').filter(Boolean);
  for (const id of containers) await ctr(['containers', 'delete', id]).catch(() => undefined);
}

/** SIGKILLs every process in the holder's mount namespace but the holder (the shims and what they run). */
async function killMountNamespace(holder: Proc): Promise<void> {
  const pid = holder.child.pid;
  if (!pid || holder.child.exitCode !== null) return;
  const ns = await readlink(`/proc/${pid}/ns/mnt`);
  for (let round = 0; round < 20; round++) {
    const left: number[] = [];
    for (const entry of await readdir('/proc')) {
      const other = Number(entry);
      if (!Number.isInteger(other) || other === pid || other === process.pid) continue;
      const theirs = await readlink(`/proc/${other}/ns/mnt`).catch(() => undefined);
      if (theirs === ns) left.push(other);
    }
    if (left.length === 0) return;
    for (const other of left) {
      try {
        process.kill(other, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    await delay(100);
  }
}

/** The node's cgroup in each v1 hierarchy (or the v2 root): the kubelet wants it to exist. */
export async function cgroupDirs(cgroupRoot: string): Promise<string[]> {
  const v2 = await access('/sys/fs/cgroup/cgroup.controllers').then(
    () => true,
    () => false,
  );
  if (v2) return [join('/sys/fs/cgroup', cgroupRoot)];
  const present: string[] = [];
  for (const h of CGROUP_V1) {
    if (
      await access(join('/sys/fs/cgroup', h, 'tasks')).then(
        () => true,
        () => false,
      )
    )
      present.push(join('/sys/fs/cgroup', h, cgroupRoot));
  }
  return present;
}

async function makeCgroups(cgroupRoot: string): Promise<void> {
  for (const d of await cgroupDirs(cgroupRoot)) {
    await mkdir(d, { recursive: true });
    // A new v1 cpuset has no CPUs or memory nodes until given its parent's.
    if (d.startsWith('/sys/fs/cgroup/cpuset/')) {
      for (const f of ['cpuset.cpus', 'cpuset.mems'])
        await writeFile(join(d, f), await readFile(join('/sys/fs/cgroup/cpuset', f), 'utf8'));
    }
  }
}

/** rmdir, deepest first: a cgroup goes only once its processes and children are gone. */
async function removeCgroups(cgroupRoot: string): Promise<void> {
  const removeTree = async (d: string): Promise<void> => {
    const entries = await readdir(d, { withFileTypes: true }).catch(() => []);
    for (const e of entries) if (e.isDirectory()) await removeTree(join(d, e.name));
    await waitFor(
      async () =>
        rmdir(d).then(
          () => true,
          (err: NodeJS.ErrnoException) => err.code === 'ENOENT',
        ),
      { timeoutMs: 10_000, intervalMs: 100, description: `cgroup ${d} removed` },
    );
  };
  for (const d of await cgroupDirs(cgroupRoot)) await removeTree(d);
}

/** Rethrows anything but the API's 404. */
function unlessNotFound(err: unknown): void {
  if ((err as { code?: number }).code !== 404) throw err;
}

/** Rethrows anything but iproute2's answer for a link that is gone already. */
function unlessNoDevice(err: unknown): void {
  const stderr = (err as { stderr?: string }).stderr ?? '';
  if (!/Cannot find device|does not exist/.test(stderr)) throw err;
}

function signalGroup(p: Proc, signal: NodeJS.Signals): void {
  if (!p.child.pid || p.child.exitCode !== null || p.child.signalCode !== null) return;
  try {
    process.kill(-p.child.pid, signal);
  } catch {
    // gone already
  }
}

/** SIGTERM to the process group, SIGKILL after 20 s; resolves once the leader has exited. */
async function stopGroup(p: Proc): Promise<void> {
  if (!p.child.pid || p.child.exitCode !== null || p.child.signalCode !== null) return;
  signalGroup(p, 'SIGTERM');
  const timer = setTimeout(() => signalGroup(p, 'SIGKILL'), 20_000);
  try {
    await p.exited;
  } finally {
    clearTimeout(timer);
  }
}

async function tail(path: string, lines: number): Promise<string> {
  const text = await readFile(path, 'utf8').catch((err: unknown) => `(${String(err)})`);
  return text
    .split('\n')
    .slice(-lines - 1)
    .join('\n');
}

/** curl inside the node's network namespace, where the pod and Service addresses route. */
export async function curlInNode(cluster: Pick<Cluster, 'netns'>, url: string): Promise<string> {
  const { stdout } = await exec('nsenter', [
    `--net=/run/netns/${cluster.netns}`,
    '--',
    'curl',
    '-sS',
    '--max-time',
    '5',
    url,
  ]);
  return stdout;
}
