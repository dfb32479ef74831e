// One libvirt connection per hypervisor URI, shared by every controller that talks to it.
//
// A URI's connection is opened lazily on the first get(). From then on the pool keeps it up:
// keepalive is switched on (5 s interval, 3 misses) where the driver supports it, the close
// callback marks the URI down, and reconnects follow client-go's reflector backoff (0.8 s
// doubling to 30 s, jittered) on an injected clock, so tests never sleep. While a URI is down,
// get() fails at once with HypervisorUnreachableError instead of queueing callers behind a
// dead socket: reconcilers report Unknown/NotReady and requeue. At most one open per URI is
// ever in flight, and an open that gets no answer within openTimeoutMs (a host that drops
// packets: TCP alone would wait two minutes) fails like any other, while the native attempt
// it leaves behind runs out on its own lane and its late connection, if any, is closed. `up`
// and `down` events tell the Hypervisor controller to update its status and everyone else to
// resync.
import { createJitteredBackoff, type Backoff } from '../runtime/backoff.js';
import { realClock, type Clock } from '../runtime/clock.js';
import { Connection } from './connection.js';
import { ErrorNumber } from './constants.js';
import { HypervisorUnreachableError, isLibvirtError } from './errors.js';
import type { CloseEvent } from './events.js';

/** What the pool needs from a connection; the real Connection has it, test fakes mimic it. */
export interface PooledConnection {
  /** virConnectSetKeepAlive; local drivers reject with NO_SUPPORT. */
  setKeepAlive(interval: number, count: number): Promise<boolean>;
  /** virConnectRegisterCloseCallback. */
  registerCloseCallback(
    listener: (e: CloseEvent) => void,
  ): Promise<{ deregister(): Promise<void> }>;
  /** virConnectClose (after deregistering callbacks). */
  close(): Promise<void>;
}

/** Opens a connection to `uri`. */
export type Opener<C> = (uri: string) => Promise<C>;

/** Pool event names, as constants with literal types. */
export const PoolEvent = { Up: 'up', Down: 'down' } as const;

/** Why a URI went down. */
export interface DownInfo {
  /** `open` (a connect attempt failed), `closed` (close callback) or `failure` (a call failed). */
  readonly why: 'open' | 'closed' | 'failure';
  /** The error, when there is one. */
  readonly cause?: unknown;
}

/** Listener of `up`: the URI has a fresh, working connection. */
export type UpListener<C> = (uri: string, conn: C) => void;
/** Listener of `down`: the URI's connection is gone; a reconnect is scheduled. */
export type DownListener = (uri: string, info: DownInfo) => void;

/** Options of {@link createConnectionPool}. */
export interface ConnectionPoolOptions<C> {
  /** Opens a connection; defaults to Connection.open. */
  readonly open?: Opener<C>;
  /** Time source for reconnect timers. */
  readonly clock?: Clock;
  /** A fresh backoff per URI; defaults to 0.8 s → 30 s jittered on `clock`. */
  readonly backoff?: () => Backoff;
  /** Keepalive interval (s) and missed-reply count, or false for none. Default 5 s × 3. */
  readonly keepAlive?: { readonly interval: number; readonly count: number } | false;
  /** How long close() waits for one connection to close before giving up on it. Default 5 s. */
  readonly closeTimeoutMs?: number;
  /**
   * How long one connection attempt (open, keepalive, close callback) may take before the URI
   * counts as down. Default {@link DEFAULT_OPEN_TIMEOUT_MS}.
   */
  readonly openTimeoutMs?: number;
  /** Told about errors nobody awaits (a failed background reconnect, a failed close). */
  readonly onError?: (uri: string, err: unknown) => void;
}

/** The pool. */
export interface ConnectionPool<C> {
  /**
   * The URI's connection, opening it on first use. Concurrent callers share one open.
   * Rejects with HypervisorUnreachableError while the URI is down or the pool closed.
   */
  get(uri: string): Promise<C>;
  /** True while the URI has a working connection. */
  isUp(uri: string): boolean;
  /**
   * A call on `conn` failed in a way that means the connection is dead (see
   * isUnreachableError): mark the URI down and reconnect. Ignored for a stale `conn`.
   */
  reportFailure(uri: string, conn: C, cause: unknown): void;
  /** Subscribes to `up`; returns the unsubscribe function. */
  on(event: typeof PoolEvent.Up, listener: UpListener<C>): () => void;
  /** Subscribes to `down`; returns the unsubscribe function. */
  on(event: typeof PoolEvent.Down, listener: DownListener): () => void;
  /** Closes every connection and stops reconnecting. Never hangs longer than closeTimeoutMs. */
  close(): Promise<void>;
}

/** The keepalive the issue asks for: a ping every 5 s, dead after 3 missed replies. */
export const DEFAULT_KEEPALIVE = { interval: 5, count: 3 } as const;

/**
 * How long a connection attempt may take: long enough for a qemu+ssh handshake to a loaded
 * host, far shorter than the kernel's two minutes of SYN retries to a host that never answers.
 */
export const DEFAULT_OPEN_TIMEOUT_MS = 20_000;

/** A connection attempt got no answer in time; the cause of the HypervisorUnreachableError. */
export class ConnectTimeoutError extends Error {
  constructor(
    readonly uri: string,
    readonly timeoutMs: number,
  ) {
    super(`no answer from ${uri} within ${Math.round(timeoutMs / 1000)} s`);
    this.name = 'ConnectTimeoutError';
  }
}

interface Entry<C> {
  conn?: C;
  closeSub?: { deregister(): Promise<void> };
  opening?: Promise<C>;
  /**
   * An attempt that timed out but whose native open still runs. The next attempt starts only
   * after it settles, so a host that never answers holds one lane thread, not one per retry.
   */
  stray?: Promise<void>;
  retry?: { cancel(): void };
  lastError?: unknown;
  backoff: Backoff;
}

/** Creates a pool. Generic so tests can hand in a fake opener and fake connections. */
export function createConnectionPool<C extends PooledConnection = Connection>(
  opts: ConnectionPoolOptions<C> = {},
): ConnectionPool<C> {
  // Without an opener C is Connection (the default type argument); the cast only bridges the
  // generic, which TypeScript cannot narrow from a missing option.
  const open = opts.open ?? ((uri: string) => Connection.open(uri) as unknown as Promise<C>);
  const clock = opts.clock ?? realClock;
  const newBackoff = opts.backoff ?? (() => createJitteredBackoff({ clock }));
  const keepAlive = opts.keepAlive ?? DEFAULT_KEEPALIVE;
  const closeTimeoutMs = opts.closeTimeoutMs ?? 5000;
  const openTimeoutMs = opts.openTimeoutMs ?? DEFAULT_OPEN_TIMEOUT_MS;
  const onError = opts.onError ?? (() => undefined);
  const entries = new Map<string, Entry<C>>();
  const upListeners = new Set<UpListener<C>>();
  const downListeners = new Set<DownListener>();
  const closing = new Set<Promise<void>>();
  let closed = false;

  // Listeners run inside native callbacks and timers: one that throws must not take the
  // process down or stop the others.
  const emitUp = (uri: string, conn: C): void => {
    for (const l of upListeners) {
      try {
        l(uri, conn);
      } catch (err) {
        onError(uri, err);
      }
    }
  };
  const emitDown = (uri: string, info: DownInfo): void => {
    for (const l of downListeners) {
      try {
        l(uri, info);
      } catch (err) {
        onError(uri, err);
      }
    }
  };

  /** Closes a dead or unwanted connection in the background, bounded by closeTimeoutMs. */
  const discard = (uri: string, conn: C, sub?: { deregister(): Promise<void> }): Promise<void> => {
    const done = (async () => {
      await sub?.deregister().catch(() => undefined);
      await conn.close();
    })().catch((err: unknown) => onError(uri, err));
    const bounded = new Promise<void>((resolve) => {
      const timer = clock.setTimer(closeTimeoutMs, resolve);
      void done.then(() => {
        timer.cancel();
        resolve();
      });
    });
    closing.add(bounded);
    void bounded.then(() => closing.delete(bounded));
    return bounded;
  };

  const scheduleRetry = (uri: string, entry: Entry<C>): void => {
    if (closed || entry.retry) return;
    const delay = entry.backoff.next();
    entry.retry = clock.setTimer(delay, () => {
      entry.retry = undefined;
      void connect(uri, entry).catch(() => undefined);
    });
  };

  const markDown = (uri: string, entry: Entry<C>, info: DownInfo): void => {
    const conn = entry.conn;
    const sub = entry.closeSub;
    entry.conn = undefined;
    entry.closeSub = undefined;
    entry.lastError = info.cause;
    if (conn) void discard(uri, conn, sub);
    emitDown(uri, info);
    scheduleRetry(uri, entry);
  };

  /** One connection attempt: open, keepalive, close callback; the connection is fresh. */
  const openAndPrepare = async (
    uri: string,
    entry: Entry<C>,
  ): Promise<{ conn: C; sub: { deregister(): Promise<void> } }> => {
    let conn: C;
    try {
      conn = await open(uri);
    } catch (err) {
      throw new HypervisorUnreachableError(uri, { cause: err });
    }
    if (keepAlive) {
      try {
        await conn.setKeepAlive(keepAlive.interval, keepAlive.count);
      } catch (err) {
        // Local drivers (test:///, in-process qemu) have no keepalive; anything else is real.
        if (!isLibvirtError(err, ErrorNumber.NoSupport)) {
          await conn.close().catch(() => undefined);
          throw new HypervisorUnreachableError(uri, { cause: err });
        }
      }
    }
    try {
      const sub = await conn.registerCloseCallback((e) => {
        if (entry.conn === conn) markDown(uri, entry, { why: 'closed', cause: e });
      });
      return { conn, sub };
    } catch (err) {
      await conn.close().catch(() => undefined);
      throw new HypervisorUnreachableError(uri, { cause: err });
    }
  };

  /**
   * openAndPrepare bounded by openTimeoutMs. On a timeout the attempt is left to finish on its
   * own (a blocked native open cannot be cancelled): it becomes the entry's stray, and a
   * connection it still makes is closed.
   */
  const boundedOpen = (uri: string, entry: Entry<C>) => {
    const opened = (entry.stray ?? Promise.resolve()).then(() => openAndPrepare(uri, entry));
    return new Promise<{ conn: C; sub: { deregister(): Promise<void> } }>((resolve, reject) => {
      let timedOut = false;
      const timer = clock.setTimer(openTimeoutMs, () => {
        timedOut = true;
        const stray: Promise<void> = opened.then(
          (late) => discard(uri, late.conn, late.sub),
          () => undefined,
        );
        entry.stray = stray;
        void stray.then(() => {
          if (entry.stray === stray) entry.stray = undefined;
        });
        reject(
          new HypervisorUnreachableError(uri, {
            cause: new ConnectTimeoutError(uri, openTimeoutMs),
          }),
        );
      });
      opened.then(
        (ok) => {
          if (timedOut) return;
          timer.cancel();
          resolve(ok);
        },
        (err: unknown) => {
          if (timedOut) return;
          timer.cancel();
          reject(err as Error);
        },
      );
    });
  };

  const connect = (uri: string, entry: Entry<C>): Promise<C> => {
    if (entry.opening) return entry.opening;
    const attempt = boundedOpen(uri, entry).then(({ conn, sub }) => {
      entry.closeSub = sub;
      return conn;
    });
    entry.opening = attempt;
    return attempt.then(
      (conn) => {
        entry.opening = undefined;
        if (closed) {
          void discard(uri, conn, entry.closeSub);
          entry.closeSub = undefined;
          throw new HypervisorUnreachableError(uri, { cause: new Error('connection pool closed') });
        }
        entry.conn = conn;
        entry.lastError = undefined;
        entry.backoff.reset();
        emitUp(uri, conn);
        return conn;
      },
      (err: unknown) => {
        entry.opening = undefined;
        const cause = err instanceof HypervisorUnreachableError ? (err.cause ?? err) : err;
        entry.lastError = cause;
        if (!closed) {
          onError(uri, cause);
          emitDown(uri, { why: 'open', cause });
          scheduleRetry(uri, entry);
        }
        throw err;
      },
    );
  };

  return {
    get(uri) {
      if (closed) {
        return Promise.reject(
          new HypervisorUnreachableError(uri, { cause: new Error('connection pool closed') }),
        );
      }
      let entry = entries.get(uri);
      if (!entry) {
        entry = { backoff: newBackoff() };
        entries.set(uri, entry);
      }
      if (entry.conn) return Promise.resolve(entry.conn);
      if (entry.opening) return entry.opening;
      // Down and waiting for the backoff: fail fast rather than hammer a dead daemon.
      if (entry.retry) {
        return Promise.reject(new HypervisorUnreachableError(uri, { cause: entry.lastError }));
      }
      return connect(uri, entry);
    },
    isUp: (uri) => entries.get(uri)?.conn !== undefined,
    reportFailure(uri, conn, cause) {
      const entry = entries.get(uri);
      if (!entry || entry.conn !== conn || closed) return;
      markDown(uri, entry, { why: 'failure', cause });
    },
    on(event: 'up' | 'down', listener: UpListener<C> | DownListener): () => void {
      if (event === PoolEvent.Up) {
        const l = listener as UpListener<C>;
        upListeners.add(l);
        return () => void upListeners.delete(l);
      }
      const l = listener as DownListener;
      downListeners.add(l);
      return () => void downListeners.delete(l);
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const [uri, entry] of entries) {
        entry.retry?.cancel();
        entry.retry = undefined;
        if (entry.conn) void discard(uri, entry.conn, entry.closeSub);
        entry.conn = undefined;
        entry.closeSub = undefined;
      }
      // Opens still in flight close their connection as they land (see connect()).
      // An open that never returns (unresponsive host) must not hold shutdown: bound the wait.
      const inflight = [...entries.values()].flatMap((e) => (e.opening ? [e.opening] : []));
      await new Promise<void>((resolve) => {
        const timer = clock.setTimer(closeTimeoutMs, resolve);
        void Promise.allSettled(inflight).then(() => {
          timer.cancel();
          resolve();
        });
      });
      await Promise.allSettled([...closing]);
      entries.clear();
      upListeners.clear();
      downListeners.clear();
    },
  } as ConnectionPool<C>;
}
