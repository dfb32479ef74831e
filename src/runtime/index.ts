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
