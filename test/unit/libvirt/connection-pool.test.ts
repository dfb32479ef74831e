// The connection pool with a fake opener and a FakeClock: one open per URI however many
// callers race, keepalive where supported, reconnect with the jittered backoff after a failed
// open or a close callback, `up`/`down` events, and a close() that never hangs.
import { expect } from 'chai';
import {
  ConnectCloseReason,
  ConnectTimeoutError,
  createConnectionPool,
  DEFAULT_OPEN_TIMEOUT_MS,
  ErrorDomain,
  ErrorLevel,
  ErrorNumber,
  HypervisorUnreachableError,
  LibvirtError,
  type CloseEvent,
  type ConnectionPool,
  type DownInfo,
  type PooledConnection,
} from '../../../src/libvirt/index.js';
import { createJitteredBackoff } from '../../../src/runtime/backoff.js';
import { createFakeClock, type FakeClock } from '../../fakes/clock.js';
import { TEST_URI } from './fixtures.js';

class FakeConn implements PooledConnection {
  closed = false;
  keepAlive?: [number, number];
  onClose?: (e: CloseEvent) => void;
  closeHangs = false;
  constructor(
    readonly id: number,
    private readonly keepAliveError?: Error,
  ) {}
  async setKeepAlive(interval: number, count: number): Promise<boolean> {
    if (this.keepAliveError) throw this.keepAliveError;
    this.keepAlive = [interval, count];
    return true;
  }
  async registerCloseCallback(listener: (e: CloseEvent) => void) {
    this.onClose = listener;
    return { deregister: async () => void (this.onClose = undefined) };
  }
  close(): Promise<void> {
    if (this.closeHangs) return new Promise(() => undefined);
    this.closed = true;
    return Promise.resolve();
  }
  /** The daemon went away. */
  drop(): void {
    this.onClose?.({ reason: ConnectCloseReason.Eof });
  }
}

const refused = (): LibvirtError =>
  new LibvirtError(
    ErrorNumber.SystemError,
    ErrorDomain.Rpc,
    ErrorLevel.Error,
    'Failed to connect socket: Connection refused',
  );

/** Lets promise chains settle. */
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('connection pool', () => {
  let clock: FakeClock;
  let opened: FakeConn[];
  let failOpens: number;
  let keepAliveError: Error | undefined;
  let openGate: Promise<void> | undefined;
  let pool: ConnectionPool<FakeConn>;
  let events: string[];

  beforeEach(() => {
    clock = createFakeClock();
    opened = [];
    failOpens = 0;
    keepAliveError = undefined;
    openGate = undefined;
    events = [];
    pool = createConnectionPool<FakeConn>({
      clock,
      // No jitter: delays are exactly 800, 1600, 3200 … ms.
      backoff: () => createJitteredBackoff({ clock, random: () => 0 }),
      open: async () => {
        await openGate;
        if (failOpens > 0) {
          failOpens--;
          throw refused();
        }
        const c = new FakeConn(opened.length + 1, keepAliveError);
        opened.push(c);
        return c;
      },
    });
    pool.on('up', (uri, c) => events.push(`up ${uri} #${c.id}`));
    pool.on('down', (uri, info: DownInfo) => events.push(`down ${uri} ${info.why}`));
  });

  afterEach(() => pool.close());

  it('opens a URI once however many callers race, and switches keepalive on (5 s, 3)', async () => {
    let release = (): void => undefined;
    openGate = new Promise((r) => (release = r));
    const callers = Promise.all([pool.get('a'), pool.get('a'), pool.get('a')]);
    release();
    const conns = await callers;
    expect(opened).to.have.length(1);
    expect(new Set(conns).size).to.equal(1);
    expect(conns[0]?.keepAlive).to.deep.equal([5, 3]);
    expect(await pool.get('a')).to.equal(conns[0]);
    expect(pool.isUp('a')).to.equal(true);
    expect(events).to.deep.equal(['up a #1']);
    await pool.get('b');
    expect(opened).to.have.length(2);
  });

  it('gives up on an open that gets no answer, holds one stray attempt at a time, and closes a late connection', async () => {
    let release = (): void => undefined;
    openGate = new Promise((r) => (release = r));
    const first = pool.get('dead').then(
      () => undefined,
      (err: unknown) => err,
    );
    await clock.tickAsync(DEFAULT_OPEN_TIMEOUT_MS - 1);
    expect(events, 'still waiting within the timeout').to.deep.equal([]);
    await clock.tickAsync(1);
    const err = await first;
    expect(err).to.be.instanceOf(HypervisorUnreachableError);
    expect((err as Error).cause).to.be.instanceOf(ConnectTimeoutError);
    expect(String((err as Error).cause)).to.match(/no answer from dead within 20 s/);
    expect(events).to.deep.equal(['down dead open']);
    // Down and backing off: callers fail fast instead of queueing behind the dead host.
    const fast = await pool.get('dead').catch((e: unknown) => e);
    expect(fast).to.be.instanceOf(HypervisorUnreachableError);

    // The retry comes after the backoff, but no second native open starts while the first
    // one still hangs: it waits for the stray, and times out in its turn.
    await clock.tickAsync(800);
    await clock.tickAsync(DEFAULT_OPEN_TIMEOUT_MS);
    expect(opened, 'no open has returned yet').to.have.length(0);
    expect(events).to.deep.equal(['down dead open', 'down dead open']);

    // The host answers at last: the stray's late connection is closed, not used.
    release();
    await settle();
    await settle();
    expect(opened.length).to.be.at.least(1);
    expect(opened[0]?.closed, 'the late connection is closed').to.equal(true);
    expect(pool.isUp('dead')).to.equal(false);
    // The next retry opens for real.
    await clock.tickAsync(1600);
    await settle();
    expect(pool.isUp('dead')).to.equal(true);
    expect(events.at(-1)).to.match(/^up dead #\d+$/);
  });

  it('tolerates NO_SUPPORT for keepalive (local drivers) and fails on other keepalive errors', async () => {
    keepAliveError = new LibvirtError(
      ErrorNumber.NoSupport,
      ErrorDomain.Test,
      ErrorLevel.Error,
      'this function is not supported by the connection driver: virConnectSetKeepAlive',
    );
    expect((await pool.get('local')).id).to.equal(1);
    keepAliveError = refused();
    try {
      await pool.get('remote');
      throw new Error('expected HypervisorUnreachableError');
    } catch (err) {
      expect(err).to.be.instanceOf(HypervisorUnreachableError);
    }
    expect(opened[1]?.closed).to.equal(true);
  });

  it('marks a failed open down, fails fast while backing off, and reconnects with 0.8 s → 1.6 s → 3.2 s', async () => {
    failOpens = 3;
    try {
      await pool.get('h');
      throw new Error('expected HypervisorUnreachableError');
    } catch (err) {
      expect(err).to.be.instanceOf(HypervisorUnreachableError);
      expect((err as HypervisorUnreachableError).uri).to.equal('h');
      expect((err as Error).cause).to.be.instanceOf(LibvirtError);
    }
    expect(events).to.deep.equal(['down h open']);
    // While the retry is pending, callers are told at once, without another open.
    try {
      await pool.get('h');
      throw new Error('expected HypervisorUnreachableError');
    } catch (err) {
      expect(err).to.be.instanceOf(HypervisorUnreachableError);
    }
    expect(clock.dueTimes().map((t) => t - clock.now())).to.deep.equal([800]);
    await clock.tickAsync(800);
    expect(clock.dueTimes().map((t) => t - clock.now())).to.deep.equal([1600]);
    await clock.tickAsync(1600);
    expect(clock.dueTimes().map((t) => t - clock.now())).to.deep.equal([3200]);
    await clock.tickAsync(3199);
    expect(pool.isUp('h')).to.equal(false);
    await clock.tickAsync(1);
    expect(pool.isUp('h')).to.equal(true);
    expect(events.at(-1)).to.equal('up h #1');
    expect(clock.pendingTimers()).to.equal(0);
  });

  it('caps the delay at 30 s', async () => {
    failOpens = 100;
    await pool.get('h').catch(() => undefined);
    const delays: number[] = [];
    for (let i = 0; i < 8; i++) {
      const [due] = clock.dueTimes();
      delays.push((due ?? 0) - clock.now());
      await clock.tickAsync((due ?? 0) - clock.now());
    }
    expect(delays).to.deep.equal([800, 1600, 3200, 6400, 12800, 25600, 30000, 30000]);
  });

  it('goes down on the close callback, closes the dead connection and reconnects', async () => {
    const first = await pool.get('h');
    first.drop();
    await settle();
    expect(pool.isUp('h')).to.equal(false);
    expect(first.closed).to.equal(true);
    expect(events).to.deep.equal(['up h #1', 'down h closed']);
    await clock.tickAsync(800);
    const second = await pool.get('h');
    expect(second.id).to.equal(2);
    expect(events.at(-1)).to.equal('up h #2');
    // A late close callback of the old connection changes nothing.
    first.onClose?.({ reason: ConnectCloseReason.Eof });
    expect(pool.isUp('h')).to.equal(true);
  });

  it('goes down when a call reports the connection dead, ignoring stale connections', async () => {
    const first = await pool.get('h');
    pool.reportFailure('h', new FakeConn(99), refused());
    expect(pool.isUp('h')).to.equal(true);
    pool.reportFailure('h', first, refused());
    expect(pool.isUp('h')).to.equal(false);
    expect(events.at(-1)).to.equal('down h failure');
    await clock.tickAsync(800);
    expect(pool.isUp('h')).to.equal(true);
  });

  it('resets the backoff after a successful reconnect', async () => {
    failOpens = 2;
    await pool.get('h').catch(() => undefined);
    await clock.tickAsync(800);
    await clock.tickAsync(1600);
    const conn = await pool.get('h');
    conn.drop();
    await settle();
    expect(clock.dueTimes().map((t) => t - clock.now())).to.deep.equal([800]);
  });

  it('close() closes everything, stops reconnecting and never hangs on a stuck close', async () => {
    const a = await pool.get('a');
    const b = await pool.get('b');
    b.closeHangs = true;
    failOpens = 1;
    await pool.get('c').catch(() => undefined);
    expect(clock.pendingTimers()).to.equal(1);
    const done = pool.close();
    // The stuck close is given up on after closeTimeoutMs (5 s) on the pool's clock.
    await clock.tickAsync(5000);
    await done;
    expect(a.closed).to.equal(true);
    expect(clock.pendingTimers()).to.equal(0);
    try {
      await pool.get('a');
      throw new Error('expected HypervisorUnreachableError');
    } catch (err) {
      expect(err).to.be.instanceOf(HypervisorUnreachableError);
    }
  });

  it('opens test:///default for real: keepalive NO_SUPPORT is tolerated', async () => {
    const real = createConnectionPool();
    try {
      const c = await real.get(TEST_URI);
      expect(await c.getType()).to.equal('TEST');
      expect(await real.get(TEST_URI)).to.equal(c);
    } finally {
      await real.close();
    }
  });
});
