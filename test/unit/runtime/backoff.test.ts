import { expect } from 'chai';
import {
  createBucketRateLimiter,
  createControllerRateLimiter,
  createItemExponentialRateLimiter,
  createJitteredBackoff,
  createMaxOfRateLimiter,
} from '../../../src/runtime/backoff.js';
import { createFakeClock } from '../../fakes/clock.js';

describe('runtime/backoff', () => {
  describe('item exponential rate limiter', () => {
    it('doubles from 5 ms per key and counts requeues', () => {
      const rl = createItemExponentialRateLimiter();
      expect([1, 2, 3, 4, 5].map(() => rl.when('a'))).to.deep.equal([5, 10, 20, 40, 80]);
      expect(rl.numRequeues('a')).to.equal(5);
      expect(rl.when('b')).to.equal(5);
      expect(rl.numRequeues('b')).to.equal(1);
    });

    it('caps at 1000 s, even after very many failures', () => {
      const rl = createItemExponentialRateLimiter();
      let last = 0;
      for (let i = 0; i < 2000; i++) last = rl.when('a');
      expect(last).to.equal(1_000_000);
      // 5 ms * 2^17 = 655 s < 1000 s < 2^18 * 5 ms
      const fresh = createItemExponentialRateLimiter();
      const delays = Array.from({ length: 20 }, () => fresh.when('k'));
      expect(delays[17]).to.equal(655_360);
      expect(delays[18]).to.equal(1_000_000);
    });

    it('forget resets the key', () => {
      const rl = createItemExponentialRateLimiter({ baseMs: 1, maxMs: 100 });
      rl.when('a');
      rl.when('a');
      rl.forget('a');
      expect(rl.numRequeues('a')).to.equal(0);
      expect(rl.when('a')).to.equal(1);
    });
  });

  it('bucket limiter allows a burst, then spaces at 1/qps', () => {
    const clock = createFakeClock(0);
    const rl = createBucketRateLimiter({ qps: 10, burst: 3, clock });
    expect([rl.when('x'), rl.when('y'), rl.when('z')]).to.deep.equal([0, 0, 0]);
    expect(rl.when('w')).to.be.closeTo(100, 1e-9);
    expect(rl.when('v')).to.be.closeTo(200, 1e-9);
    clock.advance(1000);
    expect(rl.when('u')).to.equal(0);
  });

  it('max-of takes the longest delay; the controller default is 5 ms first', () => {
    const a = createItemExponentialRateLimiter({ baseMs: 1 });
    const b = createItemExponentialRateLimiter({ baseMs: 3 });
    const m = createMaxOfRateLimiter(a, b);
    expect(m.when('k')).to.equal(3);
    expect(m.numRequeues('k')).to.equal(1);
    m.forget('k');
    expect(a.numRequeues('k') + b.numRequeues('k')).to.equal(0);
    const d = createControllerRateLimiter(createFakeClock(0));
    expect([d.when('k'), d.when('k'), d.when('k')]).to.deep.equal([5, 10, 20]);
  });

  describe('jittered backoff', () => {
    it('starts at 0.8 s, doubles, and never exceeds 30 s', () => {
      const clock = createFakeClock(0);
      const b = createJitteredBackoff({ random: () => 0, clock });
      const delays = Array.from({ length: 8 }, () => b.next());
      expect(delays).to.deep.equal([800, 1600, 3200, 6400, 12800, 25600, 30000, 30000]);
      expect(b.attempts).to.equal(8);
      const jittered = createJitteredBackoff({ random: () => 0.5, clock });
      expect([jittered.next(), jittered.next()]).to.deep.equal([1200, 2400]);
      const maxed = createJitteredBackoff({ random: () => 0.999, clock });
      for (let i = 0; i < 10; i++) expect(maxed.next()).to.be.at.most(30_000);
    });

    it('resets explicitly and after a quiet spell', () => {
      const clock = createFakeClock(0);
      const b = createJitteredBackoff({ random: () => 0, clock, resetAfterMs: 120_000 });
      b.next();
      b.next();
      b.reset();
      expect(b.next()).to.equal(800);
      b.next();
      clock.advance(120_000);
      expect(b.next()).to.equal(800);
    });
  });
});
