// MaasLabSnapshot status, pure: the conditions a phase implies and the printable size. The
// reconciler hands in what its pass decided; nothing here reads a clock or the API.
import {
  CaptureFailedReason,
  DeletingReason,
  HoldingReason,
  ProgressingReason,
  SnapshotReadyReason,
  StoppingReason,
  type MaasLabSnapshot,
  type MaasLabSnapshotStatus,
  type SnapshotPhase,
} from '../../api/v1alpha1/index.js';
import { applyConditionPlan, planFor, type Verdict, type Why } from '../common/conditions.js';

/** What one pass found, beyond the phase it reached. */
export interface SnapshotFindings {
  /** A human must act (LabNotFound, CaptureFailed, HypervisorNotFound). */
  readonly stalled?: Why;
  /** Waiting for something outside the snapshot (LabBusy, Holding, Stopping). */
  readonly waiting?: Why;
  /** A libvirt or API call failed and will be retried. */
  readonly error?: Why;
}

/** The verdict for a phase and what the pass found: first match wins. */
export function snapshotVerdict(phase: SnapshotPhase, found: SnapshotFindings): Verdict {
  if (phase === 'Deleting') {
    return { kind: 'progressing', reason: DeletingReason, message: 'freeing the golden volumes' };
  }
  if (phase === 'Ready') {
    return { kind: 'ready', reason: SnapshotReadyReason, message: 'captured; ready to restore' };
  }
  if (found.stalled) return { kind: 'stalled', ...found.stalled };
  if (phase === 'Failed') {
    return { kind: 'stalled', reason: CaptureFailedReason, message: 'the capture failed' };
  }
  if (found.error) return { kind: 'progressing', ...found.error };
  if (found.waiting) return { kind: 'progressing', ...found.waiting };
  const message: Record<Exclude<SnapshotPhase, 'Ready' | 'Failed' | 'Deleting'>, Why> = {
    Pending: { reason: ProgressingReason, message: 'not started' },
    Holding: { reason: HoldingReason, message: "waiting for the lab's nodes to stand still" },
    Stopping: { reason: StoppingReason, message: 'stopping the members' },
    Capturing: { reason: ProgressingReason, message: 'copying the disks' },
  };
  return { kind: 'progressing', ...message[phase] };
}

/**
 * The status after a pass: `next` (phase, members, sizes…) with conditions from the verdict,
 * stamped at `now`. observedGeneration always advances: the spec is immutable, so every pass
 * acts on the one generation there is.
 */
export function snapshotStatus(
  snapshot: Readonly<MaasLabSnapshot>,
  next: Omit<MaasLabSnapshotStatus, 'conditions' | 'observedGeneration'>,
  found: SnapshotFindings,
  now: number,
): MaasLabSnapshotStatus {
  const generation = snapshot.metadata?.generation ?? 0;
  const phase = next.phase ?? 'Pending';
  return {
    ...next,
    observedGeneration: generation,
    conditions: applyConditionPlan(
      snapshot.status?.conditions,
      planFor(snapshotVerdict(phase, found)),
      { now, generation },
    ),
  };
}

/** The fields of a status a pass hands to {@link snapshotStatus}. */
export type SnapshotNext = Omit<MaasLabSnapshotStatus, 'conditions' | 'observedGeneration'>;

/**
 * `next` with the capture's progress: `captured` of `total` members copied. The phase is
 * Capturing while members remain, and what `next` says otherwise (Stopping before the copy,
 * Ready or Failed after it).
 */
export function withCaptureProgress(
  next: SnapshotNext,
  captured: number,
  total: number,
): SnapshotNext {
  return { ...next, membersCaptured: captured, membersTotal: total };
}

/** The status while copying: phase Capturing, `captured` of `total` members done. */
export function capturingStatus(base: SnapshotNext, captured: number, total: number): SnapshotNext {
  return withCaptureProgress({ ...base, phase: 'Capturing' }, captured, total);
}
