// The one status patch that ends a pass (step 4 of every phased reconciler), and what happens
// when it fails: after a pass that already failed with an error the queue retries anyway, the
// patch's own error would only hide the pass's, so it is logged and counted
// (maaslab_swallowed_errors_total) and the pass's error stands; otherwise it is the pass's
// error, so that the retry writes the status.
import { isDeepStrictEqual } from 'node:util';
import { describeError, type Logger, type MetaLike } from '../../runtime/index.js';
import type { SwallowedErrorMetrics } from '../metrics.js';

/** The step name the swallowed-errors metric and the logs give the status patch. */
export const StatusStep = 'status';

export interface StatusPatchFailurePolicy {
  /** Whether a failing patch is the pass's error (true) or is swallowed, logged and counted. */
  readonly rethrow: boolean;
  readonly log: Logger;
  /** The controller's name, the metric's `controller` label. */
  readonly controller: string;
  readonly swallowed: SwallowedErrorMetrics;
}

/**
 * Runs `patch` under `policy`: its value, or undefined when it failed and the failure was
 * swallowed.
 */
export async function patchStatusOnce<T>(
  patch: () => Promise<T>,
  policy: StatusPatchFailurePolicy,
): Promise<T | undefined> {
  try {
    return await patch();
  } catch (err) {
    if (policy.rethrow) throw err;
    policy.log.error('Status patch failed after the pass failed; returning the pass error', {
      step: StatusStep,
      error: describeError(err),
    });
    policy.swallowed.swallowed(policy.controller, StatusStep);
    return undefined;
  }
}

/** The metadata a pass reads besides its spec (which `generation` stands for). */
interface PassMeta extends MetaLike {
  readonly generation?: number;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** Everything of an object a pass may have acted on: any change to it voids the pass's view. */
const passInputs = (meta: PassMeta | undefined): unknown[] => [
  meta?.uid,
  meta?.generation,
  meta?.labels ?? {},
  meta?.annotations ?? {},
  meta?.finalizers ?? [],
  meta?.deletionTimestamp ?? null,
  meta?.ownerReferences ?? [],
];

/**
 * The copy of the object a pass's status is computed against and locked to: the cache's copy
 * now (`current`) when it is another version of the very object the pass worked from that
 * differs from it in status and bookkeeping only (resourceVersion, managedFields). Most often
 * that is the pass's own previous report, whose watch event had not arrived yet when this
 * pass read the cache; the status this pass computed from its observations holds for it as
 * well, and computing it against that copy (conditions keep their transition times) and
 * locking the write to it spares a 409 and a whole new pass (the recipe bench saw a node's
 * Running report wait 170–310 ms for that). Any other difference (the spec, through
 * generation; labels, annotations, finalizers, deletion, owners) keeps the pass's own copy:
 * its write fails with 409 and the key is observed again, as before. A `current` older than
 * the pass's copy can only lose the lock the same way.
 */
export function reportBase<T extends { readonly metadata?: PassMeta }>(
  worked: T,
  current: T | undefined,
): T {
  if (current === undefined || current === worked) return worked;
  if (current.metadata?.resourceVersion === worked.metadata?.resourceVersion) return worked;
  return isDeepStrictEqual(passInputs(worked.metadata), passInputs(current.metadata))
    ? current
    : worked;
}
