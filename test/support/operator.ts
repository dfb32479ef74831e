// The operator as a user runs it: a child process of `src/cli/main.ts run`, with the RBAC of
// deploy/base (generated into deploy/base/rbac/) as its only permissions. Used by the e2e tests.
import { type ChildProcess, execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments, stringify } from 'yaml';
import { repoRoot } from './controlplane.js';
import { kubectlPath } from './kubectl.js';
import { spawnService, waitReady } from './service-process.js';

const run = promisify(execFile);

/** The user of the control plane's operator kubeconfig. */
export const OPERATOR_USER = 'maaslab-operator';

/** A free TCP port on 127.0.0.1 (the kernel's pick, released before returning). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** `count` consecutive UDP ports on 127.0.0.1 that are free now, in a random high range. */
export async function freeUdpRange(count: number): Promise<{ first: number; last: number }> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const first = 20_000 + Math.floor(Math.random() * 40_000);
    const sockets = [];
    let ok = true;
    for (let port = first; port < first + count && ok; port++) {
      const socket = createSocket('udp4');
      ok = await new Promise<boolean>((resolve) => {
        socket.once('error', () => resolve(false));
        socket.bind(port, '127.0.0.1', () => resolve(true));
      });
      sockets.push(socket);
    }
    await Promise.all(sockets.map((s) => new Promise<void>((r) => s.close(() => r()))));
    if (ok) return { first, last: first + count - 1 };
  }
  throw new Error('no free UDP range');
}

/** The pinned `kubectl --kubeconfig K ...args` (see kubectl.ts), resolving to stdout. */
export async function kubectlRun(kubeconfig: string, args: readonly string[]): Promise<string> {
  const { stdout } = await run(kubectlPath(), ['--kubeconfig', kubeconfig, ...args], {
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout;
}

/** Server-side applies `docs` (as YAML) with kubectl, as a user would. */
export async function kubectlApply(
  kubeconfig: string,
  docs: readonly unknown[],
  file: string,
): Promise<void> {
  await writeFile(file, docs.map((d) => stringify(d)).join('---\n'));
  await kubectlRun(kubeconfig, ['apply', '--server-side', '--force-conflicts', '-f', file]);
}

interface Meta {
  kind?: string;
  metadata?: { name?: string; namespace?: string };
  subjects?: Array<Record<string, string>>;
}

/** The kinds of the RBAC part of a kustomize build. */
const RBAC_KINDS = new Set([
  'ServiceAccount',
  'Role',
  'RoleBinding',
  'ClusterRole',
  'ClusterRoleBinding',
]);

/** `kubectl kustomize DIR` (DIR relative to the repository root), as parsed documents. */
export async function kustomize(dir: string): Promise<unknown[]> {
  const { stdout } = await run(kubectlPath(), ['kustomize', join(repoRoot, dir)], {
    maxBuffer: 16 * 1024 * 1024,
  });
  return parseAllDocuments(stdout).map((d) => d.toJS() as unknown);
}

/**
 * Applies the RBAC objects of `kubectl kustomize deploy/base` — the very ClusterRole, Role,
 * ServiceAccount and bindings a cluster install gets — with two test adjustments:
 * namespaced objects go to `namespace` (where the operator keeps its Leases), and each
 * binding also names `User maaslab-operator`, the identity of the control plane's operator
 * kubeconfig. Nothing else is granted, so a run proves the base's rules are enough.
 */
export async function applyOperatorRbac(
  adminKubeconfig: string,
  namespace: string,
  scratchDir: string,
): Promise<void> {
  const docs = ((await kustomize('deploy/base')) as Meta[]).filter(
    (d) => d.kind !== undefined && RBAC_KINDS.has(d.kind),
  );
  if (!docs.some((d) => d.kind === 'ClusterRole') || !docs.some((d) => d.kind === 'Role')) {
    throw new Error('deploy/base renders no ClusterRole or no Role');
  }
  for (const d of docs) {
    if (d.metadata?.namespace) d.metadata.namespace = namespace;
    if (d.subjects) {
      d.subjects = d.subjects.map((s) => (s.namespace ? { ...s, namespace } : s));
      d.subjects.push({ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: OPERATOR_USER });
    }
  }
  await kubectlApply(adminKubeconfig, docs, join(scratchDir, 'rbac.yaml'));
}

/** Options for {@link startOperator}. */
export interface OperatorProcessOptions {
  readonly kubeconfig: string;
  /** Namespace of the Leases. */
  readonly namespace: string;
  readonly hypervisors?: string;
  readonly leaderElect?: boolean;
  /** Where stdout and stderr go (appended). */
  readonly logFile: string;
  /** Extra flags. */
  readonly args?: readonly string[];
  /** How long to wait for /readyz (default 120 s: tsx compiles on a busy machine). */
  readonly readyTimeoutMs?: number;
  /**
   * A compiled entry point (e.g. a staged `dist/src/cli/main.js`) run by plain node, from
   * its own folder; default: src/cli/main.ts through the tsx loader, from the repository.
   */
  readonly script?: string;
  /** Wait for /readyz to answer 200 before resolving (default true). */
  readonly waitReady?: boolean;
  /** Node's own flags before the entry point, e.g. `--cpu-prof` (the benchmarks). */
  readonly nodeOptions?: readonly string[];
  /** Extra environment variables (e.g. UV_THREADPOOL_SIZE). */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * A command the node process is started through, which must end by exec'ing its arguments
   * (so signals still reach the operator), e.g. `unshare --mount … sh -c '…; exec "$@"'`.
   */
  readonly wrap?: readonly string[];
  /**
   * Serve /metrics as installed: HTTPS, a bearer token with `get /metrics` required (default
   * false: `--metrics-secure=false`, plain HTTP on 127.0.0.1, which the tests that only read a
   * counter use; the monitoring and metrics-auth tests scrape the secure server).
   */
  readonly secureMetrics?: boolean;
  /**
   * A build from before `--metrics-secure` (plain HTTP was then its only /metrics): the flag
   * is not passed. For the older baselines of bench/scale-compare.ts.
   */
  readonly predatesSecureMetrics?: boolean;
}

/** A running operator process. */
export interface OperatorProcess {
  readonly child: ChildProcess;
  readonly metricsUrl: string;
  readonly probeUrl: string;
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  /** SIGTERM, then the exit code; SIGKILL after `timeoutMs` (default 60 s). */
  stop(timeoutMs?: number): Promise<number | null>;
  /** SIGKILL: no lease release, like a crashed node. */
  kill(): Promise<void>;
}

/** Spawns `node --import tsx src/cli/main.ts run ...` and waits until /readyz answers 200. */
export async function startOperator(opts: OperatorProcessOptions): Promise<OperatorProcess> {
  const metricsPort = await freePort();
  const probePort = await freePort();
  // One process (node with the tsx loader) rather than the tsx CLI, which forks a second
  // node: signals then reach the operator itself, and SIGKILL really kills it.
  const entry = opts.script
    ? [opts.script]
    : ['--import', 'tsx', join(repoRoot, 'src', 'cli', 'main.ts')];
  const args = [
    ...(opts.nodeOptions ?? []),
    ...entry,
    'run',
    '--kubeconfig',
    opts.kubeconfig,
    '--hypervisors',
    opts.hypervisors ?? 'all',
    '--namespace',
    opts.namespace,
    '--metrics-bind-address',
    `127.0.0.1:${metricsPort}`,
    ...(opts.secureMetrics || opts.predatesSecureMetrics ? [] : ['--metrics-secure=false']),
    '--health-probe-bind-address',
    `127.0.0.1:${probePort}`,
    '--log-format',
    'text',
    ...(opts.leaderElect ? ['--leader-elect'] : []),
    ...(opts.args ?? []),
  ];
  const [file, ...argv] = [...(opts.wrap ?? []), process.execPath, ...args] as [
    string,
    ...string[],
  ];
  const service = spawnService(file, argv, {
    logFile: opts.logFile,
    cwd: opts.script ? dirname(opts.script) : repoRoot,
    env: { ...process.env, ...opts.env },
  });
  const probeUrl = `http://127.0.0.1:${probePort}`;
  if (opts.waitReady !== false) {
    await waitReady(service, `${probeUrl}/readyz`, {
      timeoutMs: opts.readyTimeoutMs ?? 120_000,
      description: `operator /readyz (log: ${opts.logFile})`,
      exitedEarly: () => new Error(`operator exited early; see ${opts.logFile}`),
    });
  }
  return {
    child: service.child,
    metricsUrl: `${opts.secureMetrics ? 'https' : 'http'}://127.0.0.1:${metricsPort}/metrics`,
    probeUrl,
    exited: service.exited,
    stop: (timeoutMs = 60_000) => service.stop(timeoutMs),
    kill: () => service.kill(),
  };
}
