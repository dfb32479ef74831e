// manager: controller-runtime's manager. manager.ts owns what a process shares (informers,
// client, events, lease holders, servers) and starts and stops it in order; health.ts serves
// /healthz, /readyz and /metrics.
export type { Check, HttpServer, ProbeServer, ServerOptions } from './health.js';
export { parseBindAddress, startMetricsServer, startProbeServer } from './health.js';
export type {
  CacheReader,
  Kind,
  LeaseHolder,
  Manager,
  ManagerOptions,
  Runnable,
  WatchScope,
} from './manager.js';
export { createManager } from './manager.js';
