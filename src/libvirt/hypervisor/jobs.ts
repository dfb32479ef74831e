// A long libvirt job on a domain (a managed save) runs inside one blocking call; its progress
// and its cancellation go through two other calls on the same domain, which the connection's
// lane runs on its other threads while the first one waits.
import { DomainJobType, ErrorNumber } from '../constants.js';
import type { DomainJobInfo } from '../domain.js';
import { isLibvirtError } from '../errors.js';
import type { JobOptions } from './types.js';

/** How often a long domain job is asked for its progress. */
export const JOB_POLL_MS = 500;

/** The two calls that follow a domain's job: virDomainGetJobInfo and virDomainAbortJobFlags. */
export interface JobControl {
  info(): Promise<DomainJobInfo>;
  abort(): Promise<void>;
}

/**
 * Waits for `job` (the call that runs the domain's background job) while reporting its bytes
 * every `pollMs` through `opts.onProgress`; on `opts.signal` sends one abort and, when the job
 * then fails as aborted (VIR_ERR_OPERATION_ABORTED), rejects with the signal's reason. A job
 * that ended before the abort reached it has happened: its result stands. A failed progress
 * read is skipped (the job's own result says what happened).
 */
export async function followJob(
  job: Promise<void>,
  control: JobControl,
  opts: JobOptions,
  pollMs = JOB_POLL_MS,
): Promise<void> {
  let settled = false;
  const done = job.then(
    () => void (settled = true),
    () => void (settled = true),
  );
  const aborted = new Promise<void>((resolve) => {
    if (opts.signal?.aborted) resolve();
    opts.signal?.addEventListener('abort', () => resolve(), { once: true });
  });
  let abortSent = false;
  while (!settled) {
    let timer: NodeJS.Timeout | undefined;
    const tick = new Promise<void>((resolve) => (timer = setTimeout(resolve, pollMs)));
    await Promise.race([done, tick, ...(abortSent ? [] : [aborted])]);
    clearTimeout(timer);
    if (settled) break;
    if (opts.signal?.aborted && !abortSent) {
      abortSent = true;
      // No job yet, or one just over, is OPERATION_INVALID: the job's own result decides.
      await control.abort().catch(() => undefined);
      continue;
    }
    const info = await control.info().catch(() => undefined);
    if (info && info.type !== DomainJobType.None && info.dataTotal > 0) {
      opts.onProgress?.({ done: info.dataProcessed, total: info.dataTotal });
    }
  }
  try {
    await job;
  } catch (err) {
    if (abortSent && isLibvirtError(err) && err.code === ErrorNumber.OperationAborted) {
      throw opts.signal?.reason instanceof Error ? opts.signal.reason : err;
    }
    throw err;
  }
}
