// Condition plans: what status.ts files decide, kept apart from when it is stamped. A plan
// says which conditions to set and which to drop; `applyConditionPlan` hands it to the shared
// runtime helpers, which stamp observedGeneration and lastTransitionTime.
import {
  ReadyCondition,
  ReconcilingCondition,
  StalledCondition,
  type Condition as ApiCondition,
} from '../../api/v1alpha1/index.js';
import {
  type Condition,
  type ConditionInput,
  removeCondition,
  setCondition,
  type Stamp,
} from '../../runtime/index.js';

/** Conditions to set (in order) and condition types to remove. */
export interface ConditionPlan {
  /** Each is set with `setCondition`. */
  readonly set: readonly ConditionInput[];
  /** Types that must be absent, e.g. Stalled once the problem is gone. */
  readonly remove: readonly string[];
}

/** A reason and a human-readable message. */
export interface Why {
  /** CamelCase reason, one of the *Reason constants in src/api. */
  readonly reason: string;
  /** Detail for humans. */
  readonly message: string;
}

/**
 * The kstatus-shaped verdict of one pass, from which the Ready/Reconciling/Stalled trio
 * follows:
 * - `ready`: Ready=True; Reconciling and Stalled absent (kstatus Current);
 * - `progressing`: Ready=False, Reconciling=True (InProgress): a later pass will get further;
 * - `unknown`: Ready=Unknown, Reconciling=True: we cannot observe (hypervisor unreachable)
 *   and will retry; KubeVirt's rule is to say Unknown rather than guess;
 * - `stalled`: Ready=False, Stalled=True (Failed): a human must act;
 * - `settled`: Ready=False with nothing in progress (Current), e.g. a node halted on purpose.
 */
export type Verdict =
  | ({ readonly kind: 'ready' } & Partial<Why>)
  | ({ readonly kind: 'progressing' } & Why)
  | ({ readonly kind: 'unknown' } & Why)
  | ({ readonly kind: 'stalled' } & Why)
  | ({ readonly kind: 'settled' } & Why);

/** The reason Ready=True carries by default. */
const DEFAULT_READY: Why = { reason: 'Reconciled', message: '' };

/** Turns a verdict into a plan for Ready, Reconciling and Stalled. */
export function planFor(verdict: Verdict): ConditionPlan {
  switch (verdict.kind) {
    case 'ready':
      return {
        set: [
          {
            type: ReadyCondition,
            status: 'True',
            reason: verdict.reason ?? DEFAULT_READY.reason,
            message: verdict.message ?? DEFAULT_READY.message,
          },
        ],
        remove: [ReconcilingCondition, StalledCondition],
      };
    case 'progressing':
    case 'unknown': {
      const why = { reason: verdict.reason, message: verdict.message };
      const ready = verdict.kind === 'unknown' ? 'Unknown' : 'False';
      return {
        set: [
          { type: ReadyCondition, status: ready, ...why },
          { type: ReconcilingCondition, status: 'True', ...why },
        ],
        remove: [StalledCondition],
      };
    }
    case 'stalled': {
      const why = { reason: verdict.reason, message: verdict.message };
      return {
        set: [
          { type: ReadyCondition, status: 'False', ...why },
          { type: StalledCondition, status: 'True', ...why },
        ],
        remove: [ReconcilingCondition],
      };
    }
    case 'settled':
      return {
        set: [
          {
            type: ReadyCondition,
            status: 'False',
            reason: verdict.reason,
            message: verdict.message,
          },
        ],
        remove: [ReconcilingCondition, StalledCondition],
      };
  }
}

/** Adds one extra condition (set or removed) to a plan, e.g. MaasNode's RestartRequired. */
export function withCondition(
  plan: ConditionPlan,
  type: string,
  input: Omit<ConditionInput, 'type'> | undefined,
): ConditionPlan {
  return input === undefined
    ? { set: plan.set, remove: [...plan.remove, type] }
    : { set: [...plan.set, { type, ...input }], remove: plan.remove };
}

/**
 * Applies a plan to the conditions already on the object, through the runtime's helpers
 * (observedGeneration stamped, lastTransitionTime kept unless the status flips). The API type
 * has observedGeneration optional; a missing one is read as 0, which the next set replaces.
 */
export function applyConditionPlan(
  existing: readonly ApiCondition[] | undefined,
  plan: ConditionPlan,
  at: Stamp,
): Condition[] {
  let conditions: Condition[] = (existing ?? []).map((c) => ({
    ...c,
    observedGeneration: c.observedGeneration ?? 0,
  }));
  for (const type of plan.remove) conditions = removeCondition(conditions, type);
  for (const input of plan.set) conditions = setCondition(conditions, input, at);
  return conditions;
}

/** The parts of an object that say whether its controller has caught up with it. */
export interface Observable {
  /** metadata, for the generation. */
  readonly metadata?: { readonly generation?: number };
  /** status, for observedGeneration and conditions. */
  readonly status?: {
    readonly observedGeneration?: number;
    readonly conditions?: readonly ApiCondition[];
  };
}

/**
 * True when the object's controller has seen its current generation and says Ready=True.
 * A Ready=True left over from an older generation does not count: the change may not be
 * built yet (kstatus reads it the same way).
 */
export function isReadyAndCurrent(object: Observable): boolean {
  const generation = object.metadata?.generation;
  const status = object.status;
  if (generation !== undefined && status?.observedGeneration !== generation) return false;
  const ready = status?.conditions?.find((c) => c.type === ReadyCondition);
  if (ready === undefined || ready.status !== 'True') return false;
  return generation === undefined || ready.observedGeneration === undefined
    ? true
    : ready.observedGeneration === generation;
}

/** kstatus's verdict on a child: Current, InProgress, or Failed (Stalled=True). */
export type ChildState = 'Current' | 'InProgress' | 'Failed';

/** What kstatus would say about a child, by its generic rules (used to aggregate a lab). */
export function childState(object: Observable): ChildState {
  const generation = object.metadata?.generation;
  const status = object.status;
  if (status === undefined) return 'InProgress';
  if (generation !== undefined && status.observedGeneration !== generation) return 'InProgress';
  for (const c of status.conditions ?? []) {
    if (c.type === ReconcilingCondition && c.status === 'True') return 'InProgress';
    if (c.type === StalledCondition && c.status === 'True') return 'Failed';
  }
  return 'Current';
}
