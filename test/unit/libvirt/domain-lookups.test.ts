// One pass's domain lookups: what it remembers per name, and that every handle it was given
// is freed exactly once (replaced, forgotten, disposed, or on another connection).
import { expect } from 'chai';
import { DomainLookups } from '../../../src/libvirt/hypervisor/index.js';

/** A handle that counts its frees. */
class Handle {
  frees = 0;
  constructor(readonly id: string) {}
  free(): void {
    this.frees++;
  }
}

describe('DomainLookups', () => {
  const conn = {};
  const owner = { kind: 'MaasNode', namespace: 'ns', name: 'n', uid: 'u1', specHash: 'h' };

  it('knows nothing until told, then remembers absence and handles per name', () => {
    const lookups = new DomainLookups<Handle>();
    expect(lookups.get(conn, 'a')).to.equal(undefined);
    lookups.absent(conn, 'a');
    expect(lookups.get(conn, 'a')).to.deep.equal({ handle: undefined });
    const b = new Handle('b');
    lookups.found(conn, 'b', b);
    expect(lookups.get(conn, 'b')).to.deep.equal({ handle: b, ownerKnown: false });
    expect(lookups.size).to.equal(2);
  });

  it('keeps the stamp read with the handle, or read later through it', () => {
    const lookups = new DomainLookups<Handle>();
    const a = new Handle('a');
    lookups.found(conn, 'a', a, { owner });
    expect(lookups.get(conn, 'a')).to.deep.equal({ handle: a, ownerKnown: true, owner });
    const b = new Handle('b');
    lookups.found(conn, 'b', b);
    lookups.ownerRead(conn, 'b', undefined);
    // Read, and absent: known to carry no stamp (a foreign domain).
    expect(lookups.get(conn, 'b')).to.deep.equal({ handle: b, ownerKnown: true, owner: undefined });
    // A name known absent has no handle to have read a stamp through.
    lookups.absent(conn, 'c');
    lookups.ownerRead(conn, 'c', owner);
    expect(lookups.get(conn, 'c')).to.deep.equal({ handle: undefined });
  });

  it('frees a handle it replaces, forgets, or holds when disposed, once each', () => {
    const old = new Handle('old');
    const defined = new Handle('defined');
    const other = new Handle('other');
    {
      using lookups = new DomainLookups<Handle>();
      lookups.found(conn, 'a', old);
      // The definition's handle replaces the looked-up one.
      lookups.found(conn, 'a', defined, { owner });
      expect(old.frees).to.equal(1);
      // The same handle again is not freed.
      lookups.found(conn, 'a', defined, { owner });
      expect(defined.frees).to.equal(0);
      lookups.found(conn, 'b', other);
      lookups.forget('b');
      expect(other.frees).to.equal(1);
      expect(lookups.get(conn, 'b')).to.equal(undefined);
    }
    expect([old.frees, defined.frees, other.frees]).to.deep.equal([1, 1, 1]);
  });

  it("knows nothing on another connection, and drops the old connection's handles", () => {
    const lookups = new DomainLookups<Handle>();
    const before = new Handle('before');
    lookups.found(conn, 'a', before, { owner });
    const reconnected = {};
    expect(lookups.get(reconnected, 'a')).to.equal(undefined);
    lookups.absent(reconnected, 'b');
    expect(before.frees).to.equal(1);
    expect(lookups.get(conn, 'a')).to.equal(undefined);
    expect(lookups.get(reconnected, 'b')).to.deep.equal({ handle: undefined });
  });

  it('remembers a domain defined where none was until a verb changes its state', () => {
    const lookups = new DomainLookups<Handle>();
    const a = new Handle('a');
    lookups.found(conn, 'a', a, { owner, newlyDefined: true });
    expect(lookups.get(conn, 'a')).to.deep.include({ newlyDefined: true });
    lookups.stateChanged(conn, 'a');
    expect(lookups.get(conn, 'a')).to.deep.equal({ handle: a, ownerKnown: true, owner });
    expect(a.frees).to.equal(0);
  });

  it('remembers a domain the pass read shut off until a verb changes its state', () => {
    const lookups = new DomainLookups<Handle>();
    const a = new Handle('a');
    lookups.found(conn, 'a', a);
    lookups.ownerRead(conn, 'a', owner);
    lookups.stateRead(conn, 'a', true);
    expect(lookups.get(conn, 'a')).to.deep.equal({
      handle: a,
      ownerKnown: true,
      owner,
      seenOff: true,
    });
    lookups.stateChanged(conn, 'a');
    expect(lookups.get(conn, 'a')).to.deep.equal({ handle: a, ownerKnown: true, owner });
    // Read off, then read running: the second read wins.
    lookups.stateRead(conn, 'a', true);
    lookups.stateRead(conn, 'a', false);
    expect(lookups.get(conn, 'a')).to.deep.equal({ handle: a, ownerKnown: true, owner });
    // A name looked up and absent, or never looked up, has no state to remember.
    lookups.absent(conn, 'b');
    lookups.stateRead(conn, 'b', true);
    lookups.stateRead(conn, 'c', true);
    expect(lookups.get(conn, 'b')).to.deep.equal({ handle: undefined });
    expect(lookups.get(conn, 'c')).to.equal(undefined);
    // On another connection nothing is known.
    lookups.stateRead({}, 'a', true);
    expect(lookups.get(conn, 'a')).to.deep.equal({ handle: a, ownerKnown: true, owner });
    expect(a.frees).to.equal(0);
  });
});
