// The one status patch that ends a pass (step 4 of every phased reconciler), and what happens
// when it fails: after a pass that already failed with an error the queue retries anyway, the
// patch's own error would only hide the pass's, so it is logged and counted
// (maaslab_swallowed_errors_total) and the pass's error stands; otherwise it is the pass's
// error, so that the retry writes the status.
import { describeError, type Logger } from '../../runtime/index.js';
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
