// Tests of the test harness itself: the control plane from test/controlplane is a real
// Kubernetes, with RBAC, garbage collection and namespace deletion working, and the kubectl
// the suite runs is the one built beside it.
import { execFile } from 'node:child_process';
import { readFile, realpath } from 'node:fs/promises';
import { request, type RequestOptions } from 'node:https';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  ApiException,
  CoreV1Api,
  VersionApi,
  type KubeConfig,
  type V1ConfigMap,
} from '@kubernetes/client-node';
import { expect } from 'chai';
import { controlPlane, repoRoot } from '../support/controlplane.js';
import { kubectlPath, repoKubectl } from '../support/kubectl.js';
import { createTestNamespace, type TestNamespace } from '../support/namespace.js';
import { waitFor } from '../support/wait.js';

/** GET a raw path with the kubeconfig's credentials; resolves with status and body. */
async function rawGet(kc: KubeConfig, path: string): Promise<{ status: number; body: string }> {
  const server = new URL(kc.getCurrentCluster()?.server ?? '');
  const options: RequestOptions = { hostname: server.hostname, port: server.port, path };
  await kc.applyToHTTPSOptions(options);
  return new Promise((resolve, reject) => {
    request(options, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    })
      .on('error', reject)
      .end();
  });
}

/** Resolves true once reading the object answers 404. */
async function isGone(read: () => Promise<unknown>): Promise<boolean> {
  try {
    await read();
    return false;
  } catch (err) {
    if (err instanceof ApiException && err.code === 404) return true;
    throw err;
  }
}

describe('test control plane', () => {
  let kc: KubeConfig;
  let core: CoreV1Api;
  let ns: TestNamespace;

  beforeEach(async function () {
    kc = controlPlane().kubeConfig('admin');
    core = kc.makeApiClient(CoreV1Api);
    ns = await createTestNamespace(kc, this.currentTest?.title ?? 'controlplane');
  });

  afterEach(async () => {
    await ns.delete();
  });

  it('reports the Kubernetes version it was built from', async () => {
    // The version pinned in test/controlplane/go.mod is the one /version must report.
    const goMod = await readFile(join(repoRoot, 'test', 'controlplane', 'go.mod'), 'utf8');
    const pinned = /^\s*k8s\.io\/kubernetes (v\d+\.\d+\.\d+)\s*$/m.exec(goMod)?.[1];
    expect(pinned, 'k8s.io/kubernetes in go.mod').to.be.a('string');

    const info = await kc.makeApiClient(VersionApi).getCode();
    expect(info.gitVersion).to.equal(pinned);
    expect(`v${info.major}.${info.minor}`).to.equal(pinned?.replace(/\.\d+$/, ''));
  });

  it("is driven by the repository's bin/kubectl, of the same release as the server", async () => {
    // Every kubectl the suite runs comes from kubectlPath(): it must be bin/kubectl (built
    // from test/controlplane/go.mod), not some kubectl on PATH a few minors away.
    expect(await realpath(kubectlPath())).to.equal(await realpath(repoKubectl));

    const { stdout } = await promisify(execFile)(kubectlPath(), [
      '--kubeconfig',
      controlPlane().adminKubeconfig,
      'version',
      '-o',
      'json',
    ]);
    interface Info {
      major: string;
      minor: string;
      gitVersion: string;
    }
    const version = JSON.parse(stdout) as {
      clientVersion: Info;
      serverVersion: Info;
      kustomizeVersion?: string;
    };
    // kubectl's view of the server is /version itself.
    const server = await kc.makeApiClient(VersionApi).getCode();
    expect(version.serverVersion.gitVersion).to.equal(server.gitVersion);
    const majorMinor = (v: Info): string => `${v.major}.${v.minor}`;
    expect(majorMinor(version.clientVersion)).to.equal(`${server.major}.${server.minor}`);
    // Same go.mod, same ldflags: the very same release, and its built-in kustomize v5.
    expect(version.clientVersion.gitVersion).to.equal(server.gitVersion);
    expect(version.kustomizeVersion).to.match(/^v5\./);
  });

  it('answers /readyz', async () => {
    const { status, body } = await rawGet(kc, '/readyz');
    expect(status).to.equal(200);
    expect(body).to.equal('ok');
  });

  it('lets admin create namespaces', async () => {
    const read = await core.readNamespace({ name: ns.name });
    expect(read.status?.phase).to.equal('Active');
  });

  it('enforces RBAC: the operator user may not list secrets cluster-wide', async () => {
    const operator = controlPlane().kubeConfig('operator').makeApiClient(CoreV1Api);
    let caught: unknown;
    try {
      await operator.listSecretForAllNamespaces();
    } catch (err) {
      caught = err;
    }
    expect(caught).to.be.instanceOf(ApiException);
    expect((caught as ApiException<unknown>).code).to.equal(403);
  });

  for (const propagationPolicy of ['Background', 'Foreground'] as const) {
    it(`garbage-collects dependents (${propagationPolicy} deletion)`, async () => {
      const namespace = ns.name;
      const owner = await core.createNamespacedConfigMap({
        namespace,
        body: { metadata: { name: 'owner' }, data: { role: 'owner' } },
      });
      const dependent: V1ConfigMap = {
        metadata: {
          name: 'dependent',
          ownerReferences: [
            {
              apiVersion: 'v1',
              kind: 'ConfigMap',
              name: 'owner',
              uid: owner.metadata!.uid!,
              blockOwnerDeletion: true,
            },
          ],
        },
        data: { role: 'dependent' },
      };
      await core.createNamespacedConfigMap({ namespace, body: dependent });

      await core.deleteNamespacedConfigMap({ namespace, name: 'owner', propagationPolicy });

      // Only the garbage collector deletes dependents; the apiserver alone never would.
      await waitFor(
        () => isGone(() => core.readNamespacedConfigMap({ namespace, name: 'dependent' })),
        {
          timeoutMs: 60_000,
          description: 'the dependent ConfigMap to be garbage-collected',
        },
      );
      await waitFor(
        () => isGone(() => core.readNamespacedConfigMap({ namespace, name: 'owner' })),
        {
          timeoutMs: 60_000,
          description: 'the owner ConfigMap to be deleted',
        },
      );
    });
  }

  it('restarts the apiserver alone: same URL and credentials, objects kept', async function () {
    this.timeout(180_000);
    const namespace = ns.name;
    const before = await core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: 'survivor' }, data: { k: 'v' } },
    });
    const logPath = join(controlPlane().dir, 'logs', 'kube-apiserver.log');
    const starts = async (): Promise<number> =>
      ((await readFile(logPath, 'utf8')).match(/Version: /g) ?? []).length;
    const startsBefore = await starts();

    await controlPlane().restartApiServer();

    // A new apiserver process wrote its startup banner to the same log.
    expect(await starts()).to.be.greaterThan(startsBefore);
    // The same kubeconfig (URL, CA, token) works against the new process at once.
    const { status, body } = await rawGet(kc, '/readyz');
    expect([status, body]).to.deep.equal([200, 'ok']);
    const after = await core.readNamespacedConfigMap({ namespace, name: 'survivor' });
    expect(after.metadata?.uid).to.equal(before.metadata?.uid);
    expect(after.metadata?.resourceVersion).to.equal(before.metadata?.resourceVersion);
    expect(after.data).to.deep.equal({ k: 'v' });
    // Writes work too, and the controller manager still serves (namespace deletion below).
    await core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: 'written-after' }, data: { k: 'v' } },
    });
  });

  it('finishes deleting a namespace that still holds objects', async () => {
    const namespace = ns.name;
    await core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: 'content' }, data: { k: 'v' } },
    });
    await core.deleteNamespace({ name: namespace });
    // The namespace controller empties it and removes the "kubernetes" finalizer.
    await waitFor(() => isGone(() => core.readNamespace({ name: namespace })), {
      timeoutMs: 60_000,
      description: `namespace ${namespace} to be deleted`,
    });
  });
});
