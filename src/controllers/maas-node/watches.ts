// What wakes a MaasNode pass: the node itself (not its own status writes), the VirtNetworks
// its NICs name (it waits for them), its Hypervisor, a clone's source, libvirt domain
// lifecycle events (a `virsh destroy` by hand is seen at once: the event's domain name is
// mapped to the node through the cache, without a scan), and libvirt's word that a network
// a waiting node uses has started (before the VirtNetwork's Ready status says so).
import {
  GroupVersionKinds,
  type Hypervisor as HypervisorResource,
  type MaasNode,
  type VirtNetwork,
} from '../../api/v1alpha1/index.js';
import {
  type BuilderOptions,
  type CacheReader,
  type Controller,
  controllerBuilder,
  InformerEvent,
  type Manager,
  type Reconciler,
  type Request,
  requestFor,
  requestKey,
  statusOnlyUpdatesIgnored,
} from '../../runtime/index.js';
import type { HypervisorRegistry } from '../common/hypervisor-registry.js';
import { isReadyAndCurrent } from '../common/conditions.js';
import { hypervisorGateChanged, networkGateChanged } from '../common/predicates.js';
import { NetworkEventLifecycleType } from '../../libvirt/index.js';
import { libvirtNetworkName } from '../virt-network/desired.js';
import { domainNameFor } from './desired.js';
import type { NodeMemory } from './memory.js';
import type { OwnDomainEvents } from './own-events.js';
import type { NodeCaches } from './scope.js';

/** The manager's caches of what a MaasNode pass reads. */
export function nodeCaches(manager: Manager): NodeCaches {
  return {
    nodes: manager.cache<MaasNode>(GroupVersionKinds.MaasNode),
    networks: manager.cache<VirtNetwork>(GroupVersionKinds.VirtNetwork),
    hypervisors: manager.cache<HypervisorResource>(GroupVersionKinds.Hypervisor),
  };
}

/** What {@link watchNodes} wires. */
export interface NodeWatches {
  /** The caches the reconciler reads (nodeCaches). */
  readonly caches: NodeCaches;
  /** The libvirt verbs per Hypervisor, whose domain events wake nodes. */
  readonly hypervisors: HypervisorRegistry;
  /** The domain events the passes cause themselves: they wake no pass. */
  readonly ownEvents?: OwnDomainEvents;
  /** Where network lifecycle events are remembered for the passes (memory.ts). */
  readonly memory?: Pick<NodeMemory, 'networkEvent'>;
  /** Workers, timeouts and the like. */
  readonly builderOptions: BuilderOptions;
  /** The controller's name. */
  readonly name: string;
}

/** Builds the MaasNode controller around `reconciler` with everything that wakes it. */
export function watchNodes(
  manager: Manager,
  watches: NodeWatches,
  reconciler: Reconciler,
): Controller {
  const { caches, hypervisors, ownEvents, memory, builderOptions, name } = watches;
  const nodesWhere = (pred: (n: Readonly<MaasNode>) => boolean, namespace?: string): Request[] =>
    caches.nodes
      .list(namespace)
      .filter(pred)
      .map((n) => requestFor(n));
  // Nodes that name their domain themselves (spec.domainName), by that name: the rest are
  // found from the domain name alone, so a domain event costs O(1), not a scan of every node.
  const explicitNames = new Map<string, Set<string>>();
  const index = (n: Readonly<MaasNode>, add: boolean): void => {
    const domain = n.spec?.domainName;
    if (!domain) return;
    const key = requestKey(requestFor(n));
    const keys = explicitNames.get(domain) ?? new Set<string>();
    if (add) keys.add(key);
    else keys.delete(key);
    if (keys.size > 0) explicitNames.set(domain, keys);
    else explicitNames.delete(domain);
  };
  const nodeInformer = manager.informer<MaasNode>(GroupVersionKinds.MaasNode);
  nodeInformer.on(InformerEvent.Add, (n) => index(n, true));
  nodeInformer.on(InformerEvent.Update, (n, old) => {
    index(old, false);
    index(n, true);
  });
  nodeInformer.on(InformerEvent.Delete, (n) => index(n, false));
  // Clones by their source: every node's event asks for its clones, and a scan of the
  // namespace per event cost more than any other watch in a 1000-node build.
  const clones = cloneIndex();
  nodeInformer.on(InformerEvent.Add, (n) => clones.put(n, true));
  nodeInformer.on(InformerEvent.Update, (n, old) => {
    clones.put(old, false);
    clones.put(n, true);
  });
  nodeInformer.on(InformerEvent.Delete, (n) => clones.put(n, false));
  // Filled once the controller exists; no event can arrive before the first reconcile.
  let enqueue: (req: Request) => void = () => undefined;
  hypervisors.onCreate((hvName, verbs) => {
    verbs.onDomainEvent((e) => {
      if (ownEvents?.consume(hvName, e.name, e.event)) return;
      for (const req of nodesForDomain(caches.nodes, explicitNames, hvName, e.name)) enqueue(req);
    });
    verbs.onNetworkEvent((e) => {
      memory?.networkEvent(hvName, e.name, e.event);
      if (e.event !== NetworkEventLifecycleType.Started) return;
      const vnet = virtNetworkOf(caches.networks, e.name);
      // A Ready network's nodes are not waiting for it (its status already woke them).
      if (vnet === undefined || vnet.spec.hypervisor !== hvName || isReadyAndCurrent(vnet)) return;
      const ns = vnet.metadata?.namespace;
      const vnetName = vnet.metadata?.name;
      for (const req of nodesWhere(
        (n) =>
          n.spec.hypervisor === hvName &&
          (n.spec.interfaces ?? []).some((nic) => nic.network === vnetName),
        ns,
      )) {
        enqueue(req);
      }
    });
  });
  const controller = controllerBuilder(manager)
    // Its own status writes need no pass of their own.
    .for(GroupVersionKinds.MaasNode, { predicates: [statusOnlyUpdatesIgnored] })
    .watches(
      GroupVersionKinds.VirtNetwork,
      (o) => {
        const vnet = o as Readonly<VirtNetwork>;
        const name = vnet.metadata?.name;
        return nodesWhere(
          (n) => (n.spec.interfaces ?? []).some((nic) => nic.network === name),
          vnet.metadata?.namespace,
        );
      },
      { predicates: [networkGateChanged] },
    )
    .watches(
      GroupVersionKinds.Hypervisor,
      (o) => nodesWhere((n) => n.spec.hypervisor === o.metadata?.name),
      { predicates: [hypervisorGateChanged] },
    )
    // A clone waits for its source to halt.
    .watches(GroupVersionKinds.MaasNode, (o) => clones.of(o))
    .withOptions(builderOptions)
    .named(name)
    .complete(reconciler);
  enqueue = (req) => controller.enqueue(req);
  return controller;
}

/**
 * The MaasNodes on `hypervisor` whose libvirt domain is `domain`: the node named by the default
 * `<namespace>.<name>` (namespaces hold no dots), and those listed in `explicitNames` (nodes
 * with spec.domainName, by that name). Pure; O(1) per event.
 */
export function nodesForDomain(
  nodes: Pick<CacheReader<MaasNode>, 'get'>,
  explicitNames: ReadonlyMap<string, ReadonlySet<string>>,
  hypervisor: string,
  domain: string,
): Request[] {
  const dot = domain.indexOf('.');
  const candidates = new Set(explicitNames.get(domain));
  if (dot > 0) {
    candidates.add(requestKey({ namespace: domain.slice(0, dot), name: domain.slice(dot + 1) }));
  }
  const out: Request[] = [];
  for (const key of candidates) {
    const n = nodes.get(key);
    if (n && n.spec.hypervisor === hypervisor && safeDomainName(n) === domain) {
      out.push(requestFor(n));
    }
  }
  return out;
}

/**
 * The VirtNetwork whose libvirt network is `libvirtName` (`<namespace>.<name>`: namespaces
 * hold no dots, so the first dot separates them), from the cache; undefined when none.
 */
export function virtNetworkOf(
  networks: Pick<CacheReader<VirtNetwork>, 'get'>,
  libvirtName: string,
): Readonly<VirtNetwork> | undefined {
  const dot = libvirtName.indexOf('.');
  if (dot <= 0) return undefined;
  const namespace = libvirtName.slice(0, dot);
  const name = libvirtName.slice(dot + 1);
  const vnet = networks.get({ namespace, name });
  return vnet && libvirtNetworkName(namespace, vnet.metadata?.name ?? '') === libvirtName
    ? vnet
    : undefined;
}

/** domainNameFor, or undefined for an object that lacks the metadata to name it. */
function safeDomainName(node: Readonly<MaasNode>): string | undefined {
  try {
    return domainNameFor(node);
  } catch {
    return undefined;
  }
}

/**
 * The clones of each node (spec.cloneFrom, same namespace), kept from the node informer's
 * events: `of(source)` costs O(its clones) instead of a scan of the namespace. Pure.
 */
export function cloneIndex(): {
  put(node: Readonly<MaasNode>, present: boolean): void;
  of(source: {
    readonly metadata?: { readonly namespace?: string; readonly name?: string };
  }): Request[];
} {
  const bySource = new Map<string, Map<string, Request>>();
  return {
    put(node, present) {
      const source = node.spec?.cloneFrom?.name;
      if (!source) return;
      const namespace = node.metadata?.namespace ?? '';
      const sourceKey = requestKey({ namespace, name: source });
      const req = requestFor(node);
      const clonesOf = bySource.get(sourceKey) ?? new Map<string, Request>();
      if (present) clonesOf.set(requestKey(req), req);
      else clonesOf.delete(requestKey(req));
      if (clonesOf.size > 0) bySource.set(sourceKey, clonesOf);
      else bySource.delete(sourceKey);
    },
    of(source) {
      const key = requestKey({
        namespace: source.metadata?.namespace ?? '',
        name: source.metadata?.name ?? '',
      });
      return [...(bySource.get(key)?.values() ?? [])];
    },
  };
}
