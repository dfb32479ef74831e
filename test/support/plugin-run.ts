// What the tests that run `kubectl maaslab` as child processes share: a run to its end with
// its output; for `console` and `vnc`, their output as it arrives, the port of vnc's local
// listener, and the first bytes a connection to it gets (the VNC server's RFB greeting).
import { type ChildProcess, spawn } from 'node:child_process';
import { connect } from 'node:net';
import { waitFor } from './wait.js';

/** A finished process: its exit code and its whole output. */
export interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `file args` to its end and collects its output; never rejects on a non-zero exit. */
export function exec(file: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** A plugin process's output so far and its exit code. */
export interface PluginOutput {
  /** stdout as latin1: a serial console's bytes, one character each. */
  out(): string;
  err(): string;
  /** The exit code (-1 when killed by a signal). */
  readonly exited: Promise<number>;
}

/** Collects `child`'s stdout and stderr from now on; its stdio must be pipes. */
export function collectOutput(child: ChildProcess): PluginOutput {
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString('latin1')));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)));
  return { out: () => out, err: () => err, exited };
}

/** The port of `vnc`'s local listener, from the line it prints ("… on 127.0.0.1:PORT …"). */
export function vncListenerPort(output: PluginOutput): Promise<number> {
  return waitFor(() => Number(/on 127\.0\.0\.1:(\d+) /.exec(output.out())?.[1] ?? 0) || undefined, {
    timeoutMs: 60_000,
    intervalMs: 100,
    description: `the local address (stderr: ${output.err()})`,
  });
}

/**
 * The first bytes a connection to 127.0.0.1:`port` receives, as latin1; then it is closed.
 * `context` is read when the connection closes without any, for the error.
 */
export function firstBytes(port: number, context: () => string = () => ''): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('data', (d: Buffer) => {
      resolve(d.toString('latin1'));
      socket.destroy();
    });
    socket.once('error', reject);
    socket.once('close', () => reject(new Error(`closed without a greeting${context()}`)));
  });
}
