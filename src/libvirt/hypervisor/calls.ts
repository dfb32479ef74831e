// The one instrumented helper every libvirt call of the Hypervisor goes through: it records
// maaslab_libvirt_call_duration_seconds{hypervisor,op} and maaslab_libvirt_calls_total
// {hypervisor,op,result}, and turns connection-class failures into HypervisorUnreachableError
// (by error code and domain, never by message text), telling the connection pool.
import type { Connection } from '../connection.js';
import type { ConnectionPool } from '../connection-pool.js';
import { HypervisorUnreachableError, isNotFound, isUnreachableError } from '../errors.js';
import type { LibvirtCallResult, LibvirtMetrics } from '../metrics.js';
import { type NudgeTimers, StallNudge, usesRpcClient } from './stall-nudge.js';

/** Options of {@link LibvirtCalls}. */
export interface LibvirtCallsOptions {
  /** The hypervisor URI. */
  readonly uri: string;
  /** The `hypervisor` metric label. */
  readonly label: string;
  /** The shared connections. */
  readonly pool: Pick<ConnectionPool<Connection>, 'get' | 'reportFailure'>;
  /** Call metrics. */
  readonly metrics: LibvirtMetrics;
  /**
   * Nudge calls that stall behind a long one (stall-nudge.ts): on by default where the URI
   * goes through libvirt's RPC client; `timers` for tests.
   */
  readonly nudge?: false | { readonly timers?: NudgeTimers };
}

/** Timed, counted libvirt calls on the pool's connection for one URI. */
export class LibvirtCalls {
  readonly #uri: string;
  readonly #label: string;
  readonly #pool: LibvirtCallsOptions['pool'];
  readonly #metrics: LibvirtMetrics;
  readonly #stalls: StallNudge | undefined;

  /** Calls on `opts.uri`'s pooled connection, labelled `opts.label`. */
  constructor(opts: LibvirtCallsOptions) {
    this.#uri = opts.uri;
    this.#label = opts.label;
    this.#pool = opts.pool;
    this.#metrics = opts.metrics;
    const nudge = opts.nudge ?? (usesRpcClient(opts.uri) ? {} : false);
    this.#stalls =
      nudge === false
        ? undefined
        : new StallNudge({
            // Timed and counted like any call, but not tracked: it must not be nudged itself.
            nudge: (conn) =>
              this.#timed('virConnectGetLibVersion', () => conn.getLibVersionAside()),
            ...(nudge.timers && { timers: nudge.timers }),
          });
  }

  async conn(): Promise<Connection> {
    return this.#pool.get(this.#uri);
  }

  /**
   * Runs one libvirt call `op` (its C name), timing and counting it, and turns connection
   * failures into HypervisorUnreachableError (reporting them to the pool).
   */
  async call<T>(conn: Connection, op: string, fn: () => Promise<T>): Promise<T> {
    const ended = this.#stalls?.begin(conn);
    try {
      return await this.#timed(op, fn);
    } catch (err) {
      if (isUnreachableError(err)) {
        this.#pool.reportFailure(this.#uri, conn, err);
        throw new HypervisorUnreachableError(this.#uri, { cause: err });
      }
      throw err;
    } finally {
      ended?.();
    }
  }

  /** Runs `fn`, recording its wall time and result as call `op`. */
  async #timed<T>(op: string, fn: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    let result: LibvirtCallResult = 'success';
    try {
      return await fn();
    } catch (err) {
      result = isNotFound(err) ? 'not_found' : 'error';
      throw err;
    } finally {
      this.#metrics.observeCall(this.#label, op, (performance.now() - t0) / 1000, result);
    }
  }

  /** A lookup that maps "no such object" to undefined. */
  async lookup<T>(conn: Connection, op: string, fn: () => Promise<T>): Promise<T | undefined> {
    try {
      return await this.call(conn, op, fn);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }
}
