// Flux for the GitOps test: its CRDs, straight from the upstream Go modules that test/flux/go.mod
// requires (config/crd/bases in the module cache, never a committed copy), and its
// source-controller and kustomize-controller (bin/, built by `make flux`) as processes against the
// test control plane, every address on 127.0.0.1: the artifact server that kustomize-controller
// downloads from, metrics and health probes. Each waits for its /readyz before it is handed
// over, and stops on SIGTERM.
import { type ChildProcess, execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './controlplane.js';
import { freePort, kubectlRun } from './operator.js';
import { spawnService, waitReady } from './service-process.js';

const run = promisify(execFile);

/** The namespace `flux install` makes, where deploy/flux's objects live. */
export const FLUX_NAMESPACE = 'flux-system';
/** The upstream modules, as test/flux/go.mod requires them. */
export const FLUX_MODULES = {
  source: 'github.com/fluxcd/source-controller',
  kustomize: 'github.com/fluxcd/kustomize-controller',
} as const;

const fluxModule = join(repoRoot, 'test', 'flux');

/** The folder of `module` in the Go module cache, at test/flux/go.mod's version (downloaded if need be). */
export async function fluxModuleDir(module: string): Promise<{ dir: string; version: string }> {
  const env = {
    ...process.env,
    GOTOOLCHAIN: 'local',
    PATH: `/usr/local/go/bin:${process.env.PATH ?? ''}`,
  };
  // `go mod download` is a no-op once the module is in the cache (after `make flux`, always).
  const { stdout } = await run('go', ['mod', 'download', '-json', module], {
    cwd: fluxModule,
    env,
    maxBuffer: 4 << 20,
  });
  const info = JSON.parse(stdout) as { Dir?: string; Version?: string; Error?: string };
  if (!info.Dir || !info.Version)
    throw new Error(`go mod download ${module}: ${info.Error ?? stdout}`);
  return { dir: info.Dir, version: info.Version };
}

/** The CRD files of both controllers, from their modules' config/crd/bases. */
export async function fluxCrdFiles(): Promise<string[]> {
  const files: string[] = [];
  for (const module of Object.values(FLUX_MODULES)) {
    const bases = join((await fluxModuleDir(module)).dir, 'config', 'crd', 'bases');
    for (const f of (await readdir(bases)).sort())
      if (f.endsWith('.yaml')) files.push(join(bases, f));
  }
  return files;
}

/** Applies Flux's CRDs and namespace, as `flux install` would, and waits for the CRDs to be served. */
export async function installFluxCrds(kubeconfig: string): Promise<string[]> {
  const files = await fluxCrdFiles();
  const names: string[] = [];
  for (const f of files) {
    const out = await kubectlRun(kubeconfig, ['apply', '--server-side', '-o', 'name', '-f', f]);
    names.push(...out.split('\n').filter((l) => l !== ''));
  }
  await kubectlRun(kubeconfig, ['wait', '--for=condition=Established', '--timeout=60s', ...names]);
  await kubectlRun(kubeconfig, ['create', 'namespace', FLUX_NAMESPACE]).catch((err: unknown) => {
    if (!/AlreadyExists/.test(String((err as { stderr?: string }).stderr ?? err))) throw err;
  });
  return names;
}

/** Removes what {@link installFluxCrds} added (the Flux objects with them). */
export async function uninstallFluxCrds(
  kubeconfig: string,
  crds: readonly string[],
): Promise<void> {
  await kubectlRun(kubeconfig, [
    'delete',
    'namespace',
    FLUX_NAMESPACE,
    '--ignore-not-found',
    '--timeout=120s',
  ]);
  if (crds.length > 0)
    await kubectlRun(kubeconfig, ['delete', '--ignore-not-found', '--timeout=120s', ...crds]);
}

/** One running controller. */
export interface FluxController {
  readonly name: string;
  readonly logFile: string;
  readonly child: ChildProcess;
  /** The last `lines` lines of its log, for failure messages. */
  logTail(lines?: number): Promise<string>;
  stop(): Promise<number | null>;
}

/** Both controllers. */
export interface Flux {
  readonly source: FluxController;
  readonly kustomize: FluxController;
  /** Where source-controller serves artifacts: `http://127.0.0.1:PORT`. */
  readonly storageUrl: string;
  stop(): Promise<void>;
}

/** bin/NAME, or an error that names the make target. */
export function fluxBinary(name: 'source-controller' | 'kustomize-controller'): string {
  const path = join(repoRoot, 'bin', name);
  try {
    accessSync(path, constants.X_OK);
  } catch (err) {
    throw new Error(`${path} is missing or not executable: run 'make flux'`, { cause: err });
  }
  return path;
}

async function startController(
  name: 'source-controller' | 'kustomize-controller',
  args: readonly string[],
  kubeconfig: string,
  dir: string,
): Promise<FluxController> {
  const binary = fluxBinary(name);
  const healthPort = await freePort();
  const metricsPort = await freePort();
  const logFile = join(dir, `${name}.log`);
  const service = spawnService(
    binary,
    [
      `--health-addr=127.0.0.1:${healthPort}`,
      `--metrics-addr=127.0.0.1:${metricsPort}`,
      // No notification-controller here: events stay Kubernetes events.
      '--events-addr=',
      '--log-encoding=console',
      '--log-level=info',
      ...args,
    ],
    {
      logFile,
      // controller-runtime reads KUBECONFIG; RUNTIME_NAMESPACE is the namespace Flux runs in.
      env: { ...process.env, KUBECONFIG: kubeconfig, RUNTIME_NAMESPACE: FLUX_NAMESPACE },
    },
  );
  const logTail = async (lines = 40): Promise<string> =>
    (await readFile(logFile, 'utf8').catch((e: unknown) => String(e)))
      .split('\n')
      .slice(-lines - 1)
      .join('\n');
  const stop = (): Promise<number | null> => service.stop(30_000);
  try {
    await waitReady(service, `http://127.0.0.1:${healthPort}/readyz`, {
      timeoutMs: 120_000,
      description: `${name} /readyz (log: ${logFile})`,
      exitedEarly: async () => new Error(`${name} exited early:\n${await logTail()}`),
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return { name, logFile, child: service.child, logTail, stop };
}

/** Starts source-controller and kustomize-controller against `kubeconfig`, state in `dir`. */
export async function startFlux(kubeconfig: string, dir: string): Promise<Flux> {
  await mkdir(join(dir, 'storage'), { recursive: true });
  const storagePort = await freePort();
  const storage = `127.0.0.1:${storagePort}`;
  const source = await startController(
    'source-controller',
    [
      `--storage-path=${join(dir, 'storage')}`,
      `--storage-addr=${storage}`,
      // The address written into each artifact's URL, which kustomize-controller downloads.
      `--storage-adv-addr=${storage}`,
    ],
    kubeconfig,
    dir,
  );
  let kustomize: FluxController;
  try {
    kustomize = await startController(
      'kustomize-controller',
      // Bases only from the GitRepository's artifact, as Flux's own install sets it.
      ['--no-remote-bases=true'],
      kubeconfig,
      dir,
    );
  } catch (err) {
    await source.stop();
    throw err;
  }
  return {
    source,
    kustomize,
    storageUrl: `http://${storage}`,
    async stop() {
      await Promise.all([kustomize.stop(), source.stop()]);
    },
  };
}
