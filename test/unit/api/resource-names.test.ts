// Our kinds' kubectl words (names, singulars, short names, the category) against each other,
// and the clash check itself. The check against a stock cluster's discovery runs on the real
// kube-apiserver: test/integration/api/kubectl.test.ts.
import { expect } from 'chai';
import { Category, kinds } from '../../../src/api/v1alpha1/index.js';
import {
  type ResourceNames,
  nameClashes,
  ourResourceNames,
  resourceWords,
} from '../../support/resource-names.js';

const stock = (
  r: Partial<ResourceNames> & Pick<ResourceNames, 'name' | 'kind'>,
): ResourceNames => ({
  group: '',
  singularName: r.kind.toLowerCase(),
  ...r,
});

describe('api: kubectl names of the kinds', () => {
  it('gives every kind the category maaslab-all, a word no kind answers to', () => {
    expect(Category).to.equal('maaslab-all');
    for (const r of ourResourceNames) {
      expect(r.categories).to.deep.equal([Category]);
      expect([...resourceWords(r)]).to.not.include(Category);
    }
  });

  it('has no word two kinds share, nor a category that is a kind (kubectl get maaslab NAME)', () => {
    expect(nameClashes(ourResourceNames, [])).to.deep.equal([]);
    expect(ourResourceNames.map((r) => r.shortNames)).to.deep.equal(kinds.map((k) => k.shortNames));
  });

  describe('nameClashes', () => {
    it('finds a category that is also a kind’s singular: the bug of category "maaslab"', () => {
      const old = ourResourceNames.map((r) => ({ ...r, categories: ['maaslab'] }));
      expect(nameClashes(old, [])).to.include.members([
        'category "maaslab" of maaslabs.maaslab.dev is also its own name',
        'category "maaslab" of hypervisors.maaslab.dev names maaslabs.maaslab.dev as well',
      ]);
    });

    it('finds our words among a stock resource’s names, short names and categories', () => {
      const clashes = nameClashes(ourResourceNames, [
        stock({ name: 'monitors', kind: 'Monitor', shortNames: ['mn'] }),
        stock({ name: 'labs', kind: 'Lab', group: 'example.com' }),
        stock({ name: 'things', kind: 'Thing', categories: ['vnet', 'maaslab-all'] }),
      ]);
      expect(clashes).to.deep.equal([
        '"lab" names both labs.example.com and maaslabs.maaslab.dev',
        '"mn" names both maasnodes.maaslab.dev and monitors',
        '"vnet" names virtnetworks.maaslab.dev and is a category of things',
        'category "maaslab-all" of hypervisors.maaslab.dev is a category of things too',
        'category "maaslab-all" of maaslabs.maaslab.dev is a category of things too',
        'category "maaslab-all" of maaslabsnapshots.maaslab.dev is a category of things too',
        'category "maaslab-all" of maasnodes.maaslab.dev is a category of things too',
        'category "maaslab-all" of virtnetworks.maaslab.dev is a category of things too',
      ]);
    });

    it('leaves clashes among stock resources alone (events and events.k8s.io)', () => {
      const events = { name: 'events', kind: 'Event', shortNames: ['ev'] };
      expect(
        nameClashes(ourResourceNames, [
          stock(events),
          stock({ ...events, group: 'events.k8s.io' }),
        ]),
      ).to.deep.equal([]);
    });
  });
});
