// Controller: the loop that ties one Reconciler to one work queue.
//
// It owns the cross-cutting work so reconcilers never do (controller-runtime's
// reconcileHandler): bounded concurrency, one AbortSignal per pass, a per-pass deadline
// (ReconciliationTimeout, 5 min by default: the signal aborts with a TimeoutError and the
// pass counts as an error even if the reconciler ignored the signal and returned), a per-pass
// logger tagged controller/kind/namespace/name/reconcileID, metrics, and the meaning of a Result:
//   error          → addRateLimited (per-key backoff), counted as an error;
//   TerminalError  → forget, counted as an error and a terminal error, never retried;
//   ConflictError  → stale observations (a 409): addAfter(conflictRequeueMs), counted as
//                    `requeue`, no error and no backoff: the next pass observes afresh;
//   requeueAfterMs → forget, then addAfter;
//   success        → forget (the key's backoff starts over next time).
// Every failure is caught here, so nothing becomes an unhandled rejection. The queue's
// guarantee that a key is never handed to two workers is what keeps passes on one object serial.

import { type Clock, type Timer, realClock } from '../clock.js';
import { type RateLimiter, createControllerRateLimiter } from '../backoff.js';
import { type Logger, LogKey, describeError, noopLogger } from '../log.js';
import {
  type Reconciler,
  type Request,
  type Result,
  asConflictError,
  asTerminalError,
  loggerInto,
  parseRequestKey,
  requestKey,
} from './reconcile.js';
import { requeueDelay } from './result.js';
import { type QueueMetrics, type WorkQueue, createWorkQueue } from './workqueue.js';
import { randomUUID } from 'node:crypto';

/** The `result` label of `controller_runtime_reconcile_total`. */
export const ReconcileOutcome = {
  Success: 'success',
  Error: 'error',
  /** controller-runtime's bare Requeue: ours is a pass that hit a write conflict (ConflictError). */
  Requeue: 'requeue',
  RequeueAfter: 'requeue_after',
} as const;
/** One of the `ReconcileOutcome` values. */
export type ReconcileOutcome = (typeof ReconcileOutcome)[keyof typeof ReconcileOutcome];

/** How soon a pass that hit a write conflict runs again: 100 ms (the informer catches up). */
export const DEFAULT_CONFLICT_REQUEUE_MS = 100;

/** Default per-pass deadline: 5 minutes. A pass still running then is aborted and retried. */
export const DEFAULT_RECONCILE_TIMEOUT_MS = 5 * 60_000;

/** Hooks the controller calls per pass; `metrics.ts` maps them to controller-runtime's names. */
export interface ControllerMetrics {
  /** A pass ended: `reconcile_total{result}` +1 and `reconcile_time_seconds` observes `seconds`. */
  reconciled(outcome: ReconcileOutcome, seconds: number): void;
  /** A pass threw: `reconcile_errors_total` +1, and `terminal_reconcile_errors_total` +1 if terminal. */
  errored(terminal: boolean): void;
  /** The per-pass timeout fired: `reconcile_timeouts_total` +1. */
  timedOut(): void;
  /** `active_workers` changed by `delta`. */
  activeWorkers(delta: number): void;
}

/** ControllerMetrics that record nothing. */
export const noopControllerMetrics: ControllerMetrics = {
  reconciled: () => undefined,
  errored: () => undefined,
  timedOut: () => undefined,
  activeWorkers: () => undefined,
};

/** Controller event names, each with a matching literal type. */
export const ControllerEvent = {
  /** A pass ended, with its outcome. */
  Reconciled: 'reconciled',
} as const;

/** What a `reconciled` listener receives. */
export interface ReconciledEvent {
  /** The queue key (`namespace/name` or `name`). */
  readonly key: string;
  /** How the pass ended. */
  readonly outcome: ReconcileOutcome;
  /** True when the error was terminal (not retried). */
  readonly terminal: boolean;
  /** The error, when `outcome` is `error`. */
  readonly error?: unknown;
  /** The requested delay, when `outcome` is `requeue_after`. */
  readonly requeueAfterMs?: number;
}

/** Listener signatures by event name; `on` rejects a listener of the wrong shape at compile time. */
export interface ControllerEvents {
  [ControllerEvent.Reconciled]: (event: ReconciledEvent) => void;
}

/** Options for `createController`. */
export interface ControllerOptions {
  /** Unique name: the `controller` label on metrics and logs (by convention the lowercased kind). */
  readonly name: string;
  /** The reconciled kind, for logs. */
  readonly kind?: string;
  /** The reconciler. */
  readonly reconciler: Reconciler;
  /** Workers, i.e. passes in flight at once (default 1, controller-runtime's). */
  readonly maxConcurrentReconciles?: number;
  /**
   * Aborts a pass's signal after this long and counts the pass as an error (default
   * {@link DEFAULT_RECONCILE_TIMEOUT_MS}; 0 or Infinity: no deadline).
   */
  readonly reconcileTimeoutMs?: number;
  /** Delay before a pass that threw ConflictError runs again (default 100 ms). */
  readonly conflictRequeueMs?: number;
  /** Per-key retry delays of the default queue (default controller-runtime's); ignored with `queue`. */
  readonly rateLimiter?: RateLimiter;
  /** Time source (default the real clock). */
  readonly clock?: Clock;
  /** The queue (default: client-go semantics with controller-runtime's default rate limiter). */
  readonly queue?: WorkQueue;
  /** Metrics for the default queue; ignored when `queue` is given. */
  readonly queueMetrics?: QueueMetrics;
  /** Per-pass metrics (default none). */
  readonly metrics?: ControllerMetrics;
  /** Parent logger (default none). */
  readonly logger?: Logger;
  /** Generates reconcile IDs (default random UUIDs). */
  readonly newReconcileID?: () => string;
}

/** How to stop a controller. */
export interface StopOptions {
  /** Let in-flight passes finish (default true); false aborts their signals at once. */
  readonly drain?: boolean;
  /** With drain, abort in-flight passes after this long (default: wait for them). */
  readonly timeoutMs?: number;
}

/** A running reconcile loop. */
export interface Controller {
  /** The controller's name. */
  readonly name: string;
  /** Its queue, for event sources to add keys to. */
  readonly queue: WorkQueue;
  /** Adds a request to the queue. */
  enqueue(req: Request): void;
  /** Starts the workers; call once. */
  start(): void;
  /** Stops taking keys and resolves when every worker has exited. */
  stop(opts?: StopOptions): Promise<void>;
  /** Passes in flight now. */
  activeWorkers(): number;
  /** Adds a listener; a listener that throws is logged and cannot disturb the loop. */
  on<E extends keyof ControllerEvents>(event: E, listener: ControllerEvents[E]): void;
  /** Removes a listener added with `on`. */
  off<E extends keyof ControllerEvents>(event: E, listener: ControllerEvents[E]): void;
}

/** True for the TimeoutError a pass deadline (or an aborted fetch) raises. */
const isTimeout = (e: unknown): boolean => e instanceof Error && e.name === 'TimeoutError';

/** Creates a controller; it does nothing until `start()`. */
export function createController(opts: ControllerOptions): Controller {
  return new Loop(opts);
}

class Loop implements Controller {
  readonly name: string;
  readonly queue: WorkQueue;
  private readonly kind: string | undefined;
  private readonly reconciler: Reconciler;
  private readonly workers: number;
  private readonly timeoutMs: number | undefined;
  private readonly conflictRequeueMs: number;
  private readonly clock: Clock;
  private readonly metrics: ControllerMetrics;
  private readonly log: Logger;
  private readonly newID: () => string;
  /** Aborted when in-flight passes must give up (stop without drain, or drain timeout). */
  private readonly halt = new AbortController();
  private running: Array<Promise<void>> = [];
  private started = false;
  private stopping = false;
  private active = 0;
  private readonly listeners = new Set<ControllerEvents['reconciled']>();

  constructor(opts: ControllerOptions) {
    const max = opts.maxConcurrentReconciles ?? 1;
    if (!Number.isInteger(max) || max < 1) {
      throw new RangeError(`maxConcurrentReconciles must be a positive integer, got ${max}`);
    }
    this.name = opts.name;
    this.kind = opts.kind;
    this.reconciler = opts.reconciler;
    this.workers = max;
    const timeout = opts.reconcileTimeoutMs ?? DEFAULT_RECONCILE_TIMEOUT_MS;
    if (!(timeout >= 0)) throw new RangeError(`reconcileTimeoutMs must be >= 0, got ${timeout}`);
    this.timeoutMs = timeout === 0 || timeout === Infinity ? undefined : timeout;
    this.conflictRequeueMs = opts.conflictRequeueMs ?? DEFAULT_CONFLICT_REQUEUE_MS;
    this.clock = opts.clock ?? realClock;
    this.metrics = opts.metrics ?? noopControllerMetrics;
    this.log = (opts.logger ?? noopLogger).child({ [LogKey.Controller]: opts.name });
    this.newID = opts.newReconcileID ?? randomUUID;
    this.queue =
      opts.queue ??
      createWorkQueue({
        name: opts.name,
        clock: this.clock,
        rateLimiter: opts.rateLimiter ?? createControllerRateLimiter(this.clock),
        ...(opts.queueMetrics ? { metrics: opts.queueMetrics } : {}),
      });
  }

  enqueue(req: Request): void {
    this.queue.add(requestKey(req));
  }

  start(): void {
    if (this.started) throw new Error(`controller ${this.name} already started`);
    this.started = true;
    this.log.info('Starting workers', { workerCount: this.workers });
    for (let i = 0; i < this.workers; i++) {
      // worker() catches per pass; this catch is the last line against an unhandled rejection.
      this.running.push(
        this.worker().catch((err: unknown) =>
          this.log.error('Worker crashed', { error: describeError(err) }),
        ),
      );
    }
  }

  async stop(opts: StopOptions = {}): Promise<void> {
    this.stopping = true;
    if (opts.drain ?? true) {
      let timer: Timer | undefined;
      if (opts.timeoutMs !== undefined) {
        timer = this.clock.setTimer(opts.timeoutMs, () =>
          this.halt.abort(new DOMException(`controller ${this.name} stop timed out`, 'AbortError')),
        );
      }
      await this.queue.shutDownWithDrain();
      timer?.cancel();
    } else {
      this.halt.abort(new DOMException(`controller ${this.name} stopped`, 'AbortError'));
      this.queue.shutDown();
    }
    await Promise.all(this.running);
    this.running = [];
    this.log.info('All workers finished');
  }

  activeWorkers(): number {
    return this.active;
  }

  on<E extends keyof ControllerEvents>(_event: E, listener: ControllerEvents[E]): void {
    this.listeners.add(listener);
  }

  off<E extends keyof ControllerEvents>(_event: E, listener: ControllerEvents[E]): void {
    this.listeners.delete(listener);
  }

  /** Tells listeners; a throwing listener must never become a crash or an unhandled rejection. */
  private emit(event: ReconciledEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        this.log.error('Event listener threw', { error: describeError(err), key: event.key });
      }
    }
  }

  private async worker(): Promise<void> {
    for (let key = await this.queue.get(); key !== undefined; key = await this.queue.get()) {
      // After stop, the queue still hands out its backlog; we only drain what was in flight.
      if (this.stopping) this.queue.done(key);
      else await this.process(key);
    }
  }

  private async process(key: string): Promise<void> {
    this.active++;
    this.metrics.activeWorkers(1);
    try {
      await this.reconcileHandler(key);
    } catch (err) {
      // reconcileHandler handles reconciler failures; this only guards the runtime's own bugs.
      this.log.error('Reconcile handler failed', { error: describeError(err), key });
    } finally {
      this.active--;
      this.metrics.activeWorkers(-1);
      this.queue.done(key);
    }
  }

  private async reconcileHandler(key: string): Promise<void> {
    let req: Request;
    try {
      req = parseRequestKey(key);
    } catch (err) {
      // A malformed key can never succeed; retrying would loop forever.
      this.queue.forget(key);
      this.log.error('Dropping invalid key', { error: describeError(err), key });
      return;
    }
    const log = this.log.child({
      ...(this.kind ? { [LogKey.Kind]: this.kind } : {}),
      ...(req.namespace ? { [LogKey.Namespace]: req.namespace } : {}),
      [LogKey.Name]: req.name,
      [LogKey.ReconcileID]: this.newID(),
    });
    const pass = new AbortController();
    loggerInto(pass.signal, log);
    const onHalt = (): void => pass.abort(this.halt.signal.reason);
    if (this.halt.signal.aborted) onHalt();
    else this.halt.signal.addEventListener('abort', onHalt, { once: true });
    let timedOut: DOMException | undefined;
    const timer =
      this.timeoutMs === undefined
        ? undefined
        : this.clock.setTimer(this.timeoutMs, () => {
            this.metrics.timedOut();
            timedOut = new DOMException(
              `reconcile timed out after ${this.timeoutMs} ms`,
              'TimeoutError',
            );
            log.error('Reconcile deadline passed; aborting the pass', {
              timeoutMs: this.timeoutMs,
            });
            pass.abort(timedOut);
          });
    const startedAt = this.clock.now();
    const elapsed = (): number => (this.clock.now() - startedAt) / 1000;
    log.debug('Reconciling');
    let result: Result;
    try {
      // `?? {}` tolerates a JavaScript reconciler that returns nothing.
      result = (await this.reconciler.reconcile(req, pass.signal)) ?? {};
      // What a pass did after its deadline cannot be trusted to be complete: retry it.
      if (timedOut) throw timedOut;
    } catch (thrown) {
      const err =
        timedOut && thrown !== timedOut && !isTimeout(thrown)
          ? new Error(timedOut.message, { cause: thrown })
          : thrown;
      if (!timedOut && asConflictError(err) && !this.halt.signal.aborted) {
        // Not a failure: what the pass saw is stale. Look again soon, without backoff.
        log.debug('Write conflict; observing again', {
          error: describeError(err),
          requeueAfterMs: this.conflictRequeueMs,
        });
        this.queue.addAfter(key, this.conflictRequeueMs);
        this.metrics.reconciled(ReconcileOutcome.Requeue, elapsed());
        this.emit({
          key,
          outcome: ReconcileOutcome.Requeue,
          terminal: false,
          requeueAfterMs: this.conflictRequeueMs,
        });
        return;
      }
      const terminal = this.onError(key, err, log);
      this.metrics.reconciled(ReconcileOutcome.Error, elapsed());
      this.emit({ key, outcome: ReconcileOutcome.Error, terminal, error: err });
      return;
    } finally {
      timer?.cancel();
      this.halt.signal.removeEventListener('abort', onHalt);
    }
    const after = requeueDelay(result);
    this.queue.forget(key);
    if (after === undefined) {
      log.debug('Reconcile successful');
      this.metrics.reconciled(ReconcileOutcome.Success, elapsed());
      this.emit({ key, outcome: ReconcileOutcome.Success, terminal: false });
    } else {
      log.debug('Reconcile done, requeueing', { requeueAfterMs: after });
      this.queue.addAfter(key, after);
      this.metrics.reconciled(ReconcileOutcome.RequeueAfter, elapsed());
      this.emit({
        key,
        outcome: ReconcileOutcome.RequeueAfter,
        terminal: false,
        requeueAfterMs: after,
      });
    }
  }

  /** Logs, counts and requeues a failed pass; returns whether it was terminal. */
  private onError(key: string, err: unknown, log: Logger): boolean {
    const terminal = asTerminalError(err);
    this.metrics.errored(terminal !== undefined);
    if (terminal) {
      // Retrying cannot help; the next change to the object will bring the key back.
      this.queue.forget(key);
      log.error('Reconciler error (terminal, not retried)', {
        error: describeError(err),
        reason: terminal.reason,
      });
      return true;
    }
    this.queue.addRateLimited(key);
    if (this.stopping && this.halt.signal.aborted) {
      log.debug('Reconcile aborted by shutdown', { error: describeError(err) });
    } else {
      log.error('Reconciler error', {
        error: describeError(err),
        retries: this.queue.numRequeues(key),
      });
    }
    return false;
  }
}
