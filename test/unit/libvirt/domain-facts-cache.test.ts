// The inventory cache's bookkeeping, with a hand-driven clock: entries live until an event or
// their time-to-live, and a read that an event overtook is never kept.
import { expect } from 'chai';
import { DomainFactsCache } from '../../../src/libvirt/domain-facts-cache.js';

describe('DomainFactsCache', () => {
  let now: number;
  let cache: DomainFactsCache<string>;
  beforeEach(() => {
    now = 1_000;
    cache = new DomainFactsCache<string>({ ttlMs: 600_000, now: () => now });
  });

  /** One listing that reads `uuid` as `value`, with `during` happening mid-read. */
  const read = (uuid: string, value: string, during: () => void = () => undefined): boolean => {
    cache.startListing();
    const token = cache.readToken();
    during();
    const kept = cache.store(uuid, value, token);
    cache.finishListing(new Set([uuid]));
    return kept;
  };

  it('keeps what was read until an event for that domain', () => {
    expect(read('a', 'a1')).to.equal(true);
    expect(cache.get('a')).to.equal('a1');
    expect(cache.get('a')).to.equal('a1');
    cache.invalidate('a');
    expect(cache.get('a')).to.equal(undefined);
  });

  it('never keeps a read an event overtook, and keeps the next one', () => {
    expect(read('a', 'stale', () => cache.invalidate('a'))).to.equal(false);
    expect(cache.get('a')).to.equal(undefined);
    expect(read('a', 'fresh')).to.equal(true);
    expect(cache.get('a')).to.equal('fresh');
  });

  it('is not disturbed by events for other domains during a read', () => {
    expect(read('a', 'a1', () => cache.invalidate('b'))).to.equal(true);
    expect(cache.get('a')).to.equal('a1');
  });

  it('remembers an event until every listing in flight is done', () => {
    cache.startListing(); // a slow listing that reads `a` late
    const slow = cache.readToken();
    expect(read('b', 'b1', () => cache.invalidate('a'))).to.equal(true);
    // The quick listing finished, but the slow read started before the event.
    expect(cache.store('a', 'stale', slow)).to.equal(false);
    cache.finishListing(new Set(['a', 'b']));
    expect(cache.get('a')).to.equal(undefined);
  });

  it('expires an entry after its time-to-live, for edits that send no event', () => {
    read('a', 'a1');
    now += 599_999;
    expect(cache.get('a')).to.equal('a1');
    now += 1;
    expect(cache.get('a')).to.equal(undefined);
    expect(cache.size).to.equal(0);
  });

  it('drops domains a listing no longer sees (an undefine event missed)', () => {
    cache.startListing();
    cache.store('a', 'a1', cache.readToken());
    cache.store('b', 'b1', cache.readToken());
    cache.finishListing(new Set(['a', 'b']));
    expect(cache.size).to.equal(2);
    cache.startListing();
    cache.finishListing(new Set(['b']));
    expect(cache.get('a')).to.equal(undefined);
    expect(cache.get('b')).to.equal('b1');
  });

  it('keeps what a read outside any listing saw, unless an event overtook it, and drops nothing', () => {
    cache.startRead();
    const token = cache.readToken();
    expect(cache.store('a', 'a1', token)).to.equal(true);
    cache.finishRead();
    expect(cache.get('a')).to.equal('a1');

    cache.startRead();
    const raced = cache.readToken();
    cache.invalidate('b');
    expect(cache.store('b', 'b-stale', raced)).to.equal(false);
    cache.finishRead();
    expect(cache.get('b')).to.equal(undefined);
    // Unlike a listing, the end of a read keeps the other entries.
    expect(cache.get('a')).to.equal('a1');
  });
});
