// Argo CD's own health machinery as a command: bin/argocd-health (the Go module
// test/argocd-health, `make argocd-health`) reads argocd-cm from the API server with Argo CD's
// SettingsManager, runs the health Lua in Argo CD's gopher-lua VM and gives gitops-engine's
// verdict. This module installs deploy/argocd/argocd-cm-patch.yaml as that ConfigMap and runs
// the command over live objects (read by the command itself) or given ones.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { readFile } from 'node:fs/promises';
import { ARGOCD_CM_PATCH } from '../../hack/gen-argocd-health.js';
import { repoRoot } from './controlplane.js';
import { kubectlApply } from './operator.js';
import type { ArgoHealth } from './monitoring.js';

export const ARGOCD_HEALTH_BIN = join(repoRoot, 'bin', 'argocd-health');

/** The object named by `ref`, read from the API server by the command, or one given as is. */
export type ArgoCdItem =
  | {
      readonly ref: {
        readonly apiVersion: string;
        readonly kind: string;
        readonly namespace?: string;
        readonly name: string;
      };
    }
  | { readonly object: unknown };

/** What bin/argocd-health prints for one item. */
export interface ArgoCdResult {
  /** Argo CD's verdict: gitops-engine's GetResourceHealth, or Missing when there is no object. */
  readonly health: ArgoHealth;
  /** The customization's own result (ExecuteHealthLua), null when there is no object. */
  readonly lua: ArgoHealth | null;
  /** The argocd-cm override key that supplied the Lua, e.g. `maaslab.dev/MaasLab`. */
  readonly override: string;
  /** The object as the command read it (null when it does not exist). */
  readonly live: Record<string, unknown> | null;
}

/** Fails with the build command to run when bin/argocd-health has not been built. */
export async function requireArgoCdHealth(): Promise<void> {
  await access(ARGOCD_HEALTH_BIN).catch(() => {
    throw new Error(`${ARGOCD_HEALTH_BIN} is missing: run 'make argocd-health'`);
  });
}

/**
 * Applies deploy/argocd/argocd-cm-patch.yaml as the ConfigMap argocd-cm in `namespace` (the
 * patch names `argocd`; a test namespace keeps runs apart), data and labels unchanged: Argo
 * CD's SettingsManager only sees ConfigMaps labelled app.kubernetes.io/part-of=argocd.
 */
export async function installArgocdCm(
  adminKubeconfig: string,
  namespace: string,
  scratchDir: string,
): Promise<void> {
  const patch = parse(await readFile(join(repoRoot, ARGOCD_CM_PATCH), 'utf8')) as {
    metadata: Record<string, unknown>;
  };
  const cm = { ...patch, metadata: { ...patch.metadata, namespace } };
  await kubectlApply(adminKubeconfig, [cm], join(scratchDir, 'argocd-cm.yaml'));
}

/** Runs bin/argocd-health over `items` with argocd-cm from `namespace`; one result per item. */
export async function argoCdHealth(
  kubeconfig: string,
  namespace: string,
  items: readonly ArgoCdItem[],
): Promise<ArgoCdResult[]> {
  const child = spawn(ARGOCD_HEALTH_BIN, ['--kubeconfig', kubeconfig, '--namespace', namespace], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const exited = once(child, 'close') as Promise<[number | null]>;
  await Promise.race([
    once(child, 'spawn'),
    once(child, 'error').then(([e]) => Promise.reject(e as Error)),
  ]);
  child.stdin.end(JSON.stringify(items));
  const [code] = await exited;
  if (code !== 0) throw new Error(`argocd-health exited ${code}: ${stderr}`);
  return JSON.parse(stdout) as ArgoCdResult[];
}
