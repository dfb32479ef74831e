// Conditions: one shared, pure library for `status.conditions` (metav1.Condition).
//
// It follows the Kubernetes API conventions and what kstatus reads:
//   - `setCondition` stamps observedGeneration, moves lastTransitionTime only when status
//     flips, and truncates times to whole seconds (metav1.Time serializes as RFC 3339 seconds);
//   - `Ready` is the summary; `Reconciling=True` while work is in progress (kstatus:
//     InProgress); `Stalled=True` for errors a retry will not fix (kstatus: Failed). The two
//     are never True together: kstatus takes whichever it meets first, so both would be a lie;
//   - inputs are never mutated: every helper returns a new array.
// Condition types and reasons for our kinds are constants in src/api.

import { toRfc3339Seconds } from './clock.js';

/** A condition's status, as metav1.ConditionStatus. */
export type ConditionStatus = 'True' | 'False' | 'Unknown';

/** A metav1.Condition. */
export interface Condition {
  /** CamelCase type, e.g. `Ready`. */
  readonly type: string;
  /** True, False or Unknown. */
  readonly status: ConditionStatus;
  /** CamelCase machine-readable reason for the last transition or update. */
  readonly reason: string;
  /** Human-readable detail; may be empty. */
  readonly message: string;
  /** The `metadata.generation` this condition was computed from (optional in metav1; our helpers always set it). */
  readonly observedGeneration?: number;
  /** RFC 3339 time (whole seconds) the status last changed. */
  readonly lastTransitionTime: string;
}

/** What a caller says about a condition; the helper fills in the rest. */
export interface ConditionInput {
  /** CamelCase type. */
  readonly type: string;
  /** The new status. */
  readonly status: ConditionStatus;
  /** CamelCase reason (required by the API server). */
  readonly reason: string;
  /** Human-readable detail (default empty). */
  readonly message?: string;
}

/** When and against which generation a condition is set. */
export interface Stamp {
  /** Current time, epoch ms (from the injected Clock). */
  readonly now: number;
  /** The object's `metadata.generation`. */
  readonly generation: number;
}

/** Condition types every maaslab kind uses (kstatus's names). */
export const ConditionType = {
  /** Summary: the object is what its spec asks for. */
  Ready: 'Ready',
  /** Work is in progress; kstatus reports InProgress. */
  Reconciling: 'Reconciling',
  /** A retry will not help; kstatus reports Failed. */
  Stalled: 'Stalled',
} as const;

/** Reason used by `markReady` when none is given (the same value as src/api's `ReconciledReason`). */
export const ReadyReason = 'Reconciled';

// metav1.Condition validation, so a bad condition fails here rather than as a rejected patch.
const TYPE_RE =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$/;
const REASON_RE = /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/;

/** Throws a TypeError if `input` would be rejected by the API server's Condition validation. */
export function validateCondition(input: ConditionInput): void {
  if (input.type.length > 316 || !TYPE_RE.test(input.type)) {
    throw new TypeError(`invalid condition type ${JSON.stringify(input.type)}`);
  }
  if (input.reason.length > 1024 || !REASON_RE.test(input.reason)) {
    throw new TypeError(`invalid condition reason ${JSON.stringify(input.reason)}`);
  }
  if ((input.message ?? '').length > 32768) {
    throw new TypeError(`condition ${input.type} message exceeds 32768 characters`);
  }
}

/** The condition of `type`, if present. */
export function getCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

/** True when the condition of `type` exists with status True. */
export function isTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return getCondition(conditions, type)?.status === 'True';
}

/** True when the condition of `type` exists with status False. */
export function isFalse(conditions: readonly Condition[] | undefined, type: string): boolean {
  return getCondition(conditions, type)?.status === 'False';
}

/** Types that sort first, in this order. */
const LEADING_TYPES: readonly string[] = [
  ConditionType.Ready,
  ConditionType.Reconciling,
  ConditionType.Stalled,
];

/** Ready first, then Reconciling and Stalled, then the rest by type, so diffs and `kubectl` stay stable. */
export function sortConditions(conditions: readonly Condition[]): Condition[] {
  const rank = (t: string): number => {
    const i = LEADING_TYPES.indexOf(t);
    return i < 0 ? LEADING_TYPES.length : i;
  };
  return [...conditions].sort(
    (a, b) => rank(a.type) - rank(b.type) || (a.type < b.type ? -1 : a.type > b.type ? 1 : 0),
  );
}

/**
 * Sets one condition and returns a new, sorted array. `lastTransitionTime` is kept when the
 * status is unchanged (a new reason or message is an update, not a transition).
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  input: ConditionInput,
  at: Stamp,
): Condition[] {
  validateCondition(input);
  const existing = getCondition(conditions, input.type);
  const next: Condition = {
    type: input.type,
    status: input.status,
    reason: input.reason,
    message: input.message ?? '',
    observedGeneration: at.generation,
    lastTransitionTime:
      existing && existing.status === input.status
        ? existing.lastTransitionTime
        : toRfc3339Seconds(at.now),
  };
  const others = (conditions ?? []).filter((c) => c.type !== input.type);
  return sortConditions([...others, next]);
}

/** Returns a new array without the condition of `type`. */
export function removeCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition[] {
  return (conditions ?? []).filter((c) => c.type !== type);
}

/** Reason and message for the `mark*` helpers. */
export interface MarkInput {
  /** CamelCase reason. */
  readonly reason: string;
  /** Human-readable detail. */
  readonly message?: string;
}

/** Ready=True; Reconciling and Stalled removed (kstatus: Current). */
export function markReady(
  conditions: readonly Condition[] | undefined,
  input: Partial<MarkInput>,
  at: Stamp,
): Condition[] {
  const rest = removeCondition(
    removeCondition(conditions, ConditionType.Reconciling),
    ConditionType.Stalled,
  );
  return setCondition(
    rest,
    {
      type: ConditionType.Ready,
      status: 'True',
      reason: input.reason ?? ReadyReason,
      message: input.message ?? '',
    },
    at,
  );
}

/** Reconciling=True and Ready=False with the same reason; Stalled removed (kstatus: InProgress). */
export function markReconciling(
  conditions: readonly Condition[] | undefined,
  input: MarkInput,
  at: Stamp,
): Condition[] {
  const rest = removeCondition(conditions, ConditionType.Stalled);
  const message = input.message ?? '';
  const reconciling = setCondition(
    rest,
    { type: ConditionType.Reconciling, status: 'True', reason: input.reason, message },
    at,
  );
  return setCondition(
    reconciling,
    { type: ConditionType.Ready, status: 'False', reason: input.reason, message },
    at,
  );
}

/** Stalled=True and Ready=False with the same reason; Reconciling removed (kstatus: Failed). */
export function markStalled(
  conditions: readonly Condition[] | undefined,
  input: MarkInput,
  at: Stamp,
): Condition[] {
  const rest = removeCondition(conditions, ConditionType.Reconciling);
  const message = input.message ?? '';
  const stalled = setCondition(
    rest,
    { type: ConditionType.Stalled, status: 'True', reason: input.reason, message },
    at,
  );
  return setCondition(
    stalled,
    { type: ConditionType.Ready, status: 'False', reason: input.reason, message },
    at,
  );
}

/** kstatus's verdict on an object (cli-utils' generic rules, for custom resources). */
export type KstatusStatus = 'InProgress' | 'Failed' | 'Current' | 'Terminating';

/** The parts of an object kstatus reads. */
export interface KstatusInput {
  /** `metadata.generation`. */
  readonly generation?: number;
  /** `metadata.deletionTimestamp`. */
  readonly deletionTimestamp?: string;
  /** `status.observedGeneration`. */
  readonly observedGeneration?: number;
  /** `status.conditions`. */
  readonly conditions?: readonly Condition[];
}

/**
 * What kstatus (sigs.k8s.io/cli-utils/pkg/kstatus) would say, by its generic rules: deleting
 * → Terminating; an unobserved generation or Reconciling=True → InProgress; Stalled=True →
 * Failed; otherwise Current. Lets unit tests check our status against kstatus without Go.
 */
export function kstatusOf(obj: KstatusInput): KstatusStatus {
  if (obj.deletionTimestamp) return 'Terminating';
  if (
    obj.generation !== undefined &&
    obj.observedGeneration !== undefined &&
    obj.observedGeneration !== obj.generation
  ) {
    return 'InProgress';
  }
  // kstatus returns on the first of the two it meets, in list order.
  for (const c of obj.conditions ?? []) {
    if (c.type === ConditionType.Reconciling && c.status === 'True') return 'InProgress';
    if (c.type === ConditionType.Stalled && c.status === 'True') return 'Failed';
  }
  return 'Current';
}

/**
 * Exact structural equality of two JSON-shaped status values, for "patch only when changed".
 * Array order matters; numbers compare with `Object.is` except that 0 equals -0 (JSON cannot
 * tell them apart). A property whose value is `undefined` counts as absent, because JSON
 * drops it and the server would see no difference. Dates compare by instant.
 */
export function statusEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null) return false;
  if (typeof a === 'number') return Number.isNaN(a) && Number.isNaN(b);
  if (typeof a !== 'object') return false;
  if (a instanceof Date || b instanceof Date) {
    return a instanceof Date && b instanceof Date && a.getTime() === b.getTime();
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((v, i) => statusEqual(v, b[i]));
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const keys = (o: Record<string, unknown>): string[] =>
    Object.keys(o).filter((k) => o[k] !== undefined);
  const ak = keys(ao);
  const bk = keys(bo);
  return (
    ak.length === bk.length &&
    ak.every((k) => Object.prototype.hasOwnProperty.call(bo, k) && statusEqual(ao[k], bo[k]))
  );
}
