// `console`'s terminal: the node's serial console on the user's terminal, as `virsh console`
// does it. On a TTY, stdin goes raw (every key, Ctrl-C included, reaches the guest) and
// Ctrl-] leaves; the terminal's mode is restored however the session ends. Without a TTY
// (a script), stdin is passed on as it is; Ctrl-] or the end of stdin leaves. The session
// also ends when the node's side does (the domain stopped, another session took over).

import type { Duplex, Readable, Writable } from 'node:stream';

/** Ctrl-], the escape character of `virsh console` and telnet. */
export const ESCAPE_BYTE = 0x1d;

/** The part of `chunk` before the escape byte, and whether it was there. Pure. */
export function splitAtEscape(
  chunk: Uint8Array,
  escape = ESCAPE_BYTE,
): {
  readonly before: Uint8Array;
  readonly escaped: boolean;
} {
  const i = chunk.indexOf(escape);
  return i < 0
    ? { before: chunk, escaped: false }
    : { before: chunk.subarray(0, i), escaped: true };
}

/** A readable that may be a terminal (process.stdin). */
export interface TerminalInput extends Readable {
  readonly isTTY?: boolean;
  setRawMode?(raw: boolean): unknown;
}

/** How a session ended. */
export type SessionEnd = 'escape' | 'input-ended' | 'remote-closed' | 'interrupted';

/**
 * Joins `stream` to `input`/`output` until one side ends; resolves with how. The terminal
 * is raw only for the session. The stream is destroyed at the end.
 */
export function attachTerminal(
  stream: Duplex,
  input: TerminalInput,
  output: Writable,
  signal?: AbortSignal,
): Promise<SessionEnd> {
  const tty = input.isTTY === true && typeof input.setRawMode === 'function';
  if (tty) input.setRawMode?.(true);
  return new Promise<SessionEnd>((resolve, reject) => {
    let settled = false;
    const finish = (how: SessionEnd, err?: Error): void => {
      if (settled) return;
      settled = true;
      input.off('data', onInput).off('end', onInputEnd);
      stream
        .off('data', onOutput)
        .off('end', onRemoteClose)
        .off('close', onRemoteClose)
        .off('error', onRemoteError);
      signal?.removeEventListener('abort', onAbort);
      if (tty) input.setRawMode?.(false);
      input.pause();
      // Errors of a stream we are closing are no news (an in-memory pair says AbortError).
      stream.on('error', () => undefined);
      stream.destroy();
      if (err) reject(err);
      else resolve(how);
    };
    const onInput = (chunk: Buffer | string): void => {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      const { before, escaped } = splitAtEscape(bytes);
      if (before.length > 0) stream.write(before);
      if (escaped) finish('escape');
    };
    const onInputEnd = (): void => {
      // Let queued input reach the node before the stream goes.
      stream.write(Buffer.alloc(0), () => finish('input-ended'));
    };
    const onOutput = (chunk: Buffer): void => void output.write(chunk);
    const onRemoteClose = (): void => finish('remote-closed');
    const onRemoteError = (err: Error): void => finish('remote-closed', err);
    const onAbort = (): void => finish('interrupted');
    stream
      .on('data', onOutput)
      .on('end', onRemoteClose)
      .on('close', onRemoteClose)
      .on('error', onRemoteError);
    input.on('data', onInput).on('end', onInputEnd);
    signal?.addEventListener('abort', onAbort, { once: true });
    // The endpoint's socket comes paused (after its response head): a 'data' listener alone
    // does not start a stream that was paused explicitly.
    stream.resume();
    input.resume();
  });
}
