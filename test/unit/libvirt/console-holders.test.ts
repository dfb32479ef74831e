// ConsoleHolders: a forced attach ends this process's session on the same console first (it
// fails with ConsoleTakenOverError and has closed before the new one is attached), waits no
// longer than the close wait for a session that does not close, leaves other consoles and
// non-forced attaches alone, and runs attaches to one console one at a time. Sessions are
// plain Node duplexes whose close the test controls; the libvirt side (why libvirtd cannot be
// left to tell the old session) is covered by test/integration/libvirt/console-stream.test.ts.
import { expect } from 'chai';
import { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConsoleHolders, ConsoleTakenOverError } from '../../../src/libvirt/console-holders.js';

/** A session whose close takes `closeMs` (or never, with `Infinity`), logging to `log`. */
class Session extends Duplex {
  errors: Error[] = [];
  constructor(
    readonly name: string,
    readonly log: string[],
    readonly closeMs = 0,
  ) {
    super();
    this.on('error', (e: Error) => this.errors.push(e));
    this.on('close', () => log.push(`${name} closed`));
  }
  override _read(): void {}
  override _write(_c: Buffer, _e: BufferEncoding, cb: () => void): void {
    cb();
  }
  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.log.push(`${this.name} destroyed`);
    if (this.closeMs === Infinity) return;
    setTimeout(() => cb(err), this.closeMs);
  }
}

describe('ConsoleHolders: forced console takeovers within the process', () => {
  it('a forced attach fails the holder with ConsoleTakenOverError and attaches after it closed', async () => {
    const holders = new ConsoleHolders<Session>();
    const log: string[] = [];
    const a = await holders.attach('k', 'dom', true, async () => new Session('a', log, 30));
    expect(holders.holder('k')).to.equal(a);
    const b = await holders.attach('k', 'dom', true, async () => {
      log.push('b attach');
      return new Session('b', log);
    });
    expect(log).to.deep.equal(['a destroyed', 'a closed', 'b attach']);
    expect(a.errors).to.have.length(1);
    expect(a.errors[0]).to.be.instanceOf(ConsoleTakenOverError);
    expect(a.errors[0]?.message).to.equal('console of dom taken over by another session (force)');
    expect(holders.holder('k')).to.equal(b);
    expect(b.destroyed).to.equal(false);
  });

  it('a forced attach also waits for a holder that is already closing, without failing it', async () => {
    const holders = new ConsoleHolders<Session>();
    const log: string[] = [];
    const a = await holders.attach('k', 'dom', true, async () => new Session('a', log, 30));
    a.destroy();
    await holders.attach('k', 'dom', true, async () => {
      log.push('b attach');
      return new Session('b', log);
    });
    expect(log).to.deep.equal(['a destroyed', 'a closed', 'b attach']);
    expect(a.errors).to.deep.equal([]);
  });

  it('a holder that does not close delays the new attach by the close wait, no longer', async () => {
    const holders = new ConsoleHolders<Session>(100);
    const log: string[] = [];
    await holders.attach('k', 'dom', true, async () => new Session('a', log, Infinity));
    const t0 = performance.now();
    const b = await holders.attach('k', 'dom', true, async () => new Session('b', log));
    const waited = performance.now() - t0;
    expect(waited).to.be.at.least(90).and.below(1000);
    expect(holders.holder('k')).to.equal(b);
  });

  it('without force the holder stays; other consoles are never touched', async () => {
    const holders = new ConsoleHolders<Session>();
    const log: string[] = [];
    const a = await holders.attach('k', 'dom', true, async () => new Session('a', log));
    const other = await holders.attach('other', 'dom2', true, async () => new Session('o', log));
    const busy = new Error('OPERATION_FAILED: Active console session exists');
    const err: unknown = await holders
      .attach('k', 'dom', false, () => Promise.reject(busy))
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).to.equal(busy);
    await holders.attach('k2', 'dom', true, async () => new Session('c', log));
    expect(a.destroyed).to.equal(false);
    expect(other.destroyed).to.equal(false);
    expect(holders.holder('k')).to.equal(a);
    expect(log).to.deep.equal([]);
  });

  it('concurrent forced attaches to one console run one at a time; the last one holds it', async () => {
    const holders = new ConsoleHolders<Session>();
    const log: string[] = [];
    let attaching = 0;
    let most = 0;
    const open = (name: string) => async (): Promise<Session> => {
      most = Math.max(most, ++attaching);
      await sleep(10);
      attaching--;
      return new Session(name, log, 5);
    };
    const [a, b, c] = await Promise.all([
      holders.attach('k', 'dom', true, open('a')),
      holders.attach('k', 'dom', true, open('b')),
      holders.attach('k', 'dom', true, open('c')),
    ]);
    expect(most).to.equal(1);
    expect(a?.errors[0]).to.be.instanceOf(ConsoleTakenOverError);
    expect(b?.errors[0]).to.be.instanceOf(ConsoleTakenOverError);
    expect(c?.destroyed).to.equal(false);
    expect(holders.holder('k')).to.equal(c);
  });

  it('a failed attach is not remembered, and a closed session is forgotten', async () => {
    const holders = new ConsoleHolders<Session>();
    const log: string[] = [];
    await holders
      .attach('k', 'dom', true, () => Promise.reject(new Error('no domain')))
      .catch(() => undefined);
    expect(holders.holder('k')).to.equal(undefined);
    const a = await holders.attach('k', 'dom', true, async () => new Session('a', log));
    const closed = new Promise((resolve) => a.once('close', resolve));
    a.destroy();
    await closed;
    expect(holders.holder('k')).to.equal(undefined);
    // Nothing left to take over: the next forced attach ends no one.
    await holders.attach('k', 'dom', true, async () => new Session('b', log));
    expect(log).to.deep.equal(['a destroyed', 'a closed']);
  });
});
