import { expect } from 'chai';
import {
  TerminalError,
  asTerminalError,
  isTerminalError,
  parseRequestKey,
  requestKey,
} from '../../../../src/runtime/controller/reconcile.js';
import { mergeResults, requeueDelay } from '../../../../src/runtime/controller/result.js';

describe('runtime/reconcile', () => {
  it('keys requests like client-go and parses them back', () => {
    expect(requestKey({ namespace: 'lab', name: 'node-1' })).to.equal('lab/node-1');
    expect(requestKey({ name: 'hv-1' })).to.equal('hv-1');
    expect(parseRequestKey('lab/node-1')).to.deep.equal({ namespace: 'lab', name: 'node-1' });
    expect(parseRequestKey('hv-1')).to.deep.equal({ name: 'hv-1' });
    for (const bad of ['', '/x', 'x/', 'a/b/c']) {
      expect(() => parseRequestKey(bad), bad).to.throw(TypeError);
    }
  });

  it('TerminalError carries reason and cause, and is found through a cause chain', () => {
    const root = new Error('domain exists');
    const t = new TerminalError('name clash', { reason: 'NameConflict', cause: root });
    expect(t.reason).to.equal('NameConflict');
    expect(t.cause).to.equal(root);
    expect(t.name).to.equal('TerminalError');
    expect(new TerminalError('x').reason).to.equal('TerminalError');
    const wrapped = new Error('reconcile failed', { cause: new Error('phase', { cause: t }) });
    expect(asTerminalError(wrapped)).to.equal(t);
    expect(isTerminalError(wrapped)).to.equal(true);
    expect(isTerminalError(root)).to.equal(false);
    expect(isTerminalError('string')).to.equal(false);
  });

  it('tolerates a cyclic cause chain', () => {
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    (a as { cause?: unknown }).cause = b;
    expect(isTerminalError(a)).to.equal(false);
  });
});

describe('runtime/result', () => {
  it('mergeResults keeps the lowest non-zero requeue', () => {
    expect(mergeResults()).to.deep.equal({});
    expect(mergeResults({}, { requeueAfterMs: 0 }, undefined)).to.deep.equal({});
    expect(
      mergeResults(
        { requeueAfterMs: 30_000 },
        {},
        { requeueAfterMs: 5_000 },
        { requeueAfterMs: 0 },
      ),
    ).to.deep.equal({ requeueAfterMs: 5_000 });
    expect(mergeResults({ requeueAfterMs: -1 }, { requeueAfterMs: Number.NaN })).to.deep.equal({});
  });

  it('requeueDelay reads only meaningful delays', () => {
    expect(requeueDelay({ requeueAfterMs: 10 })).to.equal(10);
    expect(requeueDelay({ requeueAfterMs: 0 })).to.equal(undefined);
    expect(requeueDelay({ requeueAfterMs: Infinity })).to.equal(undefined);
    expect(requeueDelay({})).to.equal(undefined);
  });
});
