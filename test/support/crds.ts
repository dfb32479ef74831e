// crds/ installed on a test control plane the way a user installs them: kubectl, server-side,
// then a wait until each CRD is Established. Shared by the integration root hook, `make demo`
// and the benchmarks.
import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ApiextensionsV1Api } from '@kubernetes/client-node';
import { type ControlPlane, repoRoot } from './controlplane.js';
import { kubectlPath } from './kubectl.js';
import { waitFor } from './wait.js';

const run = promisify(execFile);

/**
 * Applies every crds/*.yaml with kubectl (server-side, as a user would) and waits until
 * each CRD is Established. Fails when crds/ holds no YAML: integration tests exist to
 * prove the CRDs, so running them without any would prove nothing. Resolves to the CRD names.
 */
export async function applyCrds(controlPlane: ControlPlane): Promise<string[]> {
  const dir = join(repoRoot, 'crds');
  // crds/Kustomization (no extension) lists the CRDs for deploy/base; only *.yaml are CRDs.
  const files = (await readdir(dir).catch(() => [])).filter((f) => f.endsWith('.yaml'));
  if (files.length === 0) throw new Error(`${dir} holds no CRD *.yaml: run 'make crds'`);

  const { stdout } = await run(
    kubectlPath(),
    [
      '--kubeconfig',
      controlPlane.adminKubeconfig,
      'apply',
      '--server-side',
      '-o',
      'name',
      ...files.flatMap((f) => ['-f', join(dir, f)]),
    ],
    { timeout: 60_000 },
  );
  // "customresourcedefinition.apiextensions.k8s.io/<name>", one per line.
  const names = stdout
    .split('\n')
    .filter((line) => line.startsWith('customresourcedefinition'))
    .map((line) => line.slice(line.indexOf('/') + 1));

  const api = controlPlane.kubeConfig('admin').makeApiClient(ApiextensionsV1Api);
  for (const name of names) {
    await waitFor(
      async () => {
        const crd = await api.readCustomResourceDefinition({ name });
        return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
      },
      { timeoutMs: 30_000, description: `CRD ${name} to be Established` },
    );
  }
  return names;
}
