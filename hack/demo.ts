/**
 * `make demo`: the recipe lab, live, on this machine, touching nothing outside it.
 *
 * 1. Starts kube-testenv (etcd + kube-apiserver on loopback) and a private libvirtd with
 *    QEMU TCG in its own network namespace; when QEMU cannot run here, falls back to the
 *    libvirt test driver (`test:///default`) and says so.
 * 2. Installs crds/, registers the Hypervisor on the private daemon (a dir pool under the
 *    demo's folder: the private daemon has no `default` pool), and runs the operator in
 *    this process, logging to a file so the table stays readable.
 * 3. Applies examples/recipe-lab.yaml and prints a live table of the lab and its nodes,
 *    the time from apply to lab Ready, the VNC consoles and the kubeconfig for kubectl.
 * 4. Ctrl-C stops the operator and tears everything down.
 */
import { execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { parseAllDocuments, stringify } from 'yaml';
import type { MaasLab, MaasNode } from '../src/api/v1alpha1/index.js';
import { runOperator } from '../src/cli/operator.js';
import { createLogger } from '../src/runtime/log.js';
import { createRestClient } from '../src/runtime/client/rest.js';
import { type ControlPlane, repoRoot, startControlPlane } from '../test/support/controlplane.js';
import { applyCrds } from '../test/support/crds.js';
import { kubectlPath } from '../test/support/kubectl.js';
import { type PrivateLibvirtd, startPrivateLibvirtd } from '../test/support/libvirtd.js';

const run = promisify(execFile);
/** bin/kubectl (`make demo` builds it): the control plane's own release, not PATH's kubectl. */
const kubectl = kubectlPath();
const GROUP_VERSION = 'maaslab.dev/v1alpha1';
const HYPERVISOR = 'local';
const POOL = 'maaslab-demo';
const NAMESPACE = 'default';
const say = (line: string): void => void process.stdout.write(`${line}\n`);

interface Doc {
  kind: string;
  metadata: { name: string; namespace?: string };
  spec: Record<string, unknown>;
}

/** True when the daemon can run x86_64 guests under QEMU (TCG is enough). */
async function qemuWorks(lv: PrivateLibvirtd): Promise<boolean> {
  try {
    await lv.virsh(['domcapabilities', '--virttype', 'qemu', '--arch', 'x86_64']);
    return true;
  } catch {
    return false;
  }
}

/** Pads cells into aligned columns. */
function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ')).join('\n');
}

const readyOf = (o: {
  status?: { conditions?: Array<{ type: string; status: string }> };
}): string => o.status?.conditions?.find((c) => c.type === 'Ready')?.status ?? '-';

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'maaslab-demo-'));
  const cleanups: Array<() => Promise<unknown>> = [];
  const stop = new AbortController();
  let interrupted = false;
  process.on('SIGINT', () => {
    if (interrupted) process.exit(130); // second Ctrl-C: leave now
    interrupted = true;
    say('\nCtrl-C: tearing down (operator, libvirtd, kube-apiserver)…');
    stop.abort();
  });
  process.on('SIGTERM', () => stop.abort());

  try {
    say('Starting kube-testenv (etcd + kube-apiserver on 127.0.0.1)…');
    const cp: ControlPlane = await startControlPlane();
    cleanups.push(() => cp.stop());

    say('Starting a private libvirtd in its own network namespace…');
    let lv: PrivateLibvirtd | undefined;
    let uri = 'test:///default';
    try {
      lv = await startPrivateLibvirtd();
      const daemon = lv;
      cleanups.push(() => daemon.stop());
      say(`  its state, socket and logs: ${lv.dir}; network namespace: ${lv.netns}`);
      if (await qemuWorks(lv)) uri = lv.uri;
      else
        say('!! QEMU cannot run here: falling back to the libvirt test driver (test:///default).');
    } catch (err) {
      say(`!! No private libvirtd (${(err as Error).message.split('\n')[0]}):`);
      say('!! falling back to the libvirt test driver (test:///default); no real VMs, no VNC.');
    }

    say('Installing crds/…');
    await applyCrds(cp);

    const logPath = join(dir, 'operator.log');
    say(`Starting the operator in this process (log: ${logPath})…`);
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    const operator = runOperator(
      {
        hypervisors: { all: true },
        leaderElect: false,
        namespace: NAMESPACE,
        metricsBindAddress: '127.0.0.1:0',
        consoleBindAddress: '',
        // The demo's metrics are for the person at the keyboard: plain HTTP, on loopback only.
        metricsSecure: false,
        healthProbeBindAddress: '127.0.0.1:0',
        maxConcurrentReconciles: 2,
        logLevel: 'info',
        logFormat: 'text',
        resyncPeriodMs: 600_000,
        libvirtConnectTimeoutMs: 20_000,
        reconcileTimeoutMs: 300_000,
      },
      stop.signal,
      {
        restConfig: cp.restConfig('admin'),
        logger: createLogger({ format: 'text', stream: createWriteStream(logPath) }),
        onStarted: ({ metrics }) => {
          if (metrics) say(`Metrics: http://127.0.0.1:${metrics.port}/metrics`);
          started();
        },
      },
    );
    await Promise.race([running, operator]);
    if (stop.signal.aborted) return;

    // The recipe lab, with the Hypervisor pointed at the private daemon.
    const docs = parseAllDocuments(
      await readFile(join(repoRoot, 'examples', 'recipe-lab.yaml'), 'utf8'),
    ).map((d) => d.toJS() as Doc);
    for (const d of docs) {
      if (d.kind === 'Hypervisor') {
        Object.assign(d.spec, {
          uri,
          storagePool: POOL,
          storagePoolPath: join(lv?.dir ?? dir, 'pool'),
        });
      } else {
        d.metadata.namespace = NAMESPACE;
      }
    }
    const manifest = join(dir, 'recipe-lab.yaml');
    await writeFile(manifest, docs.map((d) => stringify(d)).join('---\n'));
    const t0 = Date.now();
    await run(kubectl, ['--kubeconfig', cp.adminKubeconfig, 'apply', '-f', manifest]);
    say(`Applied ${manifest}`);

    const rest = createRestClient(cp.restConfig('admin'));
    let readyAfter: number | undefined;
    let vnc = '';
    let last = '';
    while (!stop.signal.aborted) {
      const lab = await rest
        .request<MaasLab>({
          method: 'GET',
          ref: { apiVersion: GROUP_VERSION, kind: 'MaasLab', namespace: NAMESPACE, name: 'recipe' },
        })
        .catch(() => undefined);
      const nodes = await rest
        .request<{ items: MaasNode[] }>({
          method: 'GET',
          ref: { apiVersion: GROUP_VERSION, kind: 'MaasNode', namespace: NAMESPACE },
        })
        .then((l) => l.items)
        .catch((): MaasNode[] => []);
      if (readyAfter === undefined && lab && readyOf(lab) === 'True') {
        readyAfter = (Date.now() - t0) / 1000;
        if (lv && uri === lv.uri) {
          const lines: string[] = [];
          for (const n of nodes) {
            const dom = n.status?.power?.id ?? '';
            const display = (await lv.virsh(['vncdisplay', dom]).catch(() => '?')).trim();
            lines.push(`  ${dom}: ${display}`);
          }
          vnc = [
            'VNC consoles (listening on 127.0.0.1 inside the network namespace):',
            ...lines,
            `  reach one with: ip netns exec ${lv.netns} <vncviewer> 127.0.0.1:<5900+display>`,
            `  or bridge it to this host's loopback, then point a viewer at 127.0.0.1:15900:`,
            `    socat TCP-LISTEN:15900,bind=127.0.0.1,reuseaddr,fork EXEC:'ip netns exec ${lv.netns} socat STDIO TCP:127.0.0.1:5900'`,
            `  virsh:          virsh -c '${lv.uri}' list`,
          ].join('\n');
        } else {
          vnc = 'VNC: none with the test driver.';
        }
      }
      const rows: string[][] = [['NODE', 'STATUS', 'READY', 'MAC', 'VNC', 'POWER ID', 'MAAS']];
      for (const n of nodes) {
        rows.push([
          n.metadata?.name ?? '',
          n.status?.printableStatus ?? 'Pending',
          readyOf(n),
          n.spec.interfaces?.[0]?.mac ?? '',
          n.status?.vnc?.display ?? '',
          n.status?.power?.id ?? '',
          maasColumn(lab, n),
        ]);
      }
      const screen = [
        `maaslab demo — Hypervisor ${HYPERVISOR} at ${uri}`,
        `MaasLab ${NAMESPACE}/recipe: ${lab?.status?.printableStatus ?? 'Pending'}  Ready=${lab ? readyOf(lab) : '-'}  ` +
          `nodes ${lab?.status?.nodes?.ready ?? 0}/${lab?.status?.nodes?.total ?? 0}  ` +
          `networks ${lab?.status?.networks?.ready ?? 0}/${lab?.status?.networks?.total ?? 0}`,
        readyAfter === undefined
          ? `waiting for Ready… ${((Date.now() - t0) / 1000).toFixed(0)} s since apply`
          : `apply → lab Ready: ${readyAfter.toFixed(1)} s`,
        '',
        table(rows),
        '',
        maasLine(lab, cp.adminKubeconfig),
        vnc,
        `kubectl: ${kubectl} --kubeconfig ${cp.adminKubeconfig} get maaslab-all -A`,
        'Ctrl-C tears everything down.',
      ].join('\n');
      // On a terminal redraw in place; in a log print only what changed.
      if (process.stdout.isTTY) process.stdout.write(`\x1b[2J\x1b[H${screen}\n`);
      else if (screen.replace(/\d+ s since apply/, '') !== last) say(screen);
      last = screen.replace(/\d+ s since apply/, '');
      await delay(2000, undefined, { signal: stop.signal }).catch(() => undefined);
    }
    await operator;
  } finally {
    stop.abort();
    for (const c of cleanups.reverse()) {
      await c().catch((err: unknown) => say(`cleanup: ${(err as Error).message}`));
    }
    await rm(dir, { recursive: true, force: true });
    say('Torn down.');
  }
}

/** A node's MAAS column: its machine's MAAS status, or why there is none. */
function maasColumn(lab: MaasLab | undefined, node: MaasNode): string {
  if (lab?.spec.maas === undefined) return '-';
  const enlisted = node.status?.conditions?.find((c) => c.type === 'Enlisted');
  if (node.status?.maas?.statusName) return node.status.maas.statusName;
  return enlisted ? `${enlisted.reason}` : 'not enlisted';
}

/** What the lab's MAAS is doing, or how to give the lab one. */
function maasLine(lab: MaasLab | undefined, kubeconfig: string): string {
  if (lab === undefined) return '';
  if (lab.spec.maas === undefined) {
    return [
      'MAAS: none. This lab has no spec.maas, so no MAAS knows its nodes (their consoles stop at',
      '  "iPXE starting execution"). Point it at a MAAS you run (a Secret with its API key, then):',
      `  ${kubectl} --kubeconfig ${kubeconfig} -n ${NAMESPACE} patch maaslab recipe --type merge \\`,
      `    -p '{"spec":{"maas":{"external":{"url":"http://10.77.0.2:5240/MAAS","apiKeySecretRef":{"name":"maas-api-key"}}}}}'`,
      '  README "MAAS in the lab"; examples/maaslab_v1alpha1_maaslab_maas.yaml.',
      '',
    ].join('\n');
  }
  const url = lab.spec.maas.external?.url ?? '';
  const reachable = lab.status?.conditions?.find((c) => c.type === 'MaasReachable');
  if (reachable?.status === 'True') {
    return `MAAS ${lab.status?.maas?.version ?? ''} at ${url}: reachable\n`;
  }
  return `MAAS at ${url}: not reachable${reachable ? ` (${reachable.reason}: ${reachable.message})` : ' yet'}\n`;
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(
      `demo failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  },
);
