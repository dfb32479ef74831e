import { expect } from 'chai';
import { createItemExponentialRateLimiter } from '../../../../src/runtime/backoff.js';
import {
  type QueueMetrics,
  createWorkQueue,
} from '../../../../src/runtime/controller/workqueue.js';
import { type FakeClock, createFakeClock } from '../../../fakes/clock.js';

/** Records every metrics hook call. */
function recordingMetrics(): QueueMetrics & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    add: () => calls.push('add'),
    get: (ms) => calls.push(`get:${ms}`),
    done: (ms) => calls.push(`done:${ms}`),
    retry: () => calls.push('retry'),
    unfinishedWork: (t, l) => calls.push(`unfinished:${t}:${l}`),
  };
}

/** Resolves `p`'s value if it settled within the current macrotask, else 'pending'. */
async function peek<T>(p: Promise<T>): Promise<T | 'pending'> {
  return Promise.race([p, new Promise<'pending'>((r) => setImmediate(() => r('pending')))]);
}

describe('runtime/workqueue', () => {
  let clock: FakeClock;
  beforeEach(() => {
    clock = createFakeClock(0);
  });

  it('queues a key at most once and hands keys out in FIFO order', async () => {
    const q = createWorkQueue({ name: 't', clock });
    q.add('a');
    q.add('b');
    q.add('a');
    expect(q.len()).to.equal(2);
    expect(await q.get()).to.equal('a');
    expect(await q.get()).to.equal('b');
    expect(q.len()).to.equal(0);
  });

  it('never hands an in-flight key to a second worker; a re-add runs again after done', async () => {
    const q = createWorkQueue({ name: 't', clock });
    q.add('a');
    expect(await q.get()).to.equal('a');
    q.add('a'); // changed while processing: marked dirty, not queued
    q.add('a');
    expect(q.len()).to.equal(0);
    const second = q.get();
    expect(await peek(second)).to.equal('pending');
    q.done('a');
    expect(await second).to.equal('a');
    q.done('a');
    expect(q.len()).to.equal(0);
    expect(await peek(q.get())).to.equal('pending');
  });

  it('a done without a re-add does not requeue, and a stray done is harmless', async () => {
    const q = createWorkQueue({ name: 't', clock });
    q.add('a');
    await q.get();
    q.done('a');
    q.done('a');
    q.done('never-taken');
    expect(q.len()).to.equal(0);
  });

  it('wakes blocked workers in order, one key each', async () => {
    const q = createWorkQueue({ name: 't', clock });
    const w1 = q.get();
    const w2 = q.get();
    q.add('x');
    expect(await w1).to.equal('x');
    expect(await peek(w2)).to.equal('pending');
    q.add('y');
    expect(await w2).to.equal('y');
  });

  it('addAfter delays keys and releases them in due order', async () => {
    const q = createWorkQueue({ name: 't', clock });
    q.addAfter('late', 300);
    q.addAfter('early', 100);
    q.addAfter('now', 0);
    expect(q.len()).to.equal(1);
    expect(await q.get()).to.equal('now');
    clock.advance(99);
    expect(q.len()).to.equal(0);
    clock.advance(1);
    expect(q.len()).to.equal(1);
    clock.advance(200);
    expect(await q.get()).to.equal('early');
    expect(await q.get()).to.equal('late');
  });

  it('addAfter for a waiting key: the earlier time wins', async () => {
    const q = createWorkQueue({ name: 't', clock });
    q.addAfter('k', 1000);
    q.addAfter('k', 200); // earlier: replaces
    q.addAfter('k', 5000); // later: ignored
    expect(clock.pendingTimers()).to.equal(1);
    clock.advance(200);
    expect(q.len()).to.equal(1);
    expect(await q.get()).to.equal('k');
    q.done('k');
    clock.advance(10_000);
    expect(q.len()).to.equal(0);
  });

  it('a delayed key already queued is deduplicated when it comes due', () => {
    const q = createWorkQueue({ name: 't', clock });
    q.add('k');
    q.addAfter('k', 10);
    clock.advance(10);
    expect(q.len()).to.equal(1);
  });

  it('addRateLimited backs off per key; forget resets', () => {
    const q = createWorkQueue({
      name: 't',
      clock,
      rateLimiter: createItemExponentialRateLimiter({ baseMs: 5, maxMs: 20 }),
    });
    q.addRateLimited('k');
    expect(clock.dueTimes()).to.deep.equal([5]);
    clock.advance(5);
    expect(q.len()).to.equal(1);
    expect(q.numRequeues('k')).to.equal(1);
    q.addRateLimited('j');
    q.addRateLimited('j');
    q.addRateLimited('j');
    q.addRateLimited('j'); // 5, 10, 20, capped 20; the earliest wait is kept
    expect(q.numRequeues('j')).to.equal(4);
    q.forget('j');
    expect(q.numRequeues('j')).to.equal(0);
  });

  it('shutDown drops adds and waiting keys, drains the backlog, then resolves undefined', async () => {
    const q = createWorkQueue({ name: 't', clock });
    const blocked = q.get();
    q.add('a');
    expect(await blocked).to.equal('a');
    q.add('b');
    q.addAfter('c', 10);
    const waiter = createWorkQueue({ name: 'w', clock });
    const idle = waiter.get();
    waiter.shutDown();
    expect(await idle).to.equal(undefined);

    q.shutDown();
    expect(q.shuttingDown()).to.equal(true);
    q.add('d');
    q.addAfter('e', 0);
    q.addRateLimited('f');
    expect(q.numRequeues('f')).to.equal(0);
    clock.advance(100);
    expect(await q.get()).to.equal('b'); // the backlog is still handed out
    expect(await q.get()).to.equal(undefined);
    q.done('a'); // in-flight keys can still finish
  });

  it('shutDownWithDrain waits for in-flight keys; shutDown cuts the wait short', async () => {
    const q = createWorkQueue({ name: 't', clock });
    q.add('a');
    q.add('b');
    await q.get();
    await q.get();
    let drained = false;
    const drain = q.shutDownWithDrain().then(() => (drained = true));
    q.done('a');
    await peek(drain);
    expect(drained).to.equal(false);
    q.done('b');
    await drain;
    expect(drained).to.equal(true);

    const r = createWorkQueue({ name: 'r', clock });
    expect(await peek(r.shutDownWithDrain())).to.equal(undefined);
    const s = createWorkQueue({ name: 's', clock });
    s.add('x');
    await s.get();
    const stuck = s.shutDownWithDrain();
    s.shutDown();
    expect(await peek(stuck)).to.equal(undefined);
  });

  it('reports metrics: adds, queue and work durations, retries, unfinished work', async () => {
    const m = recordingMetrics();
    const q = createWorkQueue({ name: 't', clock, metrics: m, unfinishedWorkUpdatePeriodMs: 500 });
    q.add('a');
    q.add('a'); // deduplicated: not an add
    clock.advance(40);
    await q.get();
    clock.advance(600);
    expect(m.calls).to.deep.equal(['add', 'get:40', 'unfinished:0.5:0.5']);
    q.addAfter('b', 10);
    clock.advance(10);
    q.done('a');
    expect(m.calls.slice(3)).to.deep.equal(['retry', 'add', 'done:610', 'unfinished:0:0']);
    expect(clock.pendingTimers()).to.equal(0);
  });
});
