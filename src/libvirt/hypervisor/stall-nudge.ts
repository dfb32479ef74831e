// Nudges a connection whose calls stall behind a long one. libvirt's RPC client (virnetclient.c,
// 6.x–9.x at least) lets one thread at a time own the socket (the "buck"); it waits in
// g_main_loop_run for the events computed before it let go of the client lock. A thread that
// queues a call meanwhile wakes it with g_main_loop_quit, and a quit that lands between that
// unlock and g_main_loop_run is lost: the new call is neither sent nor answered until the
// socket has something else to read. While a domain start holds the buck (seconds under TCG)
// that is the start's own reply: the recipe bench saw a node's volume lookup wait 4.4 and
// 4.7 s for it, so that node started last, once another call's quit got through (the client
// log of those runs: the call queued at once, its reply read only after the next call was
// queued). Any later call's quit ends such a wait, so a call that overlaps another and is
// still pending after NUDGE_FIRST_MS sends one cheap call (virConnectGetLibVersion, on a
// thread of its own: the connection's lane may be full of the stalled calls), and again after
// 4× as long while it stays pending. Calls that finish in time cost nothing.
import type { Connection } from '../connection.js';

/**
 * How long an overlapping call may take before the first nudge. At 50 ms the recipe bench
 * still saw a node's network look and domain look, made while two domain starts held the
 * socket, end each right after its nudge (50 ms apiece), so that node started 160 ms after
 * the others. A nudge is one cheap call, made only while calls overlap; most calls on a busy
 * local libvirtd take under 15 ms.
 */
export const NUDGE_FIRST_MS = 15;
/** Each further nudge for the same call waits this much longer than the last. */
export const NUDGE_BACKOFF = 4;

/** A timer that can be cancelled; tests hand in their own clock. */
export interface NudgeTimers {
  /** Monotonic milliseconds. */
  now(): number;
  /** Runs `fn` after `ms`; the returned function cancels it. */
  after(ms: number, fn: () => void): () => void;
}

/** Node's timers, unref'd: a pending nudge never keeps the process alive. */
export const nodeNudgeTimers: NudgeTimers = {
  now: () => performance.now(),
  after: (ms, fn) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return () => clearTimeout(t);
  },
};

/**
 * Whether connections to `uri` go through libvirt's RPC client: every driver but the ones
 * that run inside the process (test:///, qemu:///embed), which have no socket to stall on.
 */
export function usesRpcClient(uri: string): boolean {
  return !/^test(\+[a-z]+)?:/i.test(uri) && !/:\/\/\/embed(\?|$)/.test(uri);
}

interface Pending {
  /** When this call is next due a nudge. */
  dueAt: number;
  /** The wait before that nudge. */
  wait: number;
}

/** Options of {@link StallNudge}. */
export interface StallNudgeOptions {
  /** The cheap call that wakes the socket's owner; its own metrics are the caller's. */
  readonly nudge: (conn: Connection) => Promise<unknown>;
  /** Clock and timers (default Node's). */
  readonly timers?: NudgeTimers;
}

/** Tracks the calls in flight per connection and nudges those that stall. */
export class StallNudge {
  readonly #nudge: StallNudgeOptions['nudge'];
  readonly #timers: NudgeTimers;
  readonly #inFlight = new Map<Connection, Set<Pending>>();
  /** Connections with a nudge in flight: one at a time each. */
  readonly #nudging = new Set<Connection>();
  #timer?: { readonly at: number; readonly cancel: () => void };

  /** A tracker with nothing in flight. */
  constructor(opts: StallNudgeOptions) {
    this.#nudge = opts.nudge;
    this.#timers = opts.timers ?? nodeNudgeTimers;
  }

  /** A call on `conn` starts; call the returned function when it has ended. */
  begin(conn: Connection): () => void {
    const calls = this.#inFlight.get(conn) ?? new Set<Pending>();
    this.#inFlight.set(conn, calls);
    const first = this.#timers.now() + NUDGE_FIRST_MS;
    // The calls already in flight are not due before this one could stall behind them: a
    // nudge at its very start would race its own wake-up.
    for (const p of calls) p.dueAt = Math.max(p.dueAt, first);
    const pending: Pending = { dueAt: first, wait: NUDGE_FIRST_MS };
    calls.add(pending);
    this.#arm();
    return () => {
      calls.delete(pending);
      if (calls.size === 0 && this.#inFlight.get(conn) === calls) this.#inFlight.delete(conn);
    };
  }

  /** Calls in flight on `conn` (for tests). */
  inFlight(conn: Connection): number {
    return this.#inFlight.get(conn)?.size ?? 0;
  }

  /** The earliest nudge due on a connection with overlapping calls, if any. */
  #nextDue(): number | undefined {
    let next: number | undefined;
    for (const calls of this.#inFlight.values()) {
      // A lone call owns the socket itself: nothing can stall it.
      if (calls.size < 2) continue;
      for (const p of calls) if (next === undefined || p.dueAt < next) next = p.dueAt;
    }
    return next;
  }

  /** Keeps one timer, at the earliest nudge due. */
  #arm(): void {
    const due = this.#nextDue();
    if (due === undefined) return;
    if (this.#timer && this.#timer.at <= due) return;
    this.#timer?.cancel();
    const at = due;
    const cancel = this.#timers.after(Math.max(0, at - this.#timers.now()), () => {
      this.#timer = undefined;
      this.#tick();
    });
    this.#timer = { at, cancel };
  }

  #tick(): void {
    const now = this.#timers.now();
    for (const [conn, calls] of this.#inFlight) {
      if (calls.size < 2) continue;
      let due = false;
      for (const p of calls) {
        if (p.dueAt > now) continue;
        due = true;
        p.wait *= NUDGE_BACKOFF;
        p.dueAt = now + p.wait;
      }
      if (due && !this.#nudging.has(conn)) {
        this.#nudging.add(conn);
        // A failed nudge changes nothing: the stalled call reports its own outcome.
        void this.#nudge(conn)
          .catch(() => undefined)
          .finally(() => this.#nudging.delete(conn));
      }
    }
    this.#arm();
  }
}
