// The operator process: one manager, one libvirt connection pool, the four controllers, and
// the shard logic that decides which Hypervisors this process serves.
//
// Sharding, as issue 4 describes it:
// - `--hypervisors all`: every Hypervisor is a shard of this process.
// - `--hypervisors a,b`: only those; MaasNodes and VirtNetworks are watched with one informer
//   per shard (field selector `spec.hypervisor=<name>`), so a replica never caches the others.
// - `--leader-elect`: each shard is served only while this process holds Lease
//   `maaslab-hv-<name>`; losing it stops the shard at once (every reconciler checks `serves`
//   first, and the shard's libvirt verbs are fenced for reconciles already in flight),
//   gaining it enqueues the shard's objects so the new owner reports at once.
// Kept apart from main.ts so tests and `make demo` can run the operator in-process.

import { readFileSync } from 'node:fs';
import type { BmcService } from '../bmc/service.js';
import { operatorBmcService } from './bmc.js';
import type { ConsoleServer } from '../console/server.js';
import type { KubernetesObject } from '@kubernetes/client-node';
import { Registry, collectDefaultMetrics } from 'prom-client';
import {
  GroupVersionKinds,
  type Hypervisor,
  type MaasLab,
  type MaasLabSnapshot,
  type MaasNode,
  type VirtNetwork,
} from '../api/v1alpha1/index.js';
import { registerInventoryMetrics } from '../controllers/inventory-metrics.js';
import {
  createHypervisorMetrics,
  createLabMetrics,
  createSwallowedErrorMetrics,
} from '../controllers/metrics.js';
import { setup as setupHypervisor } from '../controllers/hypervisor/reconciler.js';
import {
  MaasLabControllerName,
  setup as setupMaasLab,
} from '../controllers/maas-lab/reconciler.js';
import { StatusStep } from '../controllers/common/status-patch.js';
import {
  MaasNodeControllerName,
  setup as setupMaasNode,
} from '../controllers/maas-node/reconciler.js';
import {
  setup as setupVirtNetwork,
  VirtNetworkControllerName,
} from '../controllers/virt-network/reconciler.js';
import { setup as setupMaasMachine } from '../controllers/maas/machine-controller.js';
import { setup as setupMaasLabSnapshot } from '../controllers/maas-lab-snapshot/reconciler.js';
import {
  type Hypervisor as HypervisorVerbs,
  withInjectedFaults,
} from '../libvirt/hypervisor/index.js';
import { createHypervisorRegistry } from '../controllers/common/hypervisor-registry.js';
import { shardGuardedClient } from '../controllers/common/shard-guard.js';
import { createConnectionPool } from '../libvirt/connection-pool.js';
import { createLibvirtMetrics } from '../libvirt/metrics.js';
import {
  createLogger,
  createManager,
  describeError,
  type HttpServer,
  type Informer,
  InformerEvent,
  type Kind,
  loadRestConfig,
  type Logger,
  type Manager,
  requestFor,
  type RestConfig,
  type WatchScope,
} from '../runtime/index.js';
import type { OperatorOptions } from './options.js';
import {
  LIBVIRT_READY_CHECK,
  REGISTRATION_READY_CHECK,
  createRegistration,
  libvirtReadyCheck,
} from './registration.js';
import { createManagerShardLeases } from './shard-leases.js';
import { definedProps } from '../util/defined-props.js';

/** Extra hooks for in-process callers (tests, `make demo`). */
export interface RunOperatorHooks {
  /** Logger to use instead of one built from the log flags. */
  readonly logger?: Logger;
  /** API server and credentials to use instead of loading `options.kubeconfig`. */
  readonly restConfig?: RestConfig;
  /** Called once the caches synced and the controllers run. */
  readonly onStarted?: (info: StartedOperator) => void;
}

/** What a started operator exposes. */
export interface StartedOperator {
  readonly manager: Manager;
  readonly probe?: HttpServer;
  readonly metrics?: HttpServer;
  /** The console endpoint, when `--console-bind-address` is set. */
  readonly console?: ConsoleServer;
}

/** The kinds watched per shard when the process serves a fixed list of hypervisors. */
const SHARDED_KINDS: readonly Kind[] = [GroupVersionKinds.MaasNode, GroupVersionKinds.VirtNetwork];

const sameKind = (a: Kind, b: Kind): boolean => a.apiVersion === b.apiVersion && a.kind === b.kind;

/**
 * One informer over several scoped informers: events from each, reads merged. The builder
 * asks the manager for a kind's whole-kind informer; for the sharded kinds it gets this
 * instead, so the controllers (which know nothing of shards) watch only their shards.
 */
function mergedInformer<T extends KubernetesObject>(parts: readonly Informer<T>[]): Informer<T> {
  return {
    on: (event, handler) => parts.forEach((p) => p.on(event, handler)),
    off: (event, handler) => parts.forEach((p) => p.off(event, handler)),
    // The manager starts and stops the parts itself: they are its informers.
    start: () => undefined,
    stop: async () => undefined,
    hasSynced: () => parts.every((p) => p.hasSynced()),
    waitForSync: async (signal) => {
      await Promise.all(parts.map((p) => p.waitForSync(signal)));
    },
    get: (key) => {
      for (const p of parts) {
        const o = p.get(key);
        if (o) return o;
      }
      return undefined;
    },
    list: (namespace) => Object.freeze(parts.flatMap((p) => p.list(namespace))),
    stats: () =>
      parts
        .map((p) => p.stats())
        .reduce(
          (a, s) => ({
            lists: a.lists + s.lists,
            watches: a.watches + s.watches,
            watchdogRelists: a.watchdogRelists + s.watchdogRelists,
            backoffs: a.backoffs + s.backoffs,
          }),
          { lists: 0, watches: 0, watchdogRelists: 0, backoffs: 0 },
        ),
  };
}

/**
 * A view of `manager` whose whole-kind informers for MaasNode and VirtNetwork are the union
 * of one field-selected informer per shard. Everything else is the manager itself.
 */
function shardScopedManager(manager: Manager, shards: readonly string[]): Manager {
  const scopes: WatchScope[] = shards.map((s) => ({ fieldSelector: `spec.hypervisor=${s}` }));
  // Created now, before start: the manager refuses new informers once started, and its
  // cache() then merges exactly these scopes.
  for (const kind of SHARDED_KINDS) for (const s of scopes) manager.informer(kind, s);
  const informer = <T extends KubernetesObject>(
    kind: Kind,
    scope: WatchScope = {},
  ): Informer<T> => {
    const whole = !scope.namespace && !scope.fieldSelector && !scope.labelSelector;
    if (whole && SHARDED_KINDS.some((k) => sameKind(k, kind))) {
      return mergedInformer(scopes.map((s) => manager.informer<T>(kind, s)));
    }
    return manager.informer<T>(kind, scope);
  };
  return Object.assign(Object.create(manager) as Manager, { informer });
}

/**
 * Runs the operator until `signal` aborts, then shuts down in order: controllers drain their
 * in-flight reconciles, shard Leases are released (so a peer takes over at once, not after
 * 15 s), events are flushed, informers and servers stop, libvirt connections close.
 * Resolves when all of that is done; rejects when startup fails.
 */
export async function runOperator(
  options: OperatorOptions,
  signal: AbortSignal,
  hooks: RunOperatorHooks = {},
): Promise<void> {
  const logger =
    hooks.logger ?? createLogger({ level: options.logLevel, format: options.logFormat });
  const restConfig =
    hooks.restConfig ??
    loadRestConfig({ kubeconfig: options.kubeconfig, context: options.context });
  const registry = new Registry();
  // process_* and nodejs_* (RSS, CPU, heap, event loop lag), as controller-runtime exports
  // process_* and go_*: what a dashboard needs to see a slow or swelling operator.
  collectDefaultMetrics({ register: registry });
  const manager = createManager({
    restConfig,
    namespace: options.namespace,
    logger,
    metricsRegistry: registry,
    metricsBindAddress: options.metricsBindAddress,
    metricsServing: options.metricsSecure
      ? {
          secure: true,
          ...definedProps({ certificateFiles: options.metricsCertificate }),
        }
      : { secure: false },
    healthProbeBindAddress: options.healthProbeBindAddress,
  });
  const selection = options.hypervisors;
  const listed = selection.all ? undefined : new Set(selection.names);
  logger.info('Starting maaslab-operator', {
    hypervisors: selection.all ? 'all' : selection.names,
    leaderElect: options.leaderElect,
    namespace: options.namespace,
    identity: manager.identity,
  });

  const pool = createConnectionPool({
    openTimeoutMs: options.libvirtConnectTimeoutMs,
    onError: (uri, err) => logger.warn('libvirt connection', { uri, error: describeError(err) }),
  });
  const libvirtMetrics = createLibvirtMetrics(registry);
  // TEST ONLY (src/libvirt/hypervisor/faults.ts): the e2e tests' fault injection.
  const faultsFile = process.env.MAASLAB_TEST_FAULTS_FILE;
  if (faultsFile !== undefined) logger.warn('TEST fault injection is on', { file: faultsFile });
  const hypervisors = createHypervisorRegistry({
    connections: pool,
    metrics: libvirtMetrics,
    onError: (err) => logger.warn('libvirt', { error: describeError(err) }),
    ...(faultsFile !== undefined && {
      wrap: (verbs: HypervisorVerbs) =>
        withInjectedFaults(verbs, () => failingVolumePattern(faultsFile)),
    }),
  });

  // Leases, when asked for; `serves` is what every reconciler checks first.
  // The virtual BMCs of the shards served here (made with the MaasNode controller below).
  let bmcService: BmcService | undefined;
  const leases = options.leaderElect
    ? createManagerShardLeases(manager, {
        onStart: (shard) => {
          logger.info('Serving hypervisor shard', { shard });
          hypervisors.unfence(shard);
          enqueueShard(shard);
        },
        // The lease set has already dropped the shard, so `serves` is false from here on and
        // reconciles that start later leave its objects alone; the fence stops those already
        // in flight at their next libvirt change.
        onStop: (shard) => {
          hypervisors.fence(shard);
          // The shard's BMCs move with it: its new holder serves them.
          void bmcService?.releaseHypervisor(shard);
          logger.info('Stopped serving hypervisor shard', { shard });
        },
      })
    : undefined;
  const inSelection = (hv: string): boolean => !listed || listed.has(hv);
  const serves = (hv: string): boolean => inSelection(hv) && (leases ? leases.isLeading(hv) : true);

  const byShard = listed ? shardScopedManager(manager, [...listed]) : manager;
  // A pass that outlives its shard's lease writes no status for that shard.
  const scoped = Object.assign(Object.create(byShard) as Manager, {
    client: shardGuardedClient(manager.client, serves),
  });
  const builder = {
    maxConcurrentReconciles: options.maxConcurrentReconciles,
    reconcileTimeoutMs: options.reconcileTimeoutMs,
  };
  const hvController = setupHypervisor(scoped, {
    ...builder,
    connections: pool,
    hypervisors,
    metrics: createHypervisorMetrics(registry),
    serves,
  });
  // One counter for every controller (a name registers once); each series starts at 0.
  const swallowedErrors = createSwallowedErrorMetrics(registry, [
    { controller: VirtNetworkControllerName, step: StatusStep },
    { controller: MaasNodeControllerName, step: StatusStep },
    { controller: MaasLabControllerName, step: StatusStep },
  ]);
  const netController = setupVirtNetwork(scoped, {
    ...builder,
    hypervisors,
    serves,
    resyncMs: options.resyncPeriodMs,
    swallowedErrors,
  });
  const hypervisorCache = manager.cache<Hypervisor>(GroupVersionKinds.Hypervisor);
  const makeBmc = operatorBmcService(
    manager,
    options.namespace,
    (hv) => hypervisorCache.get({ name: hv })?.spec.bmc?.listenAddress,
    logger,
  );
  const nodeController = setupMaasNode(scoped, {
    ...builder,
    hypervisors,
    serves,
    resyncMs: options.resyncPeriodMs,
    swallowedErrors,
    bmc: (bmcHooks) => (bmcService = makeBmc(bmcHooks)),
  });
  const snapshotController = setupMaasLabSnapshot(scoped, { ...builder, hypervisors, serves });
  const labController = setupMaasLab(scoped, {
    ...builder,
    hypervisors,
    serves,
    metrics: createLabMetrics(registry),
    swallowedErrors,
  });
  // MAAS enlistment of lab nodes (spec.maas): its own controller and finalizer.
  const machineController = setupMaasMachine(scoped, { ...builder, serves });
  registerInventoryMetrics(registry, {
    nodes: manager.cache<MaasNode>(GroupVersionKinds.MaasNode),
    networks: manager.cache<VirtNetwork>(GroupVersionKinds.VirtNetwork),
    serves,
  });

  const labs = manager.cache<MaasLab>(GroupVersionKinds.MaasLab);
  const nodes = manager.cache<MaasNode>(GroupVersionKinds.MaasNode);
  const snapshots = manager.cache<MaasLabSnapshot>(GroupVersionKinds.MaasLabSnapshot);
  const networks = manager.cache<VirtNetwork>(GroupVersionKinds.VirtNetwork);
  /** Wakes everything on `shard`, so a new lease holder reconciles (and reports) at once. */
  function enqueueShard(shard: string): void {
    hvController.enqueue({ name: shard });
    for (const l of labs.list())
      if (l.spec.hypervisor === shard) labController.enqueue(requestFor(l));
    for (const s of snapshots.list()) {
      const lab = labs.get({ namespace: s.metadata?.namespace, name: s.spec.lab });
      if (lab?.spec.hypervisor === shard) snapshotController.enqueue(requestFor(s));
    }
    for (const n of networks.list()) {
      if (n.spec.hypervisor === shard) netController.enqueue(requestFor(n));
    }
    for (const n of nodes.list())
      if (n.spec.hypervisor === shard) nodeController.enqueue(requestFor(n));
    for (const n of nodes.list())
      if (n.spec.hypervisor === shard) machineController.enqueue(requestFor(n));
  }

  if (leases) {
    if (listed) {
      await leases.set(listed);
    } else {
      // With `all`, the shards are the Hypervisors that exist: follow the informer.
      const hvInformer = manager.informer<Hypervisor>(GroupVersionKinds.Hypervisor);
      const resync = (): void => {
        const names = hvInformer.list().flatMap((h) => (h.metadata?.name ? [h.metadata.name] : []));
        leases
          .set(names)
          .catch((err: unknown) =>
            logger.error('Updating shard leases failed', { error: describeError(err) }),
          );
      };
      hvInformer.on(InformerEvent.Add, resync);
      hvInformer.on(InformerEvent.Delete, resync);
    }
  }

  // Agent mode: register this node's Hypervisor once the caches synced; not ready before, nor
  // while the host's libvirtd cannot be reached.
  if (options.registerHypervisor) {
    const registration = createRegistration({
      ...options.registerHypervisor,
      client: manager.client,
      logger,
      clock: manager.clock,
    });
    manager.add(registration);
    manager.addReadyCheck(REGISTRATION_READY_CHECK, () => registration.registered());
    manager.addReadyCheck(
      LIBVIRT_READY_CHECK,
      libvirtReadyCheck(pool, options.registerHypervisor.uri, logger),
    );
  }

  let consoleServer: ConsoleServer | undefined;
  const shutdown = async (): Promise<void> => {
    await consoleServer?.close();
    await manager.stop();
    await bmcService?.close();
    await hypervisors.close();
    await pool.close();
    logger.info('Shutdown complete');
  };
  try {
    await manager.start(signal);
  } catch (err) {
    await shutdown();
    if (signal.aborted) return;
    throw err;
  }
  if (!signal.aborted && options.consoleBindAddress !== '') {
    try {
      // Loaded only when the endpoint is on (it is off by default): the console modules and
      // what they import stay out of the heap of an operator that serves no console.
      const { startOperatorConsole } = await import('./console.js');
      consoleServer = await startOperatorConsole({
        bindAddress: options.consoleBindAddress,
        manager,
        restConfig,
        serves,
        logger,
        connections: pool,
      });
    } catch (err) {
      await shutdown();
      throw new Error(`console endpoint on ${options.consoleBindAddress}`, { cause: err });
    }
  }
  if (!signal.aborted) {
    hooks.onStarted?.({
      manager,
      ...manager.servers(),
      ...definedProps({ console: consoleServer }),
    });
    const servers = manager.servers();
    logger.info('Operator running', {
      ...(servers.metrics && {
        metrics: `${options.metricsSecure ? 'https' : 'http'}://${servers.metrics.host}:${servers.metrics.port}/metrics`,
      }),
      ...(servers.probe && { probe: `${servers.probe.host}:${servers.probe.port}` }),
      ...(consoleServer && { console: `https://${consoleServer.host}:${consoleServer.port}` }),
    });
    await new Promise<void>((resolve) =>
      signal.addEventListener('abort', () => resolve(), { once: true }),
    );
  }
  await shutdown();
}

/**
 * TEST ONLY: the regular expression in `file` (volumes whose names match fail to be
 * created), or undefined when the file is missing or empty. Read on every call so that a test
 * can set and clear it while the operator runs.
 */
function failingVolumePattern(file: string): RegExp | undefined {
  try {
    const text = readFileSync(file, 'utf8').trim();
    return text === '' ? undefined : new RegExp(text);
  } catch {
    return undefined;
  }
}
