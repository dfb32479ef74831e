// The operator at fleet scale on libvirt's test driver, and writes the `scale` section of
// bench/RESULTS.md: 10 Hypervisors, 10 labs of 100 nodes (1000 MaasNodes).
//
// 1. Build: time from applying all labs to all Ready; the operator's peak RSS and CPU seconds;
//    API requests and libvirt calls per node, from the operator's own metrics.
// 2. Steady state: a full resync of all 1000 nodes (each node's periodic pass, the resync
//    period shortened to 150 s); the mutating libvirt calls and API writes it caused (goal 0),
//    and the operator's CPU milliseconds per resynced node.
// 3. Reconcile latency: p50/p99 of controller_runtime_reconcile_time_seconds and of
//    workqueue_queue_duration_seconds over the build, per controller.
// 4. A CPU profile (`node --cpu-prof`) of the whole operator run, its top costs by self time.
//
// The operator runs compiled (dist/, `make build`), as a deployment does, as a child process
// with the generated RBAC only. Each Hypervisor is its own libvirt test driver with its own
// state: a URI naming a driver file (`test:///<scratch>/hv-N.xml`, one storage pool, nothing
// else) opens a private instance, where test:///default would share ONE state per process, so
// every inventory would read all 1000 domains and every domain event would reach all 10
// registrations (10x what 10 real hosts deliver). The operator opens one connection per URI,
// so each Hypervisor sees its own domains, as real hosts do.
//
// Where the test driver runs (BENCH_LIBVIRT): `inprocess`, the default, opens
// `test:///<scratch>/hv-N.xml`, the driver inside the operator process, its CPU and memory
// counted as the operator's (how issue 16's figures and every run before were taken).
// `daemon` (root) serves every driver file from one private libvirtd (test/support/libvirtd.ts),
// reached as `test+unix:///<scratch>/hv-N.xml?socket=…`, as the operator reaches a real host:
// the operator pays libvirt's remote protocol (its client runs on the binding's lanes), and the
// driver's own work (parsing and formatting every domain's XML, its object lists) is the
// daemon's. `make bench-scale-libvirt` measures the two in one run (bench/scale-compare.ts).
//
//   tsx bench/scale.ts [hypervisors] [nodes per lab]     (make bench-scale; default 10 100)
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { MaasLab } from '../src/api/v1alpha1/index.js';
import { type RestClient, createRestClient } from '../src/runtime/client/rest.js';
import { type ControlPlane, repoRoot, startControlPlane } from '../test/support/controlplane.js';
import { applyCrds } from '../test/support/crds.js';
import { imageEnv } from '../test/support/image.js';
import { type PrivateLibvirtd, startPrivateLibvirtd } from '../test/support/libvirtd.js';
import { GROUP_VERSION, isReadyNow } from '../test/support/e2e.js';
import { isMutatingOp } from '../test/support/hypervisor-contract.js';
import { createTestNamespace } from '../test/support/namespace.js';
import {
  type OperatorProcess,
  applyOperatorRbac,
  kubectlApply,
  kubectlRun,
  startOperator,
} from '../test/support/operator.js';
import { type ProfileCost, topSelfCosts } from './profile.js';
import {
  type Sample,
  deltaBy,
  histogramQuantile,
  loadAverages,
  machineLines,
  ms,
  parsePrometheus,
  sum,
  writeSection,
} from './support.js';

const HYPERVISORS = Number(process.argv[2] ?? process.env.BENCH_HYPERVISORS ?? 10);
const NODES_PER_LAB = Number(process.argv[3] ?? process.env.BENCH_NODES_PER_LAB ?? 100);
const TOTAL_NODES = HYPERVISORS * NODES_PER_LAB;
const READY_TIMEOUT_MS = 600_000;
/**
 * The MaasNode resync period of the bench's operator: longer than the build (so no node
 * resyncs before all are Ready), short enough to wait for. The default is 10 min.
 */
const RESYNC = process.env.BENCH_RESYNC ?? '150s';
/**
 * The checkout whose dist/ runs as the operator: this one, or (BENCH_OPERATOR_ROOT) another
 * build, such as an older commit's for bench/scale-compare.ts. The control plane, CRDs, RBAC
 * and labs are this checkout's either way, so both operators face the same work.
 */
const OPERATOR_ROOT = process.env.BENCH_OPERATOR_ROOT ?? repoRoot;
/**
 * BENCH_FIGURES_JSON=<file>: measure the build alone (no resync window, no profiled run),
 * write its figures there as JSON and leave bench/RESULTS.md alone: one sample of
 * bench/scale-compare.ts.
 */
const FIGURES_JSON = process.env.BENCH_FIGURES_JSON;
/**
 * BENCH_HEAP_SNAPSHOT=<dir>: at all Ready, the operator writes a V8 heap snapshot there
 * (`--heapsnapshot-signal`, then SIGUSR2), for bench/heap-summary.ts. Writing it stops the
 * operator for seconds, after the build's figures are taken.
 */
const HEAP_SNAPSHOT_DIR = process.env.BENCH_HEAP_SNAPSHOT;
/**
 * BENCH_ALLOC_PROFILE=<dir>: the operator samples every allocation during the build, garbage
 * included (bench/alloc-profile.mjs), and writes a .heapprofile there at all Ready.
 */
const ALLOC_PROFILE_DIR = process.env.BENCH_ALLOC_PROFILE;
/** Where the test driver runs: see the head of this file. */
export type LibvirtMode = 'daemon' | 'inprocess';
const LIBVIRT_MODE: LibvirtMode = ((): LibvirtMode => {
  const mode = process.env.BENCH_LIBVIRT ?? 'inprocess';
  if (mode !== 'daemon' && mode !== 'inprocess') {
    throw new Error(`BENCH_LIBVIRT must be daemon or inprocess, not ${mode}`);
  }
  if (mode === 'daemon' && process.getuid?.() !== 0) {
    throw new Error('BENCH_LIBVIRT=daemon starts a private libvirtd: run as root');
  }
  return mode;
})();
/** Linux's USER_HZ: /proc/<pid>/stat counts CPU time in these ticks. */
const CLOCK_TICKS = 100;

const say = (line: string): void => void process.stdout.write(`${line}\n`);

/** User+system CPU seconds of a /proc stat file (a process's, or one thread's). */
function statCpuSeconds(path: string): number {
  const stat = readFileSync(path, 'utf8');
  // Fields after the command name (which may hold spaces) start at ') '.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/**
 * The operator's user+system CPU seconds, its main (JavaScript) thread's alone, and its peak
 * and current RSS, from /proc. The rest of the CPU is other threads': the libvirt lanes, where
 * the test driver itself runs in-process (a real host's libvirtd does that work), V8's
 * collector helpers and libuv's pool.
 */
function procStats(pid: number): {
  cpuSeconds: number;
  mainCpuSeconds: number;
  threads: ReadonlyMap<string, number>;
  peakRssMb: number;
  rssMb: number;
} {
  const cpuSeconds = statCpuSeconds(`/proc/${pid}/stat`);
  const mainCpuSeconds = statCpuSeconds(`/proc/${pid}/task/${pid}/stat`);
  const threads = threadCpuSeconds(pid);
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number =>
    Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1]);
  return {
    cpuSeconds,
    mainCpuSeconds,
    threads,
    peakRssMb: kb('VmHWM') / 1024,
    rssMb: kb('VmRSS') / 1024,
  };
}

/**
 * Each live thread's user+system CPU seconds, by thread id and what it is: Node names its own
 * (`V8Worker`: the collector's helpers and concurrent compilation; `libuv-worker`; …); the
 * binding's lanes, started from the main thread, keep its name `MainThread`. A thread that
 * ended is in the process's total only.
 */
function threadCpuSeconds(pid: number): ReadonlyMap<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const comm = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      const kind = tid === String(pid) ? 'main' : comm === 'MainThread' ? 'lanes' : comm;
      out.set(`${tid} ${kind}`, statCpuSeconds(`/proc/${pid}/task/${tid}/stat`));
    } catch {
      // Ended between the listing and the read: its time is in the process's total.
    }
  }
  return out;
}

/**
 * The CPU seconds each kind of thread spent between two procStats, with a `rest` for what the
 * process total has beyond the live threads (threads that ended meanwhile, and /proc counting
 * each thread in whole 10 ms ticks, so ~20 threads round away up to 0.2 s), main thread left
 * out (it is reported on its own).
 */
function threadCpuBetween(
  a: ReturnType<typeof procStats>,
  b: ReturnType<typeof procStats>,
): Map<string, number> {
  const byKind = new Map<string, number>();
  let live = 0;
  for (const [key, seconds] of b.threads) {
    const delta = seconds - (a.threads.get(key) ?? 0);
    live += delta;
    const kind = key.slice(key.indexOf(' ') + 1);
    if (kind !== 'main') byKind.set(kind, (byKind.get(kind) ?? 0) + delta);
  }
  const ended = b.cpuSeconds - a.cpuSeconds - live;
  if (ended > 0.005) byKind.set('rest (ended threads, per-thread rounding)', ended);
  return new Map([...byKind].sort((x, y) => y[1] - x[1]));
}

async function scrape(op: OperatorProcess): Promise<Sample[]> {
  return parsePrometheus(await (await fetch(op.metricsUrl)).text());
}

/** kube-apiserver's own metrics (admin's `kubectl get --raw /metrics`). */
async function scrapeApiserver(cp: ControlPlane): Promise<Sample[]> {
  return parsePrometheus(await kubectlRun(cp.adminKubeconfig, ['get', '--raw', '/metrics']));
}

/**
 * The writes the API server served between two of its scrapes, by verb and resource
 * (`PATCH maasnodes/status`): which of the operator's requests a build makes, as the server
 * counts them. Everyone's writes: the bench's own (its kubectl apply of the labs) are in it.
 */
function apiserverWrites(before: readonly Sample[], after: readonly Sample[]): Map<string, number> {
  const out = new Map<string, number>();
  const add = (samples: readonly Sample[], sign: number): void => {
    for (const s of samples) {
      if (s.name !== 'apiserver_request_total') continue;
      const { verb = '', resource = '', subresource = '' } = s.labels;
      if (['GET', 'LIST', 'WATCH'].includes(verb)) continue;
      const key = `${verb} ${resource}${subresource ? `/${subresource}` : ''}`;
      out.set(key, (out.get(key) ?? 0) + sign * s.value);
    }
  };
  add(after, 1);
  add(before, -1);
  for (const [k, v] of out) if (v === 0) out.delete(k);
  return new Map([...out].sort((a, b) => b[1] - a[1]));
}

/**
 * Opens a cluster-wide watch of MaasLabs; `ready` resolves once `count` labs are Ready at
 * their generation, from the events themselves.
 */
async function watchLabsReady(
  rest: RestClient,
  count: number,
): Promise<{ ready: Promise<void>; stop: () => void }> {
  const labs = new Map<string, MaasLab>();
  let settle: (err?: Error) => void = () => undefined;
  const ready = new Promise<void>((resolve, reject) => {
    settle = (err) => (err ? reject(err) : resolve());
  });
  const timer = setTimeout(
    () => settle(new Error(`labs not Ready within ${READY_TIMEOUT_MS} ms`)),
    READY_TIMEOUT_MS,
  );
  // The server ends a watch after its timeout: open it again until done.
  let handle: { stop(): void } | undefined;
  let done = false;
  void ready.finally(() => (done = true)).catch(() => undefined);
  const open = async (): Promise<void> => {
    // A new watch starts with an ADDED event per existing lab.
    labs.clear();
    handle = await rest.watch(
      { apiVersion: GROUP_VERSION, kind: 'MaasLab' },
      {},
      {
        onEvent(type, obj: KubernetesObject) {
          const key = `${obj.metadata?.namespace}/${obj.metadata?.name}`;
          if (type === 'DELETED') labs.delete(key);
          else if (type === 'ADDED' || type === 'MODIFIED') labs.set(key, obj as MaasLab);
          if (labs.size === count && [...labs.values()].every(isReadyNow)) settle();
        },
        onDone() {
          if (!done) open().catch((err: unknown) => settle(err as Error));
        },
      },
    );
  };
  await open();
  return {
    ready,
    stop: () => {
      done = true;
      clearTimeout(timer);
      handle?.stop();
    },
  };
}

/**
 * Waits until the maasnode controller has reconciled `count` times and no controller has work
 * queued or running. Scrapes /metrics every 5 s: the operator is never CPU-idle here (the
 * Hypervisor controller lists the domains once a minute), and each scrape costs a little.
 */
async function settled(op: OperatorProcess, count: number): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    await delay(5000);
    const m = await scrape(op);
    if (
      sum(m, 'controller_runtime_reconcile_total', { controller: 'maasnode' }) >= count &&
      sum(m, 'workqueue_depth') === 0 &&
      sum(m, 'controller_runtime_active_workers') === 0
    ) {
      return;
    }
    if (Date.now() > deadline) throw new Error(`the operator did not settle after ${count} nodes`);
  }
}

const labOf = (i: number, namespace: string): KubernetesObject & { spec: object } => ({
  apiVersion: GROUP_VERSION,
  kind: 'MaasLab',
  metadata: { name: 'lab', namespace },
  spec: {
    hypervisor: `hv-${i}`,
    networks: [
      {
        name: 'maas',
        mode: 'isolated',
        // The test driver names no bridge itself (virNetworkGetBridgeName fails without one).
        bridge: { name: `mlscale${i}` },
        ipv4: { address: `10.100.${i}.1`, prefixLength: 24 },
      },
    ],
    nodes: {
      count: NODES_PER_LAB,
      namePrefix: 'node',
      macPrefix: `52:54:00:a0:${i.toString(16).padStart(2, '0')}`,
      template: {
        vcpus: 1,
        // The test driver's one pool holds 100 GiB and counts capacity as allocated.
        memory: '128Mi',
        bootOrder: ['network', 'disk'],
        disks: [{ name: 'root', size: '64Mi', bus: 'virtio', format: 'qcow2' }],
        interfaces: [{ network: 'maas', model: 'virtio' }],
      },
    },
  },
});

/** The CPU seconds of `pid` and every process below it (the control plane's components). */
function treeCpuSeconds(pid: number): number {
  let total = 0;
  const visit = (p: number): void => {
    try {
      total += procStats(p).cpuSeconds;
      for (const task of readdirSync(`/proc/${p}/task`)) {
        const children = readFileSync(`/proc/${p}/task/${task}/children`, 'utf8').trim();
        for (const child of children ? children.split(' ') : []) visit(Number(child));
      }
    } catch {
      // Gone between the listing and the read.
    }
  };
  visit(pid);
  return total;
}

/**
 * The operator's environment: the image's (the Dockerfile's ENV lines: V8 and malloc
 * settings), as deployed; BENCH_IMAGE_ENV=0 runs it without them, BENCH_IMAGE_ENV=no-v8
 * without its V8 flags (NODE_OPTIONS) only, for comparison.
 */
async function operatorEnv(): Promise<Record<string, string>> {
  const which = process.env.BENCH_IMAGE_ENV;
  if (which === '0') return {};
  const env = await imageEnv();
  if (which !== 'no-v8') return env;
  const { NODE_OPTIONS: _, ...rest } = env;
  return rest;
}

/** operatorEnv for the reports: each variable, or none. */
async function operatorEnvLine(): Promise<string> {
  const env = Object.entries(await operatorEnv())
    .map(([k, v]) => `\`${k}=${v}\``)
    .join(', ');
  return env || 'none (BENCH_IMAGE_ENV=0)';
}

/** A control plane with the CRDs, the operator's RBAC and one namespace per lab. */
interface Fleet {
  readonly cp: ControlPlane;
  readonly admin: RestClient;
  readonly leaseNs: string;
  readonly namespaces: readonly string[];
}

async function startFleet(scratch: string): Promise<Fleet> {
  say('Starting kube-testenv…');
  const cp = await startControlPlane();
  try {
    const admin = createRestClient(cp.restConfig('admin'));
    await applyCrds(cp);
    const leaseNs = await createTestNamespace(cp.kubeConfig('admin'), 'bench-operator');
    await applyOperatorRbac(cp.adminKubeconfig, leaseNs.name, scratch);
    const namespaces: string[] = [];
    for (let i = 0; i < HYPERVISORS; i++) {
      namespaces.push((await createTestNamespace(cp.kubeConfig('admin'), `scale-${i}`)).name);
    }
    return { cp, admin, leaseNs: leaseNs.name, namespaces };
  } catch (err) {
    await cp.stop();
    throw err;
  }
}

/**
 * Hypervisor `i`'s libvirt test driver file, written on first use: a host with one storage
 * pool (the driver's own default-pool, 100 GiB) and nothing else, so its state is its own.
 */
function testDriverFile(scratch: string, i: number): string {
  const path = join(scratch, `hv-${i}.xml`);
  writeFileSync(
    path,
    `<node>
  <cpu><nodes>1</nodes><sockets>1</sockets><cores>16</cores><threads>2</threads><mhz>2400</mhz></cpu>
  <memory>268435456</memory>
  <pool type='dir'>
    <name>default-pool</name>
    <target><path>/default-pool</path></target>
  </pool>
</node>
`,
  );
  return path;
}

/**
 * Hypervisor `i`'s URI: its driver file, in the operator process or served by `libvirtd`
 * (the daemon opens a private driver state per connection from a file, as a process does).
 */
function hypervisorUri(scratch: string, i: number, libvirtd: PrivateLibvirtd | undefined): string {
  const file = testDriverFile(scratch, i);
  if (!libvirtd) return `test://${file}`;
  const socket = new URL(libvirtd.uri).searchParams.get('socket');
  if (!socket) throw new Error(`no socket in ${libvirtd.uri}`);
  return `test+unix://${file}?socket=${socket}`;
}

/** The private libvirtd's PID, for its CPU (libvirtd-env.sh writes its pid file). */
function libvirtdPid(libvirtd: PrivateLibvirtd): number {
  return Number(readFileSync(join(libvirtd.dir, 'libvirtd.pid'), 'utf8').trim());
}

/** Starts the operator, applies the Hypervisors and waits until they are Ready and quiet. */
async function startFleetOperator(
  fleet: Fleet,
  scratch: string,
  nodeOptions: readonly string[],
  libvirtd: PrivateLibvirtd | undefined,
): Promise<OperatorProcess> {
  const operator = await startOperator({
    kubeconfig: fleet.cp.operatorKubeconfig,
    namespace: fleet.leaseNs,
    logFile: join(scratch, `operator-${Date.now()}.log`),
    script: join(OPERATOR_ROOT, 'dist', 'src', 'cli', 'main.js'),
    // BENCH_NODE_OPTIONS: extra V8/Node flags for the operator alone, to compare settings.
    nodeOptions: [
      ...(HEAP_SNAPSHOT_DIR
        ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${HEAP_SNAPSHOT_DIR}`]
        : []),
      ...(ALLOC_PROFILE_DIR ? ['--import', join(repoRoot, 'bench', 'alloc-profile.mjs')] : []),
      // The promoted profile ends with a scavenge (bench/alloc-profile.mjs).
      ...(ALLOC_PROFILE_DIR && process.env.BENCH_ALLOC_PROFILE_KIND === 'promoted'
        ? ['--expose-gc']
        : []),
      ...(process.env.BENCH_NODE_OPTIONS?.split(/\s+/).filter(Boolean) ?? []),
      ...nodeOptions,
    ],
    args: ['--log-level', 'warn', '--resync-period', RESYNC],
    predatesSecureMetrics: !readFileSync(
      join(OPERATOR_ROOT, 'dist', 'src', 'cli', 'options.js'),
      'utf8',
    ).includes('--metrics-secure'),
    env: {
      ...(await operatorEnv()),
      ...(ALLOC_PROFILE_DIR ? { BENCH_ALLOC_PROFILE: ALLOC_PROFILE_DIR } : {}),
      ...(process.env.BENCH_ALLOC_PROFILE_KIND
        ? { BENCH_ALLOC_PROFILE_KIND: process.env.BENCH_ALLOC_PROFILE_KIND }
        : {}),
    },
  });
  await kubectlApply(
    fleet.cp.adminKubeconfig,
    Array.from({ length: HYPERVISORS }, (_, i) => ({
      apiVersion: GROUP_VERSION,
      kind: 'Hypervisor',
      metadata: { name: `hv-${i}` },
      spec: { uri: hypervisorUri(scratch, i, libvirtd), storagePool: 'default-pool' },
    })),
    join(scratch, 'hypervisors.yaml'),
  );
  for (;;) {
    const hvs = await fleet.admin.request<{
      items: Array<
        KubernetesObject & { status?: { conditions?: Array<{ type: string; status: string }> } }
      >;
    }>({
      method: 'GET',
      ref: { apiVersion: GROUP_VERSION, kind: 'Hypervisor' },
    });
    if (
      hvs.items.filter((h) =>
        h.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
      ).length === HYPERVISORS
    )
      break;
    await delay(250);
  }
  // Let the Hypervisors' first passes finish before the clock starts.
  await settled(operator, 0);
  return operator;
}

/**
 * Asks the operator for a heap snapshot (SIGUSR2 under `--heapsnapshot-signal`) and waits
 * until it is written: V8 writes it on the main thread, so /metrics answering again after the
 * file appeared means the file is complete.
 */
async function heapSnapshot(op: OperatorProcess, dir: string, suffix: string): Promise<void> {
  const count = (): number => readdirSync(dir).filter((f) => f.endsWith(suffix)).length;
  const before = count();
  op.child.kill('SIGUSR2');
  while (count() === before) await delay(200);
  await scrape(op);
  say(`  ${suffix} written in ${dir}`);
}

/** Applies every lab and resolves with the seconds until all are Ready. */
async function buildLabs(fleet: Fleet, scratch: string): Promise<number> {
  say(`Applying ${HYPERVISORS} labs of ${NODES_PER_LAB} nodes…`);
  const labsWatch = await watchLabsReady(fleet.admin, HYPERVISORS);
  const t0 = performance.now();
  await kubectlApply(
    fleet.cp.adminKubeconfig,
    fleet.namespaces.map((ns, i) => labOf(i, ns)),
    join(scratch, 'labs.yaml'),
  );
  await labsWatch.ready.finally(labsWatch.stop);
  const seconds = (performance.now() - t0) / 1000;
  say(`  all Ready after ${seconds.toFixed(2)} s`);
  return seconds;
}

/**
 * Two runs, each on a fresh control plane and a fresh operator (a test driver's state lives
 * as long as the operator's connection to it). The first is measured: time, RSS, CPU, calls, the resync. The
 * second repeats the build under `--cpu-prof` for the profile alone, since the profiler's
 * samples stay in memory and its sampling costs CPU.
 */
async function main(): Promise<void> {
  const scratch = await mkdtemp(join(tmpdir(), 'maaslab-bench-scale-'));
  const profDir = join(scratch, 'profile');
  await mkdir(profDir);
  const loadBefore = loadAverages();
  let fleet: Fleet | undefined;
  let operator: OperatorProcess | undefined;
  let libvirtd: PrivateLibvirtd | undefined;
  try {
    if (LIBVIRT_MODE === 'daemon') {
      say('Starting a private libvirtd for the test drivers…');
      libvirtd = await startPrivateLibvirtd();
    }
    const daemonCpu = (): number => (libvirtd ? treeCpuSeconds(libvirtdPid(libvirtd)) : 0);
    // 1. Build, measured.
    fleet = await startFleet(scratch);
    say('Starting the operator (dist/)…');
    operator = await startFleetOperator(fleet, scratch, [], libvirtd);
    const pid = operator.child.pid!;
    const m0 = await scrape(operator);
    const p0 = procStats(pid);
    const cp0 = treeCpuSeconds(fleet.cp.pid);
    const lv0 = daemonCpu();
    const load0 = loadAverages();
    const a0 = await scrapeApiserver(fleet.cp);
    if (ALLOC_PROFILE_DIR) operator.child.kill('SIGUSR2');
    const buildSeconds = await buildLabs(fleet, scratch);
    const p1 = procStats(pid);
    const cp1 = treeCpuSeconds(fleet.cp.pid);
    const libvirtdCpuMsPerNode = libvirtd ? ((daemonCpu() - lv0) * 1000) / TOTAL_NODES : undefined;
    const m1 = await scrape(operator);
    const writes = apiserverWrites(a0, await scrapeApiserver(fleet.cp));
    const load1 = loadAverages();
    if (HEAP_SNAPSHOT_DIR) await heapSnapshot(operator, HEAP_SNAPSHOT_DIR, '.heapsnapshot');
    if (ALLOC_PROFILE_DIR) await heapSnapshot(operator, ALLOC_PROFILE_DIR, '.heapprofile');
    if (FIGURES_JSON) {
      writeFileSync(
        FIGURES_JSON,
        JSON.stringify({
          ...buildFigures(buildSeconds, m0, m1, p0, p1, load1),
          libvirtDriver: LIBVIRT_MODE,
          operatorEnv: await operatorEnvLine(),
          libvirtdCpuMsPerNode,
          apiWrites: Object.fromEntries(writes),
          reconciles: Object.fromEntries(
            deltaBy(m0, m1, 'controller_runtime_reconcile_total', 'controller'),
          ),
        }),
      );
      return;
    }

    // 2. Steady state: every node's next periodic pass (the resync period, RESYNC after its
    // last pass) against a world that needs nothing done. A test driver's state lives as long
    // as the operator's connection to it, so this must be the same process.
    await settled(operator, TOTAL_NODES);
    const m2 = await scrape(operator);
    const p2 = procStats(pid);
    say(`  settled; waiting for every node's resync (period ${RESYNC})…`);
    await settled(
      operator,
      sum(m2, 'controller_runtime_reconcile_total', { controller: 'maasnode' }) + TOTAL_NODES,
    );
    const m3 = await scrape(operator);
    const p3 = procStats(pid);
    const load3 = loadAverages();
    await operator.stop();
    operator = undefined;
    await fleet.cp.stop();
    fleet = undefined;

    // 3. The same build again under the profiler.
    fleet = await startFleet(scratch);
    say('Starting the operator again, with --cpu-prof…');
    operator = await startFleetOperator(
      fleet,
      scratch,
      ['--cpu-prof', `--cpu-prof-dir=${profDir}`],
      libvirtd,
    );
    const profiledSeconds = await buildLabs(fleet, scratch);
    await operator.stop();
    operator = undefined;
    const profile = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
    const costs = profile ? topSelfCosts(join(profDir, profile), 12) : [];

    report({
      env: await operatorEnvLine(),
      buildSeconds,
      profiledSeconds,
      controlPlaneCpu: cp1 - cp0,
      libvirtdCpuMsPerNode,
      m0,
      m1,
      m2,
      m3,
      p0,
      p1,
      p2,
      p3,
      loads: { before: loadBefore, build: `${load0} → ${load1}`, resync: load3 },
      costs,
      writes,
    });
  } finally {
    await operator?.stop().catch(() => undefined);
    await fleet?.cp.stop().catch(() => undefined);
    await libvirtd?.stop().catch(() => undefined);
    if (!process.env.MAASLAB_KEEP_BENCH) await rm(scratch, { recursive: true, force: true });
    else say(`scratch kept in ${scratch}`);
  }
}

/** One build's figures, per node where the goals are per node (bench/scale-compare.ts). */
export interface BuildFigures {
  readonly buildSeconds: number;
  readonly peakRssMb: number;
  /** RSS with the Hypervisors Ready and no lab yet: what the build's growth starts from. */
  readonly rssBeforeMb?: number;
  readonly cpuMsPerNode: number;
  /** Of cpuMsPerNode, the main (JavaScript) thread's. */
  readonly mainThreadCpuMsPerNode?: number;
  /**
   * The collector's pauses of the main thread during the build (prom-client's
   * nodejs_gc_duration_seconds, every kind), per node: what a smaller young generation buys
   * memory with.
   */
  readonly gcPauseMsPerNode?: number;
  readonly apiRequestsPerNode: number;
  readonly libvirtCallsPerNode: number;
  /** At all Ready, from the operator's own metrics: V8's heap and memory outside it. */
  readonly heapMb: number;
  readonly externalMb: number;
  /** The 1-minute load average at all Ready. */
  readonly load: string;
  /** Where the test drivers ran (BENCH_LIBVIRT). */
  readonly libvirtDriver?: LibvirtMode;
  /** The operator's environment (BENCH_IMAGE_ENV), as operatorEnvLine names it. */
  readonly operatorEnv?: string;
  /** BENCH_LIBVIRT=daemon: the libvirtd serving the test drivers, CPU during the build. */
  readonly libvirtdCpuMsPerNode?: number;
}

function buildFigures(
  buildSeconds: number,
  m0: readonly Sample[],
  m1: readonly Sample[],
  p0: ReturnType<typeof procStats>,
  p1: ReturnType<typeof procStats>,
  load: string,
): BuildFigures {
  const perNode = (name: string, label: string): number =>
    [...deltaBy(m0, m1, name, label).values()].reduce((a, b) => a + b, 0) / TOTAL_NODES;
  return {
    buildSeconds,
    peakRssMb: p1.peakRssMb,
    rssBeforeMb: p0.rssMb,
    cpuMsPerNode: ((p1.cpuSeconds - p0.cpuSeconds) * 1000) / TOTAL_NODES,
    mainThreadCpuMsPerNode: ((p1.mainCpuSeconds - p0.mainCpuSeconds) * 1000) / TOTAL_NODES,
    gcPauseMsPerNode: perNode('nodejs_gc_duration_seconds_sum', 'kind') * 1000,
    apiRequestsPerNode: perNode('rest_client_requests_total', 'method'),
    libvirtCallsPerNode: perNode('maaslab_libvirt_calls_total', 'op'),
    heapMb: sum(m1, 'nodejs_heap_size_total_bytes') / 2 ** 20,
    externalMb: sum(m1, 'nodejs_external_memory_bytes') / 2 ** 20,
    load,
  };
}

interface Figures {
  buildSeconds: number;
  /** The operator's environment, as a line. */
  env: string;
  /** The profiled run's build, for comparison. */
  profiledSeconds: number;
  /** kube-apiserver, etcd and the controller manager, during the measured build. */
  controlPlaneCpu: number;
  /** The libvirtd serving the test drivers (BENCH_LIBVIRT=daemon), during the build. */
  libvirtdCpuMsPerNode: number | undefined;
  m0: Sample[];
  m1: Sample[];
  /** Settled after the build, and after every node's resync. */
  m2: Sample[];
  m3: Sample[];
  p0: ReturnType<typeof procStats>;
  p1: ReturnType<typeof procStats>;
  p2: ReturnType<typeof procStats>;
  p3: ReturnType<typeof procStats>;
  loads: { before: string; build: string; resync: string };
  costs: ProfileCost[];
  /** The API server's count of writes during the build, by verb and resource. */
  writes: Map<string, number>;
}

/** Where the operator's memory is at all Ready, from its process and runtime series. */
function memoryLine(m: readonly Sample[]): string {
  const driver = LIBVIRT_MODE === 'inprocess' ? "libvirt's test driver and its domains, " : '';
  const mb = (name: string): number => sum(m, name) / 2 ** 20;
  const rss = mb('process_resident_memory_bytes');
  if (!(rss > 0)) return '- memory breakdown: not exported by this operator build';
  const heapUsed = mb('nodejs_heap_size_used_bytes');
  const heapTotal = mb('nodejs_heap_size_total_bytes');
  const external = mb('nodejs_external_memory_bytes');
  return (
    `- memory at all Ready: RSS ${rss.toFixed(0)} MB = V8 heap ${heapTotal.toFixed(0)} MB ` +
    `(${heapUsed.toFixed(0)} MB live or not yet collected) + external ${external.toFixed(0)} MB ` +
    `(Buffers, native handles) + ${(rss - heapTotal - external).toFixed(0)} MB else (code, ` +
    `${driver}allocator slack)`
  );
}

function report(f: Figures): void {
  const per = (n: number): string => (n / TOTAL_NODES).toFixed(2);
  const total = (m: Map<string, number>): number => [...m.values()].reduce((a, b) => a + b, 0);
  const libvirtBuild = deltaBy(f.m0, f.m1, 'maaslab_libvirt_calls_total', 'op');
  const apiBuild = deltaBy(f.m0, f.m1, 'rest_client_requests_total', 'method');
  const libvirtResync = deltaBy(f.m2, f.m3, 'maaslab_libvirt_calls_total', 'op');
  const apiResync = deltaBy(f.m2, f.m3, 'rest_client_requests_total', 'method');
  const reconciledResync = deltaBy(f.m2, f.m3, 'controller_runtime_reconcile_total', 'controller');
  const inventoryReads = libvirtResync.get('virConnectListAllDomains') ?? 0;
  const mutatingResync = [...libvirtResync].filter(([op]) => isMutatingOp(op));
  const writesResync = [...apiResync].filter(([m]) =>
    ['POST', 'PUT', 'PATCH', 'DELETE'].includes(m),
  );
  const resyncCpuMs = ((f.p3.cpuSeconds - f.p2.cpuSeconds) * 1000) / TOTAL_NODES;
  const buildCpu = f.p1.cpuSeconds - f.p0.cpuSeconds;
  const list = (m: Iterable<[string, number]>): string =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${v} (${per(v)}/node)`)
      .join(', ') || 'none';
  /** `kind ms/node, …` for seconds by kind during the build. */
  const msPerNode = (m: Iterable<[string, number]>): string =>
    [...m]
      .map(([kind, seconds]) => `${kind} ${((seconds * 1000) / TOTAL_NODES).toFixed(2)}`)
      .join(', ');
  const verdict = (ok: boolean): string => (ok ? '**met**' : '**missed**');
  const controllers = ['maaslab', 'virtnetwork', 'maasnode', 'hypervisor'];
  const latencyRows = controllers.map((c) => {
    const r50 = histogramQuantile(f.m0, f.m1, 'controller_runtime_reconcile_time_seconds', 0.5, {
      controller: c,
    });
    const r99 = histogramQuantile(f.m0, f.m1, 'controller_runtime_reconcile_time_seconds', 0.99, {
      controller: c,
    });
    const q50 = histogramQuantile(f.m0, f.m1, 'workqueue_queue_duration_seconds', 0.5, { name: c });
    const q99 = histogramQuantile(f.m0, f.m1, 'workqueue_queue_duration_seconds', 0.99, {
      name: c,
    });
    const le = (x: { upperBound: number }): string =>
      Number.isFinite(x.upperBound) ? `≤ ${x.upperBound} s` : '> last bucket';
    return `| ${c} | ${r50.count} | ${ms(r50.value)} | ${ms(r99.value)} (${le(r99)}) | ${ms(q50.value)} (${le(q50)}) | ${ms(q99.value)} (${le(q99)}) |`;
  });
  const lines = [
    '## 2. Scale on the libvirt test driver',
    '',
    `${HYPERVISORS} Hypervisors, each its own libvirt test driver (\`<scratch>/hv-N.xml\`: one pool, its own state), ${HYPERVISORS} labs of`,
    `${NODES_PER_LAB} nodes: ${TOTAL_NODES} MaasNodes (128 MiB, one 64 MiB qcow2 disk, one NIC on the`,
    "lab's isolated network). `make bench-scale` (`tsx bench/scale.ts`); the operator runs",
    'compiled from dist/ as a child process with the generated RBAC and',
    `\`--resync-period ${RESYNC}\`: the steady-state window is every node's next periodic pass.`,
    `The operator's environment is the image's (Dockerfile ENV): ${f.env}.`,
    "Figures from /proc (CPU, RSS) and from the operator's own /metrics. The CPU profile comes",
    'from a second build on a fresh control plane and operator, under `--cpu-prof`.',
    LIBVIRT_MODE === 'daemon'
      ? 'The test drivers run in one private libvirtd (`BENCH_LIBVIRT=daemon`), reached as ' +
        '`test+unix:///<scratch>/hv-N.xml?socket=…`, as the operator reaches a real host: their ' +
        "work is the daemon's, libvirt's remote protocol the operator's."
      : 'The test drivers run inside the operator process (`BENCH_LIBVIRT=inprocess`, ' +
        "`test:///<scratch>/hv-N.xml`): their CPU and memory count as the operator's.",
    '',
    ...machineLines({
      'load average (1, 5, 15 min)': `${f.loads.before} before; build ${f.loads.build}; after the resync ${f.loads.resync}`,
    }),
    '',
    '### Build: apply all labs → all Ready',
    '',
    `- time to all Ready: **${f.buildSeconds.toFixed(2)} s** (goal ≤ 15 s: ${verdict(f.buildSeconds <= 15)}` +
      (f.buildSeconds > 15 ? `, by ${(f.buildSeconds - 15).toFixed(1)} s` : '') +
      ')',
    `- operator peak RSS: **${f.p3.peakRssMb.toFixed(0)} MB** (goal ≤ 200 MB: ${verdict(f.p3.peakRssMb <= 200)}; ` +
      `the whole process life` +
      (LIBVIRT_MODE === 'inprocess'
        ? `, the test driver's ${TOTAL_NODES} domains and volumes in-process); `
        : '); ') +
      `RSS ${f.p0.rssMb.toFixed(0)} MB before the labs, ${f.p1.rssMb.toFixed(0)} MB at all Ready`,
    `- memory per node above idle: ${(((f.p1.rssMb - f.p0.rssMb) * 1024) / TOTAL_NODES).toFixed(0)} KB ` +
      `at all Ready, ${(((f.p1.peakRssMb - f.p0.rssMb) * 1024) / TOTAL_NODES).toFixed(0)} KB at the build's peak ` +
      '(RSS above the RSS with the Hypervisors Ready and no lab, per node)',
    `- operator CPU during the build: ${buildCpu.toFixed(2)} s (${((buildCpu * 1000) / TOTAL_NODES).toFixed(2)} ms/node); ` +
      `${f.p3.cpuSeconds.toFixed(2)} s over the whole process life; of the build's, the main (JavaScript) thread ` +
      `${(((f.p1.mainCpuSeconds - f.p0.mainCpuSeconds) * 1000) / TOTAL_NODES).toFixed(2)} ms/node, the other ` +
      'threads ' +
      msPerNode(threadCpuBetween(f.p0, f.p1)) +
      (LIBVIRT_MODE === 'inprocess'
        ? " ms/node (lanes: the binding's, where libvirt's test driver runs in-process; V8Worker: the collector's helpers and concurrent compilation)"
        : " ms/node (lanes: the binding's, libvirt's remote client; V8Worker: the collector's helpers and concurrent compilation)"),
    `- the collector's pauses of the main thread during the build (nodejs_gc_duration_seconds, by kind): ` +
      `${msPerNode(deltaBy(f.m0, f.m1, 'nodejs_gc_duration_seconds_sum', 'kind'))} ms/node`,
    ...(f.libvirtdCpuMsPerNode === undefined
      ? []
      : [
          `- libvirtd CPU during the build (the test drivers' own work, a real host's; same 2 cores): ` +
            `${f.libvirtdCpuMsPerNode.toFixed(2)} ms/node`,
        ]),
    memoryLine(f.m1),
    `- control plane CPU during the build (kube-apiserver, etcd, controller manager; same 2 cores): ` +
      `${f.controlPlaneCpu.toFixed(2)} s (${((f.controlPlaneCpu * 1000) / TOTAL_NODES).toFixed(2)} ms/node)`,
    `- the profiled build (second run, \`--cpu-prof\`): ${f.profiledSeconds.toFixed(2)} s`,
    `- API requests: ${total(apiBuild)} (${per(total(apiBuild))}/node): ${list(apiBuild)}`,
    `- the API server's writes during the build, by resource (the bench's own apply of the labs included): ${list(f.writes)}`,
    `- libvirt calls: ${total(libvirtBuild)} (${per(total(libvirtBuild))}/node): ${list(libvirtBuild)}`,
    `- reconciles: ${list(deltaBy(f.m0, f.m1, 'controller_runtime_reconcile_total', 'controller'))}`,
    '',
    '### Steady state: one full resync of all nodes',
    '',
    `- reconciles in the window: ${list(reconciledResync)}`,
    `- mutating libvirt calls: **${total(new Map(mutatingResync))}** (goal 0: ${verdict(mutatingResync.length === 0)})` +
      (mutatingResync.length ? `: ${list(mutatingResync)}` : ''),
    `- API writes: **${total(new Map(writesResync))}** (goal 0: ${verdict(writesResync.length === 0)})` +
      (writesResync.length ? `: ${list(writesResync)}` : ''),
    `- all libvirt calls: ${list(libvirtResync)}`,
    `- all API requests: ${list(apiResync)}`,
    `- operator CPU: ${(f.p3.cpuSeconds - f.p2.cpuSeconds).toFixed(2)} s for the window, **${resyncCpuMs.toFixed(2)} ms per resynced node**; ` +
      `this includes the Hypervisor controller's once-a-minute inventory (${inventoryReads} domain listings in the window, ` +
      `each reading only the domains of its own host changed since the last) and the bench's scrapes every 5 s`,
    '',
    '### Reconcile latency during the build',
    '',
    "From the histograms' increase between apply and all Ready, interpolated inside the bucket",
    "as histogram_quantile does; the bucket's upper bound shows the resolution (workqueue",
    'buckets are powers of ten, as client-go sets them).',
    '',
    '| controller | reconciles | reconcile p50 | reconcile p99 | queue p50 | queue p99 |',
    '| --- | --- | --- | --- | --- | --- |',
    ...latencyRows,
    '',
    '### CPU profile: top costs by self time (the profiled run, whole operator life)',
    '',
    '| self (ms) | share | function | where |',
    '| --- | --- | --- | --- |',
    ...f.costs.map(
      (c) =>
        `| ${c.selfMs.toFixed(0)} | ${(c.share * 100).toFixed(1)} % | ${c.functionName} | ${c.where} |`,
    ),
  ];
  writeSection('scale', lines.join('\n'));
  say(lines.join('\n'));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
