// The per-Hypervisor libvirt verbs, shared by every controller that talks to libvirt
// (Hypervisor, VirtNetwork, MaasNode): one verbs object per Hypervisor resource, over the
// process's connection pool. It is also where a lost shard lease takes effect on libvirt: a
// fenced hypervisor's mutating verbs reject at once, so a reconcile already in flight when
// the lease went cannot change anything the new holder now owns.
import type { Hypervisor as HypervisorResource } from '../../api/v1alpha1/index.js';
import type { Connection } from '../../libvirt/connection.js';
import type { ConnectionPool } from '../../libvirt/connection-pool.js';
import {
  createLibvirtHypervisor,
  type Hypervisor,
  type LibvirtHypervisor,
} from '../../libvirt/hypervisor/index.js';
import type { LibvirtMetrics } from '../../libvirt/metrics.js';
import { definedProps } from '../../util/defined-props.js';

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
  /**
   * From now on every mutating verb of `name` rejects with {@link ShardLostError}, for
   * reconciles already in flight too; read-only verbs and event listeners go on.
   */
  fence(name: string): void;
  /** Lets `name`'s mutating verbs through again (its lease is held again). */
  unfence(name: string): void;
  /** Drops a resource's verbs, deregistering their event callbacks. */
  forget(name: string): void;
  /** Drops them all (shutdown). */
  close(): Promise<void>;
}

/** A mutating libvirt verb refused because this process no longer holds the shard's lease. */
export class ShardLostError extends Error {
  override readonly name = 'ShardLostError';
  constructor(readonly hypervisor: string) {
    super(`not serving hypervisor ${hypervisor} any more (its shard lease was lost)`);
  }
}

/** The verbs that change libvirt state: the ones a fence refuses. */
const MUTATING_VERBS = [
  'ensurePool',
  'ensureNetwork',
  'applyNetworkChange',
  'deleteNetwork',
  'ensureVolumes',
  'defineDomain',
  'start',
  'startFromManagedSave',
  'shutdown',
  'destroy',
  'reboot',
  'managedSave',
  'suspend',
  'resume',
  'deleteDomain',
  'deleteVolumes',
] as const satisfies ReadonlyArray<keyof Hypervisor>;
const isMutatingVerb = (key: string | symbol): boolean =>
  (MUTATING_VERBS as ReadonlyArray<string | symbol>).includes(key);

/**
 * `verbs` as seen through a fence: while `fenced()` is true a mutating verb rejects without
 * reaching libvirt. Checked per call, so a fence set mid-reconcile stops the next step.
 */
function fencedVerbs(name: string, verbs: Hypervisor, fenced: () => boolean): Hypervisor {
  return new Proxy(verbs, {
    get(target, key, receiver) {
      const value: unknown = Reflect.get(target, key, receiver);
      if (typeof value !== 'function') return value;
      // Called on the real object: its private fields are not reachable through the proxy.
      if (!isMutatingVerb(key))
        return (...args: unknown[]): unknown => Reflect.apply(value, target, args);
      return (...args: unknown[]): unknown =>
        fenced() ? Promise.reject(new ShardLostError(name)) : Reflect.apply(value, target, args);
    },
  });
}

/** Options of {@link createHypervisorRegistry}. */
export interface HypervisorRegistryOptions {
  /** The process's connection pool, shared with the Hypervisor controller. */
  readonly connections: ConnectionPool<Connection>;
  /** libvirt call metrics (maaslab_libvirt_*). */
  readonly metrics?: LibvirtMetrics;
  /** Listener and event-registration errors nobody awaits. */
  readonly onError?: (err: unknown) => void;
  /** TEST ONLY: wraps each verbs object (src/libvirt/hypervisor/faults.ts). */
  readonly wrap?: (verbs: Hypervisor) => Hypervisor;
}

/** Creates the process's one registry of per-Hypervisor libvirt verbs. */
export function createHypervisorRegistry(opts: HypervisorRegistryOptions): HypervisorRegistry {
  const byName = new Map<string, { uri: string; verbs: LibvirtHypervisor; view: Hypervisor }>();
  const fenced = new Set<string>();
  const listeners: Array<(name: string, verbs: Hypervisor) => void> = [];
  const close = (v: LibvirtHypervisor): Promise<void> =>
    v.close().catch((err: unknown) => opts.onError?.(err));
  return {
    hypervisorFor(resource) {
      const name = resource.metadata?.name ?? '';
      const uri = resource.spec.uri;
      const known = byName.get(name);
      if (known?.uri === uri) return known.view;
      if (known) void close(known.verbs);
      const verbs = createLibvirtHypervisor(
        definedProps({
          uri,
          name,
          connections: opts.connections,
          metrics: opts.metrics,
          onError: opts.onError,
        }),
      );
      const fencedView = fencedVerbs(name, verbs, () => fenced.has(name));
      const view = opts.wrap ? opts.wrap(fencedView) : fencedView;
      byName.set(name, { uri, verbs, view });
      for (const l of listeners) l(name, view);
      return view;
    },
    onCreate(listener) {
      listeners.push(listener);
      for (const [name, { view }] of byName) listener(name, view);
    },
    fence: (name) => void fenced.add(name),
    unfence: (name) => void fenced.delete(name),
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
