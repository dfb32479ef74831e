import { expect } from 'chai';
import { openProcessTunnel } from '../../../src/console/index.js';

/** A child that speaks first, like a VNC server, then echoes its stdin. */
const GREETER = ['-c', 'printf "RFB 003.008\\n"; exec cat'];

const readUntil = (d: NodeJS.ReadableStream, text: string): Promise<string> =>
  new Promise((resolve, reject) => {
    let got = '';
    const onData = (c: Buffer): void => {
      got += c.toString();
      if (got.includes(text)) {
        d.off('data', onData);
        resolve(got);
      }
    };
    d.on('data', onData);
    d.once('error', reject);
  });

describe('console/tunnel: a child process as a Duplex', () => {
  it('resolves on the first bytes, which the duplex then yields; writes reach the child', async () => {
    const d = await openProcessTunnel('sh', GREETER);
    const reading = readUntil(d, 'hello');
    d.write('hello');
    expect(await reading).to.equal('RFB 003.008\nhello');
    d.destroy();
  });

  it('destroying the duplex kills the child', async () => {
    const d = await openProcessTunnel('sh', ['-c', 'echo $$; exec sleep 60']);
    const pid = Number((await readUntil(d, '\n')).trim());
    d.destroy();
    await new Promise((r) => setTimeout(r, 200));
    expect(() => process.kill(pid, 0)).to.throw(/ESRCH/);
  });

  it('ending stdin ends the child and the duplex', async () => {
    const d = await openProcessTunnel('sh', GREETER);
    const ended = new Promise<void>((resolve) => d.on('end', resolve));
    d.resume();
    d.end();
    await ended;
  });

  it('a child that exits first rejects with its stderr and exit code', async () => {
    const t0 = performance.now();
    const err = await openProcessTunnel('sh', [
      '-c',
      'echo "channel 0: open failed: administratively prohibited: open failed" >&2; exit 255',
    ]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(Error);
    expect((err as Error).message).to.match(
      /^sh exited \(code 255\) before the far side answered: channel 0: open failed: administratively prohibited/,
    );
    expect(performance.now() - t0).to.be.below(5000);
  });

  it('a silent child is killed after the deadline; the error says so', async () => {
    const err = await openProcessTunnel('sh', ['-c', 'echo waiting >&2; exec sleep 60'], {
      timeoutMs: 300,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as Error).message).to.equal('no answer through sh within 300 ms: waiting');
  });

  it('a binary that does not exist rejects', async () => {
    const err = await openProcessTunnel('/nonexistent/ssh', []).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as Error).message).to.match(/^\/nonexistent\/ssh could not run: .*ENOENT/);
  });

  it('an abort gives up and kills the child', async () => {
    const ac = new AbortController();
    const opening = openProcessTunnel('sh', ['-c', 'exec sleep 60'], { signal: ac.signal });
    ac.abort();
    const err = await opening.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as Error).message).to.equal('the tunnel was abandoned');
  });
});
