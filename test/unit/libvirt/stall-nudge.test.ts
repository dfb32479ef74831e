// StallNudge: when a call that overlaps another on the same connection gets a nudge, how often,
// and never for a lone call or a call that finished in time; and which URIs go through
// libvirt's RPC client. A scripted clock drives the timers. What the nudge unsticks on a real
// libvirtd is measured by the recipe bench (bench/RESULTS.md, section 1b).
import { expect } from 'chai';
import type { Connection } from '../../../src/libvirt/connection.js';
import { LibvirtCalls } from '../../../src/libvirt/hypervisor/calls.js';
import {
  NUDGE_BACKOFF,
  NUDGE_FIRST_MS,
  type NudgeTimers,
  StallNudge,
  usesRpcClient,
} from '../../../src/libvirt/hypervisor/stall-nudge.js';

/** Timers on a clock that moves only when told. */
class ScriptedTimers implements NudgeTimers {
  t = 0;
  #timers: Array<{ at: number; fn: () => void; live: boolean }> = [];
  now(): number {
    return this.t;
  }
  after(ms: number, fn: () => void): () => void {
    const timer = { at: this.t + ms, fn, live: true };
    this.#timers.push(timer);
    return () => void (timer.live = false);
  }
  /** Moves the clock to `to`, firing due timers in order. */
  advance(to: number): void {
    for (;;) {
      const due = this.#timers.filter((x) => x.live && x.at <= to).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      due.live = false;
      this.t = due.at;
      due.fn();
    }
    this.t = to;
  }
  get armed(): number {
    return this.#timers.filter((x) => x.live).length;
  }
}

const connA = { name: 'a' } as unknown as Connection;
const connB = { name: 'b' } as unknown as Connection;

function setUp(): {
  timers: ScriptedTimers;
  nudges: Array<{ conn: Connection; at: number }>;
  stalls: StallNudge;
  finishNudge: () => void;
} {
  const timers = new ScriptedTimers();
  const nudges: Array<{ conn: Connection; at: number }> = [];
  let finish: () => void = () => undefined;
  const stalls = new StallNudge({
    timers,
    nudge: (conn) => {
      nudges.push({ conn, at: timers.now() });
      return new Promise<void>((resolve) => (finish = resolve));
    },
  });
  return { timers, nudges, stalls, finishNudge: () => finish() };
}

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('StallNudge', () => {
  it('never nudges a lone call, however long it takes', () => {
    const { timers, nudges, stalls } = setUp();
    const end = stalls.begin(connA);
    timers.advance(10_000);
    end();
    expect(nudges).to.deep.equal([]);
    expect(timers.armed).to.equal(0);
  });

  it('leaves overlapping calls alone when they end in time', () => {
    const { timers, nudges, stalls } = setUp();
    const endStart = stalls.begin(connA);
    timers.advance(1000);
    const endLookup = stalls.begin(connA);
    timers.advance(1000 + NUDGE_FIRST_MS - 1);
    endLookup();
    timers.advance(5000);
    endStart();
    expect(nudges).to.deep.equal([]);
  });

  it('nudges once a call overlapping another is pending for NUDGE_FIRST_MS, then backs off', async () => {
    const { timers, nudges, stalls, finishNudge } = setUp();
    stalls.begin(connA); // a domain start holding the socket
    timers.advance(1000);
    const endLookup = stalls.begin(connA);
    timers.advance(1000 + NUDGE_FIRST_MS);
    expect(nudges.map((n) => n.at)).to.deep.equal([1000 + NUDGE_FIRST_MS]);
    expect(nudges[0]!.conn).to.equal(connA);
    finishNudge();
    await flush();
    // Still pending: nudged again after 4× the wait, not before.
    const second = 1000 + NUDGE_FIRST_MS + NUDGE_FIRST_MS * NUDGE_BACKOFF;
    timers.advance(second - 1);
    expect(nudges).to.have.length(1);
    timers.advance(second);
    expect(nudges.map((n) => n.at)).to.deep.equal([1000 + NUDGE_FIRST_MS, second]);
    finishNudge();
    await flush();
    endLookup();
    timers.advance(60_000);
    // The start alone is not nudged again.
    expect(nudges).to.have.length(2);
  });

  it('keeps one nudge in flight per connection and nudges each connection apart', () => {
    const { timers, nudges, stalls } = setUp();
    stalls.begin(connA);
    stalls.begin(connA);
    stalls.begin(connB);
    stalls.begin(connB);
    timers.advance(NUDGE_FIRST_MS);
    expect(nudges.map((n) => n.conn)).to.have.members([connA, connB]);
    // The first nudges never answer: the next round finds them in flight and sends none.
    timers.advance(NUDGE_FIRST_MS * (1 + NUDGE_BACKOFF));
    expect(nudges).to.have.length(2);
  });

  it('does not nudge the calls in flight at the moment another begins', () => {
    const { timers, nudges, stalls } = setUp();
    stalls.begin(connA);
    timers.advance(5000);
    // The start has been alone for 5 s; a second call begins: the first nudge comes only when
    // that call has had NUDGE_FIRST_MS to get through.
    stalls.begin(connA);
    expect(nudges).to.deep.equal([]);
    timers.advance(5000 + NUDGE_FIRST_MS - 1);
    expect(nudges).to.deep.equal([]);
    timers.advance(5000 + NUDGE_FIRST_MS);
    expect(nudges).to.have.length(1);
  });

  it('forgets calls when they end', () => {
    const { stalls } = setUp();
    const a = stalls.begin(connA);
    const b = stalls.begin(connA);
    expect(stalls.inFlight(connA)).to.equal(2);
    a();
    b();
    expect(stalls.inFlight(connA)).to.equal(0);
  });
});

describe('usesRpcClient', () => {
  it('is true for daemons and remote hosts, false for in-process drivers', () => {
    expect(usesRpcClient('qemu:///system')).to.equal(true);
    expect(usesRpcClient('qemu+unix:///system?socket=/run/x.sock')).to.equal(true);
    expect(usesRpcClient('qemu+ssh://root@host/system')).to.equal(true);
    expect(usesRpcClient('test:///default')).to.equal(false);
    expect(usesRpcClient('test:///tmp/hv-1.xml')).to.equal(false);
    expect(usesRpcClient('qemu:///embed?root=/tmp/x')).to.equal(false);
  });
});

describe('LibvirtCalls with the stall nudge', () => {
  it('nudges a stalled call through virConnectGetLibVersion off the lane, timed and counted', async () => {
    const timers = new ScriptedTimers();
    const observed: string[] = [];
    let asides = 0;
    const conn = {
      getLibVersionAside: () => {
        asides++;
        return Promise.resolve(9_000_000);
      },
    } as unknown as Connection;
    const calls = new LibvirtCalls({
      uri: 'qemu:///system',
      label: 'hv',
      pool: { get: () => Promise.resolve(conn), reportFailure: () => undefined },
      metrics: { observeCall: (_hv, op) => void observed.push(op) },
      nudge: { timers },
    });
    let endStart: () => void = () => undefined;
    let endLookup: () => void = () => undefined;
    const start = calls.call(
      conn,
      'virDomainCreateWithFlags',
      () => new Promise<void>((r) => (endStart = r)),
    );
    const lookup = calls.call(
      conn,
      'virDomainLookupByName',
      () => new Promise<void>((r) => (endLookup = r)),
    );
    timers.advance(NUDGE_FIRST_MS);
    await flush();
    expect(asides).to.equal(1);
    expect(observed).to.deep.equal(['virConnectGetLibVersion']);
    endLookup();
    endStart();
    await Promise.all([start, lookup]);
    expect(observed).to.deep.equal([
      'virConnectGetLibVersion',
      'virDomainLookupByName',
      'virDomainCreateWithFlags',
    ]);
  });

  it('never nudges on the test driver', async () => {
    const timers = new ScriptedTimers();
    const observed: string[] = [];
    const conn = {} as Connection;
    const calls = new LibvirtCalls({
      uri: 'test:///default',
      label: 'hv',
      pool: { get: () => Promise.resolve(conn), reportFailure: () => undefined },
      metrics: { observeCall: (_hv, op) => void observed.push(op) },
    });
    let end: () => void = () => undefined;
    const a = calls.call(
      conn,
      'virDomainCreateWithFlags',
      () => new Promise<void>((r) => (end = r)),
    );
    const b = calls.call(
      conn,
      'virDomainLookupByName',
      () => new Promise<void>((r) => setTimeout(r, 120)),
    );
    await b;
    end();
    await a;
    expect(observed).to.deep.equal(['virDomainLookupByName', 'virDomainCreateWithFlags']);
    expect(timers.armed).to.equal(0);
  });
});
