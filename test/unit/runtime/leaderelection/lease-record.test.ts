import { expect } from 'chai';
import {
  DEFAULT_LEASE_TIMING,
  type LeaseRecord,
  type Observed,
  candidateRetryMs,
  fromMicroTime,
  nextLeaseStep,
  observe,
  releaseRecord,
  renewDeadlinePassed,
  toMicroTime,
} from '../../../../src/runtime/leaderelection/lease-record.js';

const T = Date.UTC(2026, 10, 24, 4, 0, 0);

describe('runtime/lease-record', () => {
  it('creates a missing lease for itself', () => {
    expect(
      nextLeaseStep({ identity: 'a', current: undefined, observed: undefined, nowMs: T }),
    ).to.deep.equal({
      kind: 'create',
      record: {
        holderIdentity: 'a',
        leaseDurationSeconds: 15,
        acquireTimeMs: T,
        renewTimeMs: T,
        leaseTransitions: 0,
      },
    });
  });

  it('respects a lease held by another until 15 s after we last saw it change, on our clock', () => {
    // The holder's clock is far in the past: its timestamps must not matter.
    const held: LeaseRecord = {
      holderIdentity: 'b',
      leaseDurationSeconds: 15,
      renewTimeMs: 0,
      leaseTransitions: 3,
    };
    let seen: Observed | undefined = observe(undefined, held, T);
    const step = nextLeaseStep({ identity: 'a', current: held, observed: seen, nowMs: T + 14_999 });
    expect(step).to.deep.equal({ kind: 'held', holder: 'b', expiresAtMs: T + 15_000 });
    // The same record read again later does not extend the holder's validity.
    seen = observe(seen, { ...held }, T + 10_000);
    expect(seen.atMs).to.equal(T);
    const take = nextLeaseStep({ identity: 'a', current: held, observed: seen, nowMs: T + 15_000 });
    expect(take).to.deep.equal({
      kind: 'update',
      record: {
        holderIdentity: 'a',
        leaseDurationSeconds: 15,
        acquireTimeMs: T + 15_000,
        renewTimeMs: T + 15_000,
        leaseTransitions: 4,
      },
    });
  });

  it('a renewal by the holder restarts the wait', () => {
    const held: LeaseRecord = { holderIdentity: 'b', renewTimeMs: 1, leaseTransitions: 0 };
    let seen = observe(undefined, held, T);
    seen = observe(seen, { ...held, renewTimeMs: 2 }, T + 10_000);
    expect(seen.atMs).to.equal(T + 10_000);
    const step = nextLeaseStep({
      identity: 'a',
      current: seen.record,
      observed: seen,
      nowMs: T + 20_000,
    });
    expect(step.kind).to.equal('held');
  });

  it('renewing keeps acquireTime and transitions; a free lease is taken at once', () => {
    const mine: LeaseRecord = {
      holderIdentity: 'a',
      acquireTimeMs: T,
      renewTimeMs: T,
      leaseTransitions: 2,
    };
    const seen = observe(undefined, mine, T + 2_000);
    expect(
      nextLeaseStep({ identity: 'a', current: mine, observed: seen, nowMs: T + 2_000 }),
    ).to.deep.equal({
      kind: 'update',
      record: {
        holderIdentity: 'a',
        leaseDurationSeconds: 15,
        acquireTimeMs: T,
        renewTimeMs: T + 2_000,
        leaseTransitions: 2,
      },
    });
    const released = releaseRecord(mine, 'a', T + 5_000);
    expect(released).to.deep.equal({
      holderIdentity: '',
      leaseDurationSeconds: 1,
      acquireTimeMs: T + 5_000,
      renewTimeMs: T + 5_000,
      leaseTransitions: 2,
    });
    const other = nextLeaseStep({
      identity: 'b',
      current: released,
      observed: observe(undefined, released!, T + 5_001),
      nowMs: T + 5_001,
    });
    expect(other).to.deep.include({ kind: 'update' });
    expect(other.kind === 'update' && other.record.leaseTransitions).to.equal(3);
  });

  it('never releases a lease it does not hold', () => {
    expect(releaseRecord({ holderIdentity: 'b' }, 'a', T)).to.equal(undefined);
    expect(releaseRecord(undefined, 'a', T)).to.equal(undefined);
  });

  it('renew deadline and candidate jitter follow the 15/10/2 s timing', () => {
    expect(DEFAULT_LEASE_TIMING).to.deep.equal({
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
    });
    expect(renewDeadlinePassed(T, T + 9_999)).to.equal(false);
    expect(renewDeadlinePassed(T, T + 10_000)).to.equal(true);
    expect(candidateRetryMs(() => 0)).to.equal(2_000);
    expect(candidateRetryMs(() => 0.5)).to.equal(3_200);
  });

  it('formats MicroTime with exactly six fractional digits and parses it back', () => {
    const s = toMicroTime(T + 123);
    expect(s).to.equal('2026-11-24T04:00:00.123000Z');
    expect(fromMicroTime(s)).to.equal(T + 123);
    expect(fromMicroTime('2026-11-24T04:00:00Z')).to.equal(T);
    expect(fromMicroTime(new Date(T))).to.equal(T);
    expect(fromMicroTime(undefined)).to.equal(undefined);
    expect(fromMicroTime('garbage')).to.equal(undefined);
  });
});
