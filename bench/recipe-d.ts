// Way D of the recipe-lab bench, shared by bench/recipe-lab.ts (the six ways) and
// bench/recipe-compare.ts (D with two operators): the control plane and private libvirtd it
// runs on, the accelerator it asks for, the lab's manifest, the watch that times it (and the
// timeline it records), and the teardown between runs.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { readFile, writeFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import type { KubernetesObject } from '@kubernetes/client-node';
import { parseAllDocuments, stringify } from 'yaml';
import type { MaasLab, MaasNode } from '../src/api/v1alpha1/index.js';
import { createClient } from '../src/runtime/client/client.js';
import { type RestClient, createRestClient } from '../src/runtime/client/rest.js';
import { Connection, DomainEventType, NetworkEventLifecycleType } from '../src/libvirt/index.js';
import { type ControlPlane, repoRoot, startControlPlane } from '../test/support/controlplane.js';
import { applyCrds } from '../test/support/crds.js';
import { GROUP_VERSION, isReadyNow } from '../test/support/e2e.js';
import {
  hostHasKvm,
  type PrivateLibvirtd,
  startPrivateLibvirtd,
} from '../test/support/libvirtd.js';
import { createTestNamespace } from '../test/support/namespace.js';
import { applyOperatorRbac, kubectlApply, kubectlRun } from '../test/support/operator.js';

export const HYPERVISOR = 'bench-recipe';
export const POOL = 'bench';
export const NODES = [1, 2, 3].map((i) => ({ name: `node${i}`, mac: `52:54:00:7f:04:0${i}` }));
/** A lab that is not Ready by then is a failure, not a slow run. */
export const LAB_TIMEOUT_MS = 300_000;

export const say = (line: string): void => void process.stdout.write(`${line}\n`);

/** The accelerator of a run: the guests' domain type. */
export type Accel = 'kvm' | 'tcg';

/**
 * The accelerator this run uses: BENCH_ACCEL=tcg forces TCG on a KVM host (the private
 * libvirtd gets no /dev/kvm, so the operator, too, defines domain type qemu), BENCH_ACCEL=kvm
 * insists on KVM, and by default the host's: KVM where /dev/kvm works, else TCG.
 */
export async function benchAccel(): Promise<Accel> {
  const asked = process.env.BENCH_ACCEL?.toLowerCase();
  const kvm = await hostHasKvm();
  if (asked === 'tcg' || asked === 'qemu') return 'tcg';
  if (asked === 'kvm') {
    if (!kvm) throw new Error('BENCH_ACCEL=kvm, but this host has no usable /dev/kvm');
    return 'kvm';
  }
  if (asked !== undefined && asked !== '') {
    throw new Error(`BENCH_ACCEL=${asked}: expected kvm or tcg`);
  }
  return kvm ? 'kvm' : 'tcg';
}

/**
 * Whether this host's KVM starts a guest with the host's own CPU (`-cpu host`, virt-install's
 * default CPU under KVM: host-passthrough). A nested host can have working KVM and still fail
 * it ("failed to set MSR 0x10a": a feature the outer hypervisor does not let through); QEMU
 * then exits at once, otherwise it waits, paused, until stopped.
 */
export async function hostCpuWorks(): Promise<boolean> {
  const qemu = spawn(
    'qemu-system-x86_64',
    ['-accel', 'kvm', '-cpu', 'host', '-m', '64', '-nodefaults', '-display', 'none'],
    { stdio: 'ignore' },
  );
  const exited = new Promise<boolean>((resolve) => {
    qemu.once('exit', () => resolve(false));
    qemu.once('error', () => resolve(false));
  });
  const stillUp = new Promise<boolean>((resolve) => setTimeout(() => resolve(true), 1500));
  const works = await Promise.race([exited, stillUp]);
  if (works) {
    qemu.kill('SIGKILL');
    await exited;
  }
  return works;
}

/** What way D runs on. */
export interface LabBench {
  readonly cp: ControlPlane;
  readonly lv: PrivateLibvirtd;
  readonly admin: RestClient;
  /** The operator's namespace (its leases). */
  readonly leaseNs: string;
  /** The lab's namespace. */
  readonly labNs: string;
  readonly scratch: string;
  readonly accel: Accel;
}

/**
 * kube-testenv and a private libvirtd (without /dev/kvm for TCG), the CRDs, the operator's
 * RBAC and the two namespaces; no operator yet.
 */
export async function startLabBench(scratch: string, accel: Accel): Promise<LabBench> {
  say(`Starting kube-testenv and a private libvirtd (${accel === 'kvm' ? 'KVM' : 'TCG'})…`);
  const [cp, lv] = await Promise.all([
    startControlPlane(),
    startPrivateLibvirtd({ noKvm: accel === 'tcg' }),
  ]);
  const admin = createRestClient(cp.restConfig('admin'));
  await applyCrds(cp);
  const leaseNs = await createTestNamespace(cp.kubeConfig('admin'), 'bench-operator');
  const labNs = await createTestNamespace(cp.kubeConfig('admin'), 'bench-recipe');
  await applyOperatorRbac(cp.adminKubeconfig, leaseNs.name, scratch);
  return { cp, lv, admin, leaseNs: leaseNs.name, labNs: labNs.name, scratch, accel };
}

/**
 * Applies the bench Hypervisor (and its dir pool, which A–C use too) and waits until a running
 * operator has it Ready.
 */
export async function applyBenchHypervisor(b: LabBench): Promise<void> {
  await kubectlApply(
    b.cp.adminKubeconfig,
    [
      {
        apiVersion: GROUP_VERSION,
        kind: 'Hypervisor',
        metadata: { name: HYPERVISOR },
        spec: { uri: b.lv.uri, storagePool: POOL, storagePoolPath: join(b.lv.dir, 'pool') },
      },
    ],
    join(b.scratch, 'hypervisor.yaml'),
  );
  const deadline = Date.now() + 120_000;
  for (;;) {
    const hv = await b.admin
      .request<
        KubernetesObject & { status?: { conditions?: Array<{ type: string; status: string }> } }
      >({ method: 'GET', ref: { apiVersion: GROUP_VERSION, kind: 'Hypervisor', name: HYPERVISOR } })
      .catch(() => undefined);
    if (hv?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) break;
    if (Date.now() > deadline) throw new Error('the bench Hypervisor did not become Ready');
    await delay(200);
  }
}

/** The recipe's MaasLab, in the bench namespace, on the bench Hypervisor. */
export async function labManifest(b: LabBench): Promise<KubernetesObject[]> {
  const docs = parseAllDocuments(
    await readFile(join(repoRoot, 'examples', 'recipe-lab.yaml'), 'utf8'),
  ).map((d) => d.toJS() as { kind: string; metadata: { namespace?: string }; spec: object });
  const lab = docs.find((d) => d.kind === 'MaasLab');
  if (!lab) throw new Error('examples/recipe-lab.yaml has no MaasLab');
  lab.metadata.namespace = b.labNs;
  Object.assign(lab.spec, { hypervisor: HYPERVISOR });
  return [lab as KubernetesObject];
}

/**
 * Watches `kind` in `namespace` and resolves once `done(objects)` holds, from the events
 * themselves (no polling); rejects when the watch breaks or `timeoutMs` passes.
 */
export async function watchUntil<T extends KubernetesObject>(
  rest: RestClient,
  kinds: readonly string[],
  namespace: string,
  done: (byKind: ReadonlyMap<string, ReadonlyMap<string, T>>) => boolean,
  timeoutMs: number,
  seen?: (kind: string, type: string, obj: T) => void,
): Promise<{ ready: Promise<void>; stop: () => void }> {
  const byKind = new Map(kinds.map((k) => [k, new Map<string, T>()]));
  const handles: Array<{ stop(): void }> = [];
  let settle: (err?: unknown) => void = () => undefined;
  const ready = new Promise<void>((resolve, reject) => {
    settle = (err) => (err ? reject(err as Error) : resolve());
  });
  const timer = setTimeout(() => settle(new Error(`not done within ${timeoutMs} ms`)), timeoutMs);
  const check = (): void => {
    if (done(byKind)) {
      clearTimeout(timer);
      settle();
    }
  };
  // The server ends a watch after its timeout: open it again until done.
  let finished = false;
  void ready.finally(() => (finished = true)).catch(() => undefined);
  const open = async (kind: string, i: number): Promise<void> => {
    // List first, then watch from the list's resourceVersion: a bare watch's ADDED events for
    // what exists arrive after it opens, so `done` would be asked about empty maps in between
    // (cleanLab's "all gone" held before the deletion had begun). A reopen lists again,
    // forgetting what the gap hid.
    const map = byKind.get(kind)!;
    const ref = { apiVersion: GROUP_VERSION, kind, namespace };
    const list = await rest.request<{ metadata?: { resourceVersion?: string }; items?: T[] }>({
      method: 'GET',
      ref,
    });
    map.clear();
    for (const obj of list.items ?? []) {
      map.set(obj.metadata?.name ?? '', obj);
      seen?.(kind, 'ADDED', obj);
    }
    handles[i] = await rest.watch(
      ref,
      { resourceVersion: list.metadata?.resourceVersion },
      {
        onEvent(type, obj) {
          const name = obj.metadata?.name ?? '';
          if (type === 'DELETED') map.delete(name);
          else if (type === 'ADDED' || type === 'MODIFIED') map.set(name, obj as T);
          seen?.(kind, type, obj as T);
          check();
        },
        onDone() {
          if (!finished) open(kind, i).catch((err: unknown) => settle(err));
        },
      },
    );
  };
  await Promise.all(kinds.map((kind, i) => open(kind, i)));
  check();
  return {
    ready,
    stop: () => {
      finished = true;
      clearTimeout(timer);
      for (const h of handles) h.stop();
    },
  };
}

const labIsUp = (byKind: ReadonlyMap<string, ReadonlyMap<string, KubernetesObject>>): boolean => {
  const lab = byKind.get('MaasLab')?.get('recipe') as MaasLab | undefined;
  const nodes = [...(byKind.get('MaasNode')?.values() ?? [])] as MaasNode[];
  return (
    lab !== undefined &&
    isReadyNow(lab) &&
    nodes.length === NODES.length &&
    nodes.every((n) => n.status?.printableStatus === 'Running')
  );
};

/** One step of a D run as the watch saw it: ms since the apply started, and what changed. */
export interface TimelineEntry {
  readonly ms: number;
  readonly what: string;
}

/** What an object's watch event says, in a few words, for the timeline. */
export function describeEvent(kind: string, type: string, obj: KubernetesObject): string {
  const status = (obj as { status?: { printableStatus?: string; conditions?: Condition[] } })
    .status;
  const ready = status?.conditions?.find((c) => c.type === 'Ready');
  const finalizers = obj.metadata?.finalizers?.length ?? 0;
  return [
    `${kind} ${obj.metadata?.name ?? ''} ${type}`,
    status?.printableStatus,
    ready && `Ready=${ready.status}${ready.reason ? ` (${ready.reason})` : ''}`,
    finalizers > 0 && type === 'ADDED' ? undefined : finalizers > 0 ? 'finalizer' : undefined,
  ]
    .filter((x): x is string => typeof x === 'string' && x !== '')
    .join(', ');
}
type Condition = { type: string; status: string; reason?: string };

/**
 * One connection to the bench's libvirtd that listens to domain and network lifecycle events:
 * E waits on its Started events; D's timeline shows when libvirt defined and started things.
 */
export interface LibvirtEvents {
  readonly conn: Connection;
  /** Waits for a domain's Started event, by domain name (E). */
  readonly started: Map<string, () => void>;
  /** Told of every event while set (D's timeline). */
  sink?: (what: string) => void;
}

/** Opens {@link LibvirtEvents} on `uri`. */
export async function openLibvirtEvents(uri: string): Promise<LibvirtEvents> {
  const conn = await Connection.open(uri);
  const events: LibvirtEvents = { conn, started: new Map() };
  const domainWord = new Map<number, string>(
    Object.entries(DomainEventType).map(([k, v]) => [v, k]),
  );
  const networkWord = new Map<number, string>(
    Object.entries(NetworkEventLifecycleType).map(([k, v]) => [v, k]),
  );
  await conn.domainEventRegisterLifecycle((e) => {
    const name = e.domain.getName();
    events.sink?.(`libvirt: domain ${name} ${domainWord.get(e.event) ?? e.event}`);
    if (e.event !== DomainEventType.Started) return;
    events.started.get(name)?.();
    events.started.delete(name);
  });
  await conn.networkEventRegisterLifecycle((e) => {
    const name = e.network.getName();
    events.sink?.(`libvirt: network ${name} ${networkWord.get(e.event) ?? e.event}`);
  });
  return events;
}

/**
 * How D hands the lab to the API server: `kubectl` runs `kubectl apply --server-side` (a user
 * at a shell, kubectl's own start included), `request` sends that same server-side apply as
 * one PATCH from the bench process (field manager `kubectl`, so the objects are the same), as
 * E calls libvirt from the bench process without starting a program.
 */
export type DApply = 'kubectl' | 'request';

/**
 * The manifest's objects applied server-side, one request each, as `kubectl apply
 * --server-side` does: its field manager, and no forcing of conflicts (kubectl's default).
 */
async function applyByRequest(
  rest: RestClient,
  manifest: readonly KubernetesObject[],
): Promise<void> {
  const client = createClient({ rest });
  for (const obj of manifest) await client.apply(obj, { fieldManager: 'kubectl', force: false });
}

export async function wayD(
  b: LabBench,
  manifest: readonly KubernetesObject[],
  timeline: TimelineEntry[] = [],
  libvirt?: LibvirtEvents,
  apply: DApply = 'kubectl',
): Promise<number> {
  const file = join(b.scratch, 'lab.yaml');
  await writeFile(file, manifest.map((d) => stringify(d)).join('---\n'));
  let t0 = performance.now();
  const watch = await watchUntil(
    b.admin,
    ['MaasLab', 'MaasNode', 'VirtNetwork'],
    b.labNs,
    labIsUp,
    LAB_TIMEOUT_MS,
    (kind, type, obj) => {
      const what = describeEvent(kind, type, obj);
      // A status write that changes nothing shown is left out.
      if (timeline.at(-1)?.what !== what) timeline.push({ ms: performance.now() - t0, what });
    },
  );
  try {
    timeline.length = 0;
    if (libvirt) {
      libvirt.sink = (what) => void timeline.push({ ms: performance.now() - t0, what });
    }
    t0 = performance.now();
    if (apply === 'kubectl') {
      await kubectlRun(b.cp.adminKubeconfig, ['apply', '--server-side', '-f', file]);
      timeline.push({ ms: performance.now() - t0, what: 'kubectl apply returned' });
    } else {
      await applyByRequest(b.admin, manifest);
      timeline.push({ ms: performance.now() - t0, what: 'the apply request returned' });
    }
    await watch.ready;
    return performance.now() - t0;
  } finally {
    watch.stop();
    if (libvirt) libvirt.sink = undefined;
  }
}

/** Deletes the lab and waits until its nodes, network, domains and volumes are all gone. */
export async function cleanLab(b: LabBench): Promise<void> {
  const gone = await watchUntil(
    b.admin,
    ['MaasLab', 'MaasNode', 'VirtNetwork'],
    b.labNs,
    (byKind) => [...byKind.values()].every((m) => m.size === 0),
    LAB_TIMEOUT_MS,
  );
  try {
    await kubectlRun(b.cp.adminKubeconfig, [
      'delete',
      '-n',
      b.labNs,
      'maaslabs.maaslab.dev',
      'recipe',
      '--wait=false',
    ]);
    await gone.ready;
  } finally {
    gone.stop();
  }
  // The finalizers ran, so libvirt is clean; check rather than trust.
  const left = (await b.lv.virsh(['list', '--all', '--name'])).trim();
  if (left !== '') throw new Error(`domains left after deleting the lab: ${left}`);
}
