// Result merging: a reconcile pass made of phases returns one Result.
// Like Cluster API's phase loop, the soonest requested revisit wins, so no phase's poll is lost.

import type { Result } from './reconcile.js';

/** True when `ms` asks for a revisit (a finite number above zero). */
const wantsRequeue = (ms: number | undefined): ms is number =>
  ms !== undefined && Number.isFinite(ms) && ms > 0;

/** Merges phase results: the lowest non-zero `requeueAfterMs` wins; `{}` when none asks. */
export function mergeResults(...results: ReadonlyArray<Result | undefined>): Result {
  let soonest: number | undefined;
  for (const r of results) {
    const ms = r?.requeueAfterMs;
    if (wantsRequeue(ms) && (soonest === undefined || ms < soonest)) soonest = ms;
  }
  return soonest === undefined ? {} : { requeueAfterMs: soonest };
}

/** The requeue delay a result asks for, or undefined for "done until something changes". */
export function requeueDelay(result: Result): number | undefined {
  return wantsRequeue(result.requeueAfterMs) ? result.requeueAfterMs : undefined;
}
