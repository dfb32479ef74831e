// Hypervisor scope: what one pass reads — the resource from the informer cache and what
// libvirt reports about the host — built fresh on every pass and never kept. Reads only; the
// storage pool is ensured in the act step.
import { type Hypervisor as HypervisorResource } from '../../api/v1alpha1/index.js';
import {
  HypervisorUnreachableError,
  type HostInfo,
  type Hypervisor,
  sshHostKeyRejection,
} from '../../libvirt/hypervisor/index.js';
import type { CacheReader, Request } from '../../runtime/index.js';

/** The verbs the Hypervisor controller uses. */
export type HostVerbs = Pick<Hypervisor, 'hostInfo' | 'ensurePool'>;

/** One pass's view of a Hypervisor. */
export interface HypervisorScope {
  /** The resource as cached (frozen). */
  readonly resource: Readonly<HypervisorResource>;
  /** The verbs on its connection, for the act step. */
  readonly verbs: HostVerbs;
  /** What the host reported; undefined when libvirt cannot be reached. */
  readonly host?: HostInfo;
  /** Why libvirt cannot be reached (its error), when it cannot. */
  readonly unreachable?: string;
  /** ssh's words, when it cannot because ssh refused the host's key (qemu+ssh). */
  readonly hostKeyRejected?: string;
}

/**
 * Reads the Hypervisor named by `req` and asks its host for facts. Undefined when the
 * resource is gone. An unreachable host is an observation, not an error: the scope says so
 * and the report turns it into Ready=False/HypervisorUnreachable. Any other libvirt failure
 * is thrown (retried with backoff).
 */
export async function observeHypervisor(
  req: Request,
  cache: CacheReader<HypervisorResource>,
  verbsFor: (resource: Readonly<HypervisorResource>) => HostVerbs,
): Promise<HypervisorScope | undefined> {
  const resource = cache.get(req);
  if (!resource) return undefined;
  const verbs = verbsFor(resource);
  try {
    return { resource, verbs, host: await verbs.hostInfo() };
  } catch (err) {
    if (!(err instanceof HypervisorUnreachableError)) throw err;
    const hostKeyRejected = sshHostKeyRejection(err);
    return {
      resource,
      verbs,
      unreachable: err.message,
      ...(hostKeyRejected !== undefined && { hostKeyRejected }),
    };
  }
}
