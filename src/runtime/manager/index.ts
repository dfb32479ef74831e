// manager: controller-runtime's manager. manager.ts owns what a process shares (informers,
// client, events, lease holders, servers) and starts and stops it in order; health.ts serves
// /healthz, /readyz and /metrics; metrics-auth.ts decides who may read /metrics
// (controller-runtime's filters.WithAuthenticationAndAuthorization).
export type { Check, HttpServer, MetricsServing, ProbeServer, ServerOptions } from './health.js';
export {
  isLoopbackHost,
  parseBindAddress,
  startMetricsServer,
  startProbeServer,
} from './health.js';
export type {
  AccessReviewer,
  AccessVerdict,
  AuthDecision,
  BearerToken,
  MetricsAuthOptions,
  MetricsAuthorizer,
  MetricsAuthStats,
  MetricsRequest,
  NonResourceRequest,
  TokenVerdict,
  TtlCache,
  UserInfo,
} from './metrics-auth.js';
export {
  DEFAULT_ALLOW_TTL_MS,
  DEFAULT_AUTH_CACHE_ENTRIES,
  DEFAULT_DENY_TTL_MS,
  DEFAULT_MAX_REVIEWS_IN_FLIGHT,
  DEFAULT_REVIEW_TIMEOUT_MS,
  DEFAULT_TOKEN_TTL_MS,
  MAX_TOKEN_LENGTH,
  METRICS_PATH,
  accessVerdictFrom,
  bearerToken,
  createKubeAccessReviewer,
  createMetricsAuthorizer,
  createTtlCache,
  metricsAuthRbac,
  metricsReaderRules,
  subjectAccessReviewFor,
  tokenReviewFor,
  tokenVerdictFrom,
} from './metrics-auth.js';
export type {
  CacheReader,
  Kind,
  LeaseHolder,
  Manager,
  ManagerOptions,
  MetricsServingOptions,
  Runnable,
  WatchScope,
} from './manager.js';
export { createManager } from './manager.js';
