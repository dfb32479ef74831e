// Lease: one leader elector per Lease name, client-go's algorithm over a LeaseStore.
//
// The decisions are lease-record.ts's (pure); this file is the loop and the I/O:
//   - a candidate tries every retryPeriod × (1 + 1.2·jitter) until it acquires;
//   - a leader renews every retryPeriod; a deadline timer armed at each successful renew
//     stops it the moment renewDeadline passes without one, even if a request hangs;
//   - a read that shows another valid holder ends leadership at once;
//   - validity is measured on our local clock (lease-record.ts's `observe`);
//   - `release()` writes client-go's ReleaseOnCancel record (no holder, 1 s) so a successor
//     takes over at once instead of waiting out the lease.
// Leadership is reported through typed events and `leader_election_master_status{name}`.

import { type Clock, type Timer, realClock } from '../clock.js';
import {
  DEFAULT_LEASE_TIMING,
  type LeaseTiming,
  type Observed,
  candidateRetryMs,
  nextLeaseStep,
  observe,
  releaseRecord,
} from './lease-record.js';
import type { LeaseStore } from './lease-store.js';
import { type Logger, describeError, noopLogger } from '../log.js';
import type { LeaderElectionMetrics } from '../metrics/runtime-metrics.js';

/** Elector event names, each with a matching literal type. */
export const LeaseEvent = {
  StartedLeading: 'started-leading',
  StoppedLeading: 'stopped-leading',
} as const;
/** One of the `LeaseEvent` values. */
export type LeaseEvent = (typeof LeaseEvent)[keyof typeof LeaseEvent];

/** Listener signatures by event. `signal` aborts when leadership ends. */
export interface LeaseListeners {
  [LeaseEvent.StartedLeading]: (signal: AbortSignal) => void;
  [LeaseEvent.StoppedLeading]: () => void;
}

/** Competes for one Lease. */
export interface LeaseElector {
  /** The Lease name. */
  readonly name: string;
  /** Starts competing; call once. */
  start(): void;
  /** True while this process holds the lease. */
  isLeader(): boolean;
  /** Stops competing; if leading, stops leading and releases the lease (ReleaseOnCancel). */
  release(): Promise<void>;
  /** Adds a listener; a throwing listener is logged and ignored. */
  on<E extends LeaseEvent>(event: E, listener: LeaseListeners[E]): void;
  /** Removes a listener. */
  off<E extends LeaseEvent>(event: E, listener: LeaseListeners[E]): void;
}

/** Options for `createLeaseElector`. */
export interface LeaseElectorOptions {
  /** Lease name. */
  readonly name: string;
  /** Unique per replica (e.g. pod name + random suffix). */
  readonly identity: string;
  /** Where the Lease lives. */
  readonly store: LeaseStore;
  /** 15 s / 10 s / 2 s by default. */
  readonly timing?: LeaseTiming;
  /** Time source (validity is measured on it). */
  readonly clock?: Clock;
  /** Uniform [0, 1) source for retry jitter. */
  readonly random?: () => number;
  /** Metrics hooks. */
  readonly metrics?: LeaderElectionMetrics;
  /** Logger. */
  readonly logger?: Logger;
}

/** Creates an elector; it does nothing until `start()`. */
export function createLeaseElector(opts: LeaseElectorOptions): LeaseElector {
  const clock = opts.clock ?? realClock;
  const random = opts.random ?? Math.random;
  const timing = opts.timing ?? DEFAULT_LEASE_TIMING;
  const log = (opts.logger ?? noopLogger).child({ lease: opts.name });
  const { store, identity, name } = opts;
  const started = new Set<LeaseListeners['started-leading']>();
  const stoppedL = new Set<LeaseListeners['stopped-leading']>();
  const halt = new AbortController();
  let observed: Observed | undefined;
  let term: AbortController | undefined;
  let deadline: Timer | undefined;
  let loop: Promise<void> | undefined;

  const safely = (fn: () => void): void => {
    try {
      fn();
    } catch (err) {
      log.error('Leader election listener threw', { error: describeError(err) });
    }
  };

  const armDeadline = (): void => {
    deadline?.cancel();
    deadline = clock.setTimer(timing.renewDeadlineMs, () => lose('renew deadline passed'));
  };

  const lead = (): void => {
    term = new AbortController();
    armDeadline();
    log.info('Started leading', { identity });
    opts.metrics?.on(name);
    const signal = term.signal;
    started.forEach((l) => safely(() => l(signal)));
  };

  function lose(why: string): void {
    if (!term) return;
    deadline?.cancel();
    term.abort(new DOMException(`lost lease ${name}: ${why}`, 'AbortError'));
    term = undefined;
    log.info('Stopped leading', { identity, why });
    opts.metrics?.off(name);
    stoppedL.forEach((l) => safely(() => l()));
  }

  /** One tryAcquireOrRenew; true when we hold the lease afterwards. */
  const attempt = async (): Promise<boolean> => {
    const signal = AbortSignal.any([halt.signal, term?.signal ?? halt.signal]);
    const current = await store.get(name, signal);
    const nowMs = clock.now();
    if (current) observed = observe(observed, current.record, nowMs);
    const step = nextLeaseStep({
      identity,
      current: current?.record,
      observed,
      nowMs,
      timing,
    });
    if (step.kind === 'held') {
      if (term) lose(`held by ${step.holder}`);
      return false;
    }
    const written =
      step.kind === 'create'
        ? await store.create(name, step.record, signal)
        : await store.update(name, step.record, current?.resourceVersion ?? '', signal);
    observed = observe(observed, written.record, clock.now());
    return true;
  };

  const run = async (): Promise<void> => {
    opts.metrics?.off(name);
    while (!halt.signal.aborted) {
      let ok = false;
      try {
        ok = await attempt();
      } catch (err) {
        if (halt.signal.aborted) break;
        log.debug('Lease attempt failed', { error: describeError(err) });
      }
      if (halt.signal.aborted) break;
      if (ok && term) armDeadline();
      else if (ok) lead();
      const wait = term ? timing.retryPeriodMs : candidateRetryMs(random, timing);
      await clock.sleep(wait, halt.signal).catch(() => undefined);
    }
  };

  return {
    name,
    start() {
      if (loop) throw new Error(`lease elector ${name} already started`);
      loop = run().catch((err: unknown) =>
        log.error('Lease loop crashed', { error: describeError(err) }),
      );
    },
    isLeader: () => term !== undefined,
    async release() {
      halt.abort(new DOMException('released', 'AbortError'));
      await loop;
      const wasLeader = term !== undefined;
      lose('released');
      if (!wasLeader) return;
      try {
        const current = await store.get(name);
        const record = releaseRecord(current?.record, identity, clock.now());
        if (current && record) await store.update(name, record, current.resourceVersion);
      } catch (err) {
        log.warn('Could not release lease', { error: describeError(err) });
      }
    },
    on(event, listener) {
      if (event === LeaseEvent.StartedLeading) {
        started.add(listener as LeaseListeners['started-leading']);
      } else stoppedL.add(listener as LeaseListeners['stopped-leading']);
    },
    off(event, listener) {
      if (event === LeaseEvent.StartedLeading) {
        started.delete(listener as LeaseListeners['started-leading']);
      } else stoppedL.delete(listener as LeaseListeners['stopped-leading']);
    },
  };
}
