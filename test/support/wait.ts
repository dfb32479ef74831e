// Polling helper for tests: wait for a condition instead of sleeping a fixed time.
import { setTimeout as delay } from 'node:timers/promises';

/** Options for {@link waitFor}. */
export interface WaitOptions {
  /** Give up after this long (default 30 s). */
  timeoutMs?: number;
  /** Pause between attempts (default 100 ms): short, because the control plane is local. */
  intervalMs?: number;
  /** What is being waited for, used in the timeout error. */
  description?: string;
  /**
   * What the world looked like when the wait gave up (the objects' status, the domains'
   * states, a log tail), appended to the timeout error: a failure on a machine nobody can
   * log into must explain itself.
   */
  explain?: () => Promise<string> | string;
}

/**
 * Calls `fn` until it returns a value other than `undefined`, `null` or `false`, and
 * resolves with that value. A throw counts as "not yet": the last error becomes the
 * `cause` of the timeout error, so a failing test shows why the condition never held.
 */
export async function waitFor<T>(
  fn: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  options: WaitOptions = {},
): Promise<T> {
  const { timeoutMs = 30_000, intervalMs = 100, description = 'condition' } = options;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined && value !== null && value !== false) return value;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const explanation = options.explain
        ? await Promise.resolve()
            .then(options.explain)
            .catch((err: unknown) => `(explain failed: ${String(err)})`)
        : undefined;
      const last = lastError === undefined ? '' : `; last error: ${String(lastError)}`;
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${description}${last}` +
          (explanation ? `\n${explanation}` : ''),
        { cause: lastError },
      );
    }
    await delay(intervalMs);
  }
}
