// A long-running child process of a test (the operator, Flux's controllers): its stdout and
// stderr appended to a log file, SIGKILLed if the test run exits first, stopped with SIGTERM
// then SIGKILL, and a wait for its health probe whose timeout error says when it died.
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { waitFor } from './wait.js';

/** Options for {@link spawnService}. */
export interface ServiceSpawnOptions {
  /** Where stdout and stderr go (appended). */
  readonly logFile: string;
  readonly env: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

/** A running child process started by {@link spawnService}. */
export interface ServiceProcess {
  readonly child: ChildProcess;
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  /** Whether it has exited, as `exited` has told. */
  hasExited(): boolean;
  /** SIGTERM, then the exit code; SIGKILL after `timeoutMs`. */
  stop(timeoutMs: number): Promise<number | null>;
  /** SIGKILL, then wait for the exit. */
  kill(): Promise<void>;
}

/** Spawns `file argv…` with its output appended to `logFile`. */
export function spawnService(
  file: string,
  argv: readonly string[],
  opts: ServiceSpawnOptions,
): ServiceProcess {
  const log = createWriteStream(opts.logFile, { flags: 'a' });
  const child = spawn(file, argv, {
    ...(opts.cwd !== undefined && { cwd: opts.cwd }),
    env: opts.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.pipe(log, { end: false });
  child.stderr.pipe(log, { end: false });
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  // A crashing test run must not leave the process behind.
  const killOnExit = (): void => void child.kill('SIGKILL');
  process.once('exit', killOnExit);
  void exited.then(() => process.off('exit', killOnExit));
  let dead = false;
  void exited.then(() => (dead = true));
  return {
    child,
    exited,
    hasExited: () => dead,
    async stop(timeoutMs) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Options for {@link waitReady}. */
export interface WaitReadyOptions {
  readonly timeoutMs: number;
  /** What is waited for, for the timeout error (e.g. `operator /readyz (log: …)`). */
  readonly description: string;
  /** The error of an attempt after the process exited: the timeout error's last error. */
  readonly exitedEarly: () => Promise<Error> | Error;
}

/**
 * Polls `url` every 250 ms until it answers 200. Once the process has exited, each attempt
 * fails with `exitedEarly()`'s error, which the timeout error then carries as its cause.
 */
export async function waitReady(
  service: ServiceProcess,
  url: string,
  opts: WaitReadyOptions,
): Promise<void> {
  await waitFor(
    async () => {
      if (service.hasExited()) throw await opts.exitedEarly();
      return (await fetch(url)).status === 200;
    },
    { timeoutMs: opts.timeoutMs, intervalMs: 250, description: opts.description },
  );
}
