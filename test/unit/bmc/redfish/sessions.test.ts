// The session store: idle expiry on an injected clock, the bound, ownership.
import { expect } from 'chai';
import { SessionStore } from '../../../../src/bmc/redfish/sessions.js';

describe('bmc/redfish/sessions', () => {
  const alice = { username: 'alice', password: 'a' };
  const bob = { username: 'bob', password: 'b' };

  it('issues 43-character random tokens and 32-hex ids, and finds a session by its token only', () => {
    const store = new SessionStore();
    const a = store.create(alice);
    const b = store.create(alice);
    if (!a.ok || !b.ok) throw new Error('not created');
    expect(a.token).to.match(/^[A-Za-z0-9_-]{43}$/);
    expect(a.session.id).to.match(/^[0-9a-f]{32}$/);
    expect(a.token).to.not.equal(b.token);
    expect(store.use(a.token)?.id).to.equal(a.session.id);
    expect(store.use(a.session.id)).to.equal(undefined);
    expect(store.use('x'.repeat(43))).to.equal(undefined);
  });

  it('ends a session after its idle timeout, and use restarts the idle clock', () => {
    let now = 1_000_000;
    const store = new SessionStore({ idleTimeoutMs: 60_000, now: () => now });
    const created = store.create(alice);
    if (!created.ok) throw new Error('not created');
    now += 59_000;
    expect(store.use(created.token)).to.not.equal(undefined);
    now += 59_000; // 118 s after creation, 59 s after last use
    expect(store.use(created.token)).to.not.equal(undefined);
    now += 60_000;
    expect(store.use(created.token)).to.equal(undefined);
    expect(store.size).to.equal(0);
  });

  it('refuses logins beyond the bound until a session ends or expires', () => {
    let now = 0;
    const store = new SessionStore({ maxSessions: 2, idleTimeoutMs: 1000, now: () => now });
    const first = store.create(alice);
    expect(store.create(bob).ok).to.equal(true);
    expect(store.create(alice)).to.deep.equal({ ok: false, reason: 'limit' });
    if (!first.ok) throw new Error('not created');
    expect(store.remove(first.session.id)).to.equal(true);
    expect(store.remove(first.session.id)).to.equal(false);
    expect(store.create(alice).ok).to.equal(true);
    now += 1000;
    expect(store.create(alice).ok).to.equal(true); // the others expired
    expect(store.size).to.equal(1);
  });

  it('lists only the sessions of the same user name and password', () => {
    const store = new SessionStore();
    store.create(alice);
    store.create(bob);
    store.create({ username: 'alice', password: 'other' });
    expect(store.ownedBy(alice)).to.have.length(1);
    expect(store.ownedBy({ username: 'carol', password: 'a' })).to.have.length(0);
  });
});
