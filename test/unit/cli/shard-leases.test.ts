import { expect } from 'chai';
import { createShardLeases, shardLeaseName } from '../../../src/cli/shard-leases.js';
import { type FakeClock, createFakeClock } from '../../fakes/clock.js';
import { memoryStore } from '../../support/lease-store.js';

describe('ShardLeases', () => {
  let clock: FakeClock;
  let store: ReturnType<typeof memoryStore>;

  beforeEach(() => {
    clock = createFakeClock();
    store = memoryStore();
  });

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
