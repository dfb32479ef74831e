// The Hypervisor controller: keeps one libvirt connection per Hypervisor (through the shared
// connection pool), reports the host's facts and readiness, and makes sure the storage pool
// node disks go into exists. Dependants (VirtNetworks, MaasNodes) read its Ready condition
// and wait while it is not True. No finalizer: nothing on the host belongs to the resource.
import type { V1PolicyRule } from '@kubernetes/client-node';
import {
  GroupVersionKinds,
  Group,
  HypervisorUnreachableReason,
  isUnreachableReason,
  LibvirtErrorReason,
  ReadyCondition,
  type MaasLabSnapshot,
  type Hypervisor as HypervisorResource,
} from '../../api/v1alpha1/index.js';
import type { Connection } from '../../libvirt/connection.js';
import { PoolEvent, type ConnectionPool } from '../../libvirt/connection-pool.js';
import { HypervisorUnreachableError, PoolNotFoundError } from '../../libvirt/hypervisor/index.js';
import {
  type BuilderOptions,
  type CacheReader,
  type Client,
  type Clock,
  type Controller,
  controllerBuilder,
  createBucketRateLimiter,
  createItemExponentialRateLimiter,
  createMaxOfRateLimiter,
  type EventRecorder,
  EventType,
  type Manager,
  mergeResults,
  type RateLimiter,
  type Reconciler,
  type Request,
  requestKey,
  type Result,
  statusOnlyUpdatesIgnored,
} from '../../runtime/index.js';
import type { Why } from '../common/conditions.js';
import { type HypervisorRegistry, ShardLostError } from '../common/hypervisor-registry.js';
import { next, type Phase, runPhases, stop } from '../common/phases.js';
import { parseQuantity } from '../common/quantity.js';
import { type HypervisorMetrics, noopHypervisorMetrics } from '../metrics.js';
import { observeHypervisor, type HostVerbs, type HypervisorScope } from './scope.js';
import {
  changesAllocation,
  hypervisorInfo,
  snapshotBytesOn,
  hypervisorStatus,
  type HypervisorObservation,
} from './status.js';
import { definedProps } from '../../util/defined-props.js';

/** An error's message, for condition messages (logs get the whole chain). */
const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** The controller's name: the `controller` label on its metrics and logs. */
export const HypervisorControllerName = 'hypervisor';

/** How often a reachable hypervisor is looked at again, for capacity and allocation. */
export const DEFAULT_REFRESH_MS = 60_000;

/**
 * How long after a domain is defined or undefined the hypervisor is looked at: long enough
 * that a lab's burst of definitions costs a pass or two (each re-reads the domains whose
 * lifecycle changed: at 2 s, a 1000-node build spent a third of its libvirt calls there),
 * short enough that `allocated` follows while the lab builds.
 */
export const DEFAULT_DOMAIN_EVENT_DELAY_MS = 5_000;

/** First retry of a failing (e.g. unreachable) hypervisor: 0.8 s, client-go reflector's. */
export const HYPERVISOR_RETRY_BASE_MS = 800;
/** An unreachable hypervisor is tried again at least this often: 30 s. */
export const HYPERVISOR_RETRY_MAX_MS = 30_000;

/**
 * The Hypervisor controller's queue rate limiter: per key 0.8 s doubling to 30 s (not
 * controller-runtime's 1000 s: a host that comes back should show within half a minute),
 * maxed with controller-runtime's 10 qps / burst 100 bucket. Success forgets the key.
 */
export function hypervisorRateLimiter(clock: Clock): RateLimiter {
  return createMaxOfRateLimiter(
    createItemExponentialRateLimiter({
      baseMs: HYPERVISOR_RETRY_BASE_MS,
      maxMs: HYPERVISOR_RETRY_MAX_MS,
    }),
    createBucketRateLimiter({ qps: 10, burst: 100, clock }),
  );
}

/** The pool a Hypervisor uses when spec.storagePool is unset (the CRD default). */
const DEFAULT_STORAGE_POOL = 'default';

/** Event reasons the Hypervisor controller records. */
export const HypervisorEventReason = {
  Connected: 'Connected',
  Unreachable: HypervisorUnreachableReason,
  StoragePoolCreated: 'StoragePoolCreated',
} as const;

/** What the reconciler needs; `setup` takes them from the manager, unit tests hand in fakes. */
export interface HypervisorReconcilerOptions {
  /** Hypervisor resources. */
  readonly cache: CacheReader<HypervisorResource>;
  /** The libvirt verbs for a resource (its URI on the shared pool). */
  readonly verbsFor: (resource: Readonly<HypervisorResource>) => HostVerbs;
  /** Drops a resource's verbs (it is gone or no longer served). */
  readonly forget?: (name: string) => void;
  /** MaasLabSnapshots, for the snapshot storage in `allocated` (default: none counted). */
  readonly snapshots?: CacheReader<MaasLabSnapshot>;
  /** Status writes. */
  readonly client: Pick<Client, 'patchStatus'>;
  /** Events about the Hypervisor. */
  readonly events: Pick<EventRecorder, 'record'>;
  /** Time for condition stamps. */
  readonly clock: Clock;
  /** The maaslab_hypervisor_* gauges. */
  readonly metrics?: HypervisorMetrics;
  /** Whether this process serves the hypervisor's shard (default: every shard). */
  readonly serves?: (hypervisor: string) => boolean;
  /** Refresh period while reachable (default 60 s). */
  readonly refreshMs?: number;
}

/** A libvirt failure of the act step: reported as a condition, then retried. */
interface Failure {
  error?: Why;
  cause?: unknown;
}

/** One pass over a Hypervisor: its scope and what the phases found. */
interface HypervisorPass {
  readonly scope: HypervisorScope;
  /** Why libvirt cannot be reached, when it cannot (observed, or met while acting). */
  unreachable: string | undefined;
  /** The storage pool exists (or was just created). */
  poolPresent: boolean;
  /** A libvirt failure of the act step. */
  readonly failure: Failure;
}

/** Memory quantities in the status back to bytes, for the gauges. */
const bytes = (q: string | number | undefined): number => (q === undefined ? 0 : parseQuantity(q));

/**
 * Reconciles one Hypervisor. Steps of a pass:
 *  1. Skip hypervisors whose shard another process serves (their series are dropped here),
 *     before any libvirt call.
 *  2. Observe (scope.ts): the resource from the cache, then host facts and domains from
 *     libvirt (hostInfo). An unreachable host is observed, not thrown. A resource that is
 *     gone has its verbs and metric series dropped.
 *  3. Act: ensure the storage pool (ensurePool), creating a dir pool at storagePoolPath when
 *     it is missing and the path is set; without a path a missing pool stalls the resource.
 *  4. Report, always: hostname, versions, capacity, allocated and domains (status.ts), and
 *     Ready/Reconciling/Stalled — Ready=False with HypervisorUnreachable while libvirt does
 *     not answer — in one status patch, only when something changed; observedGeneration,
 *     advanced only by a pass that succeeded (reachable, no libvirt error), as Cluster API
 *     does; the maaslab_hypervisor_* gauges, set before the patch so that whoever reads the
 *     status finds them current; events on connect, disconnect and pool creation.
 *  5. Requeue: after refreshMs while reachable (capacity and allocation drift without any
 *     API event). An unreachable host or a libvirt failure throws once reported, so the
 *     queue retries with its per-key backoff ({@link hypervisorRateLimiter} in setup: 0.8 s
 *     → 30 s) and a success forgets it. The connection pool's up/down events enqueue the
 *     resource at once as well (see setup).
 */
export function createHypervisorReconciler(opts: HypervisorReconcilerOptions): Reconciler {
  const { cache, verbsFor, client, events, clock } = opts;
  const metrics = opts.metrics ?? noopHypervisorMetrics;
  const serves = opts.serves ?? (() => true);
  const refreshMs = opts.refreshMs ?? DEFAULT_REFRESH_MS;

  const wasUnreachable = (r: Readonly<HypervisorResource>): boolean | undefined => {
    const ready = r.status?.conditions?.find((c) => c.type === ReadyCondition);
    return ready === undefined ? undefined : isUnreachableReason(ready.reason);
  };

  /** Step 3. Returns whether the pool is there; libvirt failures become `error`. */
  async function act(scope: HypervisorScope, o: Failure): Promise<boolean> {
    const { spec } = scope.resource;
    const pool = spec.storagePool ?? DEFAULT_STORAGE_POOL;
    try {
      const change = await scope.verbs.ensurePool(
        definedProps({ name: pool, path: spec.storagePoolPath }),
      );
      if (change.changed) {
        events.record({
          regarding: scope.resource,
          type: EventType.Normal,
          reason: HypervisorEventReason.StoragePoolCreated,
          action: 'EnsurePool',
          note:
            spec.storagePoolPath === undefined
              ? `started storage pool ${pool}`
              : `storage pool ${pool} defined at ${spec.storagePoolPath} and started`,
        });
      }
      return true;
    } catch (err) {
      if (err instanceof PoolNotFoundError) return false;
      if (err instanceof HypervisorUnreachableError || err instanceof ShardLostError) throw err;
      o.error = { reason: LibvirtErrorReason, message: messageOf(err) };
      o.cause = err;
      return false;
    }
  }

  /** Step 3, the one phase of a pass: the storage pool node disks go into. */
  const ensureStoragePool: Phase<HypervisorPass> = async (pass) => {
    if (!pass.scope.host) return stop();
    try {
      pass.poolPresent = await act(pass.scope, pass.failure);
    } catch (err) {
      // The host went away between observing and acting.
      pass.unreachable = messageOf(err);
    }
    return next;
  };
  const phases: ReadonlyArray<Phase<HypervisorPass>> = [ensureStoragePool];

  /** Step 4: one status patch (status.ts computes it), the gauges, and connect events. */
  async function report(pass: HypervisorPass, signal: AbortSignal): Promise<void> {
    const { resource } = pass.scope;
    const spec = resource.spec;
    const reachable = pass.unreachable === undefined;
    const host = reachable ? pass.scope.host : undefined;
    const observation: HypervisorObservation = definedProps({
      storagePool: spec.storagePool ?? DEFAULT_STORAGE_POOL,
      storagePoolPathSet: spec.storagePoolPath !== undefined,
      unschedulable: spec.unschedulable ?? false,
      reachable,
      unreachableMessage: pass.unreachable,
      hostKeyRejected: pass.unreachable === undefined ? undefined : pass.scope.hostKeyRejected,
      storagePoolPresent: pass.poolPresent,
      error: pass.failure.error,
    });
    const succeeded = reachable && pass.failure.error === undefined;
    const snapshotBytes = snapshotBytesOn(
      opts.snapshots?.list() ?? [],
      resource.metadata?.name ?? '',
    );
    const info = host ? hypervisorInfo(host, host.domains, snapshotBytes) : {};
    // The gauges first: they say what this pass observed, and whoever reads the status the
    // patch writes must find them saying it already (the patch's reply comes after the write).
    const name = resource.metadata?.name ?? '';
    if (host && info.capacity && info.allocated) {
      metrics.reachable(name, {
        capacityCpus: info.capacity.cpus ?? 0,
        capacityMemoryBytes: bytes(info.capacity.memory),
        allocatedCpus: info.allocated.cpus ?? 0,
        allocatedMemoryBytes: bytes(info.allocated.memory),
      });
    } else {
      metrics.unreachable(name);
    }
    await client.patchStatus(
      resource,
      hypervisorStatus(resource, info, observation, succeeded, clock.now()),
      signal,
    );
    const before = wasUnreachable(resource);
    if (reachable && before !== false) {
      events.record({
        regarding: resource,
        type: EventType.Normal,
        reason: HypervisorEventReason.Connected,
        action: 'Connect',
        note: `connected to ${spec.uri} (${host?.hostname ?? ''})`,
      });
    } else if (!reachable && before !== true) {
      events.record({
        regarding: resource,
        type: EventType.Warning,
        reason: HypervisorEventReason.Unreachable,
        action: 'Connect',
        note: pass.unreachable ?? '',
      });
    }
  }

  return {
    async reconcile(req: Request, signal: AbortSignal): Promise<Result> {
      // 1. Another replica's shard: not even libvirt is asked.
      if (!serves(req.name)) {
        metrics.forget(req.name);
        return {};
      }
      // 2. Observe.
      const scope = await observeHypervisor(req, cache, verbsFor);
      if (!scope) {
        metrics.forget(req.name);
        opts.forget?.(req.name);
        return {};
      }
      // 3. Act, in phases; 4. report, always, once.
      const pass: HypervisorPass = {
        scope,
        unreachable: scope.unreachable,
        poolPresent: false,
        failure: {},
      };
      let result: Result;
      try {
        result = await runPhases(phases, pass);
      } finally {
        await report(pass, signal);
      }
      // 5. Requeue. Failures were reported above; thrown so the queue retries with its
      // per-key backoff, which the next success forgets.
      if (pass.unreachable !== undefined) {
        throw new Error(`hypervisor ${req.name}: ${pass.unreachable}`);
      }
      if (pass.failure.error) {
        throw new Error(`hypervisor ${req.name}: ${pass.failure.error.message}`, {
          cause: pass.failure.cause,
        });
      }
      return mergeResults(result, { requeueAfterMs: refreshMs });
    },
  };
}

/** Options for {@link setup}. */
export interface HypervisorSetupOptions extends BuilderOptions {
  /** The process's connection pool, shared with the other controllers. */
  readonly connections: ConnectionPool<Connection>;
  /**
   * The process's per-Hypervisor verbs, the ONE registry the VirtNetwork and MaasNode
   * controllers use too: this controller listens to domain events (and hostInfo keeps its
   * inventory by them), and libvirt takes one lifecycle registration of the binding per
   * connection, so a second registry on the same pool would leave one of them deaf.
   */
  readonly hypervisors: HypervisorRegistry;
  /** The maaslab_hypervisor_* gauges. */
  readonly metrics?: HypervisorMetrics;
  /**
   * Whether this process serves a hypervisor's shard (default: every shard), e.g.
   * `(name) => shardLeases.isLeading(name)`. Whoever acquires a shard's lease should then
   * `enqueue({ name })` on the returned controller, so the new owner reports at once.
   */
  readonly serves?: (hypervisor: string) => boolean;
  /** Refresh period while reachable (default 60 s). */
  readonly refreshMs?: number;
  /** Delay of the pass a domain definition or undefinition triggers (default 2 s). */
  readonly domainEventDelayMs?: number;
}

/**
 * Registers the Hypervisor controller with `manager`. Besides the resource's own events, the
 * connection pool's `up` and `down` events enqueue every Hypervisor with that URI, so a
 * dropped or restored connection shows in the status without waiting for the next refresh.
 */
export function setup(manager: Manager, options: HypervisorSetupOptions): Controller {
  const {
    connections,
    hypervisors: registry,
    metrics,
    serves,
    refreshMs,
    domainEventDelayMs = DEFAULT_DOMAIN_EVENT_DELAY_MS,
    ...builderOptions
  } = options;
  const cache = manager.cache<HypervisorResource>(GroupVersionKinds.Hypervisor);
  const snapshots = manager.cache<MaasLabSnapshot>(GroupVersionKinds.MaasLabSnapshot);
  const controller = controllerBuilder(manager)
    // Its own status writes need no pass of their own: during a lab's build every write
    // would wake it again at once, bypassing the domain events' delay.
    .for(GroupVersionKinds.Hypervisor, { predicates: [statusOnlyUpdatesIgnored] })
    // A snapshot made or freed changes `allocated.snapshotStorage`.
    .watches(GroupVersionKinds.MaasLabSnapshot, (o) => {
      const hv = (o as MaasLabSnapshot).status?.hypervisor;
      return hv === undefined ? [] : [{ name: hv }];
    })
    .withOptions({ rateLimiter: hypervisorRateLimiter(manager.clock), ...builderOptions })
    .named(HypervisorControllerName)
    .complete(
      createHypervisorReconciler({
        cache,
        snapshots,
        verbsFor: registry.hypervisorFor,
        forget: registry.forget,
        client: manager.client,
        events: manager.events,
        clock: manager.clock,
        ...definedProps({ metrics, serves, refreshMs }),
      }),
    );
  const enqueueUri = (uri: string): void => {
    for (const hv of cache.list()) {
      if (hv.spec.uri === uri && hv.metadata?.name) controller.enqueue({ name: hv.metadata.name });
    }
  };
  connections.on(PoolEvent.Up, (uri) => enqueueUri(uri));
  connections.on(PoolEvent.Down, (uri) => enqueueUri(uri));
  // A domain defined or undefined (by a MaasNode or by hand) changes `allocated` and
  // `domains`: report it now rather than at the next refresh. The delay coalesces a burst;
  // the queue keeps the earliest time, so the regular requeue never postpones it.
  registry.onCreate((name, verbs) => {
    verbs.onDomainEvent((e) => {
      if (changesAllocation(e.event)) {
        controller.queue.addAfter(requestKey({ name }), domainEventDelayMs);
      }
    });
  });
  return controller;
}

/** The permissions the Hypervisor controller uses, and no more. */
export const rbac: readonly V1PolicyRule[] = [
  { apiGroups: [Group], resources: ['hypervisors'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: [Group], resources: ['hypervisors/status'], verbs: ['patch'] },
  // allocated.snapshotStorage.
  { apiGroups: [Group], resources: ['maaslabsnapshots'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
];
