// Manager: owns everything a process shares — informers, client, events, leases, servers —
// and runs them in controller-runtime's order.
//
// start(): probe and metrics servers → every informer → wait for all caches to sync (so no
// reconcile sees an empty cache) → every runnable (controllers). /readyz fails until synced.
// stop() (e.g. on SIGTERM): stop runnables, draining in-flight reconciles → release leases
// → flush events → stop informers → close servers. Informers are shared: one per kind and
// scope, however many controllers read it.

import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { KubernetesObject } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { type Clock, realClock } from '../clock.js';
import { type Client, createClient } from '../client/client.js';
import { type EventRecorder, createEventRecorder } from '../events/recorder.js';
import {
  type HttpServer,
  type MetricsServing,
  type ProbeServer,
  startMetricsServer,
  startProbeServer,
} from './health.js';
import { type CertificateFiles, loadServingCertificate } from '../certs/serving.js';
import { createKubeAccessReviewer, createMetricsAuthorizer } from './metrics-auth.js';
import { type Informer, createInformer } from '../cache/informer.js';
import { type LeaseStore, createLeaseStore } from '../leaderelection/lease-store.js';
import { createListWatch } from '../cache/list-watch.js';
import type { RestConfig } from '../client/kubeconfig.js';
import { type Logger, describeError, noopLogger } from '../log.js';
import { type RuntimeMetrics, createRuntimeMetrics } from '../metrics/runtime-metrics.js';
import { type Request, requestKey } from '../controller/reconcile.js';
import { type RestClient, createRestClient, instrumentRestClient } from '../client/rest.js';
import { definedProps } from '../../util/defined-props.js';

/** A kind of object: `{ apiVersion: 'maaslab.dev/v1alpha1', kind: 'MaasNode' }`. */
export interface Kind {
  readonly apiVersion: string;
  readonly kind: string;
}

/** Which objects of a kind to watch; each scope is one informer. */
export interface WatchScope {
  readonly namespace?: string;
  /** e.g. `spec.hypervisor=hv1` (one value: field selectors have no `in`). */
  readonly fieldSelector?: string;
  readonly labelSelector?: string;
}

/** Read-only view of a kind across its scopes; objects are frozen. */
export interface CacheReader<T> {
  get(key: string | Request): Readonly<T> | undefined;
  list(namespace?: string): ReadonlyArray<Readonly<T>>;
  hasSynced(): boolean;
}

/**
 * Something that holds Leases (a set of shard leases): the manager releases it on stop(),
 * after the runnables drained, so no reconcile of a released lease is still in flight.
 */
export interface LeaseHolder {
  stop(): Promise<void>;
}

/** Something the manager starts after sync and stops first (a controller). */
export interface Runnable {
  readonly name: string;
  start(): void;
  stop(opts?: { drain?: boolean; timeoutMs?: number }): Promise<void>;
}

/** Options for `createManager`. */
export interface ManagerOptions {
  /** The API server and credentials (ignored when `rest` is given). */
  readonly restConfig: RestConfig;
  /** Namespace of the manager's Leases. */
  readonly namespace: string;
  readonly logger?: Logger;
  /** Registry for the runtime metrics (default a fresh one); ignored when `metrics` is given. */
  readonly metricsRegistry?: Registry;
  readonly metrics?: RuntimeMetrics;
  /** Default `:8080`; `0` disables. */
  readonly metricsBindAddress?: string;
  /**
   * HTTPS with TokenReview/SubjectAccessReview authorization (the default), with the mounted
   * certificate `files` or a self-signed one; or plain HTTP, on a loopback address only.
   */
  readonly metricsServing?: MetricsServingOptions;
  /** Default `:8081`; `0` disables. */
  readonly healthProbeBindAddress?: string;
  /** Leader-election identity (default `<hostname>_<uuid>`, like client-go). */
  readonly identity?: string;
  /** Informer watchdog (default 5 min). */
  readonly watchdogMs?: number;
  /** How long stop() lets in-flight reconciles finish (default 30 s). */
  readonly drainTimeoutMs?: number;
  readonly clock?: Clock;
  readonly random?: () => number;
  /** Raw client override (tests). */
  readonly rest?: RestClient;
}

/** How the manager's metrics server serves (see {@link ManagerOptions.metricsServing}). */
export type MetricsServingOptions =
  | { readonly secure: true; readonly certificateFiles?: CertificateFiles }
  | { readonly secure: false };

/** The process-wide runtime. */
export interface Manager {
  readonly identity: string;
  readonly namespace: string;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly metrics: RuntimeMetrics;
  readonly rest: RestClient;
  /** Status, finalizer and apply writes. */
  readonly client: Client;
  /** Event recorder. */
  readonly events: EventRecorder;
  /** Leases in the manager's namespace, for leader election. */
  readonly leaseStore: LeaseStore;
  /** The informer for `kind` in `scope`, created on first use (before `start`). */
  informer<T extends KubernetesObject>(kind: Kind, scope?: WatchScope): Informer<T>;
  /** Every scope's informer for `kind` merged (scopes default to the whole kind). */
  cache<T extends KubernetesObject>(kind: Kind): CacheReader<T>;
  /** Adds a runnable (unique name), started after sync. */
  add(runnable: Runnable): void;
  /** Releases `holder` on stop, after the runnables and before events flush. */
  addLeaseHolder(holder: LeaseHolder): void;
  /** Adds a /readyz check. */
  addReadyCheck(name: string, check: () => boolean | Promise<boolean>): void;
  /** The probe server's and metrics server's addresses, once started. */
  servers(): { readonly probe?: HttpServer; readonly metrics?: HttpServer };
  /** Starts everything; resolves once runnables are running. Rejects if `signal` aborts first. */
  start(signal?: AbortSignal): Promise<void>;
  /** Stops everything in order; safe to call twice. */
  stop(): Promise<void>;
  /** Calls stop() on SIGTERM/SIGINT; returns a function that removes the handlers. */
  stopOnSignals(): () => void;
}

const scopeKey = (k: Kind, s: WatchScope): string =>
  JSON.stringify([
    k.apiVersion,
    k.kind,
    s.namespace ?? '',
    s.fieldSelector ?? '',
    s.labelSelector ?? '',
  ]);

/** Creates a manager; nothing runs until `start()`. */
export function createManager(opts: ManagerOptions): Manager {
  const logger = opts.logger ?? noopLogger;
  const clock = opts.clock ?? realClock;
  const metrics =
    opts.metrics ?? createRuntimeMetrics({ registry: opts.metricsRegistry ?? new Registry() });
  const rest = instrumentRestClient(
    opts.rest ?? createRestClient(opts.restConfig),
    metrics.restRequest,
  );
  // Leases get a client of their own, as controller-runtime's leader election does: a renewal
  // never waits behind a burst of requests for the request connections (transport.ts).
  const leaseRest = opts.rest
    ? rest
    : instrumentRestClient(createRestClient(opts.restConfig), metrics.restRequest);
  const identity = opts.identity ?? `${hostname()}_${randomUUID()}`;
  const client = createClient({ rest, clock });
  const events = createEventRecorder({
    rest,
    clock,
    logger,
    reportingInstance: identity.slice(0, 128),
  });
  const informers = new Map<string, { kind: Kind; informer: Informer<KubernetesObject> }>();
  metrics.informers(() =>
    [...informers.values()].map(({ kind, informer }) => ({
      kind: kind.kind,
      restarts: informer.stats().backoffs,
    })),
  );
  const runnables = new Map<string, Runnable>();
  const leaseHolders: LeaseHolder[] = [];
  const readyChecks: Array<[string, () => boolean | Promise<boolean>]> = [];
  let probe: ProbeServer | undefined;
  let metricsServer: HttpServer | undefined;
  let started = false;
  const halt = new AbortController();
  let stopping: Promise<void> | undefined;

  /** The certificate and authorizer of a secure metrics server (nothing when disabled). */
  const metricsServing = async (): Promise<MetricsServing> => {
    const want = opts.metricsServing ?? { secure: true };
    if (!want.secure || opts.metricsBindAddress === '0') return { secure: false };
    return {
      secure: true,
      certificate: await loadServingCertificate({
        clock,
        ...definedProps({ files: want.certificateFiles }),
        onError: (err) =>
          logger.warn('Metrics serving certificate not reloaded', { error: describeError(err) }),
      }),
      // The operator's own credentials ask the API server: it needs create on tokenreviews
      // and subjectaccessreviews (metricsAuthRbac), nothing more.
      authorizer: createMetricsAuthorizer({
        reviewer: createKubeAccessReviewer(rest),
        clock,
        logger,
      }),
    };
  };

  const allSynced = (): boolean => [...informers.values()].every((i) => i.informer.hasSynced());

  const manager: Manager = {
    identity,
    namespace: opts.namespace,
    logger,
    clock,
    metrics,
    rest,
    client,
    events,
    leaseStore: createLeaseStore(leaseRest, opts.namespace),
    informer<T extends KubernetesObject>(kind: Kind, scope: WatchScope = {}): Informer<T> {
      const key = scopeKey(kind, scope);
      let entry = informers.get(key);
      if (!entry) {
        if (started) throw new Error(`informer for ${kind.kind} requested after start`);
        const source = createListWatch(rest, {
          ref: { ...kind, ...(scope.namespace ? { namespace: scope.namespace } : {}) },
          ...(scope.fieldSelector ? { fieldSelector: scope.fieldSelector } : {}),
          ...(scope.labelSelector ? { labelSelector: scope.labelSelector } : {}),
        });
        const informer = createInformer<KubernetesObject>({
          source,
          name: kind.kind,
          clock,
          logger,
          ...(opts.random ? { random: opts.random } : {}),
          ...(opts.watchdogMs ? { watchdogMs: opts.watchdogMs } : {}),
        });
        entry = { kind, informer };
        informers.set(key, entry);
      }
      return entry.informer as unknown as Informer<T>;
    },
    cache<T extends KubernetesObject>(kind: Kind): CacheReader<T> {
      const mine = (): Informer<T>[] => {
        const found = [...informers.values()]
          .filter((e) => e.kind.apiVersion === kind.apiVersion && e.kind.kind === kind.kind)
          .map((e) => e.informer as unknown as Informer<T>);
        return found.length > 0 ? found : [manager.informer<T>(kind)];
      };
      return {
        get(key) {
          const k = typeof key === 'string' ? key : requestKey(key);
          for (const i of mine()) {
            const o = i.get(k);
            if (o) return o;
          }
          return undefined;
        },
        list: (namespace) => Object.freeze(mine().flatMap((i) => i.list(namespace))),
        hasSynced: () => mine().every((i) => i.hasSynced()),
      };
    },
    add(runnable) {
      if (runnables.has(runnable.name)) throw new Error(`duplicate runnable name ${runnable.name}`);
      runnables.set(runnable.name, runnable);
      if (started) runnable.start();
    },
    addLeaseHolder(holder) {
      leaseHolders.push(holder);
    },
    addReadyCheck(name, check) {
      readyChecks.push([name, check]);
      probe?.addReadyCheck(name, check);
    },
    servers: () => ({
      ...(probe ? { probe } : {}),
      ...(metricsServer ? { metrics: metricsServer } : {}),
    }),
    async start(signal) {
      if (started) throw new Error('manager already started');
      started = true;
      probe = await startProbeServer({
        bindAddress: opts.healthProbeBindAddress ?? ':8081',
        logger,
      });
      probe.addReadyCheck('informers-synced', allSynced);
      for (const [name, check] of readyChecks) probe.addReadyCheck(name, check);
      metricsServer = await startMetricsServer({
        bindAddress: opts.metricsBindAddress ?? ':8080',
        registry: metrics.registry,
        logger,
        serving: await metricsServing(),
      });
      logger.info('Starting informers', { count: informers.size });
      for (const { informer } of informers.values()) informer.start();
      const wait = signal ? AbortSignal.any([signal, halt.signal]) : halt.signal;
      await Promise.all([...informers.values()].map((e) => e.informer.waitForSync(wait)));
      if (halt.signal.aborted) return;
      logger.info('Caches synced; starting controllers', { count: runnables.size });
      for (const r of runnables.values()) r.start();
    },
    stop() {
      stopping ??= (async () => {
        logger.info('Stopping; draining in-flight reconciles');
        halt.abort(new DOMException('manager stopped', 'AbortError'));
        const drain = { drain: true, timeoutMs: opts.drainTimeoutMs ?? 30_000 };
        if (started) await Promise.all([...runnables.values()].map((r) => r.stop(drain)));
        await Promise.all(leaseHolders.map((h) => h.stop()));
        await events.flush();
        await Promise.all([...informers.values()].map((e) => e.informer.stop()));
        await Promise.all([probe?.close(), metricsServer?.close()]);
        logger.info('Stopped');
      })();
      return stopping;
    },
    stopOnSignals() {
      const onSignal = (sig: NodeJS.Signals): void => {
        logger.info('Received signal; shutting down', { signal: sig });
        void manager.stop();
      };
      process.once('SIGTERM', onSignal);
      process.once('SIGINT', onSignal);
      return () => {
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
      };
    },
  };
  return manager;
}
