// metrics: controller-runtime's and client-go's Prometheus series (reconcile, work queue,
// leader election, REST client), with their names, labels and buckets. maaslab's own
// maaslab_* series live with the controllers and the libvirt layer, not here.
export type {
  LeaderElectionMetrics,
  RuntimeMetrics,
  RuntimeMetricsOptions,
} from './runtime-metrics.js';
export {
  MetricName,
  RECONCILE_TIME_BUCKETS,
  WORKQUEUE_DURATION_BUCKETS,
  createRuntimeMetrics,
} from './runtime-metrics.js';
