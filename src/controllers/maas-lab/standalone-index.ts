// The stand-alone MaasNodes (no MaasLab controls them) per hypervisor, kept up to date from
// the node informer's events, for the MAC collision check every lab pass makes. Without it
// each lab pass walked every MaasNode of the cluster (1000 at 10 labs of 100) to find the
// few that no lab controls. Pure bookkeeping over frozen cached objects.
import type { MaasNode } from '../../api/v1alpha1/index.js';
import { requestFor, requestKey } from '../../runtime/index.js';
import { labControlled } from './scope.js';

const keyOf = (node: Readonly<MaasNode>): string => requestKey(requestFor(node));

/** The index; the informer's Add, Update and Delete feed it. */
export interface StandaloneNodeIndex {
  /** A node was added to the cache. */
  add(node: Readonly<MaasNode>): void;
  /** A cached node changed (it may have gained or lost its lab, or moved hypervisor). */
  update(node: Readonly<MaasNode>, old: Readonly<MaasNode>): void;
  /** A node left the cache. */
  remove(node: Readonly<MaasNode>): void;
  /** The stand-alone nodes on `hypervisor` (a frozen array, shared until the next change). */
  on(hypervisor: string): ReadonlyArray<Readonly<MaasNode>>;
}

/** An empty index. */
export function createStandaloneNodeIndex(): StandaloneNodeIndex {
  const byHypervisor = new Map<string, Map<string, Readonly<MaasNode>>>();
  const lists = new Map<string, ReadonlyArray<Readonly<MaasNode>>>();
  const drop = (node: Readonly<MaasNode>): void => {
    const hv = node.spec?.hypervisor ?? '';
    if (byHypervisor.get(hv)?.delete(keyOf(node))) lists.delete(hv);
  };
  const put = (node: Readonly<MaasNode>): void => {
    if (labControlled(node)) return;
    const hv = node.spec?.hypervisor ?? '';
    const nodes = byHypervisor.get(hv) ?? new Map<string, Readonly<MaasNode>>();
    nodes.set(keyOf(node), node);
    byHypervisor.set(hv, nodes);
    lists.delete(hv);
  };
  return {
    add: put,
    update(node, old) {
      drop(old);
      put(node);
    },
    remove: drop,
    on(hypervisor) {
      const known = lists.get(hypervisor);
      if (known) return known;
      const list = Object.freeze([...(byHypervisor.get(hypervisor)?.values() ?? [])]);
      lists.set(hypervisor, list);
      return list;
    },
  };
}
