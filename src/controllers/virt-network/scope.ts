// VirtNetwork scope: what one pass reads — the VirtNetwork, its Hypervisor and the MaasNodes
// that use it from the informer caches, then the libvirt network of its name — built fresh on
// every pass and never kept. Reads only. Also home of the two helpers both libvirt-facing
// controllers (VirtNetwork and MaasNode) share: the "is the Hypervisor Ready?" gate.
import {
  GroupVersion,
  HypervisorKind,
  HypervisorNotReadyReason,
  HypervisorUnreachableReason,
  MaasNodeKind,
  ReadyCondition,
  VirtNetworkKind,
  type Hypervisor as HypervisorResource,
  type MaasNode,
  type VirtNetwork,
} from '../../api/v1alpha1/index.js';
import {
  HypervisorUnreachableError,
  type Hypervisor,
  type ObservedNetwork,
} from '../../libvirt/hypervisor/index.js';
import type { OwnerRef } from '../../libvirt/xml/index.js';
import { type CacheReader, isDeleting, type Kind, type Request } from '../../runtime/index.js';
import type { Why } from '../common/conditions.js';
import { libvirtNetworkName, networkOwner } from './desired.js';

/** The kinds the VirtNetwork and MaasNode controllers read, as the runtime names them. */
export const InventoryKinds = {
  VirtNetwork: { apiVersion: GroupVersion, kind: VirtNetworkKind },
  MaasNode: { apiVersion: GroupVersion, kind: MaasNodeKind },
  Hypervisor: { apiVersion: GroupVersion, kind: HypervisorKind },
} as const satisfies Record<string, Kind>;

// ---------------------------------------------------------------------------------------------
// Shared with the MaasNode controller.

/**
 * Whether dependants may build on a Hypervisor, read from its controller's Ready condition:
 * - `missing`: no such resource (Stalled, HypervisorNotFound);
 * - `unreachable`: Ready is not True because libvirt does not answer (Ready=Unknown);
 * - `notReady`: not reconciled yet, or Ready=False for another reason (storage pool…);
 * - `ready`: Ready=True.
 */
export type HypervisorGate =
  | { readonly kind: 'ready' }
  | { readonly kind: 'missing' }
  | ({ readonly kind: 'unreachable' } & Why)
  | ({ readonly kind: 'notReady' } & Why);

/** Reads the gate from a cached Hypervisor resource. Pure. */
export function hypervisorGate(hv: Readonly<HypervisorResource> | undefined): HypervisorGate {
  if (hv === undefined) return { kind: 'missing' };
  const ready = hv.status?.conditions?.find((c) => c.type === ReadyCondition);
  if (ready?.status === 'True') return { kind: 'ready' };
  const name = hv.metadata?.name ?? '';
  if (ready?.reason === HypervisorUnreachableReason) {
    return {
      kind: 'unreachable',
      reason: HypervisorUnreachableReason,
      message: `Hypervisor ${name}: ${ready.message || 'libvirt cannot be reached'}`,
    };
  }
  return {
    kind: 'notReady',
    reason: HypervisorNotReadyReason,
    message: `waiting for Hypervisor ${name} to be Ready${ready?.message ? `: ${ready.message}` : ''}`,
  };
}

// ---------------------------------------------------------------------------------------------
// VirtNetwork.

/** The caches a VirtNetwork pass reads (the manager's, or fakes in unit tests). */
export interface NetworkCaches {
  /** VirtNetworks. */
  readonly networks: CacheReader<VirtNetwork>;
  /** MaasNodes, to know who still uses a network. */
  readonly nodes: CacheReader<MaasNode>;
  /** Hypervisors (cluster-scoped). */
  readonly hypervisors: CacheReader<HypervisorResource>;
}

/** One pass's view of a VirtNetwork, from the caches. */
export interface NetworkScope {
  /** The VirtNetwork as cached (frozen). */
  readonly vnet: Readonly<VirtNetwork>;
  /** Its name in libvirt, `<namespace>.<name>`. */
  readonly libvirtName: string;
  /** The owner stamp its libvirt network carries. */
  readonly owner: OwnerRef;
  /** metadata.deletionTimestamp is set. */
  readonly deleting: boolean;
  /** Its Hypervisor resource; undefined when there is none. */
  readonly hypervisor: Readonly<HypervisorResource> | undefined;
  /** Whether the Hypervisor can be built on. */
  readonly gate: HypervisorGate;
  /** MaasNodes in the namespace with a NIC on this network, sorted. */
  readonly usedBy: readonly string[];
}

/** The names of the MaasNodes in `namespace` with a NIC on VirtNetwork `network`, sorted. */
export function networkUsers(
  nodes: readonly Readonly<MaasNode>[],
  namespace: string | undefined,
  network: string,
): string[] {
  return nodes
    .filter((n) => n.metadata?.namespace === namespace)
    .filter((n) => (n.spec.interfaces ?? []).some((nic) => nic.network === network))
    .map((n) => n.metadata?.name ?? '')
    .sort();
}

/** Reads the VirtNetwork named by `req` and what it depends on; undefined when it is gone. */
export function observeNetworkScope(req: Request, caches: NetworkCaches): NetworkScope | undefined {
  const vnet = caches.networks.get(req);
  if (!vnet) return undefined;
  const namespace = vnet.metadata?.namespace;
  const name = vnet.metadata?.name ?? '';
  const hypervisor = caches.hypervisors.get({ name: vnet.spec.hypervisor });
  return {
    vnet,
    libvirtName: libvirtNetworkName(namespace ?? '', name),
    owner: networkOwner(vnet),
    deleting: isDeleting(vnet),
    hypervisor,
    gate: hypervisorGate(hypervisor),
    usedBy: networkUsers(caches.nodes.list(namespace), namespace, name),
  };
}

/** What libvirt said about the network: the network (or its absence), or that it is unreachable. */
export type LibvirtNetworkView =
  | { readonly reachable: true; readonly network: ObservedNetwork | undefined }
  | { readonly reachable: false; readonly message: string };

/**
 * Reads the libvirt network of `libvirtName`. An unreachable host is an observation, not an
 * error (the report says Ready=Unknown); any other libvirt failure is thrown and retried.
 */
export async function observeLibvirtNetwork(
  verbs: Pick<Hypervisor, 'observeNetwork'>,
  libvirtName: string,
): Promise<LibvirtNetworkView> {
  try {
    return { reachable: true, network: await verbs.observeNetwork(libvirtName) };
  } catch (err) {
    if (!(err instanceof HypervisorUnreachableError)) throw err;
    return { reachable: false, message: err.message };
  }
}
