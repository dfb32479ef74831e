// Forced console takeovers between sessions of this process: the session that holds a console
// is ended by us before the new one opens, instead of leaving it to libvirtd to tell it.
//
// Why: libvirtd tells the old session nothing when a forced open lands while console output is
// on its way to that session. Its stream code (remote_daemon_stream.c, daemonStreamUpdateEvents,
// 9.0 and upstream alike) registers the console's stream for READABLE only while no data packet
// to the client is in flight; the forced open (virChrdevOpen) aborts the old stream, and
// virFDStreamCloseInt calls the stream's error callback only if READABLE or WRITABLE is
// registered at that moment. In the window it is not, so no error and no end of stream reach
// the old client, and its own virStreamAbort later is never answered either (the daemon's side
// is closed and swallows it). A client log of a failing takeover shows exactly that: the daemon's
// update after the abort fails with "stream is not open", and the old stream gets no message.
//
// Here the old session's own client aborts its stream (the daemon answers that whatever is in
// flight, since the abort message itself registers WRITABLE), the old session fails with
// ConsoleTakenOverError, and only then does the new one open. The force flag stays: a holder
// outside this process (`virsh console --force` elsewhere, another replica) is still taken
// over by libvirtd, with the race above.
import type { Duplex } from 'node:stream';

/** How long a takeover waits for the old session to close before opening anyway. */
export const TAKEOVER_CLOSE_WAIT_MS = 5_000;

/** The error a console session fails with when a forced session of this process takes over. */
export class ConsoleTakenOverError extends Error {
  constructor(what: string) {
    super(`console of ${what} taken over by another session (force)`);
    this.name = 'ConsoleTakenOverError';
  }
}

/** Waits for `s` to emit 'close', at most `ms`. */
function closed(s: Duplex, ms: number): Promise<void> {
  if (s.closed) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      s.off('close', done);
      resolve();
    }, ms);
    s.once('close', done);
  });
}

/** The console sessions of this process, one per console; see the file comment. */
export class ConsoleHolders<S extends Duplex = Duplex> {
  readonly #held = new Map<string, S>();
  /** Per console, the attach in progress: attaches to one console run one at a time. */
  readonly #busy = new Map<string, Promise<unknown>>();
  readonly #closeWaitMs: number;

  constructor(closeWaitMs = TAKEOVER_CLOSE_WAIT_MS) {
    this.#closeWaitMs = closeWaitMs;
  }

  /** The open session of console `key`, if this process holds one. */
  holder(key: string): S | undefined {
    return this.#held.get(key);
  }

  /**
   * Runs `attach` for console `key` (described as `what` in the old session's error). With
   * `force`, a session of this process that holds the console is destroyed with
   * ConsoleTakenOverError (unless it is closing already) and its close awaited, for the close
   * wait at most, first; without it, `attach` runs as is (libvirt refuses a busy console).
   */
  async attach(key: string, what: string, force: boolean, attach: () => Promise<S>): Promise<S> {
    const before = this.#busy.get(key) ?? Promise.resolve();
    const run = before.then(async () => {
      const old = this.#held.get(key);
      if (force && old) {
        // One that is already closing (its user left) is awaited too: its abort goes first.
        if (!old.destroyed) old.destroy(new ConsoleTakenOverError(what));
        await closed(old, this.#closeWaitMs);
      }
      const session = await attach();
      if (session.closed) return session;
      this.#held.set(key, session);
      session.once('close', () => {
        if (this.#held.get(key) === session) this.#held.delete(key);
      });
      return session;
    });
    const settled = run.catch(() => undefined);
    this.#busy.set(key, settled);
    void settled.then(() => {
      if (this.#busy.get(key) === settled) this.#busy.delete(key);
    });
    return run;
  }
}
