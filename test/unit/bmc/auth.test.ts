// Login checks shared by the Redfish and IPMI BMCs: constant-time comparison and the per-source
// throttle, including hostile input (huge, empty, non-ASCII, many sources).
import { expect } from 'chai';
import { constantTimeEqual, credentialsMatch, LoginThrottle } from '../../../src/bmc/auth.js';

describe('bmc/auth', () => {
  describe('constantTimeEqual', () => {
    it('is true only for equal strings, whatever their lengths', () => {
      expect(constantTimeEqual('secret', 'secret')).to.equal(true);
      expect(constantTimeEqual('secret', 'secreT')).to.equal(false);
      expect(constantTimeEqual('secret', 'secret2')).to.equal(false);
      expect(constantTimeEqual('', 'secret')).to.equal(false);
      expect(constantTimeEqual('', '')).to.equal(true);
      expect(constantTimeEqual('x'.repeat(1_000_000), 'secret')).to.equal(false);
      expect(constantTimeEqual('pässwörd', 'pässwörd')).to.equal(true);
      expect(constantTimeEqual(Buffer.from([0, 1, 2]), Buffer.from([0, 1, 2]))).to.equal(true);
      expect(constantTimeEqual('a\u0000b', 'a')).to.equal(false);
    });
  });

  describe('credentialsMatch', () => {
    const creds = { username: 'admin', password: 'hunter2' };
    it('needs both the user name and the password', () => {
      expect(credentialsMatch(creds, 'admin', 'hunter2')).to.equal(true);
      expect(credentialsMatch(creds, 'admin', 'hunter3')).to.equal(false);
      expect(credentialsMatch(creds, 'root', 'hunter2')).to.equal(false);
      expect(credentialsMatch(creds, '', '')).to.equal(false);
    });
  });

  describe('LoginThrottle', () => {
    it('locks a source out after maxFailures within the window, and only that source', () => {
      let now = 0;
      const t = new LoginThrottle({
        maxFailures: 3,
        windowMs: 1000,
        lockoutMs: 500,
        now: () => now,
      });
      for (let i = 0; i < 2; i++) t.failed('10.0.0.1');
      expect(t.check('10.0.0.1').allowed).to.equal(true);
      t.failed('10.0.0.1');
      expect(t.check('10.0.0.1')).to.deep.equal({ allowed: false, retryAfterMs: 500 });
      expect(t.check('10.0.0.2').allowed).to.equal(true);
      now = 500;
      expect(t.check('10.0.0.1').allowed).to.equal(true);
    });

    it('forgets failures older than the window', () => {
      let now = 0;
      const t = new LoginThrottle({ maxFailures: 3, windowMs: 1000, now: () => now });
      t.failed('s');
      t.failed('s');
      now = 1500;
      t.failed('s');
      expect(t.check('s').allowed).to.equal(true);
    });

    it('doubles the lockout each time, up to 15 minutes', () => {
      let now = 0;
      const t = new LoginThrottle({ maxFailures: 1, lockoutMs: 60_000, now: () => now });
      const lockouts: number[] = [];
      for (let i = 0; i < 6; i++) {
        t.failed('s');
        const c = t.check('s');
        if (c.allowed) throw new Error('expected a lockout');
        lockouts.push(c.retryAfterMs);
        now += c.retryAfterMs;
      }
      expect(lockouts).to.deep.equal([60_000, 120_000, 240_000, 480_000, 900_000, 900_000]);
    });

    it('clears a source on success, but not during its lockout', () => {
      let now = 0;
      const t = new LoginThrottle({ maxFailures: 2, lockoutMs: 100, now: () => now });
      t.failed('s');
      t.succeeded('s');
      t.failed('s');
      expect(t.check('s').allowed).to.equal(true);
      t.failed('s');
      t.succeeded('s');
      expect(t.check('s').allowed).to.equal(false);
      now = 100;
      expect(t.check('s').allowed).to.equal(true);
    });

    it('remembers at most maxSources, so a flood of sources cannot grow memory', () => {
      const t = new LoginThrottle({ maxFailures: 1, lockoutMs: 10_000, maxSources: 100 });
      for (let i = 0; i < 10_000; i++) t.failed(`10.0.${i >> 8}.${i & 255}:623`);
      const locked = Array.from(
        { length: 10_000 },
        (_, i) => `10.0.${i >> 8}.${i & 255}:623`,
      ).filter((s) => !t.check(s).allowed);
      expect(locked.length).to.be.at.most(100);
      expect(locked).to.include('10.0.39.15:623');
    });
  });
});
