// Starts bin/kube-testenv (test/controlplane): etcd, kube-apiserver and the garbage
// collector and namespace controllers, on loopback, for the integration tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { access, constants } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type Interface, createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { type RestConfig, loadRestConfig } from '../../src/runtime/client/kubeconfig.js';

/** The repository root, found from this file so tests may run from any directory. */
export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** The two users of the control plane's static token file. */
export type ControlPlaneUser = 'admin' | 'operator';

/** Options for {@link startControlPlane}. */
export interface ControlPlaneOptions {
  /**
   * State directory (etcd data, certificates, kubeconfigs, logs), kept after `stop()`.
   * Default: a temp dir that kube-testenv removes when it exits.
   */
  dir?: string;
  /** How long to wait for READY. A cold start on two busy cores takes tens of seconds. */
  readyTimeoutMs?: number;
  /** The binary; default `$KUBE_TESTENV` or `bin/kube-testenv` (built by `make kube-testenv`). */
  binary?: string;
}

/** A running control plane. */
export interface ControlPlane {
  /** The state directory; `logs/` in it holds each component's log. */
  readonly dir: string;
  /**
   * kube-testenv's process ID. etcd runs inside it, kube-apiserver and the controller manager
   * are its children: the tree's CPU time is the control plane's (the benchmarks report it).
   */
  readonly pid: number;
  /** The API server's URL, https://127.0.0.1:PORT. */
  readonly server: string;
  /** Path of the kubeconfig of user `admin` (group system:masters). */
  readonly adminKubeconfig: string;
  /** Path of the kubeconfig of user `maaslab-operator` (no groups: only RBAC grants apply). */
  readonly operatorKubeconfig: string;
  /** A fresh KubeConfig for one of the users (default `admin`). */
  kubeConfig(user?: ControlPlaneUser): KubeConfig;
  /** The same user's RestConfig, for our RestClient and manager (loaded by our kubeconfig loader). */
  restConfig(user?: ControlPlaneUser): RestConfig;
  /**
   * Restarts kube-apiserver alone (SIGHUP to kube-testenv): same URL, certificates and
   * tokens; etcd and every object stay. Resolves once /readyz answers 200 again, so
   * clients see a real outage of a few seconds. One restart at a time.
   */
  restartApiServer(timeoutMs?: number): Promise<void>;
  /** Stops every component and waits until the process has exited. Safe to call twice. */
  stop(): Promise<void>;
}

const defaultReadyTimeoutMs = 180_000;
const stopTimeoutMs = 60_000;
/** A warm apiserver restart takes seconds; allow for a loaded machine. */
const defaultRestartTimeoutMs = 120_000;
/** Lines of the child's stderr kept for error messages. */
const stderrTailLines = 40;

/**
 * Spawns kube-testenv and resolves once it printed READY, i.e. /readyz answered 200.
 * Rejects with the end of its stderr when it exits early or does not get ready in time.
 */
export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const binary =
    options.binary ?? process.env.KUBE_TESTENV ?? join(repoRoot, 'bin', 'kube-testenv');
  try {
    await access(binary, constants.X_OK);
  } catch (err) {
    throw new Error(`${binary} is missing: run 'make kube-testenv'`, { cause: err });
  }

  // Without --dir, kube-testenv makes a temp dir and removes it itself, even when it
  // stops because this process died (PR_SET_PDEATHSIG): nothing is left in /tmp.
  const args = options.dir === undefined ? [] : ['--dir', options.dir];
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const stderr: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (line) => {
    stderr.push(line);
    if (stderr.length > stderrTailLines) stderr.shift();
  });
  // A crashing test runner must not leave the control plane behind. kube-testenv also
  // dies with its parent (PR_SET_PDEATHSIG); this covers an orderly process.exit().
  const killOnExit = (): void => void child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const stdoutLines = createInterface({ input: child.stdout! });

  const describe = (what: string): Error =>
    new Error(`kube-testenv ${what}; its stderr ended with:\n${stderr.join('\n')}`);

  let ready: Ready;
  try {
    ready = await waitForReady(
      stdoutLines,
      exited,
      options.readyTimeoutMs ?? defaultReadyTimeoutMs,
      describe,
    );
  } catch (err) {
    await terminate(child, exited);
    process.removeListener('exit', killOnExit);
    throw err;
  }
  const { dir, server } = ready;

  const adminKubeconfig = join(dir, 'admin.kubeconfig');
  const operatorKubeconfig = join(dir, 'operator.kubeconfig');
  let stopping: Promise<void> | undefined;
  // Every test after an unexpected exit fails on a missing kubeconfig; say why, once, here.
  void exited.then(([code, signal]) => {
    if (stopping) return;
    process.stderr.write(
      `${describe(`exited unexpectedly (${signal ?? `exit code ${code}`})`).message}\n`,
    );
  });
  return {
    dir,
    pid: child.pid ?? 0,
    server,
    adminKubeconfig,
    operatorKubeconfig,
    kubeConfig(user: ControlPlaneUser = 'admin') {
      const kc = new KubeConfig();
      kc.loadFromFile(user === 'admin' ? adminKubeconfig : operatorKubeconfig);
      return kc;
    },
    restConfig(user: ControlPlaneUser = 'admin') {
      return loadRestConfig({
        kubeconfig: user === 'admin' ? adminKubeconfig : operatorKubeconfig,
      });
    },
    async restartApiServer(timeoutMs = defaultRestartTimeoutMs) {
      if (stopping || child.exitCode !== null || child.signalCode !== null) {
        throw describe('is not running: cannot restart the apiserver');
      }
      const restarted = nextLine(stdoutLines, 'RESTARTED');
      child.kill('SIGHUP');
      await raceExitAndTimeout(restarted.line, exited, timeoutMs, describe, 'RESTARTED').finally(
        restarted.cancel,
      );
    },
    stop() {
      stopping ??= (async () => {
        const [code, signal] = await terminate(child, exited);
        process.removeListener('exit', killOnExit);
        if (code !== 0) throw describe(`stopped with ${signal ?? `exit code ${code}`}`);
      })();
      return stopping;
    },
  };
}

/** What kube-testenv announces on stdout before READY. */
interface Ready {
  /** From SERVER=… */
  server: string;
  /** The directory of KUBECONFIG=…/admin.kubeconfig. */
  dir: string;
}

/** Resolves with the announced server and state directory once the child prints READY. */
async function waitForReady(
  lines: Interface,
  exited: Promise<[number | null, NodeJS.Signals | null]>,
  timeoutMs: number,
  describe: (what: string) => Error,
): Promise<Ready> {
  const announced: Ready = { server: '', dir: '' };
  const ready = new Promise<Ready>((resolve, reject) => {
    lines.on('line', (line) => {
      if (line.startsWith('SERVER=')) announced.server = line.slice('SERVER='.length);
      if (line.startsWith('KUBECONFIG=')) announced.dir = dirname(line.slice('KUBECONFIG='.length));
      if (line !== 'READY') return;
      if (announced.server && announced.dir) resolve(announced);
      else reject(describe('printed READY without SERVER= and KUBECONFIG= lines'));
    });
  });
  return raceExitAndTimeout(ready, exited, timeoutMs, describe, 'READY');
}

/** `awaited`, unless the child exits or `timeoutMs` passes first (rejects with the stderr tail). */
async function raceExitAndTimeout<T>(
  awaited: Promise<T>,
  exited: Promise<[number | null, NodeJS.Signals | null]>,
  timeoutMs: number,
  describe: (what: string) => Error,
  what: string,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const failed = exited.then(([code, signal]) => {
    throw describe(`exited before printing ${what} (${signal ?? `exit code ${code}`})`);
  });
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(describe(`printed no ${what} within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([awaited, failed, timedOut]);
  } finally {
    clearTimeout(timer);
    // Later rejections of `failed` (the normal exit at stop()) are not errors.
    failed.catch(() => undefined);
  }
}

/** The next time the child prints exactly `expected` on stdout; `cancel` stops listening. */
function nextLine(lines: Interface, expected: string): { line: Promise<void>; cancel: () => void } {
  let onLine: (line: string) => void = () => undefined;
  const line = new Promise<void>((resolve) => {
    onLine = (l: string): void => {
      if (l === expected) resolve();
    };
    lines.on('line', onLine);
  });
  return { line, cancel: () => void lines.off('line', onLine) };
}

/** SIGTERM, then SIGKILL if the child does not exit in time; resolves with its exit status. */
async function terminate(
  child: ChildProcess,
  exited: Promise<[number | null, NodeJS.Signals | null]>,
): Promise<[number | null, NodeJS.Signals | null]> {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), stopTimeoutMs);
  try {
    return await exited;
  } finally {
    clearTimeout(timer);
  }
}

let shared: ControlPlane | undefined;

/** Records the control plane that the mocha root hook started (undefined once stopped). */
export function setSharedControlPlane(cp: ControlPlane | undefined): void {
  shared = cp;
}

/** The control plane shared by every integration test; started by test/integration/setup.ts. */
export function controlPlane(): ControlPlane {
  if (!shared) {
    throw new Error(
      'no control plane: run integration tests with --config .mocharc.integration.json',
    );
  }
  return shared;
}
