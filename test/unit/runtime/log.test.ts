import { expect } from 'chai';
import { Writable } from 'node:stream';
import { createLogger, describeError } from '../../../src/runtime/log.js';

/** A stream that keeps what winston writes. */
function sink(): { stream: Writable; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      cb();
    },
  });
  return { stream, lines };
}

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('runtime/log', () => {
  it('writes JSON lines with child fields and serialized errors', async () => {
    const { stream, lines } = sink();
    const log = createLogger({ stream, level: 'info' });
    log
      .child({ controller: 'maasnode' })
      .child({ namespace: 'lab', name: 'n1', reconcileID: 'r1' })
      .error('Reconciler error', { error: new Error('outer', { cause: new Error('inner') }) });
    log.debug('hidden');
    await settle();
    expect(lines).to.have.length(1);
    const rec = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(rec).to.include({
      level: 'error',
      message: 'Reconciler error',
      controller: 'maasnode',
      namespace: 'lab',
      name: 'n1',
      reconcileID: 'r1',
    });
    expect(rec['error']).to.deep.equal({
      name: 'Error',
      message: 'outer',
      cause: { name: 'Error', message: 'inner' },
    });
    expect(rec['timestamp']).to.be.a('string');
  });

  it('writes text lines in logfmt style', async () => {
    const { stream, lines } = sink();
    createLogger({ stream, format: 'text' }).info('Starting workers', {
      controller: 'hv',
      note: 'two words',
    });
    await settle();
    expect(lines[0]).to.match(/^\S+ INFO Starting workers controller=hv note="two words"$/);
  });

  it('does no work for a level it does not write, in children too', async () => {
    const { stream, lines } = sink();
    const log = createLogger({ stream, level: 'warn' });
    let reads = 0;
    const meta = {
      get detail(): string {
        reads++;
        return 'd';
      },
    };
    log.child({ controller: 'c' }).child({ name: 'n' }).debug('hidden', meta);
    log.child({ controller: 'c' }).info('hidden too', meta);
    log.child({ controller: 'c' }).warn('shown', meta);
    await settle();
    expect(lines.map((l) => (JSON.parse(l) as { message: string }).message)).to.deep.equal([
      'shown',
    ]);
    // Only the written line read its fields: the dropped ones never reached winston's pipeline.
    expect(reads).to.equal(1);
  });

  it('describes non-Error values as strings', () => {
    expect(describeError('plain')).to.equal('plain');
  });
});
