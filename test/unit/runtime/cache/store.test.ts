// The informer store's listing by namespace: an index kept with every add, update, delete
// and relist, so listing one namespace does not walk the whole kind.
import { expect } from 'chai';
import type { KubernetesObject } from '@kubernetes/client-node';
import { createStore } from '../../../../src/runtime/cache/store.js';
import { noopLogger } from '../../../../src/runtime/log.js';

const obj = (name: string, namespace: string | undefined, rv = '1'): KubernetesObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, resourceVersion: rv, ...(namespace === undefined ? {} : { namespace }) },
});

const names = (items: readonly KubernetesObject[]): string[] =>
  items.map((o) => o.metadata?.name ?? '').sort();

describe('runtime/cache store', () => {
  it('lists one namespace, all, or none, through adds, updates, deletes and relists', () => {
    const store = createStore<KubernetesObject>(noopLogger);
    store.upsert(obj('a', 'ns1'));
    store.upsert(obj('b', 'ns1'));
    store.upsert(obj('c', 'ns2'));
    store.upsert(obj('cluster', undefined));
    expect(names(store.list('ns1'))).to.deep.equal(['a', 'b']);
    expect(names(store.list())).to.deep.equal(['a', 'b', 'c', 'cluster']);
    // A cluster-scoped object is in no namespace, not in ''.
    expect(store.list('')).to.deep.equal([]);
    expect(store.list('nowhere')).to.deep.equal([]);

    store.upsert(obj('a', 'ns1', '2'));
    expect(
      store.list('ns1').find((o) => o.metadata?.name === 'a')?.metadata?.resourceVersion,
    ).to.equal('2');
    store.remove(obj('b', 'ns1', '3'));
    expect(names(store.list('ns1'))).to.deep.equal(['a']);
    store.remove(obj('never-cached', 'ns1'));

    store.replace([obj('c', 'ns2', '4'), obj('d', 'ns3')]);
    expect(store.list('ns1')).to.deep.equal([]);
    expect(names(store.list('ns2'))).to.deep.equal(['c']);
    expect(names(store.list('ns3'))).to.deep.equal(['d']);
    expect(names(store.list())).to.deep.equal(['c', 'd']);
    expect(Object.isFrozen(store.list('ns2'))).to.equal(true);
  });
});
