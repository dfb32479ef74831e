// Central mode on a real kubelet: `kubectl apply --server-side -k` of deploy/overlays/central, as
// a user applies it (Secret maaslab-ssh first, made with ssh-keygen as the README says), on the
// single-node cluster of test/support/cluster.ts. The Deployment's two replicas run and split
// three Hypervisors by Lease (maaslab-hv-<name>). The Hypervisors use libvirt's test driver
// (`test:///default`: in each pod's own process, no socket, no network, no ssh), so what is
// measured is the operator's sharding, not a host. Then the pod holding the most shards is
// deleted with its default grace period, and the test measures how long its shards take to be
// held and reconciled by another pod (the other replica, or the Deployment's replacement, which
// competes at once when it starts while the other retries every 2–4.4 s: either may win): "reconciled" is the new holder's own
// maaslab_hypervisor_up{hypervisor} in its /metrics (only a pass of the shard's holder sets
// it), read over HTTPS with a token of a ServiceAccount bound to maaslab-metrics-reader.
//
// Then the transport itself, issue 14's "the hypervisor is reached the way central mode reaches
// it": a private libvirtd with Debian's sshd in its network namespace (test/support/ssh-host.ts),
// and a veth pair the test adds between the node's network namespace and that one, routing
// sshd's two addresses (the pods' traffic leaves the pod network masqueraded to the node's end;
// nothing on the host changes). The Secret's key is authorized for root there and its
// known_hosts holds sshd's host key, so a Hypervisor qemu+ssh://root@ADDRESS/system is Ready
// from whichever pod holds its Lease, and a two-node lab on it is Ready with its domains
// running on the private libvirtd. The ssh session serving the pod is then killed on sshd's
// side: the pod reconnects on its own, same domains and UUIDs, none added. `kubectl maaslab vnc` and `console` reach a node of that lab
// the way a user's do, through a port-forward to the Lease holder's console endpoint (a user
// with only the console roles). A second address whose known_hosts entry is another key
// gives Ready=False with reason HostKeyVerificationFailed. The lab is deleted while the
// operator runs (its domains go), then everything else with the overlay.
//
// The test's kustomization patches only what a user's overlay would (the image, imported into
// the node's containerd and never pulled; a toleration of the node's taint) plus what
// kube-testenv lacks: its apiserver runs without the ServiceAccount admission plugin, so the
// token volume that plugin adds to every pod is added here (as pod.test.ts and agent.test.ts
// do). The node is tainted so that pods other tests of the shared control plane leave behind
// stay off it. Everything goes into maaslab-system, as the deploy/ tests apply it, and is
// deleted at the end with their helper; the CRDs and base RBAC stay for the other tests.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { promisify } from 'node:util';
import {
  ApiException,
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  DiscoveryV1Api,
  type V1Lease,
  type V1Pod,
  Watch,
} from '@kubernetes/client-node';
import { expect } from 'chai';
import { parse, stringify } from 'yaml';
import {
  DEFAULT_LEASE_TIMING,
  LEASE_RETRY_JITTER,
} from '../../../src/runtime/leaderelection/lease-record.js';
import { createRestClient } from '../../../src/runtime/index.js';
import { HostKeyVerificationFailedReason } from '../../../src/api/v1alpha1/index.js';
import { type Cluster, POD_CIDR, startCluster } from '../../support/cluster.js';
import { controlPlane, repoRoot } from '../../support/controlplane.js';
import { DEPLOY_NAMESPACE, deleteDeployExtras } from '../../support/deploy.js';
import { kubectlPath } from '../../support/kubectl.js';
import {
  importedOperatorContainer,
  importOperatorImage,
  kubeApiAccessVolume,
  testKustomization,
} from '../../support/overlay.js';
import {
  METRICS_READER_ROLE,
  type TestServiceAccount,
  createServiceAccountWithToken,
} from '../../support/metrics-auth.js';
import { parseMetrics, sample } from '../../support/metrics-text.js';
import { type TestNamespace, createTestNamespace } from '../../support/namespace.js';
import { kubectlApply, kubectlRun } from '../../support/operator.js';
import { type PrivateLibvirtd, startPrivateLibvirtd } from '../../support/libvirtd.js';
import {
  type SshHost,
  type SshLink,
  linkToSshHost,
  sshKeygen,
  startSshHost,
} from '../../support/ssh-host.js';
import {
  type Conditioned,
  GROUP_VERSION,
  conditionOf,
  isReadyNow,
  linesOf,
} from '../../support/e2e.js';
import { collectOutput, firstBytes, vncListenerPort } from '../../support/plugin-run.js';
import { waitFor } from '../../support/wait.js';

const run = promisify(execFile);
const taint = { key: 'maaslab.dev/test-cluster', value: 'true', effect: 'NoSchedule' };
const POD_SELECTOR = 'app.kubernetes.io/name=maaslab-operator,app.kubernetes.io/component=operator';
const DEPLOYMENT = 'maaslab-operator';
/** The metrics Service of deploy/base. */
const METRICS_SERVICE = 'maaslab-operator-metrics';
/** Prometheus's web port, in the node's network namespace (nothing else of the node uses it). */
const PROMETHEUS_PORT = 9090;
/** The shard Lease prefix (src/cli/shard-leases.ts). */
const LEASE_PREFIX = 'maaslab-hv-';
/**
 * The manifest passes no lease flags, so the replicas use the defaults the README states for
 * `--leader-elect`: 15 s lease, 10 s renew deadline, 2 s retry, candidates retrying every
 * 2 s × (1 + 1.2·jitter), at most 4.4 s.
 */
const { leaseDurationMs, retryPeriodMs } = DEFAULT_LEASE_TIMING;
const candidateRetryMaxMs = retryPeriodMs * (1 + LEASE_RETRY_JITTER);

interface Condition {
  type: string;
  status: string;
  reason?: string;
}
interface HypervisorStatus {
  status?: { conditions?: Condition[] };
}

/** One Lease as a watch delivered it, stamped with our time of arrival. */
interface LeaseSeen {
  readonly at: number;
  readonly name: string;
  readonly holder: string;
  readonly durationSeconds: number | undefined;
}

/** The pod name in a holder identity (`<hostname>_<uuid>`; a pod's hostname is its name). */
const podOf = (holder: string): string => holder.slice(0, holder.lastIndexOf('_'));

/**
 * The test's overlay: deploy/overlays/central with the image imported into the node's
 * containerd (never pulled), a toleration of the node's taint, and the token volume
 * kube-testenv's apiserver does not add.
 */
function centralKustomization(base: string, image: string): string {
  return testKustomization(base, image, [
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: DEPLOYMENT, namespace: DEPLOY_NAMESPACE },
      spec: {
        template: {
          spec: {
            tolerations: [{ ...taint, operator: 'Equal' }],
            containers: [importedOperatorContainer],
            volumes: [kubeApiAccessVolume],
          },
        },
      },
    },
  ]);
}

describe('a real single-node cluster: deploy/overlays/central, two replicas splitting the Hypervisors by Lease', function () {
  let cluster: Cluster | undefined;
  let scratch = '';
  let image = '';
  let scraperNs: TestNamespace | undefined;
  let scraper: TestServiceAccount | undefined;
  /** Hypervisor names, unique to the run: Hypervisors are cluster-scoped. */
  let hypervisors: string[] = [];
  /** Lease name → the pod holding it, once every Hypervisor was Ready. */
  let holders = new Map<string, string>();
  /** The test's Prometheus (nsenter execs it: this is its PID). */
  let prometheus: ChildProcess | undefined;
  /** The host the pods reach over qemu+ssh: a private libvirtd, sshd in its netns, a link. */
  let lv: PrivateLibvirtd | undefined;
  let ssh: SshHost | undefined;
  let link: SshLink | undefined;
  /** The qemu+ssh Hypervisors (cluster-scoped) and the lab's namespace. */
  let sshHypervisors: string[] = [];
  let labNs: TestNamespace | undefined;
  const admin = (): string => controlPlane().adminKubeconfig;
  const core = (): CoreV1Api => controlPlane().kubeConfig().makeApiClient(CoreV1Api);
  const coordination = (): CoordinationV1Api =>
    controlPlane().kubeConfig().makeApiClient(CoordinationV1Api);
  const kubectl = (...args: string[]): Promise<string> => kubectlRun(admin(), args);
  const isReady = (p: V1Pod): boolean =>
    p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  /** The operator's pods that are not terminating. */
  const livePods = async (): Promise<V1Pod[]> =>
    (
      await core().listNamespacedPod({ namespace: DEPLOY_NAMESPACE, labelSelector: POD_SELECTOR })
    ).items.filter((p) => !p.metadata?.deletionTimestamp);
  const leaseName = (hv: string): string => `${LEASE_PREFIX}${hv}`;
  /** Lease name → holder identity ('' when free), for the test's Hypervisors. */
  const leaseHolders = async (): Promise<Map<string, string>> => {
    const leases = await coordination().listNamespacedLease({ namespace: DEPLOY_NAMESPACE });
    const want = new Set([...hypervisors, ...sshHypervisors].map(leaseName));
    return new Map(
      leases.items
        .filter((l) => want.has(l.metadata?.name ?? ''))
        .map((l) => [l.metadata!.name!, l.spec?.holderIdentity ?? '']),
    );
  };
  /** A pod's /metrics over HTTPS with the reader's token, from inside the node's network namespace. */
  const podMetrics = async (pod: V1Pod): Promise<Map<string, number>> => {
    const { stdout } = await run(
      'nsenter',
      [
        `--net=/run/netns/${cluster!.netns}`,
        '--',
        'curl',
        '-sSfk',
        '--max-time',
        '5',
        // The header from a file: the token stays out of the process list.
        '-H',
        `@${join(scratch, 'authorization')}`,
        `https://${pod.status!.podIP!}:8080/metrics`,
      ],
      { maxBuffer: 16 << 20 },
    );
    return parseMetrics(stdout);
  };
  const hypervisorUp = (m: Map<string, number>, hv: string): number =>
    sample(m, 'maaslab_hypervisor_up', { hypervisor: hv });
  /** The pods' status and each one's log tail: why a wait gave up. */
  const podsExplained = async (): Promise<string> => {
    const pods = await core().listNamespacedPod({
      namespace: DEPLOY_NAMESPACE,
      labelSelector: POD_SELECTOR,
    });
    const out: string[] = [];
    for (const p of pods.items) {
      const name = p.metadata?.name ?? '?';
      const logs = await kubectl('logs', '-n', DEPLOY_NAMESPACE, name, '--tail=20').catch(
        (e: unknown) => String(e),
      );
      out.push(
        `pod ${name}: ${JSON.stringify({ phase: p.status?.phase, conditions: p.status?.conditions, containers: p.status?.containerStatuses })}`,
        `log:\n${logs}`,
      );
    }
    out.push(`leases: ${JSON.stringify([...(await leaseHolders())])}`);
    return out.join('\n');
  };

  before(async function () {
    this.timeout(900_000);
    if (process.getuid?.() !== 0) this.skip();
    scratch = await mkdtemp(join(tmpdir(), 'maaslab-central-test-'));
    let t = Date.now();
    cluster = await startCluster({
      controlPlane: controlPlane(),
      nodeTaints: [`${taint.key}=${taint.value}:${taint.effect}`],
    });
    console.log(`      cluster: Node Ready in ${Date.now() - t} ms`);
    image = await importOperatorImage(cluster);
    // A scraper as a cluster's Prometheus is one: a ServiceAccount bound to the reader role.
    scraperNs = await createTestNamespace(controlPlane().kubeConfig(), 'central-scraper');
    scraper = await createServiceAccountWithToken(
      createRestClient(controlPlane().restConfig('admin')),
      scraperNs.name,
      'scraper',
      METRICS_READER_ROLE,
    );
    await writeFile(join(scratch, 'authorization'), `Authorization: Bearer ${scraper.token}\n`, {
      mode: 0o600,
    });
    const tag = scraperNs.name.slice(-5);
    hypervisors = ['a', 'b', 'c'].map((s) => `central-${tag}-${s}`);
    // The host of the qemu+ssh tests: sshd in a private libvirtd's network namespace, linked
    // to the node's so that the pods (masqueraded out of the pod network) reach its addresses.
    t = Date.now();
    lv = await startPrivateLibvirtd();
    ssh = await startSshHost(lv, join(scratch, 'sshd'));
    link = await linkToSshHost(ssh, lv, cluster.netns, [POD_CIDR]);
    console.log(`      ssh host: libvirtd, sshd and the link to the node in ${Date.now() - t} ms`);
  });

  after(async function () {
    this.timeout(300_000);
    // No-ops after the last test; after a failure, what it would have removed.
    const step = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
      await fn().catch((err: unknown) => console.error(`      cleanup (${what}): ${String(err)}`));
    };
    await step('prometheus', async () => {
      if (prometheus && prometheus.exitCode === null && prometheus.signalCode === null) {
        const exited = new Promise((resolve) => prometheus!.once('exit', resolve));
        prometheus.kill('SIGTERM');
        await exited;
      }
    });
    await step('overlay', () => deleteAll());
    await step('ssh host', async () => {
      await link?.stop();
      await ssh?.stop();
      await lv?.stop();
    });
    await step('scraper', async () => {
      await scraper?.cleanup();
      await scraperNs?.delete();
    });
    await step('cluster', async () => cluster?.stop());
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  /** The Hypervisors, the overlay's extras (the Deployment with them), its pods, its Leases. */
  async function deleteAll(): Promise<void> {
    if (!cluster) return;
    // The lab first, while the operator runs: its finalizers remove its domains.
    if (labNs) {
      await kubectl('delete', 'maaslab', '--all', '-n', labNs.name, '--timeout=120s');
      await labNs.delete();
      labNs = undefined;
    }
    if (sshHypervisors.length > 0)
      await kubectl('delete', 'hypervisor', ...sshHypervisors, '--ignore-not-found');
    if (hypervisors.length > 0)
      await kubectl('delete', 'hypervisor', ...hypervisors, '--ignore-not-found');
    await deleteDeployExtras(admin());
    // The overlay's generated ssh config carries no part-of label; its name has a hash suffix.
    const configMaps = (await kubectl('get', 'configmap', '-n', DEPLOY_NAMESPACE, '-o', 'name'))
      .split('\n')
      .filter((n) => n.startsWith('configmap/maaslab-ssh-config-'));
    if (configMaps.length > 0)
      await kubectl('delete', '-n', DEPLOY_NAMESPACE, '--ignore-not-found', ...configMaps);
    await waitFor(
      async () =>
        (
          await core().listNamespacedPod({
            namespace: DEPLOY_NAMESPACE,
            labelSelector: POD_SELECTOR,
          })
        ).items.length === 0,
      {
        timeoutMs: 120_000,
        intervalMs: 500,
        description: 'the operator pods deleted by the kubelet',
      },
    );
    // Shard Leases that nobody renews any more.
    if (hypervisors.length > 0)
      await kubectl(
        'delete',
        'lease',
        '-n',
        DEPLOY_NAMESPACE,
        '--ignore-not-found',
        ...[...hypervisors, ...sshHypervisors].map(leaseName),
      );
    sshHypervisors = [];
  }

  it("runs the Deployment's two replicas Running and Ready (Secret maaslab-ssh made as the README says)", async function () {
    this.timeout(400_000);
    // The README's steps: a key, known_hosts, the namespace and the Secret, then the overlay.
    // known_hosts as an admin writes it: the sshd's real key for its address and, for its
    // second address, a key that is not the host's (for the refused Hypervisor below). The
    // key's public half is authorized for root there, as on a real hypervisor.
    await run('ssh-keygen', [
      '-q',
      '-t',
      'ed25519',
      '-N',
      '',
      '-C',
      'maaslab',
      '-f',
      join(scratch, 'id_ed25519'),
    ]);
    await ssh!.authorize(
      (await readFile(join(scratch, 'id_ed25519.pub'), 'utf8'))
        .trim()
        .split(/\s+/)
        .slice(0, 2)
        .join(' '),
      'maaslab-ssh-secret',
    );
    const stranger = await sshKeygen(join(scratch, 'stranger_host_key'), 'not-the-host');
    await writeFile(
      join(scratch, 'known_hosts'),
      `${ssh!.address} ${ssh!.hostKey.publicKey}\n${ssh!.otherAddress} ${stranger.publicKey}\n`,
    );
    await core()
      .createNamespace({ body: { metadata: { name: DEPLOY_NAMESPACE } } })
      .catch((err: unknown) => {
        if (!(err instanceof ApiException && err.code === 409)) throw err;
      });
    await kubectl(
      '-n',
      DEPLOY_NAMESPACE,
      'create',
      'secret',
      'generic',
      'maaslab-ssh',
      `--from-file=id_ed25519=${join(scratch, 'id_ed25519')}`,
      `--from-file=known_hosts=${join(scratch, 'known_hosts')}`,
    );
    const dir = join(scratch, 'overlay');
    await mkdir(dir);
    await writeFile(
      join(dir, 'kustomization.yaml'),
      centralKustomization(relative(dir, join(repoRoot, 'deploy', 'overlays', 'central')), image),
    );
    const t = Date.now();
    await kubectl('apply', '--server-side', '--force-conflicts', '-k', dir);
    const pods = await waitFor(
      async () => {
        const ps = await livePods();
        return ps.length === 2 && ps.every(isReady) && ps;
      },
      {
        timeoutMs: 300_000,
        intervalMs: 250,
        description: 'both operator pods Ready',
        explain: podsExplained,
      },
    );
    console.log(`      central: applied to both pods Ready in ${Date.now() - t} ms`);
    const deployment = await controlPlane()
      .kubeConfig()
      .makeApiClient(AppsV1Api)
      .readNamespacedDeployment({ name: DEPLOYMENT, namespace: DEPLOY_NAMESPACE });
    expect(deployment.spec?.replicas).to.equal(2);
    for (const p of pods) {
      expect(p.status?.phase).to.equal('Running');
      expect(p.spec?.nodeName).to.equal(cluster!.nodeName);
      expect(p.spec?.securityContext).to.include({ runAsNonRoot: true, runAsUser: 65532 });
      expect(p.spec?.containers[0]?.securityContext).to.include({ readOnlyRootFilesystem: true });
      expect(p.spec?.containers[0]?.args).to.include('--leader-elect');
      expect(p.status?.containerStatuses?.[0]).to.include({ ready: true, restartCount: 0 });
    }
    // The Secret and the ssh config where OpenSSH looks for them (~ of 65532 in the image).
    const exec = (...cmd: string[]): Promise<string> =>
      kubectl('exec', '-n', DEPLOY_NAMESPACE, pods[0]!.metadata!.name!, '--', ...cmd);
    expect(await exec('cat', '/home/maaslab/.ssh/config')).to.include('StrictHostKeyChecking yes');
    const key = await exec('head', '-1', '/home/maaslab/.ssh/id_ed25519');
    expect(key.trim()).to.equal(
      (await readFile(join(scratch, 'id_ed25519'), 'utf8')).split('\n')[0],
    );
    // What lets ssh use the key as 65532: root's, read through the group (fsGroup), 0440.
    // OpenSSH refuses a key its own user owns with group or other bits, not this one.
    expect(
      (await exec('stat', '-L', '-c', '%u:%g %a', '/home/maaslab/.ssh/id_ed25519')).trim(),
    ).to.equal('0:65532 440');
  });

  it('makes three test:///default Hypervisors Ready, each Lease maaslab-hv-<name> held by one of the pods, which alone reports it in /metrics', async function () {
    this.timeout(300_000);
    const t = Date.now();
    await kubectlApply(
      admin(),
      hypervisors.map((name) => ({
        apiVersion: 'maaslab.dev/v1alpha1',
        kind: 'Hypervisor',
        metadata: { name },
        // The test driver's own pool; nothing is created on any host.
        spec: { uri: 'test:///default', storagePool: 'default-pool' },
      })),
      join(scratch, 'hypervisors.yaml'),
    );
    for (const hv of hypervisors) {
      await waitFor(
        async () => {
          const o = JSON.parse(
            await kubectl('get', 'hypervisor', hv, '-o', 'json'),
          ) as HypervisorStatus;
          return o.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
        },
        {
          timeoutMs: 120_000,
          intervalMs: 250,
          description: `Hypervisor ${hv} Ready`,
          explain: async () =>
            `${await kubectl('get', 'hypervisor', hv, '-o', 'yaml')}\n${await podsExplained()}`,
        },
      );
    }
    console.log(`      hypervisors: applied to all three Ready in ${Date.now() - t} ms`);
    const pods = await livePods();
    const byName = new Map(pods.map((p) => [p.metadata!.name!, p]));
    expect(byName.size).to.equal(2);
    const leases = await leaseHolders();
    expect([...leases.keys()].sort()).to.deep.equal(hypervisors.map(leaseName).sort());
    holders = new Map([...leases].map(([l, h]) => [l, podOf(h)]));
    for (const [lease, pod] of holders)
      expect(byName.has(pod), `${lease} held by ${leases.get(lease)}`).to.equal(true);
    const metrics = new Map<string, Map<string, number>>();
    for (const [name, p] of byName) metrics.set(name, await podMetrics(p));
    for (const hv of hypervisors) {
      const holder = holders.get(leaseName(hv))!;
      for (const [name, m] of metrics) {
        // The shard's holder reports it up; the other replica has no series for it at all.
        if (name === holder) expect(hypervisorUp(m, hv), `${name} ${hv}`).to.equal(1);
        else expect(hypervisorUp(m, hv), `${name} ${hv}`).to.be.NaN;
      }
      expect(
        sample(metrics.get(holder)!, 'leader_election_master_status', { name: leaseName(hv) }),
      ).to.equal(1);
    }
    const count = (pod: string): number => [...holders.values()].filter((h) => h === pod).length;
    console.log(
      `      leases: ${[...byName.keys()].map((p) => `${p} holds ${count(p)}`).join(', ')}`,
    );
  });

  it("moves the deleted lease holder's shards to another replica (the other pod or its replacement): released on SIGTERM, held and reconciled there well within the 15 s lease", async function () {
    this.timeout(300_000);
    const pods = await livePods();
    const count = (pod: string): number => [...holders.values()].filter((h) => h === pod).length;
    const [victim = '', survivor = ''] = pods
      .map((p) => p.metadata!.name!)
      .sort((a, b) => count(b) - count(a));
    expect(victim).to.not.equal('');
    const moving = [...holders].filter(([, pod]) => pod === victim).map(([lease]) => lease);
    expect(moving.length, 'leases held by the pod deleted').to.be.greaterThan(0);
    const staying = [...holders].filter(([, pod]) => pod === survivor).map(([lease]) => lease);

    // Every change of the Leases, in order, from before the delete.
    const seen: LeaseSeen[] = [];
    const list = await coordination().listNamespacedLease({ namespace: DEPLOY_NAMESPACE });
    const watch = await new Watch(controlPlane().kubeConfig()).watch(
      `/apis/coordination.k8s.io/v1/namespaces/${DEPLOY_NAMESPACE}/leases`,
      { resourceVersion: list.metadata?.resourceVersion },
      (_type: string, lease: V1Lease) =>
        seen.push({
          at: Date.now(),
          name: lease.metadata?.name ?? '',
          holder: lease.spec?.holderIdentity ?? '',
          durationSeconds: lease.spec?.leaseDurationSeconds,
        }),
      () => undefined,
    );
    try {
      const deleted = Date.now();
      await core().deleteNamespacedPod({ name: victim, namespace: DEPLOY_NAMESPACE });
      /** The first arrival after the delete of `lease` held by a pod other than the victim. */
      const takenOver = (lease: string): LeaseSeen | undefined =>
        seen.find((s) => s.name === lease && s.holder !== '' && podOf(s.holder) !== victim);
      const reconciled = new Map<string, number>();
      await waitFor(
        async () => {
          const current = await leaseHolders();
          const live = new Map((await livePods()).map((p) => [p.metadata!.name!, p]));
          for (const lease of moving) {
            if (reconciled.has(lease)) continue;
            const pod = live.get(podOf(current.get(lease) ?? ''));
            if (!pod || pod.metadata!.name === victim || !pod.status?.podIP) continue;
            const hv = lease.slice(LEASE_PREFIX.length);
            if (hypervisorUp(await podMetrics(pod), hv) === 1) reconciled.set(lease, Date.now());
          }
          return reconciled.size === moving.length;
        },
        {
          timeoutMs: 120_000,
          intervalMs: 100,
          description: `${moving.join(', ')} held and reconciled by another pod`,
          explain: podsExplained,
        },
      );
      const handover = Math.max(...moving.map((l) => takenOver(l)!.at)) - deleted;
      const total = Math.max(...reconciled.values()) - deleted;
      const newHolders = new Map(moving.map((l) => [l, podOf(takenOver(l)!.holder)]));
      console.log(
        `      failover: ${moving.length} shard(s) of ${victim} held by ${[...new Set(newHolders.values())].join(', ')} ${handover} ms after the delete, reconciled there (maaslab_hypervisor_up=1 in its /metrics) at ${total} ms`,
      );
      // Released on SIGTERM (client-go's ReleaseOnCancel): the victim wrote "no holder, 1 s"
      // before anyone took over. Without it a candidate waits out the 15 s lease from the
      // victim's last renewal, which it made at most retryPeriod before it stopped.
      for (const lease of moving) {
        const i = seen.indexOf(takenOver(lease)!);
        const released = seen.slice(0, i).filter((s) => s.name === lease && s.holder === '');
        expect(released.length, `${lease} released before its takeover`).to.be.greaterThan(0);
        expect(released[0]!.durationSeconds).to.equal(1);
      }
      expect(handover, 'handover after release').to.be.below(leaseDurationMs - retryPeriodMs);
      expect(total, 'held and reconciled after the delete').to.be.below(leaseDurationMs);
      console.log(
        `      failover: bounds ${leaseDurationMs - retryPeriodMs} ms (takeover without a release cannot be sooner) and ${leaseDurationMs} ms (the lease); a candidate retries within ${candidateRetryMaxMs} ms`,
      );
      // The survivor's own shards never moved.
      const now = await leaseHolders();
      for (const lease of staying) expect(podOf(now.get(lease) ?? '')).to.equal(survivor);
      for (const hv of hypervisors) {
        const o = JSON.parse(
          await kubectl('get', 'hypervisor', hv, '-o', 'json'),
        ) as HypervisorStatus;
        expect(o.status?.conditions?.find((c) => c.type === 'Ready')?.status).to.equal('True');
      }
      // The victim exited on SIGTERM by itself, well before kubelet's SIGKILL at the grace period.
      await waitFor(
        async () =>
          core()
            .readNamespacedPod({ name: victim, namespace: DEPLOY_NAMESPACE })
            .then(
              () => false,
              (err: unknown) => err instanceof ApiException && err.code === 404,
            ),
        { timeoutMs: 90_000, intervalMs: 250, description: `pod ${victim} gone` },
      );
      const gone = Date.now() - deleted;
      console.log(`      failover: pod ${victim} gone ${gone} ms after the delete`);
      expect(gone).to.be.below(60_000);
    } finally {
      watch.abort();
    }
    // The Deployment's replacement: two Ready replicas again.
    await waitFor(
      async () => {
        const ps = await livePods();
        return ps.length === 2 && ps.every(isReady);
      },
      {
        timeoutMs: 180_000,
        intervalMs: 250,
        description: 'two operator pods Ready again',
        explain: podsExplained,
      },
    );
  });

  it("is scraped through the metrics Service's endpoints by a real Prometheus (HTTPS, the reader's token)", async function () {
    this.timeout(300_000);
    // What the ServiceMonitor (deploy/monitoring/servicemonitor.yaml) makes Prometheus scrape:
    // every endpoint of the Service's port `metrics`, over HTTPS with the token, job from the
    // Service's app.kubernetes.io/name. Debian's Prometheus is built without Kubernetes
    // service discovery, so the test reads the Service's EndpointSlices (as that discovery
    // would) and hands them over as file_sd targets with the labels it would set. Prometheus
    // runs in the node's network namespace, where the pod addresses route.
    const service = await core().readNamespacedService({
      name: METRICS_SERVICE,
      namespace: DEPLOY_NAMESPACE,
    });
    const pods = await livePods();
    const want = pods.map((p) => `${p.status!.podIP!}:8080`).sort();
    /** The Service's ready endpoints of port `metrics`, with the labels discovery would set. */
    const readEndpoints = async () => {
      const slices = await controlPlane()
        .kubeConfig()
        .makeApiClient(DiscoveryV1Api)
        .listNamespacedEndpointSlice({
          namespace: DEPLOY_NAMESPACE,
          labelSelector: `kubernetes.io/service-name=${METRICS_SERVICE}`,
        });
      return slices.items.flatMap((slice) => {
        const port = slice.ports?.find((p) => p.name === 'metrics')?.port;
        return (slice.endpoints ?? [])
          .filter((e) => e.conditions?.ready === true && port !== undefined)
          .map((e) => ({
            targets: [`${e.addresses[0]!}:${port!}`],
            labels: {
              job: service.metadata?.labels?.['app.kubernetes.io/name'] ?? '',
              namespace: DEPLOY_NAMESPACE,
              service: METRICS_SERVICE,
              pod: e.targetRef?.name ?? '',
            },
          }));
      });
    };
    // The Service selects exactly the Deployment's two pods, at port 8080 (the EndpointSlice
    // controller follows the replacement pod's readiness a moment after the kubelet).
    const endpoints = await waitFor(
      async () => {
        const es = await readEndpoints();
        const got = es.map((e) => e.targets[0]).sort();
        return JSON.stringify(got) === JSON.stringify(want) && es;
      },
      {
        timeoutMs: 60_000,
        intervalMs: 250,
        description: `the Service's ready endpoints ${want.join(', ')}`,
        explain: async () => JSON.stringify(await readEndpoints()),
      },
    );
    const dir = join(scratch, 'prometheus');
    await mkdir(dir);
    await writeFile(join(dir, 'token'), scraper!.token, { mode: 0o600 });
    await writeFile(join(dir, 'endpoints.json'), JSON.stringify(endpoints));
    const config = {
      global: { scrape_interval: '1s', evaluation_interval: '1s' },
      scrape_configs: [
        {
          job_name: `serviceMonitor/${DEPLOY_NAMESPACE}/maaslab-operator/0`,
          file_sd_configs: [{ files: [join(dir, 'endpoints.json')] }],
          scheme: 'https',
          metrics_path: '/metrics',
          authorization: { credentials_file: join(dir, 'token') },
          tls_config: { insecure_skip_verify: true },
        },
      ],
    };
    await writeFile(join(dir, 'prometheus.yml'), stringify(config));
    const t = Date.now();
    prometheus = spawn(
      'nsenter',
      [
        `--net=/run/netns/${cluster!.netns}`,
        '--',
        'prometheus',
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${PROMETHEUS_PORT}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let promLog = '';
    prometheus.stderr?.on('data', (d: Buffer) => (promLog = (promLog + d.toString()).slice(-4000)));
    /** Prometheus's HTTP API, from inside the node's network namespace. */
    const promApi = async <T>(path: string): Promise<T> => {
      const { stdout } = await run('nsenter', [
        `--net=/run/netns/${cluster!.netns}`,
        '--',
        'curl',
        '-sSf',
        '--max-time',
        '5',
        `http://127.0.0.1:${PROMETHEUS_PORT}${path}`,
      ]);
      return (JSON.parse(stdout) as { data: T }).data;
    };
    interface Target {
      labels: Record<string, string>;
      scrapeUrl: string;
      health: string;
      lastError: string;
    }
    const wantUrls = want.map((t) => `https://${t}/metrics`);
    const targets = await waitFor(
      async () => {
        if (prometheus?.exitCode !== null) throw new Error(`prometheus exited: ${promLog}`);
        const { activeTargets } = await promApi<{ activeTargets: Target[] }>(
          '/api/v1/targets?state=active',
        );
        const urls = activeTargets.map((a) => a.scrapeUrl).sort();
        return (
          JSON.stringify(urls) === JSON.stringify(wantUrls) &&
          activeTargets.every((a) => a.health === 'up') &&
          activeTargets
        );
      },
      {
        timeoutMs: 90_000,
        intervalMs: 500,
        description: 'both pods scraped up through the Service endpoints',
        explain: async () =>
          `${JSON.stringify(await promApi('/api/v1/targets?state=active').catch(String))}\n${promLog}`,
      },
    );
    console.log(`      prometheus: started to both endpoints scraped (up) in ${Date.now() - t} ms`);
    for (const target of targets) {
      expect(target.labels).to.include({
        job: 'maaslab-operator',
        service: 'maaslab-operator-metrics',
      });
      expect(pods.map((p) => p.metadata!.name)).to.include(target.labels.pod);
    }
    // What the alerts read: every shard led by exactly one replica, summed over the scrapes.
    const shards = hypervisors.map(leaseName).join('|');
    const leaders = await waitFor(
      async () => {
        const r = await promApi<{ result: { value: [number, string] }[] }>(
          `/api/v1/query?${new URLSearchParams({ query: `sum(leader_election_master_status{job="maaslab-operator",name=~"${shards}"})` }).toString()}`,
        );
        return r.result[0]?.value[1] === String(hypervisors.length) && r.result[0].value[1];
      },
      { timeoutMs: 30_000, intervalMs: 500, description: 'each shard led once, per Prometheus' },
    );
    expect(leaders).to.equal('3');
  });

  /** A Hypervisor over qemu+ssh to `address`, its pool on the private libvirtd. */
  const sshHypervisor = (name: string, address: string): Record<string, unknown> => ({
    apiVersion: GROUP_VERSION,
    kind: 'Hypervisor',
    metadata: { name },
    spec: {
      uri: `qemu+ssh://root@${address}/system`,
      storagePool: `maaslab-${name}`,
      storagePoolPath: join(lv!.dir, 'pool'),
    },
  });
  /** A Hypervisor or MaasLab as JSON, undefined while it does not exist. */
  const getJson = async (kind: string, name: string, ns?: string): Promise<Conditioned> =>
    JSON.parse(
      await kubectl('get', kind, name, '-o', 'json', ...(ns ? ['-n', ns] : [])),
    ) as Conditioned;
  /** `virsh list --all` lines of a lab's domains: "Id Name State", sorted. */
  const domainsOf = async (ns: string, lab: string): Promise<string[]> =>
    linesOf(await lv!.virsh(['list', '--all']), `${ns}.${lab}-node`).sort();

  it('reaches a private libvirtd over qemu+ssh through a real sshd from a pod: the Hypervisor is Ready, held by a Lease of one pod, and a two-node lab on it is Ready, its domains running there', async function () {
    this.timeout(400_000);
    labNs = await createTestNamespace(controlPlane().kubeConfig(), 'central-ssh');
    const hv = `central-${labNs.name.slice(-5)}-ssh`;
    sshHypervisors.push(hv);
    const ns = labNs.name;
    const lab = {
      apiVersion: GROUP_VERSION,
      kind: 'MaasLab',
      metadata: { name: 'over-ssh', namespace: ns },
      spec: {
        hypervisor: hv,
        networks: [
          { name: 'maas', mode: 'isolated', ipv4: { address: '10.84.41.1', prefixLength: 24 } },
        ],
        nodes: {
          count: 2,
          macPrefix: '52:54:00:7e:41',
          template: {
            memory: '128Mi',
            disks: [{ name: 'root', size: '64Mi' }],
            interfaces: [{ network: 'maas' }],
            // For the console and vnc test below; QEMU's VNC listens on the remote loopback.
            vnc: { enabled: true },
          },
        },
      },
    };
    const explain = async (): Promise<string> =>
      [
        await kubectl('get', 'hypervisor', hv, '-o', 'yaml').catch(String),
        await kubectl('get', 'maaslab', 'over-ssh', '-n', ns, '-o', 'yaml').catch(String),
        `sshd log:\n${(await readFile(ssh!.logFile, 'utf8')).split('\n').slice(-20).join('\n')}`,
        await podsExplained(),
      ].join('\n');
    const t = Date.now();
    await kubectlApply(admin(), [sshHypervisor(hv, ssh!.address), lab], join(scratch, 'ssh.yaml'));
    await waitFor(async () => isReadyNow(await getJson('hypervisor', hv)), {
      timeoutMs: 180_000,
      intervalMs: 200,
      description: `Hypervisor ${hv} Ready over qemu+ssh from a pod`,
      explain,
    });
    const hvReadyMs = Date.now() - t;
    await waitFor(async () => isReadyNow(await getJson('maaslab', 'over-ssh', ns)), {
      timeoutMs: 240_000,
      intervalMs: 200,
      description: `MaasLab ${ns}/over-ssh Ready`,
      explain,
    });
    const labReadyMs = Date.now() - t;
    const domains = await domainsOf(ns, 'over-ssh');
    expect(domains, 'both nodes defined and running on the private libvirtd').to.have.length(2);
    for (const d of domains) expect(d).to.match(/\srunning$/);
    // Held by one of the two pods, which alone reports it up; it logged in with the Secret's
    // key from the node's end of the link (the pod's address, masqueraded by the CNI).
    const holder = podOf((await leaseHolders()).get(leaseName(hv)) ?? '');
    const pods = new Map((await livePods()).map((p) => [p.metadata!.name!, p]));
    expect(pods.has(holder), `${leaseName(hv)} held by a live pod (${holder})`).to.equal(true);
    expect(hypervisorUp(await podMetrics(pods.get(holder)!), hv)).to.equal(1);
    const log = await readFile(ssh!.logFile, 'utf8');
    expect(log).to.include(`Accepted publickey for root from ${link!.peerAddress}`);
    const fingerprint = (
      await run('ssh-keygen', ['-l', '-f', join(scratch, 'id_ed25519.pub')])
    ).stdout.split(/\s+/)[1]!;
    expect(log).to.include(fingerprint);
    const sessions = (await ssh!.sessions()).filter((s) =>
      s.commands.some((c) => c.includes('virt-ssh-helper')),
    );
    expect(sessions.length, 'sshd sessions running virt-ssh-helper').to.be.greaterThan(0);
    console.log(
      `      ssh: Hypervisor Ready over qemu+ssh from pod ${holder} ${hvReadyMs} ms after the apply, ` +
        `2-node lab Ready at ${labReadyMs} ms`,
    );
  });

  it("reconnects from the pod when its ssh session is dropped on the sshd side: the Hypervisor is Ready again over a new session, the lab's domains keep their ids and UUIDs, none is added", async function () {
    this.timeout(300_000);
    const ns = labNs!.name;
    const hv = sshHypervisors[sshHypervisors.length - 1]!;
    /** The sshd sessions serving libvirt (virt-ssh-helper), by PID. */
    const libvirtSessions = async (): Promise<number[]> =>
      (await ssh!.sessions())
        .filter((s) => s.commands.some((c) => c.includes('virt-ssh-helper')))
        .map((s) => s.pid)
        .sort();
    /** name → UUID of the lab's domains, as the private libvirtd has them. */
    const uuidsOf = async (): Promise<Record<string, string>> => {
      const names = linesOf(await lv!.virsh(['list', '--all', '--name']), `${ns}.over-ssh-node`);
      const out: Record<string, string> = {};
      for (const name of names.sort()) out[name] = (await lv!.virsh(['domuuid', name])).trim();
      return out;
    };
    const before = await domainsOf(ns, 'over-ssh');
    const uuids = await uuidsOf();
    const dropped = await libvirtSessions();
    expect(dropped.length, 'the lease holder serves the Hypervisor over ssh').to.be.greaterThan(0);
    const explain = async (): Promise<string> =>
      [
        `sessions: ${JSON.stringify(await ssh!.sessions())}`,
        await kubectl('get', 'hypervisor', hv, '-o', 'yaml').catch(String),
        await podsExplained(),
      ].join('\n');

    const t = Date.now();
    for (const pid of dropped) process.kill(pid, 'SIGTERM');
    // A new session (no PID of the dropped ones), opened by the pod's operator on its own.
    const fresh = await waitFor(
      async () =>
        ((now) => now.length > 0 && now.every((p) => !dropped.includes(p)) && now)(
          await libvirtSessions(),
        ),
      {
        timeoutMs: 120_000,
        intervalMs: 50,
        description: 'a new ssh session from the pod',
        explain,
      },
    );
    const reconnectMs = Date.now() - t;
    await waitFor(
      async () => {
        const h = await getJson('hypervisor', hv);
        const l = await getJson('maaslab', 'over-ssh', ns);
        return isReadyNow(h) && isReadyNow(l);
      },
      {
        timeoutMs: 120_000,
        intervalMs: 200,
        description: `${hv} and its lab Ready again`,
        explain,
      },
    );
    const readyMs = Date.now() - t;
    // Some more passes over the new connection before counting.
    await new Promise((r) => setTimeout(r, 5000));
    expect(await domainsOf(ns, 'over-ssh'), 'same domains, same ids: none restarted').to.deep.equal(
      before,
    );
    expect(await uuidsOf(), 'same UUIDs: none redefined, no duplicate').to.deep.equal(uuids);
    const after = await libvirtSessions();
    expect(after.every((p) => !dropped.includes(p))).to.equal(true);
    expect(after.length, 'no more sessions than before the drop').to.be.at.most(dropped.length);
    console.log(
      `      ssh: ${dropped.length} session(s) dropped (${dropped.join(', ')}); the pod reconnected ` +
        `after ${reconnectMs} ms (${fresh.join(', ')}), Hypervisor and lab Ready again at ${readyMs} ms`,
    );
  });

  it('serves kubectl maaslab vnc and console from the pod over qemu+ssh, through kubectl port-forward (the default path), to a user with only maaslab-console-user and the port-forward Role', async function () {
    this.timeout(300_000);
    const ns = labNs!.name;
    const node = 'over-ssh-node1';
    const scratchBin = join(scratch, 'plugin-bin');
    await mkdir(scratchBin, { recursive: true });
    await symlink(join(repoRoot, 'hack', 'kubectl-maaslab'), join(scratchBin, 'kubectl-maaslab'));
    // The least a console user needs, as the README grants it: the ClusterRole for the
    // subresources, and the Role that lets kubectl port-forward to the operator's pods.
    const user = await createServiceAccountWithToken(
      createRestClient(controlPlane().restConfig('admin')),
      ns,
      'console-user',
      'maaslab-console-user',
    );
    const binding = `${ns}-console-portforward`;
    await kubectl(
      'create',
      'rolebinding',
      binding,
      '-n',
      DEPLOY_NAMESPACE,
      '--role=maaslab-console-portforward',
      `--serviceaccount=${ns}:console-user`,
    );
    try {
      const adminConfig = parse(await readFile(admin(), 'utf8')) as {
        clusters: Array<{ name: string; cluster: Record<string, unknown> }>;
      };
      const kubeconfig = join(scratch, 'console-user.kubeconfig');
      await writeFile(
        kubeconfig,
        stringify({
          apiVersion: 'v1',
          kind: 'Config',
          clusters: adminConfig.clusters,
          users: [{ name: 'console-user', user: { token: user.token } }],
          contexts: [
            {
              name: 'console-user',
              context: {
                cluster: adminConfig.clusters[0]!.name,
                user: 'console-user',
                namespace: ns,
              },
            },
          ],
          'current-context': 'console-user',
        }),
      );
      const plugin = (verb: string): ChildProcess =>
        spawn(kubectlPath(), ['maaslab', verb, node, '-n', ns], {
          env: {
            PATH: [
              scratchBin,
              dirname(kubectlPath()),
              dirname(process.execPath),
              '/usr/bin',
              '/bin',
            ].join(':'),
            HOME: scratch,
            KUBECONFIG: kubeconfig,
            KUBECTL: kubectlPath(),
          },
          stdio: ['pipe', 'pipe', 'pipe'],
        });
      // vnc: the plugin's local listener, a port-forward to the Lease holder's console
      // endpoint, and from there `ssh -W` to QEMU's VNC server on the remote host.
      let t = Date.now();
      const vnc = plugin('vnc');
      const v = collectOutput(vnc);
      const greeting = await firstBytes(await vncListenerPort(v));
      expect(greeting).to.equal('RFB 003.008\n');
      console.log(
        `      console: vnc from the plugin's start to the RFB greeting in ${Date.now() - t} ms`,
      );
      vnc.kill('SIGINT');
      expect(await v.exited, v.err()).to.equal(0);

      // console: libvirt's console stream over the same qemu+ssh connection. A reset makes
      // SeaBIOS print its banner on the serial console; resets repeat until the session is
      // attached and the banner arrives.
      t = Date.now();
      const consoleChild = plugin('console');
      const c = collectOutput(consoleChild);
      const domain = `${ns}.${node}`;
      await waitFor(
        async () => {
          if (consoleChild.exitCode !== null) throw new Error(`console exited: ${c.err()}`);
          if (/SeaBIOS/.test(c.out())) return true;
          await lv!.virsh(['reset', domain]);
          return false;
        },
        {
          timeoutMs: 120_000,
          intervalMs: 5_000,
          description: `SeaBIOS on ${node}'s console (stdout: ${JSON.stringify(c.out().slice(-300))}, stderr: ${c.err()})`,
        },
      );
      console.log(
        `      console: SeaBIOS on the serial console ${Date.now() - t} ms after the plugin started`,
      );
      consoleChild.stdin!.end();
      expect(await c.exited, c.err()).to.equal(0);
    } finally {
      await kubectl('delete', 'rolebinding', binding, '-n', DEPLOY_NAMESPACE, '--ignore-not-found');
      await user.cleanup();
    }
  });

  it("reports Ready=False HostKeyVerificationFailed from the pod for a host whose key is not the one the Secret's known_hosts holds", async function () {
    this.timeout(300_000);
    const hv = `${sshHypervisors[0] ?? `central-${Date.now() % 100000}-ssh`}-refused`;
    sshHypervisors.push(hv);
    const t = Date.now();
    await kubectlApply(
      admin(),
      [sshHypervisor(hv, ssh!.otherAddress)],
      join(scratch, 'refused.yaml'),
    );
    const refused = await waitFor(
      async () => {
        const o = await getJson('hypervisor', hv);
        return conditionOf(o, 'Ready')?.status === 'False' && o;
      },
      {
        timeoutMs: 120_000,
        intervalMs: 200,
        description: `Hypervisor ${hv} Ready=False`,
        explain: async () => kubectl('get', 'hypervisor', hv, '-o', 'yaml'),
      },
    );
    const reportedMs = Date.now() - t;
    const ready = conditionOf(refused, 'Ready');
    expect(ready?.reason, ready?.message).to.equal(HostKeyVerificationFailedReason);
    expect(ready?.message).to.match(/host key verification failed/i);
    expect(ready?.message).to.include(`Host key for ${ssh!.otherAddress} has changed`);
    expect(conditionOf(refused, 'Stalled')?.status).to.equal('True');
    const holder = podOf((await leaseHolders()).get(leaseName(hv)) ?? '');
    expect((await livePods()).map((p) => p.metadata!.name)).to.include(holder);
    // The healthy one is not affected.
    expect(isReadyNow(await getJson('hypervisor', sshHypervisors[0]!))).to.equal(true);
    console.log(
      `      ssh: refused host key reported by pod ${holder} in ${reportedMs} ms: ${ready?.reason}: ${ready?.message}`,
    );
  });

  it('deletes the lab over qemu+ssh: its domains go from the private libvirtd', async function () {
    this.timeout(300_000);
    const ns = labNs!.name;
    const t = Date.now();
    await kubectl('delete', 'maaslab', 'over-ssh', '-n', ns, '--timeout=180s');
    await waitFor(async () => (await domainsOf(ns, 'over-ssh')).length === 0, {
      timeoutMs: 60_000,
      intervalMs: 250,
      description: `the domains of ${ns}/over-ssh gone from the private libvirtd`,
    });
    console.log(`      ssh: lab deleted, its domains gone, in ${Date.now() - t} ms`);
  });

  it('deletes the Hypervisors, the overlay, its pods and the shard Leases', async function () {
    this.timeout(300_000);
    await deleteAll();
    hypervisors = [];
    expect(await livePods()).to.deep.equal([]);
    expect(sshHypervisors).to.deep.equal([]);
  });
});
