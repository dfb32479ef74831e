// Lease record: the pure decisions of client-go's Lease-based leader election.
//
// The elector (the loop that reads and writes coordination.k8s.io Leases) asks these
// functions what to do; they do no I/O and read no clock, so the algorithm is tested alone.
// As in client-go's tryAcquireOrRenew:
//   - a lease held by someone else is respected while `observedAt + leaseDuration > now`,
//     where observedAt is OUR local time when we last saw the record change: validity is
//     measured on the local clock, never by comparing the holder's timestamps with ours;
//   - taking over a lease bumps leaseTransitions and resets acquireTime; renewing keeps them;
//   - every write is an update locked to the resourceVersion read (the caller's job);
//   - a leader that has not renewed within renewDeadline must stop its work at once.
// Times here are epoch ms; `toMicroTime` formats them as metav1.MicroTime (6 fractional digits).

/** The fields of a Lease's spec the algorithm uses, with times as epoch ms. */
export interface LeaseRecord {
  /** Current holder; empty or absent means free. */
  readonly holderIdentity?: string;
  /** How long the holder's claim lasts, in seconds, as the holder wrote it. */
  readonly leaseDurationSeconds?: number;
  /** When the current holder acquired it (epoch ms). */
  readonly acquireTimeMs?: number;
  /** When the current holder last renewed it (epoch ms). */
  readonly renewTimeMs?: number;
  /** How many times the lease changed hands. */
  readonly leaseTransitions?: number;
}

/** What we last saw and when, on our own clock. */
export interface Observed {
  /** The record as last read or written. */
  readonly record: LeaseRecord;
  /** Local time (epoch ms) the record was first seen in this form. */
  readonly atMs: number;
}

/** The three durations of leader election. */
export interface LeaseTiming {
  /** How long a non-leader waits after the last observed change before taking over (15 s). */
  readonly leaseDurationMs: number;
  /** How long a leader keeps trying to renew before giving up (10 s). */
  readonly renewDeadlineMs: number;
  /** How often to try to acquire or renew (2 s). */
  readonly retryPeriodMs: number;
}

/** The timing, which is also client-go's usual one: 15 s / 10 s / 2 s. */
export const DEFAULT_LEASE_TIMING: LeaseTiming = {
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
};

/** client-go's JitterFactor for candidates' retries. */
export const LEASE_RETRY_JITTER = 1.2;

/** What the elector should do next. */
export type LeaseStep =
  /** No Lease exists: create it with this record. */
  | { readonly kind: 'create'; readonly record: LeaseRecord }
  /** Write this record (acquire or renew), locked to the resourceVersion that was read. */
  | { readonly kind: 'update'; readonly record: LeaseRecord }
  /** Someone else holds a valid lease: retry later, do not write. */
  | { readonly kind: 'held'; readonly holder: string; readonly expiresAtMs: number };

/** True when two records are the same (client-go compares the raw record). */
export function sameRecord(a: LeaseRecord, b: LeaseRecord): boolean {
  return (
    (a.holderIdentity ?? '') === (b.holderIdentity ?? '') &&
    a.leaseDurationSeconds === b.leaseDurationSeconds &&
    a.acquireTimeMs === b.acquireTimeMs &&
    a.renewTimeMs === b.renewTimeMs &&
    (a.leaseTransitions ?? 0) === (b.leaseTransitions ?? 0)
  );
}

/** Updates what we observed: the local time moves only when the record changed. */
export function observe(prev: Observed | undefined, record: LeaseRecord, nowMs: number): Observed {
  return prev && sameRecord(prev.record, record) ? prev : { record, atMs: nowMs };
}

/** Inputs to `nextLeaseStep`. */
export interface LeaseStepInput {
  /** This process's identity (unique per replica). */
  readonly identity: string;
  /** The Lease as just read; undefined when it does not exist. */
  readonly current: LeaseRecord | undefined;
  /** Our observation, already updated with `current` through `observe`. */
  readonly observed: Observed | undefined;
  /** Local time now, epoch ms. */
  readonly nowMs: number;
  /** Timing (default `DEFAULT_LEASE_TIMING`). */
  readonly timing?: LeaseTiming;
}

/** client-go's tryAcquireOrRenew, minus the I/O. */
export function nextLeaseStep(input: LeaseStepInput): LeaseStep {
  const { identity, current, observed, nowMs } = input;
  const timing = input.timing ?? DEFAULT_LEASE_TIMING;
  const fresh: LeaseRecord = {
    holderIdentity: identity,
    leaseDurationSeconds: Math.round(timing.leaseDurationMs / 1000),
    acquireTimeMs: nowMs,
    renewTimeMs: nowMs,
    leaseTransitions: 0,
  };
  if (!current) return { kind: 'create', record: fresh };
  const holder = current.holderIdentity ?? '';
  // Validity on our clock: from when WE saw the record last change.
  const expiresAtMs = (observed?.atMs ?? nowMs) + timing.leaseDurationMs;
  if (holder !== '' && holder !== identity && expiresAtMs > nowMs) {
    return { kind: 'held', holder, expiresAtMs };
  }
  const renewing = holder === identity;
  return {
    kind: 'update',
    record: {
      ...fresh,
      acquireTimeMs: renewing ? (current.acquireTimeMs ?? nowMs) : nowMs,
      leaseTransitions: (current.leaseTransitions ?? 0) + (renewing ? 0 : 1),
    },
  };
}

/**
 * The record to write when giving the lease up on shutdown (client-go's ReleaseOnCancel):
 * no holder and a 1 s duration, so the next candidate takes over at once. Undefined when
 * we are not the holder: never release someone else's lease.
 */
export function releaseRecord(
  current: LeaseRecord | undefined,
  identity: string,
  nowMs: number,
): LeaseRecord | undefined {
  if (!current || current.holderIdentity !== identity) return undefined;
  return {
    holderIdentity: '',
    leaseDurationSeconds: 1,
    acquireTimeMs: nowMs,
    renewTimeMs: nowMs,
    leaseTransitions: current.leaseTransitions ?? 0,
  };
}

/** True when a leader whose last successful renewal was at `lastRenewMs` must stop now. */
export function renewDeadlinePassed(
  lastRenewMs: number,
  nowMs: number,
  timing: LeaseTiming = DEFAULT_LEASE_TIMING,
): boolean {
  return nowMs - lastRenewMs >= timing.renewDeadlineMs;
}

/** A candidate's next retry delay: retryPeriod plus up to 1.2× jitter, like client-go. */
export function candidateRetryMs(
  random: () => number,
  timing: LeaseTiming = DEFAULT_LEASE_TIMING,
): number {
  return timing.retryPeriodMs * (1 + LEASE_RETRY_JITTER * random());
}

/** Formats epoch ms as metav1.MicroTime: RFC 3339 with exactly six fractional digits, UTC. */
export function toMicroTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** Parses a MicroTime or Time string (or a Date) to epoch ms; undefined when absent or invalid. */
export function fromMicroTime(value: string | Date | undefined | null): number | undefined {
  if (value === undefined || value === null) return undefined;
  const ms = value instanceof Date ? value.getTime() : Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}
