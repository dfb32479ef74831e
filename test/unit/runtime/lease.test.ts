import { expect } from 'chai';
import { type LeaseElector, LeaseEvent, createLeaseElector } from '../../../src/runtime/lease.js';
import type { LeaseRecord } from '../../../src/runtime/lease-record.js';
import type { LeaseStore, StoredLease } from '../../../src/runtime/lease-store.js';
import { createShardLeases, shardLeaseName } from '../../../src/runtime/shard-leases.js';
import { type FakeClock, createFakeClock } from '../../fakes/clock.js';

const conflict = (): Error => Object.assign(new Error('conflict'), { statusCode: 409 });

/** An in-memory LeaseStore with resourceVersion locking, and a switch to make it fail. */
function memoryStore(): LeaseStore & {
  leases: Map<string, StoredLease>;
  down: boolean;
  writes: number;
} {
  let rv = 0;
  const s = {
    leases: new Map<string, StoredLease>(),
    down: false,
    writes: 0,
    get(name: string) {
      if (s.down) return Promise.reject(new Error('apiserver down'));
      return Promise.resolve(s.leases.get(name));
    },
    create(name: string, record: LeaseRecord) {
      if (s.down) return Promise.reject(new Error('apiserver down'));
      if (s.leases.has(name)) return Promise.reject(conflict());
      const l = { record, resourceVersion: String(++rv) };
      s.leases.set(name, l);
      s.writes++;
      return Promise.resolve(l);
    },
    update(name: string, record: LeaseRecord, resourceVersion: string) {
      if (s.down) return Promise.reject(new Error('apiserver down'));
      if (s.leases.get(name)?.resourceVersion !== resourceVersion) {
        return Promise.reject(conflict());
      }
      const l = { record, resourceVersion: String(++rv) };
      s.leases.set(name, l);
      s.writes++;
      return Promise.resolve(l);
    },
  };
  return s;
}

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

  describe('ShardLeases', () => {
    it('holds one lease per shard, starts and stops shard work, and releases removed shards', async () => {
      const log: string[] = [];
      const metricsLog: string[] = [];
      const signals = new Map<string, AbortSignal>();
      const shards = createShardLeases({
        store,
        identity: 'me',
        clock,
        random: () => 0,
        metrics: {
          on: (n) => metricsLog.push(`on:${n}`),
          off: (n) => metricsLog.push(`off:${n}`),
          forget: (n) => metricsLog.push(`forget:${n}`),
        },
        onStart: (s, signal) => {
          log.push(`start:${s}`);
          signals.set(s, signal);
        },
        onStop: (s) => void log.push(`stop:${s}`),
      });
      await shards.set(['hv1', 'hv2']);
      await clock.tickAsync(0);
      expect([...shards.leading()].sort()).to.deep.equal(['hv1', 'hv2']);
      expect([...store.leases.keys()].sort()).to.deep.equal([
        shardLeaseName('hv1'),
        shardLeaseName('hv2'),
      ]);
      expect(shardLeaseName('hv1')).to.equal('maaslab-hv-hv1');
      await shards.set(['hv2']);
      expect(log.sort()).to.deep.equal(['start:hv1', 'start:hv2', 'stop:hv1']);
      expect(signals.get('hv1')?.aborted).to.equal(true);
      expect(store.leases.get('maaslab-hv-hv1')?.record.holderIdentity).to.equal('');
      // A shard given up for good leaves no series behind (a 0 would read as "nobody leads").
      expect(metricsLog.at(-1)).to.equal('forget:maaslab-hv-hv1');
      expect(metricsLog.filter((l) => l.endsWith('hv2'))).to.not.include('forget:maaslab-hv-hv2');
      await shards.stop();
      expect(shards.isLeading('hv2')).to.equal(false);
      expect(store.leases.get('maaslab-hv-hv2')?.record.holderIdentity).to.equal('');
    });

    it('splits shards between two replicas and fails one over when it stops', async () => {
      const mk = (identity: string) =>
        createShardLeases({
          store,
          identity,
          clock,
          random: () => 0,
          onStart: () => undefined,
          onStop: () => undefined,
        });
      const r1 = mk('r1');
      const r2 = mk('r2');
      await r1.set(['hv1']);
      await r2.set(['hv2']);
      await clock.tickAsync(0);
      await r1.set(['hv1', 'hv2']);
      await r2.set(['hv1', 'hv2']);
      await clock.tickAsync(10_000);
      expect([...r1.leading()]).to.deep.equal(['hv1']);
      expect([...r2.leading()]).to.deep.equal(['hv2']);
      await r2.stop();
      await clock.tickAsync(2000);
      expect([...r1.leading()].sort()).to.deep.equal(['hv1', 'hv2']);
      await r1.stop();
    });
  });
});
