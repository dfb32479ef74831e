// The runtime's public surface: interfaces and factory functions, not classes
// (TerminalError is the one class, because callers throw it). Controllers and the CLI import
// this file only, never the files behind it (an ESLint rule says so).
//
// Grouped as controller-runtime is; each folder's index.ts says what it holds:
//   client/          kubeconfig, credentials, the REST client and the object client
//   cache/           list-watch, store and informer
//   controller/      reconcile contract, work queue, controller loop, builder, object helpers
//   leaderelection/  Lease records, the Lease store and the elector
//   events/          Event building and the recorder
//   metrics/         controller-runtime's and client-go's Prometheus series
//   manager/         the manager, its probe and metrics servers, and who may read /metrics
//   certs/           serving certificates: self-signed, or mounted and reloaded
// The leaves every folder uses stay at the top: clock.ts (time), log.ts (logging),
// backoff.ts (backoff and rate limiters) and conditions.ts (status conditions, kstatus).

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
export type { LogFormat, LogMeta, Logger, LoggerOptions } from './log.js';
export { LogKey, createLogger, describeError, noopLogger } from './log.js';
export * from './cache/index.js';
export * from './certs/index.js';
export * from './client/index.js';
export * from './controller/index.js';
export * from './events/index.js';
export * from './leaderelection/index.js';
export * from './manager/index.js';
export * from './metrics/index.js';
