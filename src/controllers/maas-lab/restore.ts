// The restore phase of a MaasLab pass: spec.restoreFrom returns every member of the lab to a
// MaasLabSnapshot. One token, one restore, in steps a pass at a time (status.restore.phase):
// hold every node (the MaasNode controller stands still and says so), power every member off,
// re-create each member volume as a copy of its golden volume, then release the holds — the
// controller VM's first (this controller's own controller phase, which stands still while
// the restore holds it, starts it), the nodes' once it runs — and the nodes' own controllers
// start them as their runStrategy says. A failure while volumes are replaced is retried with the holds
// kept: no member runs until every member is back, so the lab is never mixed.
import {
  type Hypervisor as HypervisorResource,
  type MaasLabSnapshot,
  type MaasLabStatus,
  RestoreRefusedReason,
  RestoringReason,
} from '../../api/v1alpha1/index.js';
import type { Hypervisor } from '../../libvirt/hypervisor/index.js';
import { type CacheReader, EventType, toRfc3339Seconds } from '../../runtime/index.js';
import { next, type Phase } from '../common/phases.js';
import {
  labMembers,
  memberNodes,
  type RestoreMember,
  restorePlan,
  restoreHolder,
  startWaves,
} from '../maas-lab-snapshot/desired.js';
import {
  type Annotate,
  heldByOthers,
  holdAll,
  holderOf,
  labBusyWith,
  releaseAll,
} from '../maas-lab-snapshot/hold.js';
import { LabEventReason } from './events.js';
import type { LabPass } from './pass.js';

/** How often a restore in progress looks again. */
export const RESTORE_POLL_MS = 1000;

/** What the restore phase needs besides the pass. */
export interface LabRestoreDeps {
  /** The libvirt verbs of a Hypervisor. */
  readonly hypervisorFor: (resource: Readonly<HypervisorResource>) => Hypervisor;
  /** Sets or removes the hold annotation on a node. */
  readonly annotate: Annotate;
  /** MaasLabSnapshots. */
  readonly snapshots: CacheReader<MaasLabSnapshot>;
  /** Now, for the start and completion times. */
  readonly now: () => number;
}

/** A lab's restore status. */
export type RestoreStatus = NonNullable<MaasLabStatus['restore']>;

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * The snapshots of `lab` that are ready, and the space they take: status.snapshots and the
 * maaslab_lab_snapshot_bytes metric.
 */
export function snapshotTotals(
  snapshots: ReadonlyArray<Readonly<MaasLabSnapshot>>,
  lab: string,
): { count: number; bytes: number } {
  const mine = snapshots.filter((s) => s.spec.lab === lab && s.status?.readyToUse === true);
  return { count: mine.length, bytes: mine.reduce((a, s) => a + (s.status?.sizeBytes ?? 0), 0) };
}

/** The restore phase; a no-op without deps.restore (unit tests of other phases). */
export const restore: Phase<LabPass> = async (pass) => {
  const { scope, deps, found, signal } = pass;
  const { lab } = scope;
  const r = deps.restore;
  if (r === undefined) return next;
  const ns = lab.metadata?.namespace;
  const labName = lab.metadata?.name ?? '';
  found.snapshots = snapshotTotals(r.snapshots.list(ns), labName);
  const want = lab.spec.restoreFrom;
  const prev = lab.status?.restore;
  if (want === undefined) return next;
  const holder = restoreHolder(labName, want.token);
  const nodes = [...scope.nodes.values()];
  if (prev?.token === want.token && (prev.phase === 'Completed' || prev.phase === 'Refused')) {
    // Done: only holds a pass could not release remain to go (level-based).
    await releaseAll(nodes, holder, r.annotate, signal);
    return next;
  }
  const started = prev?.token === want.token ? prev.startTime : undefined;
  const base = {
    snapshot: want.snapshot,
    token: want.token,
    startTime: started ?? toRfc3339Seconds(r.now()),
  };
  const status = (s: Omit<RestoreStatus, 'snapshot' | 'token' | 'startTime'>): RestoreStatus => ({
    ...base,
    ...s,
  });
  const waitWith = (message: string): { requeueAfterMs: number } => {
    found.restore = status({ phase: 'Pending', message });
    found.restoring = { reason: RestoringReason, message };
    return { requeueAfterMs: RESTORE_POLL_MS };
  };
  const refuse = (message: string): typeof next => {
    found.restore = status({ phase: 'Refused', message });
    found.restoreRefused = { reason: RestoreRefusedReason, message };
    pass.record(EventType.Warning, LabEventReason.RestoreRefused, 'Restore', message);
    return next;
  };

  const snapshot = r.snapshots.get({ namespace: ns, name: want.snapshot });
  if (snapshot === undefined) return waitWith(`MaasLabSnapshot ${want.snapshot} does not exist`);
  if (snapshot.status?.phase === 'Failed') {
    return refuse(`MaasLabSnapshot ${want.snapshot} failed; it cannot be restored`);
  }
  if (snapshot.status?.readyToUse !== true) {
    return waitWith(`waiting for MaasLabSnapshot ${want.snapshot} to be ready`);
  }
  const hv = scope.hypervisor;
  if (hv === undefined) return next;
  if (nodes.length < pass.desired.nodes.length) {
    return waitWith(
      `waiting for the lab's nodes to be created (${nodes.length}/${pass.desired.nodes.length})`,
    );
  }
  const busy = heldByOthers(nodes, holder);
  // A capture holding the lab's controller VM (its annotation on the lab) holds the lab too.
  const other = labBusyWith(lab, holder) ?? (busy[0] && holderOf(busy[0]));
  if (other !== undefined) {
    // As a capture does (see its reconciler): a restore that has not touched a volume yet
    // gives back what it holds, so two holders that started together cannot wait for each
    // other for ever. One that has (Restoring, Starting) keeps its holds: members must not
    // run until every one is back.
    const touched =
      prev?.token === want.token && (prev.phase === 'Restoring' || prev.phase === 'Starting');
    if (touched) pass.restoreHoldsController = holder;
    else await releaseAll(nodes, holder, r.annotate, signal);
    return waitWith(`waiting: ${other} holds the lab`);
  }
  const plan = restorePlan(snapshot.status.members ?? [], labMembers(lab, nodes, hv));
  if (plan.kind === 'refused') return refuse(`MaasLabSnapshot ${want.snapshot}: ${plan.message}`);
  const total = plan.members.length;

  if (prev?.token === want.token && prev.phase === 'Starting') {
    return releaseInWaves(pass, r, plan.members, holder, status, total);
  }
  // The controller VM is this controller's own: its phase stands still from here until the
  // controller's wave is released (controllerHoldOf); no annotation, no acknowledgement.
  pass.restoreHoldsController = holder;
  if (!(await holdAll(nodes, holder, r.annotate, signal))) {
    const message = "waiting for the lab's nodes to stand still";
    found.restore = status({ phase: 'Holding', message, membersTotal: total });
    found.restoring = { reason: RestoringReason, message };
    return { requeueAfterMs: RESTORE_POLL_MS };
  }
  const verbs = r.hypervisorFor(hv);
  // The members' state is about to be discarded: no graceful shutdown is owed to it.
  for (const m of plan.members) await verbs.destroy(m.member.domain, m.member.owner);
  let restored = 0;
  for (const m of plan.members) {
    try {
      for (const v of m.volumes) {
        const { madeOutside, ...target } = v.target;
        await verbs.deleteVolumes([
          { pool: target.pool, name: target.name, ...(madeOutside && { madeOutside }) },
        ]);
        if (v.golden) await verbs.ensureVolumes([{ ...target, cloneFrom: v.golden }]);
      }
    } catch (err) {
      const message = `restoring ${m.member.domain} failed: ${messageOf(err)}; retrying with every member held and off`;
      found.restore = status({
        phase: 'Restoring',
        message,
        failedMember: m.member.domain,
        membersRestored: restored,
        membersTotal: total,
      });
      found.restoring = { reason: RestoringReason, message };
      pass.record(EventType.Warning, LabEventReason.RestoreFailed, 'Restore', message);
      throw err;
    }
    restored += 1;
  }
  reportStarting(found, status, total, 'every member is back; starting them, the controller first');
  // The holds go in the next pass, once this status is written: a pass that found the
  // volumes done must never copy them again over disks already running.
  return { requeueAfterMs: RESTORE_POLL_MS };
};

/** Every member is back on its snapshot's volumes: the restore is in its Starting phase. */
function reportStarting(
  found: LabPass['found'],
  status: (s: Omit<RestoreStatus, 'snapshot' | 'token' | 'startTime'>) => RestoreStatus,
  total: number,
  message: string,
): void {
  found.restore = status({
    phase: 'Starting',
    message,
    membersRestored: total,
    membersTotal: total,
  });
  found.restoring = { reason: RestoringReason, message };
}

/** The Starting step: release the controller's hold, wait for it to run, then the nodes'. */
async function releaseInWaves(
  pass: LabPass,
  r: LabRestoreDeps,
  members: readonly RestoreMember[],
  holder: string,
  status: (s: Omit<RestoreStatus, 'snapshot' | 'token' | 'startTime'>) => RestoreStatus,
  total: number,
): Promise<{ requeueAfterMs?: number }> {
  const { found, signal, scope } = pass;
  const waves = startWaves(members);
  for (const [i, wave] of waves.entries()) {
    // A controller VM's wave is released by not holding it: this pass's controller phase
    // starts it (it comes after this one).
    await releaseAll(memberNodes(wave), holder, r.annotate, signal);
    const isLast = i === waves.length - 1;
    if (isLast) break;
    // The controller must run before the nodes boot from it.
    const verbs = r.hypervisorFor(scope.hypervisor!);
    const states = await Promise.all(wave.map((m) => verbs.observeDomainState(m.member.domain)));
    if (!states.every((s) => s?.state === 'running')) {
      reportStarting(
        found,
        status,
        total,
        'waiting for the controller to run before the nodes start',
      );
      return { requeueAfterMs: RESTORE_POLL_MS };
    }
  }
  found.restore = status({
    phase: 'Completed',
    message: `every member is back at MaasLabSnapshot ${pass.scope.lab.spec.restoreFrom?.snapshot ?? ''}`,
    membersRestored: total,
    membersTotal: total,
    completionTime: toRfc3339Seconds(r.now()),
  });
  pass.record(EventType.Normal, LabEventReason.Restored, 'Restore', found.restore.message ?? '');
  return {};
}
