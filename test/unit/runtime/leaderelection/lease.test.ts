import { expect } from 'chai';
import {
  type LeaseElector,
  LeaseEvent,
  createLeaseElector,
} from '../../../../src/runtime/leaderelection/lease.js';
import { type FakeClock, createFakeClock } from '../../../fakes/clock.js';
import { memoryStore } from '../../../support/lease-store.js';

describe('runtime/lease', () => {
  let clock: FakeClock;
  let store: ReturnType<typeof memoryStore>;
  const electors: LeaseElector[] = [];
  const elector = (identity: string, metricsLog?: string[]): LeaseElector => {
    const e = createLeaseElector({
      name: 'l',
      identity,
      store,
      clock,
      random: () => 0,
      ...(metricsLog
        ? {
            metrics: {
              on: (n: string) => metricsLog.push(`on:${n}`),
              off: (n: string) => metricsLog.push(`off:${n}`),
              forget: (n: string) => metricsLog.push(`forget:${n}`),
            },
          }
        : {}),
    });
    electors.push(e);
    return e;
  };

  beforeEach(() => {
    clock = createFakeClock();
    store = memoryStore();
  });
  afterEach(async () => {
    store.down = false;
    await Promise.all(electors.splice(0).map((e) => e.release()));
  });

  it('creates the lease, leads, renews every retry period and reports the metric', async () => {
    const metrics: string[] = [];
    const a = elector('a', metrics);
    const events: string[] = [];
    a.on(LeaseEvent.StartedLeading, () => events.push('started'));
    a.start();
    await clock.tickAsync(0);
    expect(a.isLeader()).to.equal(true);
    expect(events).to.deep.equal(['started']);
    expect(metrics).to.deep.equal(['off:l', 'on:l']);
    const rec = store.leases.get('l')?.record;
    expect(rec).to.include({ holderIdentity: 'a', leaseDurationSeconds: 15, leaseTransitions: 0 });
    await clock.tickAsync(2000);
    expect(store.leases.get('l')?.record.renewTimeMs).to.equal(clock.now());
    expect(store.leases.get('l')?.record.acquireTimeMs).to.equal(rec?.acquireTimeMs);
  });

  it('lets exactly one of two candidates lead, and the other waits out the lease', async () => {
    const a = elector('a');
    a.start();
    await clock.tickAsync(0);
    const b = elector('b');
    b.start();
    for (let i = 0; i < 10; i++) {
      await clock.tickAsync(2000);
      expect([a.isLeader(), b.isLeader()]).to.deep.equal([true, false]);
    }
  });

  it('takes over at once after the leader releases (ReleaseOnCancel)', async () => {
    const a = elector('a');
    const b = elector('b');
    a.start();
    await clock.tickAsync(0);
    b.start();
    await clock.tickAsync(100);
    const stopped: string[] = [];
    a.on(LeaseEvent.StoppedLeading, () => stopped.push('a'));
    await a.release();
    expect(stopped).to.deep.equal(['a']);
    expect(store.leases.get('l')?.record).to.include({
      holderIdentity: '',
      leaseDurationSeconds: 1,
    });
    // b's next try (2 s, random 0) sees a free lease and takes it.
    await clock.tickAsync(2000);
    expect(b.isLeader()).to.equal(true);
    expect(store.leases.get('l')?.record).to.include({ holderIdentity: 'b', leaseTransitions: 1 });
  });

  it('takes over a crashed leader only after leaseDuration on the local clock', async () => {
    // A lease written by a holder whose clock is far off: its timestamps are ignored.
    store.leases.set('l', {
      record: { holderIdentity: 'dead', leaseDurationSeconds: 15, renewTimeMs: 0 },
      resourceVersion: '0',
    });
    const b = elector('b');
    b.start();
    await clock.tickAsync(14_000);
    expect(b.isLeader()).to.equal(false);
    await clock.tickAsync(2000);
    expect(b.isLeader()).to.equal(true);
  });

  it('stops leading the moment renewDeadline passes without a renewal, and aborts the term', async () => {
    const a = elector('a');
    let term: AbortSignal | undefined;
    a.on(LeaseEvent.StartedLeading, (s) => (term = s));
    a.start();
    await clock.tickAsync(0);
    store.down = true;
    await clock.tickAsync(9_999);
    expect(a.isLeader()).to.equal(true);
    await clock.tickAsync(1);
    expect(a.isLeader()).to.equal(false);
    expect(term?.aborted).to.equal(true);
    // Back as a candidate once the API server returns.
    store.down = false;
    await clock.tickAsync(2000);
    expect(a.isLeader()).to.equal(true);
  });

  it('stops at once when a read shows another valid holder', async () => {
    const a = elector('a');
    a.start();
    await clock.tickAsync(0);
    const cur = store.leases.get('l');
    store.leases.set('l', {
      record: { ...cur?.record, holderIdentity: 'thief' },
      resourceVersion: 'x',
    });
    await clock.tickAsync(2000);
    expect(a.isLeader()).to.equal(false);
  });

  it('a listener that throws does not break the elector', async () => {
    const a = elector('a');
    a.on(LeaseEvent.StartedLeading, () => {
      throw new Error('boom');
    });
    a.start();
    await clock.tickAsync(0);
    expect(a.isLeader()).to.equal(true);
  });
});
