// Clock: the one door through which runtime code reads time and waits.
// Everything time-dependent (queue delays, backoff, lease validity, lastTransitionTime)
// goes through an injected Clock so tests drive time with a fake and never sleep.

/** A scheduled callback that can be cancelled before it fires. */
export interface Timer {
  /** Cancels the callback; a no-op once it has fired. */
  cancel(): void;
}

/** Time as the runtime sees it. `now()` is wall time in epoch milliseconds. */
export interface Clock {
  /** Current time in epoch milliseconds. */
  now(): number;
  /** Runs `fn` once after `ms` milliseconds; never keeps the process alive on its own. */
  setTimer(ms: number, fn: () => void): Timer;
  /** Resolves after `ms`; rejects with `signal.reason` as soon as `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The delay function shape used by retry loops (matches `Clock.sleep`). */
export type Delay = (ms: number, signal?: AbortSignal) => Promise<void>;

/** Node's timers overflow past 2^31-1 ms (about 24.8 days) and would fire after 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Runs `fn` after `ms`, chaining safe steps for long delays instead of overflowing.
 * `keepAlive` false unrefs the timer, so it alone does not hold the process open.
 */
function schedule(ms: number, fn: () => void, keepAlive: boolean): Timer {
  let handle: ReturnType<typeof setTimeout>;
  const due = Date.now() + Math.max(0, ms);
  const arm = (left: number): void => {
    handle = setTimeout(
      () => {
        const rest = due - Date.now();
        // Re-arm only after a partial step: a full step may fire a hair early, and that is fine.
        if (rest > 0 && left > MAX_TIMER_MS) arm(rest);
        else fn();
      },
      Math.min(Math.max(0, left), MAX_TIMER_MS),
    );
    if (!keepAlive) handle.unref();
  };
  arm(due - Date.now());
  return { cancel: () => clearTimeout(handle) };
}

/** The real clock: `Date.now` and Node timers. */
export const realClock: Clock = {
  now: () => Date.now(),
  // A pending requeue must not keep the process alive after shutdown.
  setTimer: (ms, fn) => schedule(ms, fn, false),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      // Reject with the signal's own reason, as fetch and the fake clock do (node:timers
      // would wrap it in a generic AbortError).
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const onAbort = (): void => {
        timer.cancel();
        reject(signal?.reason);
      };
      // Someone awaits a sleep, so unlike setTimer it keeps the process alive.
      const timer = schedule(
        ms,
        () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        true,
      );
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

/** Formats epoch milliseconds as RFC 3339 truncated to whole seconds, as metav1.Time serializes. */
export function toRfc3339Seconds(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
