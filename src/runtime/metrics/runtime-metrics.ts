// Metrics: controller-runtime's and client-go's Prometheus series, with prom-client.
//
// Names, labels and buckets match controller-runtime (pkg/internal/controller/metrics,
// pkg/internal/metrics/workqueue.go, pkg/metrics/leaderelection.go) so existing dashboards
// and alerts work unchanged. Per-controller series are pre-seeded to 0 like its
// initMetrics, so `rate()` has a baseline before the first failure. Everything registers
// on a Registry passed in, never prom-client's global one, so tests and processes stay apart.
// Our own domain metrics (maaslab_*) live with the controllers, not here.

import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { type ControllerMetrics, ReconcileOutcome } from '../controller/controller.js';
import type { QueueMetrics } from '../controller/workqueue.js';

/** The metric names, fixed here so nobody reinvents them. */
export const MetricName = {
  ReconcileTotal: 'controller_runtime_reconcile_total',
  ReconcileErrors: 'controller_runtime_reconcile_errors_total',
  TerminalReconcileErrors: 'controller_runtime_terminal_reconcile_errors_total',
  ReconcileTimeouts: 'controller_runtime_reconcile_timeouts_total',
  ReconcileTime: 'controller_runtime_reconcile_time_seconds',
  MaxConcurrentReconciles: 'controller_runtime_max_concurrent_reconciles',
  ActiveWorkers: 'controller_runtime_active_workers',
  WorkqueueDepth: 'workqueue_depth',
  WorkqueueAdds: 'workqueue_adds_total',
  WorkqueueQueueDuration: 'workqueue_queue_duration_seconds',
  WorkqueueWorkDuration: 'workqueue_work_duration_seconds',
  WorkqueueUnfinishedWork: 'workqueue_unfinished_work_seconds',
  WorkqueueLongestRunningProcessor: 'workqueue_longest_running_processor_seconds',
  WorkqueueRetries: 'workqueue_retries_total',
  LeaderElectionMasterStatus: 'leader_election_master_status',
  RestClientRequests: 'rest_client_requests_total',
  InformerRestarts: 'maaslab_informer_restarts_total',
} as const;

/** controller-runtime's `reconcile_time_seconds` buckets. */
export const RECONCILE_TIME_BUCKETS: readonly number[] = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9,
  1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60,
];

/** client-go's workqueue duration buckets: ExponentialBuckets(10e-9, 10, 12), i.e. 1e-8 … 1e3 s. */
export const WORKQUEUE_DURATION_BUCKETS: readonly number[] = Array.from(
  { length: 12 },
  // Parsed from text so each bound is the exact decimal, not an accumulated float product.
  (_, i) => Number(`1e${i - 8}`),
);

/** Leader-election hooks, one lease name each (client-go's LeaderMetric). */
export interface LeaderElectionMetrics {
  /** This process now holds the lease `name`. */
  on(name: string): void;
  /** This process no longer holds the lease `name`. */
  off(name: string): void;
  /**
   * This process no longer competes for the lease `name` (e.g. its Hypervisor is gone): the
   * series goes, so a 0 left behind cannot look like a lease nobody holds.
   */
  forget(name: string): void;
}

/** The runtime's metrics, registered once on one Registry. */
export interface RuntimeMetrics {
  /** The registry everything is registered on. */
  readonly registry: Registry;
  /** Hooks for controller `name`, its series pre-seeded (max_concurrent_reconciles set). */
  controller(name: string, maxConcurrentReconciles: number): ControllerMetrics;
  /** Hooks for queue `name` (labels name and controller both `name`, as controller-runtime sets them). */
  queue(name: string): QueueMetrics;
  /** Leader-election hooks. */
  readonly leaderElection: LeaderElectionMetrics;
  /**
   * One finished API request (client-go's rest_client_requests_total): the HTTP method (WATCH
   * for a watch, counted when opened) and the status code: `2xx` for any success (the
   * RestClient returns bodies, not status lines), the code of an API error, `<error>` without a response.
   */
  restRequest(method: string, code: string): void;
  /**
   * Counts informer restarts (a failed list or watch, then backoff) per kind, read from
   * `source` at each scrape: an outage of the API server shows here, not only in the logs.
   */
  informers(source: () => Iterable<{ readonly kind: string; readonly restarts: number }>): void;
}

/** Options for `createRuntimeMetrics`. */
export interface RuntimeMetricsOptions {
  /** Where to register; call once per registry (prom-client rejects duplicate names). */
  readonly registry: Registry;
}

/** Registers the controller-runtime and workqueue metrics on `registry`. */
export function createRuntimeMetrics(opts: RuntimeMetricsOptions): RuntimeMetrics {
  const registers = [opts.registry];
  const ctl = ['controller'] as const;
  const wq = ['name', 'controller'] as const;

  const reconcileTotal = new Counter({
    name: MetricName.ReconcileTotal,
    help: 'Total number of reconciliations per controller',
    labelNames: ['controller', 'result'] as const,
    registers,
  });
  const reconcileErrors = new Counter({
    name: MetricName.ReconcileErrors,
    help: 'Total number of reconciliation errors per controller',
    labelNames: ctl,
    registers,
  });
  const terminalErrors = new Counter({
    name: MetricName.TerminalReconcileErrors,
    help: 'Total number of terminal reconciliation errors per controller',
    labelNames: ctl,
    registers,
  });
  const timeouts = new Counter({
    name: MetricName.ReconcileTimeouts,
    help: 'Total number of reconciliation timeouts per controller',
    labelNames: ctl,
    registers,
  });
  const reconcileTime = new Histogram({
    name: MetricName.ReconcileTime,
    help: 'Length of time per reconciliation per controller',
    labelNames: ctl,
    buckets: [...RECONCILE_TIME_BUCKETS],
    registers,
  });
  const maxConcurrent = new Gauge({
    name: MetricName.MaxConcurrentReconciles,
    help: 'Maximum number of concurrent reconciles per controller',
    labelNames: ctl,
    registers,
  });
  const activeWorkers = new Gauge({
    name: MetricName.ActiveWorkers,
    help: 'Number of currently used workers per controller',
    labelNames: ctl,
    registers,
  });

  const depth = new Gauge({
    name: MetricName.WorkqueueDepth,
    help: 'Current depth of workqueue',
    labelNames: wq,
    registers,
  });
  const adds = new Counter({
    name: MetricName.WorkqueueAdds,
    help: 'Total number of adds handled by workqueue',
    labelNames: wq,
    registers,
  });
  const latency = new Histogram({
    name: MetricName.WorkqueueQueueDuration,
    help: 'How long in seconds an item stays in workqueue before being requested',
    labelNames: wq,
    buckets: [...WORKQUEUE_DURATION_BUCKETS],
    registers,
  });
  const workDuration = new Histogram({
    name: MetricName.WorkqueueWorkDuration,
    help: 'How long in seconds processing an item from workqueue takes.',
    labelNames: wq,
    buckets: [...WORKQUEUE_DURATION_BUCKETS],
    registers,
  });
  const unfinished = new Gauge({
    name: MetricName.WorkqueueUnfinishedWork,
    help:
      "How many seconds of work has been done that is in progress and hasn't been observed by " +
      'work_duration. Large values indicate stuck threads. One can deduce the number of stuck ' +
      'threads by observing the rate at which this increases.',
    labelNames: wq,
    registers,
  });
  const longest = new Gauge({
    name: MetricName.WorkqueueLongestRunningProcessor,
    help: 'How many seconds has the longest running processor for workqueue been running.',
    labelNames: wq,
    registers,
  });
  const retries = new Counter({
    name: MetricName.WorkqueueRetries,
    help: 'Total number of retries handled by workqueue',
    labelNames: wq,
    registers,
  });

  const restRequests = new Counter({
    name: MetricName.RestClientRequests,
    help: 'Number of HTTP requests, partitioned by status code and method.',
    labelNames: ['code', 'method'] as const,
    registers,
  });

  const leader = new Gauge({
    name: MetricName.LeaderElectionMasterStatus,
    help:
      'Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 ' +
      "indicates master. 'name' is the string used to identify the lease. Please make sure to group by name.",
    labelNames: ['name'] as const,
    registers,
  });

  let informerSource: () => Iterable<{
    readonly kind: string;
    readonly restarts: number;
  }> = () => [];
  new Counter({
    name: MetricName.InformerRestarts,
    help: 'Informer restarts after a failed list or watch, per kind',
    labelNames: ['kind'] as const,
    registers,
    collect() {
      this.reset();
      const byKind = new Map<string, number>();
      for (const { kind, restarts } of informerSource()) {
        byKind.set(kind, (byKind.get(kind) ?? 0) + restarts);
      }
      for (const [kind, restarts] of byKind) this.inc({ kind }, restarts);
    },
  });

  return {
    registry: opts.registry,
    informers(source) {
      informerSource = source;
    },
    controller(name, maxConcurrentReconciles) {
      const c = { controller: name };
      // initMetrics: every series exists at 0 from the start.
      for (const result of Object.values(ReconcileOutcome)) reconcileTotal.inc({ ...c, result }, 0);
      reconcileErrors.inc(c, 0);
      terminalErrors.inc(c, 0);
      timeouts.inc(c, 0);
      maxConcurrent.set(c, maxConcurrentReconciles);
      activeWorkers.set(c, 0);
      return {
        reconciled(result, seconds) {
          reconcileTotal.inc({ ...c, result });
          reconcileTime.observe(c, seconds);
        },
        errored(terminal) {
          // As in controller-runtime, a terminal error is also a reconcile error.
          reconcileErrors.inc(c);
          if (terminal) terminalErrors.inc(c);
        },
        timedOut: () => timeouts.inc(c),
        activeWorkers: (delta) => activeWorkers.inc(c, delta),
      };
    },
    queue(name) {
      const l = { name, controller: name };
      // client-go creates each series when the queue is made, so they read 0, not absent.
      depth.set(l, 0);
      adds.inc(l, 0);
      retries.inc(l, 0);
      unfinished.set(l, 0);
      longest.set(l, 0);
      latency.zero(l);
      workDuration.zero(l);
      return {
        add() {
          adds.inc(l);
          depth.inc(l);
        },
        get(queuedMs) {
          depth.dec(l);
          latency.observe(l, queuedMs / 1000);
        },
        done: (workMs) => workDuration.observe(l, workMs / 1000),
        retry: () => retries.inc(l),
        unfinishedWork(totalSeconds, longestSeconds) {
          unfinished.set(l, totalSeconds);
          longest.set(l, longestSeconds);
        },
      };
    },
    leaderElection: {
      on: (name) => leader.set({ name }, 1),
      off: (name) => leader.set({ name }, 0),
      forget: (name) => leader.remove({ name }),
    },
    restRequest: (method, code) => restRequests.inc({ code, method }),
  };
}
