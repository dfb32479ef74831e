// What wakes a VirtNetwork pass: the VirtNetwork itself (not its own status writes), the
// MaasNodes that name it while it is being deleted (it waits for them), its Hypervisor (it
// waits for it to be Ready), and libvirt network lifecycle events (someone ran net-destroy,
// or a foreign network of our name went away).
import {
  GroupVersionKinds,
  type Hypervisor as HypervisorResource,
  type MaasNode,
  type VirtNetwork,
} from '../../api/v1alpha1/index.js';
import {
  type BuilderOptions,
  type Controller,
  controllerBuilder,
  generationChanged,
  isDeleting,
  type Manager,
  type Reconciler,
  type Request,
  requestFor,
  statusOnlyUpdatesIgnored,
} from '../../runtime/index.js';
import type { NetworkEventLifecycleType } from '../../libvirt/index.js';
import type { HypervisorRegistry } from '../common/hypervisor-registry.js';
import type { OwnEvents } from '../common/own-events.js';
import { hypervisorGateChanged } from '../common/predicates.js';
import { libvirtNetworkName } from './desired.js';
import type { NetworkCaches } from './scope.js';

/** The manager's caches of what a VirtNetwork pass reads. */
export function networkCaches(manager: Manager): NetworkCaches {
  return {
    networks: manager.cache<VirtNetwork>(GroupVersionKinds.VirtNetwork),
    nodes: manager.cache<MaasNode>(GroupVersionKinds.MaasNode),
    hypervisors: manager.cache<HypervisorResource>(GroupVersionKinds.Hypervisor),
  };
}

/** What {@link watchNetworks} wires. */
export interface NetworkWatches {
  /** The caches the reconciler reads (networkCaches). */
  readonly caches: NetworkCaches;
  /** The libvirt verbs per Hypervisor, whose network events wake VirtNetworks. */
  readonly hypervisors: HypervisorRegistry;
  /** The network events the passes cause themselves: they wake no pass. */
  readonly ownEvents?: OwnEvents<NetworkEventLifecycleType>;
  /** Workers, timeouts and the like. */
  readonly builderOptions: BuilderOptions;
  /** The controller's name. */
  readonly name: string;
}

/** The VirtNetworks a MaasNode names, in its namespace. */
function networksOf(obj: { metadata?: { namespace?: string } }): Request[] {
  const node = obj as Readonly<MaasNode>;
  const namespace = node.metadata?.namespace;
  const names = new Set((node.spec?.interfaces ?? []).map((nic) => nic.network));
  return [...names].map((name) => (namespace ? { namespace, name } : { name }));
}

/** Builds the VirtNetwork controller around `reconciler` with everything that wakes it. */
export function watchNetworks(
  manager: Manager,
  watches: NetworkWatches,
  reconciler: Reconciler,
): Controller {
  const { caches, hypervisors, ownEvents, builderOptions, name } = watches;
  const networksOn = (hypervisor: string | undefined): Request[] =>
    caches.networks
      .list()
      .filter((n) => hypervisor !== undefined && n.spec.hypervisor === hypervisor)
      .map((n) => requestFor(n));
  // Filled once the controller exists; events cannot arrive before then (no verbs yet).
  let enqueue: (req: Request) => void = () => undefined;
  hypervisors.onCreate((hvName, verbs) => {
    verbs.onNetworkEvent((e) => {
      if (ownEvents?.consume(hvName, e.name, e.event)) return;
      for (const n of caches.networks.list()) {
        const ns = n.metadata?.namespace ?? '';
        const vnetName = n.metadata?.name ?? '';
        if (n.spec.hypervisor === hvName && libvirtNetworkName(ns, vnetName) === e.name) {
          enqueue(requestFor(n));
        }
      }
    });
  });
  const controller = controllerBuilder(manager)
    // Its own status writes need no pass of their own.
    .for(GroupVersionKinds.VirtNetwork, { predicates: [statusOnlyUpdatesIgnored] })
    // Only a network being deleted reads its users (it waits for them to go), and only their
    // specs (their NICs): a node's creation or status writes wake no other network.
    .watches(
      GroupVersionKinds.MaasNode,
      (o) =>
        networksOf(o).filter((req) => {
          const vnet = caches.networks.get(req);
          return vnet !== undefined && isDeleting(vnet);
        }),
      { predicates: [generationChanged] },
    )
    .watches(GroupVersionKinds.Hypervisor, (o) => networksOn(o.metadata?.name), {
      predicates: [hypervisorGateChanged],
    })
    .withOptions(builderOptions)
    .named(name)
    .complete(reconciler);
  enqueue = (req) => controller.enqueue(req);
  return controller;
}
