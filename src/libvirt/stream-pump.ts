// An interactive libvirt stream as a Node Duplex: a non-blocking virStream registered with
// libvirt's event loop (native/stream-pump.cc), so a console session holds no worker thread
// while it waits for the guest. Reads arrive as they happen; writes are queued and sent when
// the stream is writable; `push` returning false pauses the reading (backpressure) until
// Node asks for more. Destroying the duplex aborts the stream (virStreamAbort), as `virsh
// console` does when it leaves; the remote end going away (the domain stopped) ends it.
//
// openDomainConsole puts it together: one connection of its own per session (a console is
// long-lived and must not share a connection's lane with the controllers), the domain, the
// stream, the console; everything is released when the duplex closes.
import { Duplex } from 'node:stream';
import { type PumpHandle, raw } from './binding.js';
import { ConsoleHolders } from './console-holders.js';
import { Connection } from './connection.js';
import { DomainConsoleFlags, StreamFlags } from './constants.js';
import type { Stream } from './stream.js';

/** What the native pump reports (native/stream-pump.cc PumpEvent). */
const PumpEvent = { Data: 0, End: 1, Error: 2, Drain: 3 } as const;

/** Bytes queued for the stream beyond which `write` waits for them to be sent. */
export const PUMP_HIGH_WATER = 256 * 1024;

/** How long closing waits for libvirtd to answer the stream's abort before it lets go. */
export const PUMP_ABORT_WAIT_MS = 5_000;

/**
 * A Duplex over a non-blocking stream that is already attached (e.g. by
 * Domain.openConsole). `onClose` runs once, after the stream is aborted (release what the
 * stream belongs to: its domain, its connection).
 */
export class StreamPump extends Duplex {
  readonly #pump: PumpHandle;
  #waitingWrite: ((err?: Error | null) => void) | undefined;
  #closed = false;
  readonly #onClose: (() => Promise<void>) | undefined;

  constructor(stream: Stream, onClose?: () => Promise<void>) {
    super({ allowHalfOpen: false });
    this.#onClose = onClose;
    this.#pump = raw.streamPumpStart(stream.handle, (event, payload) =>
      this.#event(event, payload),
    );
    // Nothing is read until Node asks (the first _read resumes).
    raw.streamPumpSetPaused(this.#pump, true);
  }

  #event(event: number, payload?: Buffer | Error): void {
    switch (event) {
      case PumpEvent.Data:
        if (payload instanceof Buffer && !this.push(payload)) {
          raw.streamPumpSetPaused(this.#pump, true);
        }
        break;
      case PumpEvent.End:
        this.push(null);
        break;
      case PumpEvent.Error:
        this.destroy(payload instanceof Error ? payload : new Error('libvirt stream failed'));
        break;
      case PumpEvent.Drain: {
        const cb = this.#waitingWrite;
        this.#waitingWrite = undefined;
        cb?.();
        break;
      }
    }
  }

  override _read(): void {
    if (!this.#closed) raw.streamPumpSetPaused(this.#pump, false);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    let queued: number;
    try {
      queued = raw.streamPumpWrite(this.#pump, chunk);
    } catch (err) {
      cb(err as Error);
      return;
    }
    if (queued < PUMP_HIGH_WATER) cb();
    else this.#waitingWrite = cb;
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.#closed = true;
    const waiting = this.#waitingWrite;
    this.#waitingWrite = undefined;
    waiting?.(err ?? new Error('stream closed'));
    // libvirtd may never answer the abort: a console it gave to another program's forced
    // session while output was on its way here swallows it (console-holders.ts), and a daemon
    // that stopped answering holds it until keepalive gives up. The abort goes on on its lane
    // (it holds its own reference to the stream); the session closes anyway after a while.
    const aborted = raw.streamPumpClose(this.#pump).catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, PUMP_ABORT_WAIT_MS);
      timer.unref();
    });
    Promise.race([aborted, waited])
      .finally(() => clearTimeout(timer))
      .then(() => this.#onClose?.())
      .catch(() => undefined)
      .finally(() => cb(err));
  }
}

/** Where a console session goes. */
export interface ConsoleTarget {
  /** The libvirt URI of the domain's host (a Hypervisor's spec.uri). */
  readonly uri: string;
  /** The libvirt domain name. */
  readonly domain: string;
  /** The console device alias (e.g. `serial0`); the first console when absent. */
  readonly device?: string;
  /**
   * Take the console over from a session that holds it (VIR_DOMAIN_CONSOLE_FORCE), as
   * `virsh console --force`; otherwise a second session fails with OPERATION_FAILED.
   */
  readonly force?: boolean;
}

/**
 * The console sessions this process holds (console-holders.ts): a forced session ends the one
 * it takes over from here, since libvirtd may not tell it.
 */
const consoles = new ConsoleHolders<StreamPump>();

/**
 * Opens a domain's console on a connection of its own. Rejects (closing what it opened)
 * when the host, the domain or its console cannot be reached. With `force`, a session of
 * this process on the same console (same URI, domain and device) fails first with
 * ConsoleTakenOverError and is closed.
 */
export async function openDomainConsole(target: ConsoleTarget): Promise<StreamPump> {
  const conn = await Connection.open(target.uri);
  try {
    const domain = await conn.domainLookupByName(target.domain);
    const key = `${target.uri}\n${target.domain}\n${target.device ?? ''}`;
    try {
      return await consoles.attach(key, target.domain, target.force ?? false, async () => {
        const stream = conn.newStream(StreamFlags.Nonblock);
        try {
          await domain.openConsole(
            target.device ?? null,
            stream,
            target.force ? DomainConsoleFlags.Force : undefined,
          );
        } catch (err) {
          stream.free();
          throw err;
        }
        return new StreamPump(stream, async () => {
          stream.free();
          domain.free();
          await conn.close();
        });
      });
    } catch (err) {
      domain.free();
      throw err;
    }
  } catch (err) {
    await conn.close().catch(() => undefined);
    throw err;
  }
}

/**
 * A socket to graphics device `index` (the VNC server) of a domain, through
 * virDomainOpenGraphicsFD on a connection of its own, closed once the descriptor is ours.
 * libvirt passes the descriptor over its UNIX socket: this works for local URIs
 * (`qemu:///system`, `qemu+unix://`), not over TCP, TLS or SSH transports.
 */
export async function openDomainGraphicsFD(
  uri: string,
  domainName: string,
  index = 0,
): Promise<number> {
  const conn = await Connection.open(uri);
  try {
    const domain = await conn.domainLookupByName(domainName);
    try {
      return await domain.openGraphicsFD(index);
    } finally {
      domain.free();
    }
  } finally {
    await conn.close().catch(() => undefined);
  }
}
