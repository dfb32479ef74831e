// Phases: a reconcile pass as a list of steps (Cluster API's phase loop). Each phase reads and
// fills the pass it is given and returns a Result; the pass's Result is their merge, the
// soonest requested revisit winning (mergeResults). A phase may end the pass early (`stop`):
// the phases after it need something it did not get (a Hypervisor, an answer from libvirt).
// Unlike Cluster API's phases ours depend on each other, so the first error ends the pass
// too and is the pass's error: there is never more than one to aggregate.
import { mergeResults, type Result } from '../../runtime/index.js';

/** What a phase returns: a Result, and whether the pass ends with this phase. */
export interface PhaseResult extends Result {
  /** The later phases must not run. */
  readonly stop?: boolean;
}

/** One step of a pass over `P`, the pass's state (scope, findings, dependencies). */
export type Phase<P> = (pass: P) => Promise<PhaseResult>;

/** Go on with the next phase, asking for nothing. */
export const next: PhaseResult = {};

/** End the pass here, with `result`. */
export const stop = (result: Result = {}): PhaseResult => ({ ...result, stop: true });

/**
 * Runs `phases` in order over `pass` until one says stop or throws (the error is the pass's),
 * and merges their results: the lowest non-zero requeueAfterMs.
 */
export async function runPhases<P>(phases: ReadonlyArray<Phase<P>>, pass: P): Promise<Result> {
  const results: Result[] = [];
  for (const phase of phases) {
    const result = await phase(pass);
    results.push(result);
    if (result.stop) break;
  }
  return mergeResults(...results);
}

/** How a pass ended, for its report: undefined when every phase ran (or one said stop). */
export type PassFailure = { readonly error: unknown } | undefined;

/**
 * Cluster API's loop: runs `phases` over `pass` (runPhases), then `report` once, in a finally,
 * told whether a phase threw and what, whatever happened; a phase's error is then rethrown.
 * The report's Result (a requeue it needs, e.g. to pace writes) merges with the phases'.
 */
export async function runPhasesAndReport<P>(
  phases: ReadonlyArray<Phase<P>>,
  pass: P,
  report: (failed: PassFailure) => Promise<Result | void>,
): Promise<Result> {
  let failed: PassFailure;
  let result: Result = {};
  let reported: Result | void = {};
  try {
    result = await runPhases(phases, pass);
  } catch (error) {
    failed = { error };
    throw error;
  } finally {
    reported = await report(failed);
  }
  return mergeResults(result, reported ?? {});
}
