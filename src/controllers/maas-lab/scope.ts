// MaasLab scope: everything one reconcile pass reads, gathered up front from the informer
// caches (no API calls, no libvirt), built fresh on every pass and never kept. The act step
// records what it applied or deleted here, so the report sees this pass's writes before the
// caches do.
import {
  Group,
  GroupVersion,
  MaasLabKind,
  type Hypervisor,
  type MaasLab,
  type MaasLabSnapshot,
  type MaasNode,
  type VirtNetwork,
} from '../../api/v1alpha1/index.js';
import {
  type CacheReader,
  controllerOf,
  groupOf,
  isControlledBy,
  type MetaObject,
  type Request,
} from '../../runtime/index.js';

/** The caches the scope is read from (the manager's, or fakes in unit tests). */
export interface LabCaches {
  /** MaasLabs, every namespace: collisions are checked across namespaces. */
  readonly labs: CacheReader<MaasLab>;
  /** VirtNetworks. */
  readonly networks: CacheReader<VirtNetwork>;
  /** MaasNodes, every namespace (for stand-alone nodes' MACs). */
  readonly nodes: CacheReader<MaasNode>;
  /** Hypervisors (cluster-scoped). */
  readonly hypervisors: CacheReader<Hypervisor>;
  /** MaasLabSnapshots: what spec.restoreFrom names, and the lab's snapshot bytes. */
  readonly snapshots?: CacheReader<MaasLabSnapshot>;
  /**
   * The stand-alone MaasNodes on a hypervisor, from an index (standalone-index.ts); without
   * it they are found by walking every cached MaasNode.
   */
  readonly standaloneNodes?: (hypervisor: string) => ReadonlyArray<Readonly<MaasNode>>;
}

/** One pass's view of a lab. */
export interface LabScope {
  /** The lab as cached (frozen). */
  readonly lab: Readonly<MaasLab>;
  /** Its Hypervisor; undefined when no such object exists. */
  readonly hypervisor: Readonly<Hypervisor> | undefined;
  /** VirtNetworks this lab controls, by name; the act step updates it. */
  readonly networks: Map<string, Readonly<VirtNetwork>>;
  /** MaasNodes this lab controls, by name; the act step updates it. */
  readonly nodes: Map<string, Readonly<MaasNode>>;
  /** Names of VirtNetworks in the namespace this lab does not control: never applied to. */
  readonly foreignNetworks: ReadonlySet<string>;
  /** Names of MaasNodes in the namespace this lab does not control: never applied to. */
  readonly foreignNodes: ReadonlySet<string>;
  /** Every lab on the same hypervisor, this one included (for MAC collisions). */
  readonly peers: readonly Readonly<MaasLab>[];
  /** MaasNodes on the same hypervisor that no MaasLab controls (for MAC collisions). */
  readonly standaloneNodes: readonly Readonly<MaasNode>[];
}

/** True when a MaasLab is `obj`'s controller; such nodes are covered by their lab's spec. */
/** Whether a MaasLab is `obj`'s controller (its controller reference names a MaasLab). */
export const labControlled = (obj: Readonly<MaasNode>): boolean => {
  const ref = controllerOf(obj);
  return ref !== undefined && ref.kind === MaasLabKind && groupOf(ref.apiVersion) === Group;
};

const byName = <T extends { readonly metadata?: { readonly name?: string } }>(
  items: readonly T[],
): Map<string, T> => new Map(items.map((o) => [o.metadata?.name ?? '', o]));

/** Splits objects into those `owner` controls and the rest. */
function split<T extends MaasNode | VirtNetwork>(
  items: readonly T[],
  owner: MetaObject,
): [T[], T[]] {
  const mine: T[] = [];
  const others: T[] = [];
  for (const o of items) (isControlledBy(o, owner) ? mine : others).push(o);
  return [mine, others];
}

/**
 * Reads the lab named by `req` and what it depends on. Returns undefined when the lab is gone
 * (garbage collection removes its children). Children are those whose controller reference
 * names this lab's UID: objects that merely share the name prefix are never touched.
 */
export function observeLab(req: Request, caches: LabCaches): LabScope | undefined {
  const lab = caches.labs.get(req);
  if (!lab) return undefined;
  const namespace = lab.metadata?.namespace;
  const owner = { apiVersion: GroupVersion, kind: MaasLabKind, metadata: lab.metadata };
  const hypervisorName = lab.spec.hypervisor;
  const [networks, foreignNetworks] = split(caches.networks.list(namespace), owner);
  const [nodes, foreignNodes] = split(caches.nodes.list(namespace), owner);
  return {
    lab,
    hypervisor: caches.hypervisors.get({ name: hypervisorName }),
    networks: byName(networks),
    nodes: byName(nodes),
    foreignNetworks: new Set(foreignNetworks.map((o) => o.metadata?.name ?? '')),
    foreignNodes: new Set(foreignNodes.map((o) => o.metadata?.name ?? '')),
    peers: caches.labs.list().filter((l) => l.spec.hypervisor === hypervisorName),
    standaloneNodes:
      caches.standaloneNodes?.(hypervisorName) ??
      caches.nodes.list().filter((n) => n.spec.hypervisor === hypervisorName && !labControlled(n)),
  };
}
