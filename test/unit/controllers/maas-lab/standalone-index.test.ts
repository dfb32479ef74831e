// The stand-alone MaasNodes per hypervisor, kept from informer events: a node no lab controls
// is listed on its hypervisor until it is deleted, moves, or a lab takes it over.
import { expect } from 'chai';
import type { MaasNode } from '../../../../src/api/v1alpha1/index.js';
import { createStandaloneNodeIndex } from '../../../../src/controllers/maas-lab/standalone-index.js';
import { node } from '../fixtures.js';

const ownedByLab = (n: MaasNode): MaasNode => ({
  ...n,
  metadata: {
    ...n.metadata,
    ownerReferences: [
      {
        apiVersion: 'maaslab.dev/v1alpha1',
        kind: 'MaasLab',
        name: 'lab',
        uid: 'lab-uid',
        controller: true,
      },
    ],
  },
});

const names = (nodes: readonly MaasNode[]): string[] =>
  nodes.map((n) => n.metadata?.name ?? '').sort();

describe('controllers/maas-lab/standalone-index', () => {
  it('lists the nodes no lab controls, per hypervisor, through adds, updates and deletes', () => {
    const index = createStandaloneNodeIndex();
    const a = node('a');
    const b = node('b', { hypervisor: 'other' });
    const c = ownedByLab(node('c'));
    index.add(a);
    index.add(b);
    index.add(c);
    expect(names(index.on('local'))).to.deep.equal(['a']);
    expect(names(index.on('other'))).to.deep.equal(['b']);
    expect(index.on('nowhere')).to.deep.equal([]);
    // The same array until something changes.
    expect(index.on('local')).to.equal(index.on('local'));
    expect(Object.isFrozen(index.on('local'))).to.equal(true);

    // Moved to another hypervisor; taken over by a lab; released by it; deleted.
    const moved = node('a', { hypervisor: 'other' });
    index.update(moved, a);
    expect(names(index.on('local'))).to.deep.equal([]);
    expect(names(index.on('other'))).to.deep.equal(['a', 'b']);
    const taken = ownedByLab(b);
    index.update(taken, b);
    expect(names(index.on('other'))).to.deep.equal(['a']);
    const released = node('c');
    index.update(released, c);
    expect(names(index.on('local'))).to.deep.equal(['c']);
    index.remove(moved);
    expect(names(index.on('other'))).to.deep.equal([]);
  });
});
