// FakeClock: a Clock whose time moves only when a test says so.
// Timers fire in due-time order (ties in scheduling order), with `now()` set to each
// timer's due time as it fires, so code under test sees a consistent timeline.

import type { Clock, Timer } from '../../src/runtime/clock.js';

interface Pending {
  readonly id: number;
  readonly due: number;
  readonly fn: () => void;
}

/** Lets promise chains started by a fired timer run before the next timer fires. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A manually driven Clock for tests. */
export interface FakeClock extends Clock {
  /** Moves time forward by `ms`, firing due timers synchronously in order. */
  advance(ms: number): void;
  /** Like `advance`, but lets promise chains settle after each timer (and before the first). */
  tickAsync(ms: number): Promise<void>;
  /** Timers scheduled and not yet fired or cancelled. */
  pendingTimers(): number;
  /** Due times of the pending timers, earliest first. */
  dueTimes(): number[];
}

/** Creates a FakeClock starting at `startMs` (default 2026-01-01T00:00:00Z). */
export function createFakeClock(startMs = Date.UTC(2026, 0, 1)): FakeClock {
  let now = startMs;
  let nextId = 0;
  const pending: Pending[] = [];

  const takeDue = (until: number): Pending | undefined => {
    let best = -1;
    pending.forEach((p, i) => {
      const current = pending[best];
      if (
        p.due <= until &&
        (!current || p.due < current.due || (p.due === current.due && p.id < current.id))
      ) {
        best = i;
      }
    });
    return best < 0 ? undefined : pending.splice(best, 1)[0];
  };

  const clock: FakeClock = {
    now: () => now,
    setTimer(ms: number, fn: () => void): Timer {
      const entry: Pending = { id: nextId++, due: now + Math.max(0, ms), fn };
      pending.push(entry);
      return {
        cancel: () => {
          const i = pending.indexOf(entry);
          if (i >= 0) pending.splice(i, 1);
        },
      };
    },
    sleep(ms: number, signal?: AbortSignal): Promise<void> {
      return new Promise((resolve, reject) => {
        if (signal?.aborted) {
          reject(signal.reason);
          return;
        }
        const onAbort = (): void => {
          timer.cancel();
          reject(signal?.reason);
        };
        const timer = clock.setTimer(ms, () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        });
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    },
    advance(ms: number): void {
      const target = now + ms;
      for (let p = takeDue(target); p; p = takeDue(target)) {
        now = Math.max(now, p.due);
        p.fn();
      }
      now = target;
    },
    async tickAsync(ms: number): Promise<void> {
      const target = now + ms;
      await settle();
      for (let p = takeDue(target); p; p = takeDue(target)) {
        now = Math.max(now, p.due);
        p.fn();
        await settle();
      }
      now = target;
      await settle();
    },
    pendingTimers: () => pending.length,
    dueTimes: () => pending.map((p) => p.due).sort((a, b) => a - b),
  };
  return clock;
}
