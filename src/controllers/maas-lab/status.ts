// MaasLab status: counts of Ready children, the printable status and the conditions, all
// derived from the children's own status, and when a progress write may wait. Pure:
// everything comes in already observed (CAPI's *_controller_status.go split).
import { type Condition, isDeleting, statusEqual } from '../../runtime/index.js';
import {
  ControllerReadyCondition,
  MaasNotReadyReason,
  DeletingReason,
  HypervisorUnreachableReason,
  isUnreachableReason,
  type Hypervisor,
  NetworksNotReadyReason,
  NodesNotReadyReason,
  ReadyCondition,
  type MaasLab,
  type MaasLabPrintableStatus,
  type MaasLabStatus,
  type MaasNode,
  type VirtNetwork,
} from '../../api/v1alpha1/index.js';
import {
  applyConditionPlan,
  childState,
  isReadyAndCurrent,
  planFor,
  type ConditionPlan,
  type Verdict,
  type Why,
} from '../common/conditions.js';
import {
  labMaasConditions,
  labMaasPlan,
  labMaasWaiting,
  nodesNotEnlisted,
} from '../maas/status.js';
import type { LabChildren } from './desired.js';
import type { Findings } from './pass.js';
import type { LabScope } from './scope.js';
import { definedProps } from '../../util/defined-props.js';

/** What one pass learned about the lab besides its children. */
export interface LabObservation {
  /** metadata.deletionTimestamp is set. */
  readonly deleting: boolean;
  /** The lab's Hypervisor is Ready (libvirt answers). */
  readonly hypervisorReachable: boolean;
  /** Progress needs a human: MAC collisions, HypervisorNotFound… */
  readonly stalled?: Why;
  /** An API call failed this pass and will be retried. */
  readonly error?: Why;
  /** A lab with MAAS: the first MAAS condition not True. */
  readonly maasWaiting?: Why;
  /** A lab with MAAS: nodes not Enlisted yet. */
  readonly notEnlisted?: Why;
}

/**
 * status.networks, status.nodes and status.printableStatus. Typed here rather than as
 * `Pick<MaasLabStatus, ...>` because the API's static type currently makes `networks.summary`
 * required although the schema has no such field (readyCounts' conditional spread).
 */
export interface LabCounts {
  /** Ready and total lab networks. */
  readonly networks: { readonly ready: number; readonly total: number };
  /** Ready and total nodes, and "ready/total" for the Nodes column. */
  readonly nodes: { readonly ready: number; readonly total: number; readonly summary: string };
  /** The one-word summary. */
  readonly printableStatus: MaasLabPrintableStatus;
}

/** The lab's status without conditions, and the plan for them. */
export interface LabStatusResult {
  /** networks, nodes (with the "ready/total" summary) and printableStatus. */
  readonly status: LabCounts;
  /** Ready/Reconciling/Stalled. */
  readonly conditions: ConditionPlan;
  /** Every desired network is Ready: the reconciler may create nodes (networks come first). */
  readonly networksReady: boolean;
}

interface Tally {
  readonly ready: number;
  readonly total: number;
  readonly notReady: readonly string[];
  readonly failed: readonly string[];
  readonly inProgress: readonly string[];
  readonly existing: number;
}

/** Counts desired children that exist and are Ready at their current generation. */
function tally(
  desired: readonly { readonly metadata?: { readonly name?: string } }[],
  observed: readonly (VirtNetwork | MaasNode)[],
): Tally {
  const byName = new Map(observed.map((o) => [o.metadata?.name, o]));
  const notReady: string[] = [];
  const failed: string[] = [];
  const inProgress: string[] = [];
  let existing = 0;
  for (const d of desired) {
    const name = d.metadata?.name ?? '';
    const child = byName.get(name);
    if (child !== undefined) existing++;
    if (child !== undefined && isReadyAndCurrent(child)) continue;
    notReady.push(name);
    // A child not created yet is in progress: the lab is about to create it.
    const state = child === undefined ? 'InProgress' : childState(child);
    if (state === 'Failed') failed.push(name);
    else if (state === 'InProgress') inProgress.push(name);
  }
  return {
    ready: desired.length - notReady.length,
    total: desired.length,
    notReady,
    failed,
    inProgress,
    existing,
  };
}

/** What the printable status table reads. */
interface PrintableInput {
  readonly o: LabObservation;
  readonly networks: Tally;
  readonly nodes: Tally;
  readonly wasReady: boolean;
}

const allReady = (t: Tally): boolean => t.ready === t.total;

/**
 * First match wins. Terminating, then Unknown (never guess), then Failed (a human must act,
 * the lab itself or a child); Ready when every child is and MAAS (where the lab has one) is
 * ready with every node enlisted, as the Ready condition says; Degraded when it was Ready
 * before and something no longer is; Pending while no child exists yet; Provisioning otherwise.
 */
const printableTable: ReadonlyArray<
  readonly [MaasLabPrintableStatus, (i: PrintableInput) => boolean]
> = [
  ['Terminating', (i) => i.o.deleting],
  ['Unknown', (i) => !i.o.hypervisorReachable],
  [
    'Failed',
    (i) => i.o.stalled !== undefined || i.networks.failed.length + i.nodes.failed.length > 0,
  ],
  [
    'Ready',
    (i) =>
      allReady(i.networks) &&
      allReady(i.nodes) &&
      i.o.maasWaiting === undefined &&
      i.o.notEnlisted === undefined,
  ],
  ['Degraded', (i) => i.wasReady],
  ['Pending', (i) => i.networks.existing + i.nodes.existing === 0],
  ['Provisioning', () => true],
];

const list = (names: readonly string[]): string =>
  names.length > 5
    ? `${names.slice(0, 5).join(', ')} and ${names.length - 5} more`
    : names.join(', ');

function labVerdict(i: PrintableInput): Verdict {
  const { o, networks, nodes } = i;
  if (o.deleting)
    return { kind: 'progressing', reason: DeletingReason, message: 'deleting the lab' };
  if (!o.hypervisorReachable) {
    return {
      kind: 'unknown',
      reason: HypervisorUnreachableReason,
      message: "the lab's hypervisor cannot be reached",
    };
  }
  if (o.stalled) return { kind: 'stalled', ...o.stalled };
  if (o.error) return { kind: 'progressing', ...o.error };
  // A failed child needs a human as much as the lab would; kstatus then reads the lab Failed.
  if (networks.failed.length > 0) {
    return {
      kind: 'stalled',
      reason: NetworksNotReadyReason,
      message: `stalled networks: ${list(networks.failed)}`,
    };
  }
  if (nodes.failed.length > 0) {
    return {
      kind: 'stalled',
      reason: NodesNotReadyReason,
      message: `stalled nodes: ${list(nodes.failed)}`,
    };
  }
  const count = `networks ${networks.ready}/${networks.total} ready, nodes ${nodes.ready}/${nodes.total} ready`;
  if (!allReady(networks)) {
    // Children still being worked on make the lab in progress; children that settled not
    // Ready (a node halted on purpose) leave it Current but not Ready.
    const kind = networks.inProgress.length > 0 ? 'progressing' : 'settled';
    return {
      kind,
      reason: NetworksNotReadyReason,
      message: `${count}; waiting for ${list(networks.notReady)}`,
    };
  }
  if (!allReady(nodes)) {
    const kind = nodes.inProgress.length > 0 ? 'progressing' : 'settled';
    return {
      kind,
      reason: NodesNotReadyReason,
      message: `${count}; waiting for ${list(nodes.notReady)}`,
    };
  }
  // MAAS last: the lab's own objects are what MAAS needs first.
  if (o.maasWaiting) return { kind: 'progressing', ...o.maasWaiting };
  if (o.notEnlisted) return { kind: 'progressing', ...o.notEnlisted };
  return { kind: 'ready', reason: 'Reconciled', message: count };
}

/**
 * The lab's aggregate status from its desired children and the children as they are: Ready
 * counts only children that are Ready at their current generation, totals are what the spec
 * asks for (so a scale-up shows 3/5 at once), and the lab is Ready when all are.
 */
export function labStatus(
  lab: MaasLab,
  desired: LabChildren,
  observedNetworks: readonly VirtNetwork[],
  observedNodes: readonly MaasNode[],
  o: LabObservation,
): LabStatusResult {
  const networks = tally(desired.networks, observedNetworks);
  const nodes = tally(desired.nodes, observedNodes);
  const previous = lab.status;
  const wasReady =
    previous?.printableStatus === 'Ready' ||
    previous?.printableStatus === 'Degraded' ||
    previous?.conditions?.some((c) => c.type === ReadyCondition && c.status === 'True') === true;
  const input: PrintableInput = { o, networks, nodes, wasReady };
  const printableStatus = printableTable.find(([, when]) => when(input))?.[0] ?? 'Unknown';
  return {
    status: {
      networks: { ready: networks.ready, total: networks.total },
      nodes: { ready: nodes.ready, total: nodes.total, summary: `${nodes.ready}/${nodes.total}` },
      printableStatus,
    },
    conditions: planFor(labVerdict(input)),
    networksReady: allReady(networks),
  };
}

/**
 * True when `next` differs from `previous` only in progress that keeps coming while a lab
 * builds: the Ready node count (`nodes.ready`, `nodes.summary`) and the conditions' messages,
 * which repeat those counts. A change of any condition's status or reason, the printable
 * status, the totals, the network counts or observedGeneration is not progress: it is written
 * at once. Pure.
 */
export function onlyProgressChanged(previous: unknown, next: unknown): boolean {
  if (typeof previous !== 'object' || previous === null) return false;
  const strip = (status: object): unknown => {
    const s = status as {
      nodes?: { ready?: number; summary?: string };
      conditions?: Array<{ message?: string }>;
    };
    return {
      ...s,
      nodes: s.nodes && { ...s.nodes, ready: undefined, summary: undefined },
      conditions: s.conditions?.map((c) => ({ ...c, message: undefined })),
    };
  };
  return statusEqual(strip(previous), strip(next as object));
}

/**
 * The lab's hypervisor counts as reachable unless its controller says otherwise (Ready not
 * True with reason HypervisorUnreachable or HostKeyVerificationFailed). A Hypervisor not yet
 * reconciled is not assumed down: the children wait on it themselves.
 */
export function hypervisorReachableOf(hv: Readonly<Hypervisor> | undefined): boolean {
  const ready = hv?.status?.conditions?.find((c) => c.type === ReadyCondition);
  return !(ready !== undefined && ready.status !== 'True' && isUnreachableReason(ready.reason));
}

/** What the scope and the pass's findings say, for labStatus. */
export function labObservation(scope: LabScope, found: Findings): LabObservation {
  const { lab } = scope;
  const hasMaas = lab.spec.maas !== undefined;
  const maasConditions = found.maas
    ? labMaasConditions(found.maas.outcome)
    : (lab.status?.conditions ?? []);
  const controllerCondition =
    found.controller?.condition ??
    lab.status?.conditions?.find((c) => c.type === ControllerReadyCondition);
  const controllerWaiting: Why | undefined =
    lab.spec.maas?.controller !== undefined && controllerCondition?.status !== 'True'
      ? {
          reason: MaasNotReadyReason,
          message: `${ControllerReadyCondition} is ${
            controllerCondition
              ? `${controllerCondition.status} (${controllerCondition.reason}: ${controllerCondition.message ?? ''})`
              : 'not reported yet'
          }`,
        }
      : undefined;
  const maasWaiting = hasMaas ? (controllerWaiting ?? labMaasWaiting(maasConditions)) : undefined;
  const notEnlisted = hasMaas ? nodesNotEnlisted([...scope.nodes.values()]) : undefined;
  return definedProps({
    maasWaiting,
    notEnlisted,
    deleting: isDeleting(scope.lab),
    hypervisorReachable: hypervisorReachableOf(scope.hypervisor),
    stalled: found.stalled,
    error: found.error,
  });
}

/** The status a lab's report writes. */
export type LabReportStatus = LabCounts & {
  /** Advanced only by a pass that succeeded. */
  readonly observedGeneration?: number;
  /** Ready/Reconciling/Stalled, and MaasReachable/DhcpConfigured/ImagesSynced with MAAS. */
  readonly conditions: Condition[];
  /** The MAAS the lab uses, with spec.maas. */
  readonly maas?: MaasLabStatus['maas'];
  /** The last restore (spec.restoreFrom). */
  readonly restore?: MaasLabStatus['restore'];
  /** The lab's ready snapshots and their bytes. */
  readonly snapshots?: MaasLabStatus['snapshots'];
};

/** When the report is made, and whether the pass succeeded. */
export interface ReportContext {
  /** Now, for lastTransitionTime. */
  readonly now: number;
  /** The pass succeeded: observedGeneration advances. */
  readonly succeeded: boolean;
}

/**
 * The whole status of a lab after a pass, from its scope (with the children this pass
 * applied or deleted), its desired children and the pass's findings: counts, printableStatus,
 * Ready/Reconciling/Stalled, and observedGeneration, advanced only when the pass succeeded.
 */
export function labReport(
  scope: LabScope,
  desired: LabChildren,
  found: Findings,
  at: ReportContext,
): LabReportStatus {
  const { lab } = scope;
  const result = labStatus(
    lab,
    desired,
    [...scope.networks.values()],
    [...scope.nodes.values()],
    labObservation(scope, found),
  );
  const generation = lab.metadata?.generation ?? 0;
  const hasMaas = lab.spec.maas !== undefined;
  const stamp = { now: at.now, generation };
  const hasController = lab.spec.maas?.controller !== undefined;
  const withMaas = applyConditionPlan(
    applyConditionPlan(
      applyConditionPlan(lab.status?.conditions, result.conditions, stamp),
      hasController
        ? { set: found.controller ? [found.controller.condition] : [], remove: [] }
        : { set: [], remove: [ControllerReadyCondition] },
      stamp,
    ),
    labMaasPlan(hasMaas, found.maas?.outcome),
    stamp,
  );
  const restoreVerdict = restoreVerdictOf(found);
  const conditions = restoreVerdict
    ? applyConditionPlan(withMaas, planFor(restoreVerdict), stamp)
    : withMaas;
  const observedGeneration = at.succeeded ? generation : lab.status?.observedGeneration;
  const controller = hasController
    ? (found.controller?.status ?? lab.status?.maas?.controller)
    : undefined;
  const maasBase = hasMaas ? (found.maas?.status ?? lab.status?.maas) : undefined;
  const maas =
    maasBase === undefined && controller === undefined
      ? undefined
      : { ...maasBase, ...(controller === undefined ? { controller: undefined } : { controller }) };
  if (maas !== undefined && maas.controller === undefined) delete maas.controller;
  return {
    ...definedProps({ observedGeneration }),
    conditions,
    ...result.status,
    ...definedProps({
      maas,
      restore: found.restore ?? lab.status?.restore,
      snapshots: found.snapshots ?? lab.status?.snapshots,
    }),
  };
}

/**
 * A restore overrides the children's verdict while it runs (the nodes are held on purpose,
 * not broken) and when it is refused (a human must fix spec.restoreFrom); a stalled lab
 * stays stalled.
 */
export function restoreVerdictOf(found: Findings): Verdict | undefined {
  if (found.stalled) return undefined;
  if (found.restoreRefused) return { kind: 'stalled', ...found.restoreRefused };
  if (found.restoring) return { kind: 'progressing', ...found.restoring };
  return undefined;
}

/**
 * How long a status write may wait, or undefined to write it now. While a lab builds, its
 * count of Ready nodes changes with every node: that progress is written at most once per
 * `intervalMs` since this process's last write (`lastWrite`; one write per node of a
 * 100-node lab otherwise); anything else, such as becoming Ready, is written at once.
 */
export function progressHold(
  previous: unknown,
  next: unknown,
  lastWrite: number | undefined,
  now: number,
  intervalMs: number,
): number | undefined {
  const since = now - (lastWrite ?? -Infinity);
  if (!onlyProgressChanged(previous, next) || since >= intervalMs) return undefined;
  return intervalMs - since;
}
