// WorkQueue: client-go's rate-limited, delaying work queue, for one event loop.
//
// The guarantees controllers rely on (client-go's util/workqueue):
//   - a key is queued at most once (the dirty set);
//   - a key being processed is never handed to a second worker; adding it meanwhile marks
//     it dirty, and `done` puts it back in the queue, so the latest change is never lost;
//   - `addAfter` delays a key; for a key already waiting, the earlier time wins;
//   - `addRateLimited` delays a key by its per-key backoff, reset by `forget`;
//   - after `shutDown`, adds are dropped, waiting keys are dropped, and `get` still drains
//     what is queued before resolving `undefined`.
// Metrics are reported through the QueueMetrics hooks; `metrics.ts` maps them to
// Prometheus with client-go's names.

import { type Clock, type Timer, realClock } from '../clock.js';
import { type RateLimiter, createItemExponentialRateLimiter } from '../backoff.js';

/** Hooks the queue calls as keys move through it (client-go's queueMetrics, with times computed here). */
export interface QueueMetrics {
  /** A key entered the queue: `workqueue_adds_total` +1, `workqueue_depth` +1. */
  add(): void;
  /** A worker took a key that had waited `queuedMs`: depth −1, `workqueue_queue_duration_seconds`. */
  get(queuedMs: number): void;
  /** A worker finished a key after `workMs`: `workqueue_work_duration_seconds`. */
  done(workMs: number): void;
  /** A key was re-added with a delay (`addAfter`/`addRateLimited`): `workqueue_retries_total` +1. */
  retry(): void;
  /** In-flight work so far, summed and longest, in seconds (the two unfinished-work gauges). */
  unfinishedWork(totalSeconds: number, longestSeconds: number): void;
}

/** QueueMetrics that record nothing. */
export const noopQueueMetrics: QueueMetrics = {
  add: () => undefined,
  get: () => undefined,
  done: () => undefined,
  retry: () => undefined,
  unfinishedWork: () => undefined,
};

/** A rate-limited, delaying work queue of string keys. */
export interface WorkQueue {
  /** The queue's name: the `name` label on its metrics. */
  readonly name: string;
  /** Queues `key` unless it is already queued; while it is processing, marks it for a re-run. */
  add(key: string): void;
  /** Adds `key` after `delayMs`; a key already waiting keeps the earlier of the two times. */
  addAfter(key: string, delayMs: number): void;
  /** Adds `key` after its rate limiter's next delay (one more failure). */
  addRateLimited(key: string): void;
  /** Resets `key`'s failure count; call after a success. */
  forget(key: string): void;
  /** Failures recorded for `key` since it was last forgotten. */
  numRequeues(key: string): number;
  /**
   * Takes the next key, waiting for one. The caller owns it until `done(key)`. Resolves
   * `undefined` once the queue is shut down and empty.
   */
  get(): Promise<string | undefined>;
  /** Marks `key` as finished; if it was added meanwhile, it is queued again. */
  done(key: string): void;
  /** Keys queued and not yet taken (excludes in-flight and delayed keys). */
  len(): number;
  /** Stops the queue: adds are dropped, waiting workers get `undefined` once the queue is empty. */
  shutDown(): void;
  /** Like `shutDown`, then resolves when every in-flight key is `done`. */
  shutDownWithDrain(): Promise<void>;
  /** True once either shut-down method has been called. */
  shuttingDown(): boolean;
}

/** Options for `createWorkQueue`. */
export interface WorkQueueOptions {
  /** Queue name, usually the controller name. */
  readonly name: string;
  /** Time source for delays and metrics (default the real clock). */
  readonly clock?: Clock;
  /** Per-key retry delays (default client-go's 5 ms … 1000 s exponential). */
  readonly rateLimiter?: RateLimiter;
  /** Metrics hooks (default none). */
  readonly metrics?: QueueMetrics;
  /** How often the unfinished-work gauges refresh while work is in flight (default 500 ms, client-go's). */
  readonly unfinishedWorkUpdatePeriodMs?: number;
}

/** Creates a work queue with client-go semantics. */
export function createWorkQueue(opts: WorkQueueOptions): WorkQueue {
  return new Queue(opts);
}

interface Waiting {
  readonly readyAt: number;
  readonly timer: Timer;
}

class Queue implements WorkQueue {
  readonly name: string;
  private readonly clock: Clock;
  private readonly limiter: RateLimiter;
  private readonly metrics: QueueMetrics;
  private readonly updatePeriodMs: number;
  private readonly hasMetrics: boolean;

  /** FIFO of queued keys; every key here is also in `dirty`. */
  private readonly queue: string[] = [];
  /** Keys that need processing: queued, or added again while processing. */
  private readonly dirty = new Set<string>();
  /** In-flight keys and when their worker took them. */
  private readonly processing = new Map<string, number>();
  /** When each dirty key was first added, for the queue-duration metric. */
  private readonly addedAt = new Map<string, number>();
  /** Delayed keys and their timers. */
  private readonly waiting = new Map<string, Waiting>();
  /** Workers blocked in `get`, oldest first. */
  private readonly getters: Array<(key: string | undefined) => void> = [];
  private readonly drainers: Array<() => void> = [];
  private shutting = false;
  private unfinishedTimer: Timer | undefined;

  constructor(opts: WorkQueueOptions) {
    this.name = opts.name;
    this.clock = opts.clock ?? realClock;
    this.limiter = opts.rateLimiter ?? createItemExponentialRateLimiter();
    this.metrics = opts.metrics ?? noopQueueMetrics;
    this.hasMetrics = opts.metrics !== undefined;
    this.updatePeriodMs = opts.unfinishedWorkUpdatePeriodMs ?? 500;
  }

  add(key: string): void {
    if (this.shutting || this.dirty.has(key)) return;
    this.metrics.add();
    if (!this.addedAt.has(key)) this.addedAt.set(key, this.clock.now());
    this.dirty.add(key);
    // An in-flight key is re-queued by `done`, never handed to a second worker.
    if (this.processing.has(key)) return;
    this.queue.push(key);
    this.dispatch();
  }

  addAfter(key: string, delayMs: number): void {
    if (this.shutting) return;
    this.metrics.retry();
    if (!(delayMs > 0)) {
      this.add(key);
      return;
    }
    const readyAt = this.clock.now() + delayMs;
    const existing = this.waiting.get(key);
    if (existing && existing.readyAt <= readyAt) return;
    existing?.timer.cancel();
    const timer = this.clock.setTimer(delayMs, () => {
      this.waiting.delete(key);
      this.add(key);
    });
    this.waiting.set(key, { readyAt, timer });
  }

  addRateLimited(key: string): void {
    if (this.shutting) return;
    this.addAfter(key, this.limiter.when(key));
  }

  forget(key: string): void {
    this.limiter.forget(key);
  }

  numRequeues(key: string): number {
    return this.limiter.numRequeues(key);
  }

  get(): Promise<string | undefined> {
    const key = this.queue.shift();
    if (key !== undefined) return Promise.resolve(this.take(key));
    if (this.shutting) return Promise.resolve(undefined);
    return new Promise((resolve) => this.getters.push(resolve));
  }

  done(key: string): void {
    const startedAt = this.processing.get(key);
    if (startedAt === undefined) return; // not ours: a double `done` must not corrupt state
    this.metrics.done(this.clock.now() - startedAt);
    this.processing.delete(key);
    if (this.dirty.has(key)) {
      this.queue.push(key);
      this.dispatch();
    }
    if (this.processing.size === 0) {
      this.stopUnfinishedUpdates();
      for (const resolve of this.drainers.splice(0)) resolve();
    }
  }

  len(): number {
    return this.queue.length;
  }

  shutDown(): void {
    this.stop();
    // A plain shutdown cancels any drain in progress, as in client-go.
    for (const resolve of this.drainers.splice(0)) resolve();
  }

  shutDownWithDrain(): Promise<void> {
    this.stop();
    if (this.processing.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainers.push(resolve));
  }

  shuttingDown(): boolean {
    return this.shutting;
  }

  private stop(): void {
    this.shutting = true;
    for (const w of this.waiting.values()) w.timer.cancel();
    this.waiting.clear();
    // Getters only wait while the queue is empty, so they all get `undefined`.
    for (const resolve of this.getters.splice(0)) resolve(undefined);
  }

  /** Hands queued keys to blocked workers, oldest worker first. */
  private dispatch(): void {
    while (this.getters.length > 0 && this.queue.length > 0) {
      const resolve = this.getters.shift();
      const key = this.queue.shift();
      if (resolve && key !== undefined) resolve(this.take(key));
    }
  }

  /** Moves `key` from queued to in-flight. */
  private take(key: string): string {
    const now = this.clock.now();
    this.dirty.delete(key);
    this.processing.set(key, now);
    this.metrics.get(now - (this.addedAt.get(key) ?? now));
    this.addedAt.delete(key);
    this.startUnfinishedUpdates();
    return key;
  }

  private startUnfinishedUpdates(): void {
    if (!this.hasMetrics || this.unfinishedTimer) return;
    const tick = (): void => {
      this.reportUnfinished();
      this.unfinishedTimer = this.clock.setTimer(this.updatePeriodMs, tick);
    };
    this.unfinishedTimer = this.clock.setTimer(this.updatePeriodMs, tick);
  }

  private stopUnfinishedUpdates(): void {
    if (!this.hasMetrics) return;
    this.unfinishedTimer?.cancel();
    this.unfinishedTimer = undefined;
    this.metrics.unfinishedWork(0, 0);
  }

  private reportUnfinished(): void {
    const now = this.clock.now();
    let total = 0;
    let longest = 0;
    for (const startedAt of this.processing.values()) {
      const ms = now - startedAt;
      total += ms;
      longest = Math.max(longest, ms);
    }
    this.metrics.unfinishedWork(total / 1000, longest / 1000);
  }
}
