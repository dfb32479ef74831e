import { expect } from 'chai';
import { realClock, toRfc3339Seconds } from '../../../src/runtime/clock.js';
import { createFakeClock } from '../../fakes/clock.js';

describe('runtime/clock', () => {
  it('formats times as RFC 3339 truncated to seconds', () => {
    expect(toRfc3339Seconds(Date.UTC(2026, 10, 24, 4, 33, 55, 999))).to.equal(
      '2026-11-24T04:33:55Z',
    );
  });

  it('real clock sleep rejects with the signal reason, before or during the wait', async () => {
    const reason = new Error('stop');
    const ac = new AbortController();
    ac.abort(reason);
    let caught: unknown;
    await realClock.sleep(60_000, ac.signal).catch((e: unknown) => (caught = e));
    expect(caught).to.equal(reason);
    const later = new AbortController();
    const p = realClock.sleep(60_000, later.signal).catch((e: unknown) => e);
    later.abort(reason);
    expect(await p).to.equal(reason);
  });

  it('real clock timers can be cancelled and long delays do not fire early', async () => {
    let fired = 0;
    realClock.setTimer(0, () => fired++).cancel();
    const long = realClock.setTimer(30 * 24 * 3600 * 1000, () => fired++);
    await realClock.sleep(5);
    long.cancel();
    expect(fired).to.equal(0);
  });

  describe('FakeClock', () => {
    it('fires timers in due order, ties in scheduling order, with now() at each due time', () => {
      const clock = createFakeClock(1000);
      const seen: string[] = [];
      clock.setTimer(30, () => seen.push(`c@${clock.now()}`));
      clock.setTimer(10, () => seen.push(`a@${clock.now()}`));
      clock.setTimer(10, () => seen.push(`b@${clock.now()}`));
      clock.advance(20);
      expect(seen).to.deep.equal(['a@1010', 'b@1010']);
      expect(clock.now()).to.equal(1020);
      clock.advance(10);
      expect(seen).to.deep.equal(['a@1010', 'b@1010', 'c@1030']);
      expect(clock.pendingTimers()).to.equal(0);
    });

    it('fires timers scheduled by a timer within the same advance', () => {
      const clock = createFakeClock(0);
      const seen: number[] = [];
      clock.setTimer(5, () => clock.setTimer(5, () => seen.push(clock.now())));
      clock.advance(10);
      expect(seen).to.deep.equal([10]);
    });

    it('cancelled timers never fire', () => {
      const clock = createFakeClock(0);
      let fired = false;
      clock.setTimer(5, () => (fired = true)).cancel();
      clock.advance(10);
      expect(fired).to.equal(false);
    });

    it('sleep resolves on advance and rejects on abort', async () => {
      const clock = createFakeClock(0);
      let done = false;
      const p = clock.sleep(100).then(() => (done = true));
      await clock.tickAsync(99);
      expect(done).to.equal(false);
      await clock.tickAsync(1);
      await p;
      expect(done).to.equal(true);

      const ac = new AbortController();
      const q = clock.sleep(100, ac.signal);
      ac.abort(new Error('bye'));
      let caught: unknown;
      await q.catch((e: unknown) => (caught = e));
      expect((caught as Error).message).to.equal('bye');
      expect(clock.pendingTimers()).to.equal(0);
    });
  });
});
