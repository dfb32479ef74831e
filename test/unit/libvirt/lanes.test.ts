// Lanes (src/libvirt/native/lane.cc) under load, on the test driver: every call submitted
// runs once and settles, whether it finds a thread waiting, starts one, or queues behind four
// busy ones, and whether the thread it would wake is just then giving up for lack of work.
// The idle time is cut to a few milliseconds so threads go and come back within the test,
// through the wake-up paths that a 20 s idle time makes rare. (The hung-host case, with a
// real daemon, is test/integration/libvirt/lanes.test.ts.)
import { expect } from 'chai';
import { setTimeout as delay } from 'node:timers/promises';
import { raw } from '../../../src/libvirt/binding.js';
import { type Connection, ErrorNumber, isLibvirtError } from '../../../src/libvirt/index.js';
import { waitFor } from '../../support/wait.js';
import { openTest } from './fixtures.js';

/** The lane idle time the binding starts with. */
const DEFAULT_IDLE_MS = 20_000;

/** A call that succeeds (a domain of test:///default) or fails (a name it does not have). */
async function oneCall(conn: Connection, i: number): Promise<string> {
  if (i % 3 === 2) {
    try {
      await conn.domainLookupByName(`absent-${i}`);
      return 'found';
    } catch (err) {
      return isLibvirtError(err, ErrorNumber.NoDomain) ? 'absent' : `failed: ${String(err)}`;
    }
  }
  using dom = await conn.domainLookupByName('test');
  return dom.getName();
}

const expected = (i: number): string => (i % 3 === 2 ? 'absent' : 'test');

describe('libvirt lanes: every call runs once, however the threads come and go', function () {
  this.timeout(30_000);
  let conn: Connection;

  before(async () => {
    conn = await openTest();
  });
  after(async () => {
    raw.setLaneIdleMs(DEFAULT_IDLE_MS);
    await conn?.close();
  });

  it('runs a burst far wider than the lane, on at most four threads', async () => {
    const before = raw.laneThreads();
    let most = before;
    const results = await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        oneCall(conn, i).finally(() => {
          most = Math.max(most, raw.laneThreads());
        }),
      ),
    );
    expect(results).to.deep.equal(Array.from({ length: 300 }, (_, i) => expected(i)));
    expect(most - before, 'threads the burst started').to.be.within(1, 4);
  });

  it('lets idle threads go and wakes or restarts them as calls come, none lost', async () => {
    raw.setLaneIdleMs(5);
    await waitFor(() => raw.laneThreads() === 0, {
      timeoutMs: 5_000,
      description: 'idle lane threads to go',
    });
    // Gaps around the idle time: a call lands on a waiting thread, on one timing out at that
    // moment, or on a lane whose threads are gone; bursts in between fill all four.
    const results: Array<Promise<string>> = [];
    let seed = 7;
    const next = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 400; i++) {
      results.push(oneCall(conn, i));
      const r = next();
      if (r < 0.5) continue;
      await delay(r < 0.8 ? 1 + Math.floor(next() * 10) : 0);
    }
    const settled = await Promise.race([
      Promise.all(results),
      delay(10_000).then(() => 'stuck' as const),
    ]);
    expect(settled, 'every call settled').to.not.equal('stuck');
    expect(settled).to.deep.equal(Array.from({ length: 400 }, (_, i) => expected(i)));
    await waitFor(() => raw.laneThreads() === 0, {
      timeoutMs: 5_000,
      description: 'the threads to go once the calls ended',
    });
    // And a lane with no threads left starts one for the next call.
    expect(await oneCall(conn, 0)).to.equal('test');
  });

  it('refuses an idle time out of range', () => {
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, 3_600_001, '5' as unknown]) {
      expect(() => raw.setLaneIdleMs(bad as number), String(bad)).to.throw(RangeError);
    }
  });
});
