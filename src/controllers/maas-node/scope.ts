// MaasNode scope: what one pass reads — the node, its Hypervisor, the VirtNetworks it uses and
// a clone source from the informer caches, then its domain from libvirt — built fresh on every
// pass and never kept. Reads only.
import {
  type Hypervisor as HypervisorResource,
  type MaasNode,
  type VirtNetwork,
} from '../../api/v1alpha1/index.js';
import {
  HypervisorUnreachableError,
  type Hypervisor,
  type ObservedDomain,
  type PassLookups,
} from '../../libvirt/hypervisor/index.js';
import type { OwnerRef } from '../../libvirt/xml/index.js';
import { type CacheReader, isDeleting, type Request } from '../../runtime/index.js';
import { isReadyAndCurrent } from '../common/conditions.js';
import { hypervisorGate, type HypervisorGate } from '../common/hypervisor-gate.js';
import { domainNameFor, nodeOwner } from './desired.js';

/**
 * The annotation that remembers that runStrategy Once has started the domain. The API has no
 * status field for it, and the memory must outlive the process (a restarted operator must
 * not start a node MAAS powered off); an annotation survives status rewrites and is visible
 * with kubectl. Its value is the RFC 3339 time of the start.
 */
export const STARTED_ONCE_ANNOTATION = 'maaslab.dev/started-once';

/** The caches a MaasNode pass reads (the manager's, or fakes in unit tests). */
export interface NodeCaches {
  /** MaasNodes (the node itself, and a clone source). */
  readonly nodes: CacheReader<MaasNode>;
  /** VirtNetworks the node's NICs name. */
  readonly networks: CacheReader<VirtNetwork>;
  /** Hypervisors (cluster-scoped). */
  readonly hypervisors: CacheReader<HypervisorResource>;
}

/** One pass's view of a MaasNode, from the caches. */
export interface NodeScope {
  /** The MaasNode as cached (frozen). */
  readonly node: Readonly<MaasNode>;
  /** Its libvirt domain name. */
  readonly domainName: string;
  /** The owner stamp its domain carries. */
  readonly owner: OwnerRef;
  /** metadata.deletionTimestamp is set. */
  readonly deleting: boolean;
  /** Its Hypervisor resource; undefined when there is none. */
  readonly hypervisor: Readonly<HypervisorResource> | undefined;
  /** Whether the Hypervisor can be built on. */
  readonly gate: HypervisorGate;
  /** VirtNetworks the NICs name that are missing, elsewhere, deleting or not Ready. */
  readonly networksNotReady: readonly string[];
  /**
   * Of those, the ones that exist on the node's Hypervisor and are not being deleted, only
   * not Ready at their generation yet: libvirt may already run them as specified (the
   * status write that would say so is on its way), which a pass may check (normal.ts).
   */
  readonly networksPending: readonly Readonly<VirtNetwork>[];
  /** With spec.cloneFrom: the source MaasNode, undefined when it does not exist. */
  readonly cloneSource: Readonly<MaasNode> | undefined;
}

/**
 * The VirtNetworks of `node` that are not usable yet: missing, on another hypervisor, being
 * deleted, or not Ready at their current generation (a network mid-change is not Ready).
 */
export function networksNotReady(
  node: Readonly<MaasNode>,
  networks: CacheReader<VirtNetwork>,
): string[] {
  const namespace = node.metadata?.namespace;
  const names = [...new Set((node.spec.interfaces ?? []).map((nic) => nic.network))];
  return names.filter((name) => {
    const vnet = networks.get(namespace ? { namespace, name } : { name });
    return (
      vnet === undefined ||
      vnet.spec.hypervisor !== node.spec.hypervisor ||
      isDeleting(vnet) ||
      !isReadyAndCurrent(vnet)
    );
  });
}

/**
 * The VirtNetworks among `notReady` (networksNotReady) that exist on the node's Hypervisor
 * and are not being deleted: only their Ready status is missing.
 */
export function networksPending(
  node: Readonly<MaasNode>,
  notReady: readonly string[],
  networks: CacheReader<VirtNetwork>,
): Readonly<VirtNetwork>[] {
  const namespace = node.metadata?.namespace;
  return notReady
    .map((name) => networks.get(namespace ? { namespace, name } : { name }))
    .filter(
      (vnet): vnet is Readonly<VirtNetwork> =>
        vnet !== undefined && vnet.spec.hypervisor === node.spec.hypervisor && !isDeleting(vnet),
    );
}

/** Reads the MaasNode named by `req` and what it depends on; undefined when it is gone. */
export function observeNodeScope(req: Request, caches: NodeCaches): NodeScope | undefined {
  const node = caches.nodes.get(req);
  if (!node) return undefined;
  const namespace = node.metadata?.namespace;
  const hypervisor = caches.hypervisors.get({ name: node.spec.hypervisor });
  const source = node.spec.cloneFrom?.name;
  const notReady = networksNotReady(node, caches.networks);
  return {
    node,
    domainName: domainNameFor(node),
    owner: nodeOwner(node),
    deleting: isDeleting(node),
    hypervisor,
    gate: hypervisorGate(hypervisor),
    networksNotReady: notReady,
    networksPending: networksPending(node, notReady, caches.networks),
    cloneSource:
      source === undefined
        ? undefined
        : caches.nodes.get(namespace ? { namespace, name: source } : { name: source }),
  };
}

/** What libvirt said about a domain: the domain (or its absence), or that it is unreachable. */
export type LibvirtDomainView =
  | { readonly reachable: true; readonly domain: ObservedDomain | undefined }
  | { readonly reachable: false; readonly message: string };

/**
 * Reads the domain of `name`. An unreachable host is an observation, not an error (the report
 * says Unknown); any other libvirt failure is thrown and retried.
 */
export async function observeLibvirtDomain(
  verbs: Pick<Hypervisor, 'observeDomain'>,
  name: string,
  lookups?: PassLookups,
): Promise<LibvirtDomainView> {
  try {
    return { reachable: true, domain: await verbs.observeDomain(name, lookups) };
  } catch (err) {
    if (!(err instanceof HypervisorUnreachableError)) throw err;
    return { reachable: false, message: err.message };
  }
}
