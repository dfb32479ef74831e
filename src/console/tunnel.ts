// A child process's stdin and stdout as one Duplex: the `ssh -W` tunnel to a VNC server on a
// remote host (ssh.ts builds the command). The process is killed when the duplex is destroyed
// and the duplex ends when the process's stdout does. Opening waits for the first bytes from
// the far side (a VNC server speaks first, "RFB 003.008\n"), so that a tunnel that cannot be
// made (host unreachable, key refused, forwarding refused, nothing on the port) fails the
// attach with ssh's own words rather than a session that closes at once; and a deadline
// keeps it from hanging.

import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { Duplex } from 'node:stream';

/** Bytes of the child's stderr kept for an error message. */
const STDERR_KEPT = 4096;
/** How long opening waits for the first bytes by default. */
export const TUNNEL_OPEN_TIMEOUT_MS = 20_000;

/** A running child as a Duplex. */
class ProcessDuplex extends Duplex {
  readonly #child: ChildProcessWithoutNullStreams;

  constructor(child: ChildProcessWithoutNullStreams, first: Buffer) {
    super({ allowHalfOpen: false });
    this.#child = child;
    if (first.length > 0) this.push(first);
    child.stdout.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) child.stdout.pause();
    });
    child.stdout.on('end', () => this.push(null));
    child.stdin.on('error', (err) => this.destroy(err));
  }

  override _read(): void {
    this.#child.stdout.resume();
  }

  override _write(
    chunk: Buffer,
    _encoding: BufferEncoding,
    cb: (err?: Error | null) => void,
  ): void {
    if (this.#child.stdin.destroyed) {
      cb(new Error('the tunnel has closed'));
      return;
    }
    this.#child.stdin.write(chunk, (err) => cb(err ?? null));
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.#child.stdin.end(() => cb());
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const child = this.#child;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    child.stdin.destroy();
    child.stdout.destroy();
    cb(err);
  }
}

/** Options of {@link openProcessTunnel}. */
export interface ProcessTunnelOptions {
  /** How long to wait for the first bytes before giving up (the child is killed). */
  readonly timeoutMs?: number;
  /** Environment of the child; the operator's own when absent. */
  readonly env?: NodeJS.ProcessEnv;
  /** Gives up early (the child is killed). */
  readonly signal?: AbortSignal;
}

/**
 * Runs `file args` (no shell) and resolves with its stdio as a Duplex once its stdout has
 * said something; rejects with its stderr when it exits first, fails to start, or is silent
 * for `timeoutMs`.
 */
export function openProcessTunnel(
  file: string,
  args: readonly string[],
  opts: ProcessTunnelOptions = {},
): Promise<Duplex> {
  const timeoutMs = opts.timeoutMs ?? TUNNEL_OPEN_TIMEOUT_MS;
  return new Promise<Duplex>((resolve, reject) => {
    const child = spawn(file, [...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
      shell: false,
    });
    let stderr = '';
    let settled = false;
    const said = (): string => {
      const text = stderr.trim();
      return text === '' ? '' : `: ${text}`;
    };
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < STDERR_KEPT) stderr += d.toString('utf8').slice(0, STDERR_KEPT);
    });
    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      cleanup();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      child.stdin.destroy();
      child.stdout.destroy();
      reject(err);
    };
    const onData = (first: Buffer): void => {
      if (settled) return;
      settled = true;
      cleanup();
      child.stdout.pause();
      resolve(new ProcessDuplex(child, first));
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      // stderr may still be arriving: give its pipe a moment to drain before reporting.
      setImmediate(() =>
        fail(
          new Error(
            `${file} exited (${code !== null ? `code ${code}` : `signal ${signal}`}) before the far side answered${said()}`,
          ),
        ),
      );
    };
    const onError = (err: Error): void => fail(new Error(`${file} could not run: ${err.message}`));
    const onAbort = (): void => fail(new Error('the tunnel was abandoned'));
    const timer = setTimeout(
      () => fail(new Error(`no answer through ${file} within ${timeoutMs} ms${said()}`)),
      timeoutMs,
    );
    const cleanup = (): void => {
      clearTimeout(timer);
      child.stdout.off('data', onData);
      child.off('exit', onExit);
      child.off('error', onError);
      opts.signal?.removeEventListener('abort', onAbort);
    };
    child.stdout.once('data', onData);
    child.once('exit', onExit);
    child.once('error', onError);
    child.stdin.on('error', () => undefined);
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });
  });
}
