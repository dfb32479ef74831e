// The per-Hypervisor libvirt verbs, shared by every controller that talks to libvirt
// (Hypervisor, VirtNetwork, MaasNode): one verbs object per Hypervisor resource, over the
// process's connection pool.
import type { Hypervisor as HypervisorResource } from '../../api/v1alpha1/index.js';
import type { Connection } from '../../libvirt/connection.js';
import type { ConnectionPool } from '../../libvirt/connection-pool.js';
import {
  createLibvirtHypervisor,
  type Hypervisor,
  type LibvirtHypervisor,
} from '../../libvirt/hypervisor.js';
import type { LibvirtMetrics } from '../../libvirt/metrics.js';

/**
 * The full libvirt verbs of each Hypervisor resource, over the process's connection pool.
 * The VirtNetwork and MaasNode controllers must share ONE registry: each verbs object
 * registers its lifecycle callbacks on the shared connection as soon as anyone listens, and
 * libvirt refuses a second registration of the binding's callback on one connection
 * ("event callback already tracked"), which would leave the second controller deaf.
 */
export interface HypervisorRegistry {
  /** The verbs for `resource`; rebuilt when its URI changes. */
  hypervisorFor(resource: Readonly<HypervisorResource>): Hypervisor;
  /**
   * Calls `listener` for every verbs object, those that exist and those created later, e.g.
   * to subscribe to its domain events. The name is the Hypervisor resource's.
   */
  onCreate(listener: (name: string, verbs: Hypervisor) => void): void;
  /** Drops a resource's verbs, deregistering their event callbacks. */
  forget(name: string): void;
  /** Drops them all (shutdown). */
  close(): Promise<void>;
}

/** Options of {@link createHypervisorRegistry}. */
export interface HypervisorRegistryOptions {
  /** The process's connection pool, shared with the Hypervisor controller. */
  readonly connections: ConnectionPool<Connection>;
  /** libvirt call metrics (maaslab_libvirt_*). */
  readonly metrics?: LibvirtMetrics;
  /** Listener and event-registration errors nobody awaits. */
  readonly onError?: (err: unknown) => void;
}

/** Creates the process's one registry of per-Hypervisor libvirt verbs. */
export function createHypervisorRegistry(opts: HypervisorRegistryOptions): HypervisorRegistry {
  const byName = new Map<string, { uri: string; verbs: LibvirtHypervisor }>();
  const listeners: Array<(name: string, verbs: Hypervisor) => void> = [];
  const close = (v: LibvirtHypervisor): Promise<void> =>
    v.close().catch((err: unknown) => opts.onError?.(err));
  return {
    hypervisorFor(resource) {
      const name = resource.metadata?.name ?? '';
      const uri = resource.spec.uri;
      const known = byName.get(name);
      if (known?.uri === uri) return known.verbs;
      if (known) void close(known.verbs);
      const verbs = createLibvirtHypervisor({
        uri,
        name,
        connections: opts.connections,
        ...(opts.metrics && { metrics: opts.metrics }),
        ...(opts.onError && { onError: opts.onError }),
      });
      byName.set(name, { uri, verbs });
      for (const l of listeners) l(name, verbs);
      return verbs;
    },
    onCreate(listener) {
      listeners.push(listener);
      for (const [name, { verbs }] of byName) listener(name, verbs);
    },
    forget(name) {
      const known = byName.get(name);
      byName.delete(name);
      if (known) void close(known.verbs);
    },
    async close() {
      const all = [...byName.values()];
      byName.clear();
      await Promise.all(all.map((k) => close(k.verbs)));
    },
  };
}
