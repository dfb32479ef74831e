// The pieces every test overlay of deploy/ on the test cluster has: the operator's image
// imported into the node's containerd (never pulled), and the ServiceAccount token volume
// kube-testenv's apiserver does not add (it runs without the ServiceAccount admission plugin,
// which adds that volume to every pod). The agent overlay (agent-overlay.ts) and the central
// test's are built from them.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { stringify } from 'yaml';
import type { Cluster } from './cluster.js';
import { repoRoot } from './controlplane.js';

const run = promisify(execFile);
/** Where hack/build-image.sh (make image) leaves the operator's OCI archive. */
export const OPERATOR_IMAGE_ARCHIVE = join(repoRoot, 'build', 'image', 'maaslab-operator.oci.tar');

/**
 * Builds the operator's image (hack/build-image.sh, cached by its inputs: a second run costs a
 * hash and a copy), imports it into `cluster`'s containerd, checks that the import named the
 * operator's image, and returns that name (`ghcr.io/maaslab/maaslab-operator:<tag>`).
 */
export async function importOperatorImage(cluster: Pick<Cluster, 'importImage'>): Promise<string> {
  const t = Date.now();
  await run(join(repoRoot, 'hack', 'build-image.sh'), [], { maxBuffer: 16 << 20 });
  const names = await cluster.importImage(OPERATOR_IMAGE_ARCHIVE);
  const image = names.find((n) => n.includes('maaslab-operator')) ?? '';
  expect(image, `ctr images import named ${JSON.stringify(names)}`).to.match(
    /^ghcr\.io\/maaslab\/maaslab-operator:/,
  );
  console.log(`      image: built (cached) and imported in ${Date.now() - t} ms`);
  return image;
}

/** Where the ServiceAccount admission plugin would mount the token volume. */
export const kubeApiAccessMount = {
  name: 'kube-api-access',
  mountPath: '/var/run/secrets/kubernetes.io/serviceaccount',
  readOnly: true,
} as const;

/** The projected token volume the ServiceAccount admission plugin would add. */
export const kubeApiAccessVolume = {
  name: 'kube-api-access',
  projected: {
    defaultMode: 0o444,
    sources: [
      { serviceAccountToken: { path: 'token', expirationSeconds: 3607 } },
      {
        configMap: {
          name: 'kube-root-ca.crt',
          items: [{ key: 'ca.crt', path: 'ca.crt' }],
        },
      },
      {
        downwardAPI: {
          items: [
            {
              path: 'namespace',
              fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' },
            },
          ],
        },
      },
    ],
  },
} as const;

/** The operator's container as the test overlays patch it: the imported image, the token. */
export const importedOperatorContainer = {
  name: 'operator',
  imagePullPolicy: 'Never',
  volumeMounts: [kubeApiAccessMount],
} as const;

/**
 * A kustomization.yaml over `base` (a path relative to it) that swaps deploy/'s image for
 * `image` (`name:tag`, as imported into the node's containerd) and applies `patches` (objects,
 * each a strategic merge patch).
 */
export function testKustomization(base: string, image: string, patches: readonly object[]): string {
  const [name, tag] = [
    image.slice(0, image.lastIndexOf(':')),
    image.slice(image.lastIndexOf(':') + 1),
  ];
  return stringify({
    apiVersion: 'kustomize.config.k8s.io/v1beta1',
    kind: 'Kustomization',
    resources: [base],
    images: [{ name: 'ghcr.io/maaslab/maaslab-operator', newName: name, newTag: tag }],
    patches: patches.map((p) => ({ patch: stringify(p) })),
  });
}
