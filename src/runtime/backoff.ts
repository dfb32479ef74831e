// Backoff: how long to wait before trying again.
//
// Two shapes, both from client-go:
//   - RateLimiter: per-key delays for the work queue. `createItemExponentialRateLimiter`
//     is ItemExponentialFailureRateLimiter (5 ms doubling to 1000 s, reset by `forget`);
//     `createControllerRateLimiter` is DefaultTypedControllerRateLimiter (that, maxed with a
//     10 qps / burst 100 token bucket so a mass failure cannot hammer the API server).
//   - Backoff: one retry loop's delays, for informer restarts: client-go's reflector uses
//     0.8 s doubling to 30 s with full jitter, reset after 2 min without a failure.
// Randomness and time are injected so tests are exact.

import { type Clock, realClock } from './clock.js';

/** Per-key retry delays for the work queue (client-go's TypedRateLimiter). */
export interface RateLimiter {
  /** Records one more failure of `key` and returns how long to wait before retrying it, in ms. */
  when(key: string): number;
  /** Clears `key`'s failure history (after a success). */
  forget(key: string): void;
  /** Failures recorded for `key` since it was last forgotten. */
  numRequeues(key: string): number;
}

/** Options for `createItemExponentialRateLimiter`. */
export interface ItemExponentialOptions {
  /** Delay after the first failure, in ms (default 5, client-go's). */
  readonly baseMs?: number;
  /** Upper bound on the delay, in ms (default 1 000 000 = 1000 s, client-go's). */
  readonly maxMs?: number;
}

/** Client-go's default base delay for a failed key: 5 ms. */
export const DEFAULT_BASE_DELAY_MS = 5;
/** Client-go's default cap for a failed key: 1000 s. */
export const DEFAULT_MAX_DELAY_MS = 1_000_000;

/** ItemExponentialFailureRateLimiter: `base * 2^failures`, capped at `max`. */
export function createItemExponentialRateLimiter(opts: ItemExponentialOptions = {}): RateLimiter {
  const base = opts.baseMs ?? DEFAULT_BASE_DELAY_MS;
  const max = opts.maxMs ?? DEFAULT_MAX_DELAY_MS;
  const failures = new Map<string, number>();
  return {
    when(key) {
      const exp = failures.get(key) ?? 0;
      failures.set(key, exp + 1);
      // 2^exp overflows to Infinity long after the cap, so the min() is all the guard needed.
      return Math.min(base * 2 ** exp, max);
    },
    forget: (key) => void failures.delete(key),
    numRequeues: (key) => failures.get(key) ?? 0,
  };
}

/** Options for `createBucketRateLimiter`. */
export interface BucketOptions {
  /** Sustained rate, tokens per second (default 10, controller-runtime's). */
  readonly qps?: number;
  /** Bucket size (default 100, controller-runtime's). */
  readonly burst?: number;
  /** Time source. */
  readonly clock?: Clock;
}

/**
 * An overall token bucket (client-go's BucketRateLimiter over x/time/rate): each `when`
 * reserves a token and returns how long until that token exists. Keys are ignored.
 */
export function createBucketRateLimiter(opts: BucketOptions = {}): RateLimiter {
  const qps = opts.qps ?? 10;
  const burst = opts.burst ?? 100;
  const clock = opts.clock ?? realClock;
  let tokens = burst;
  let last = clock.now();
  return {
    when() {
      const now = clock.now();
      tokens = Math.min(burst, tokens + ((now - last) * qps) / 1000);
      last = now;
      tokens -= 1; // a reservation may overdraw: the debt is the wait
      return tokens >= 0 ? 0 : (-tokens / qps) * 1000;
    },
    forget: () => undefined,
    numRequeues: () => 0,
  };
}

/** Combines limiters: the longest delay wins, and the failure count is the highest (client-go's MaxOf). */
export function createMaxOfRateLimiter(...limiters: readonly RateLimiter[]): RateLimiter {
  return {
    when: (key) => Math.max(0, ...limiters.map((l) => l.when(key))),
    forget: (key) => limiters.forEach((l) => l.forget(key)),
    numRequeues: (key) => Math.max(0, ...limiters.map((l) => l.numRequeues(key))),
  };
}

/** controller-runtime's default: per-key 5 ms…1000 s, maxed with a 10 qps / burst 100 bucket. */
export function createControllerRateLimiter(clock: Clock = realClock): RateLimiter {
  return createMaxOfRateLimiter(
    createItemExponentialRateLimiter(),
    createBucketRateLimiter({ qps: 10, burst: 100, clock }),
  );
}

/** The delays of one retry loop. */
export interface Backoff {
  /** The delay before the next attempt, in ms; each call counts one failure. */
  next(): number;
  /** Forgets past failures (after the loop has been healthy). */
  reset(): void;
  /** Failures counted since the last reset. */
  readonly attempts: number;
}

/** Options for `createJitteredBackoff`; the defaults are client-go reflector's. */
export interface JitteredBackoffOptions {
  /** First delay, in ms (default 800). */
  readonly initialMs?: number;
  /** Largest delay ever returned, in ms, jitter included (default 30 000). */
  readonly maxMs?: number;
  /** Growth per failure (default 2). */
  readonly factor?: number;
  /** Adds up to `jitter × delay` (default 1, client-go's), spreading replicas' retries apart. */
  readonly jitter?: number;
  /** A quiet spell this long since the last failure resets the delay (default 120 000 = 2 min). */
  readonly resetAfterMs?: number;
  /** Uniform [0, 1) source (default Math.random). */
  readonly random?: () => number;
  /** Time source for `resetAfterMs`. */
  readonly clock?: Clock;
}

/** Default first delay for informer restarts: 0.8 s. */
export const INFORMER_BACKOFF_INITIAL_MS = 800;
/** Default cap for informer restarts: 30 s. */
export const INFORMER_BACKOFF_MAX_MS = 30_000;

/**
 * Client-go's ExponentialBackoffManager as the reflector configures it. One difference,
 * on purpose: the cap also bounds the jittered delay, because "retries at most every 30 s"
 * is what the issue promises operators (client-go jitters past its cap).
 */
export function createJitteredBackoff(opts: JitteredBackoffOptions = {}): Backoff {
  const initial = opts.initialMs ?? INFORMER_BACKOFF_INITIAL_MS;
  const max = opts.maxMs ?? INFORMER_BACKOFF_MAX_MS;
  const factor = opts.factor ?? 2;
  const jitter = opts.jitter ?? 1;
  const resetAfter = opts.resetAfterMs ?? 120_000;
  const random = opts.random ?? Math.random;
  const clock = opts.clock ?? realClock;
  let attempts = 0;
  let lastAt: number | undefined;
  return {
    next() {
      const now = clock.now();
      if (lastAt !== undefined && now - lastAt >= resetAfter) attempts = 0;
      lastAt = now;
      const base = Math.min(initial * factor ** attempts, max);
      attempts++;
      return Math.min(max, base + random() * jitter * base);
    },
    reset() {
      attempts = 0;
      lastAt = undefined;
    },
    get attempts() {
      return attempts;
    },
  };
}
