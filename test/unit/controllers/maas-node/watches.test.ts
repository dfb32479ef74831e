import { expect } from 'chai';
import { cloneIndex } from '../../../../src/controllers/maas-node/watches.js';
import { node } from '../fixtures.js';

describe('controllers/maas-node cloneIndex (a source event → its clones, no scan)', () => {
  it('finds the clones of a source in its namespace, and forgets them when they go or change', () => {
    const idx = cloneIndex();
    const a = node('a', { cloneFrom: { name: 'src' } });
    const b = node('b', { cloneFrom: { name: 'src' } });
    const c = node('c', { cloneFrom: { name: 'other' } });
    const other = { ...a, metadata: { ...a.metadata, namespace: 'elsewhere' } };
    for (const n of [a, b, c, other, node('plain')]) idx.put(n, true);
    const src = node('src');
    expect(idx.of(src)).to.deep.equal([
      { namespace: 'maas', name: 'a' },
      { namespace: 'maas', name: 'b' },
    ]);
    expect(idx.of(node('plain'))).to.deep.equal([]);
    // b stops cloning (an update: old out, new in), a is deleted.
    idx.put(b, false);
    idx.put(node('b'), true);
    idx.put(a, false);
    expect(idx.of(src)).to.deep.equal([]);
    expect(idx.of({ metadata: { namespace: 'elsewhere', name: 'src' } })).to.deep.equal([
      { namespace: 'elsewhere', name: 'a' },
    ]);
  });
});
