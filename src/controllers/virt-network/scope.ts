// VirtNetwork scope: what one pass reads — the VirtNetwork, its Hypervisor and the MaasNodes
// that use it from the informer caches, then the libvirt network of its name — built fresh on
// every pass and never kept. Reads only.
import {
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
import { type CacheReader, isDeleting, type Request } from '../../runtime/index.js';
import { hypervisorGate, type HypervisorGate } from '../common/hypervisor-gate.js';
import { libvirtNetworkName, networkOwner } from './desired.js';

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
