// Reconcile: the whole contract between the runtime and a controller.
//
// Reconciliation is level-based: a Request names an object and does NOT say which event
// (add, update, delete, resync) woke the controller. The reconciler reads the world and
// converges it. What its outcome means is written once, here, on the types:
//   - throw any error        → retried with per-key exponential backoff (the Result is moot);
//   - throw a TerminalError  → logged and counted, never retried: retrying cannot fix it
//                              (the reconciler should report Stalled=True with `reason`);
//   - throw a ConflictError  → what the pass observed is stale (a write got 409): not an
//                              error, no backoff; the key comes back shortly and is observed
//                              afresh (Client.patchStatus throws it; never re-apply a status
//                              computed from a stale object);
//   - return requeueAfterMs  → success, but look again after that many milliseconds;
//   - return {}              → success; the backoff for this key is reset.
// Reconcilers never touch the queue. The pass's signal also carries its logger (tagged
// controller/kind/namespace/name/reconcileID): `loggerFrom(signal)`, controller-runtime's
// log.FromContext.

import { type Logger, noopLogger } from '../log.js';

/** Names one object to reconcile; cluster-scoped objects have no namespace. */
export interface Request {
  /** The object's namespace; absent for cluster-scoped kinds. */
  readonly namespace?: string;
  /** The object's name. */
  readonly name: string;
}

/** The outcome of a successful pass. */
export interface Result {
  /** Come back after this many milliseconds (poll); absent or 0 means "done until something changes". */
  readonly requeueAfterMs?: number;
}

/** One reconciler per kind; it takes a key and nothing else. */
export interface Reconciler {
  /**
   * Converges the object named by `req`. `signal` aborts on shutdown or per-reconcile
   * timeout; pass it to every call that can wait.
   */
  reconcile(req: Request, signal: AbortSignal): Promise<Result>;
}

/** The logger of each pass in flight, by its signal; gone with the signal. */
const passLoggers = new WeakMap<AbortSignal, Logger>();

/** Ties `logger` to a pass's `signal`; the controller loop calls it before `reconcile`. */
export function loggerInto(signal: AbortSignal, logger: Logger): void {
  passLoggers.set(signal, logger);
}

/**
 * The logger of the pass that `signal` belongs to (controller-runtime's log.FromContext): its
 * lines carry controller, kind, namespace, name and reconcileID. A signal no controller handed
 * out (a unit test's) gets a logger that drops everything.
 */
export function loggerFrom(signal: AbortSignal): Logger {
  return passLoggers.get(signal) ?? noopLogger;
}

/** Options for a TerminalError. */
export interface TerminalErrorOptions {
  /** CamelCase reason for the `Stalled=True` condition, e.g. `NameConflict`. */
  readonly reason?: string;
  /** The underlying failure. */
  readonly cause?: unknown;
}

/** Logged and counted, never retried: retrying cannot fix it. Report it as `Stalled=True`. */
export class TerminalError extends Error {
  /** Reason for the Stalled condition; defaults to `TerminalError`. */
  readonly reason: string;

  constructor(message: string, options: TerminalErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TerminalError';
    this.reason = options.reason ?? 'TerminalError';
  }
}

/**
 * The object changed since the pass read it (HTTP 409 on a write locked to its
 * resourceVersion). Whatever was computed from that read is stale: the controller requeues
 * the key shortly, without error backoff, and the next pass observes again. `code` is 409,
 * so `isConflict` recognises it too.
 */
export class ConflictError extends Error {
  readonly code = 409;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ConflictError';
  }
}

/** Finds a ConflictError in `err` or its `cause` chain. */
export function asConflictError(err: unknown): ConflictError | undefined {
  const seen = new Set<unknown>();
  for (let e: unknown = err; e !== undefined && e !== null && !seen.has(e);) {
    if (e instanceof ConflictError) return e;
    seen.add(e);
    e = e instanceof Error ? e.cause : undefined;
  }
  return undefined;
}

/**
 * Finds a TerminalError in `err` or its `cause` chain (like Go's `errors.Is`), so a
 * wrapped terminal error stays terminal. Cycles in the chain are tolerated.
 */
export function asTerminalError(err: unknown): TerminalError | undefined {
  const seen = new Set<unknown>();
  for (let e: unknown = err; e !== undefined && e !== null && !seen.has(e);) {
    if (e instanceof TerminalError) return e;
    seen.add(e);
    e = e instanceof Error ? e.cause : undefined;
  }
  return undefined;
}

/** True when `err` is, or wraps, a TerminalError. */
export function isTerminalError(err: unknown): boolean {
  return asTerminalError(err) !== undefined;
}

/** The queue key for a request: `namespace/name`, or `name` when cluster-scoped (client-go's format). */
export function requestKey(req: Request): string {
  return req.namespace ? `${req.namespace}/${req.name}` : req.name;
}

/** Inverse of `requestKey`; throws on a key with more than one `/` or an empty part. */
export function parseRequestKey(key: string): Request {
  const parts = key.split('/');
  if (parts.length === 1 && parts[0]) return { name: parts[0] };
  if (parts.length === 2 && parts[0] && parts[1]) return { namespace: parts[0], name: parts[1] };
  throw new TypeError(
    `invalid request key ${JSON.stringify(key)}: want "name" or "namespace/name"`,
  );
}
