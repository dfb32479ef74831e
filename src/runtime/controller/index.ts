// controller: controller-runtime's reconcile, controller, builder and controllerutil.
// reconcile.ts is the contract (Request, Result, TerminalError), result.ts merges results,
// workqueue.ts is client-go's rate-limited queue, controller.ts the worker loop (logging,
// metrics, retries), builder.ts the For/Owns/Watches chain, and objects.ts the helpers over
// object metadata (finalizers, owner references, requests).
export type {
  BuilderOptions,
  ControllerBuilder,
  MapFn,
  Predicate,
  SourceOptions,
} from './builder.js';
export { controllerBuilder, generationChanged, statusOnlyUpdatesIgnored } from './builder.js';
export type {
  Controller,
  ControllerMetrics,
  ControllerOptions,
  StopOptions,
} from './controller.js';
export {
  DEFAULT_CONFLICT_REQUEUE_MS,
  DEFAULT_RECONCILE_TIMEOUT_MS,
  ReconcileOutcome,
  createController,
  noopControllerMetrics,
} from './controller.js';
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
  asConflictError,
  asTerminalError,
  isTerminalError,
  loggerFrom,
  loggerInto,
  parseRequestKey,
  requestKey,
} from './reconcile.js';
export { mergeResults, requeueDelay } from './result.js';
export type { QueueMetrics, WorkQueue, WorkQueueOptions } from './workqueue.js';
export { createWorkQueue, noopQueueMetrics } from './workqueue.js';
