// The runtime's public surface: interfaces and factory functions, not classes
// (TerminalError is the one class, because callers throw it).

export type { Clock, Delay, Timer } from './clock.js';
export { realClock, toRfc3339Seconds } from './clock.js';
export type {
  Backoff,
  BucketOptions,
  ItemExponentialOptions,
  JitteredBackoffOptions,
  RateLimiter,
} from './backoff.js';
export {
  DEFAULT_BASE_DELAY_MS,
  DEFAULT_MAX_DELAY_MS,
  INFORMER_BACKOFF_INITIAL_MS,
  INFORMER_BACKOFF_MAX_MS,
  createBucketRateLimiter,
  createControllerRateLimiter,
  createItemExponentialRateLimiter,
  createJitteredBackoff,
  createMaxOfRateLimiter,
} from './backoff.js';
export type {
  Condition,
  ConditionInput,
  ConditionStatus,
  KstatusInput,
  KstatusStatus,
  MarkInput,
  Stamp,
} from './conditions.js';
export {
  ConditionType,
  ReadyReason,
  getCondition,
  isFalse,
  isTrue,
  kstatusOf,
  markReady,
  markReconciling,
  markStalled,
  removeCondition,
  setCondition,
  sortConditions,
  statusEqual,
  validateCondition,
} from './conditions.js';
export type {
  Controller,
  ControllerMetrics,
  ControllerOptions,
  StopOptions,
} from './controller.js';
export { ReconcileOutcome, createController, noopControllerMetrics } from './controller.js';
export type { EventInput, EventRecord, EventStamp } from './event-record.js';
export { EventType, REPORTING_CONTROLLER, buildEvent, truncateUtf8 } from './event-record.js';
export type {
  LeaseRecord,
  LeaseStep,
  LeaseStepInput,
  LeaseTiming,
  Observed,
} from './lease-record.js';
export {
  DEFAULT_LEASE_TIMING,
  LEASE_RETRY_JITTER,
  candidateRetryMs,
  fromMicroTime,
  nextLeaseStep,
  observe,
  releaseRecord,
  renewDeadlinePassed,
  sameRecord,
  toMicroTime,
} from './lease-record.js';
export type { LogFormat, LogMeta, Logger, LoggerOptions } from './log.js';
export { LogKey, createLogger, describeError, noopLogger } from './log.js';
export type { LeaderElectionMetrics, RuntimeMetrics, RuntimeMetricsOptions } from './metrics.js';
export {
  MetricName,
  RECONCILE_TIME_BUCKETS,
  WORKQUEUE_DURATION_BUCKETS,
  createRuntimeMetrics,
} from './metrics.js';
export type { FinalizerChange, MetaLike, MetaObject } from './objects.js';
export {
  CLEANUP_FINALIZER,
  addFinalizer,
  controllerOf,
  controllerReference,
  finalizersPatch,
  groupOf,
  hasFinalizer,
  isControlledBy,
  isDeleting,
  ownerRequest,
  removeFinalizer,
  requestFor,
} from './objects.js';
export type { Reconciler, Request, Result, TerminalErrorOptions } from './reconcile.js';
export {
  TerminalError,
  asTerminalError,
  isTerminalError,
  parseRequestKey,
  requestKey,
} from './reconcile.js';
export { mergeResults, requeueDelay } from './result.js';
export type { QueueMetrics, WorkQueue, WorkQueueOptions } from './workqueue.js';
export { createWorkQueue, noopQueueMetrics } from './workqueue.js';
export type { LoadRestConfigOptions, RestConfig } from './kubeconfig.js';
export { loadRestConfig } from './kubeconfig.js';
export type {
  ObjectList,
  ResourceRef,
  RestClient,
  RestRequest,
  WatchCallbacks,
  WatchHandle,
} from './rest.js';
export {
  ContentType,
  createRestClient,
  hasStatus,
  isConflict,
  isGone,
  isNotFound,
} from './rest.js';
export type { ListResult, ListWatchOptions, ListWatchSource } from './list-watch.js';
export { createListWatch } from './list-watch.js';
export type { Informer, InformerHandlers, InformerOptions, InformerStats } from './informer.js';
export { DEFAULT_WATCHDOG_MS, InformerEvent, createInformer, deepFreeze } from './informer.js';
export type { ApplyOptions, Client, ClientOptions, StatusObject, WriteResult } from './client.js';
export { FIELD_MANAGER, createClient, refOf, statusMergePatch } from './client.js';
export type { EventRecorder, EventRecorderOptions } from './events.js';
export { createEventRecorder } from './events.js';
export type { LeaseStore, StoredLease } from './lease-store.js';
export { createLeaseStore, leaseSpec, recordFromLease } from './lease-store.js';
export type { LeaseElector, LeaseElectorOptions, LeaseListeners } from './lease.js';
export { LeaseEvent, createLeaseElector } from './lease.js';
export type { ShardLeases, ShardLeasesOptions } from './shard-leases.js';
export { SHARD_LEASE_PREFIX, createShardLeases, shardLeaseName } from './shard-leases.js';
export type { Check, HttpServer, ProbeServer, ServerOptions } from './health.js';
export { parseBindAddress, startMetricsServer, startProbeServer } from './health.js';
export type {
  CacheReader,
  Kind,
  Manager,
  ManagerOptions,
  Runnable,
  WatchScope,
} from './manager.js';
export { createManager } from './manager.js';
export type {
  BuilderOptions,
  ControllerBuilder,
  MapFn,
  Predicate,
  SourceOptions,
} from './builder.js';
export { controllerBuilder, generationChanged } from './builder.js';
