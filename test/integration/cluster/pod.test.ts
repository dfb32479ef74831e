// The operator's image as pods on a real kubelet: the cluster of test/support/cluster.ts
// (kubelet, kube-proxy, kube-scheduler and every controller from the control plane's own
// Kubernetes release; containerd, runc and the CNI bridge from Debian), added to the shared
// control plane, with the image of `make image` imported into containerd. No registry: every
// pod runs with imagePullPolicy Never.
//
// The node is tainted, and only this file's pods tolerate it, so that objects other tests of
// the shared control plane leave behind are never scheduled on it; deploy/base goes into a
// namespace of its own with its cluster-wide RBAC renamed, and all of it is deleted at the end.
// `make test-cluster` runs this file alone.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  AppsV1Api,
  CoreV1Api,
  type V1Deployment,
  type V1Pod,
  type V1Volume,
} from '@kubernetes/client-node';
import { expect } from 'chai';
import { parseAllDocuments, stringify } from 'yaml';
import {
  type Cluster,
  cgroupDirs,
  curlInNode as curlInCluster,
  startCluster,
} from '../../support/cluster.js';
import { controlPlane, repoRoot } from '../../support/controlplane.js';
import { kubectlPath } from '../../support/kubectl.js';
import { waitFor } from '../../support/wait.js';

const run = promisify(execFile);
const archive = join(repoRoot, 'build', 'image', 'maaslab-operator.oci.tar');
const namespace = 'cluster-test';
/** Where deploy/base goes instead of maaslab-system, and the suffix of its cluster-wide names. */
const operatorNamespace = 'cluster-test-operator';
const clusterScopedSuffix = '-cluster-test';
const taint = { key: 'maaslab.dev/test-cluster', value: 'true', effect: 'NoSchedule' };
const tolerations = [
  { key: taint.key, operator: 'Equal', value: taint.value, effect: taint.effect },
];
/** deploy/'s pod security settings, as the agent DaemonSet and the central Deployment set them. */
const podSecurity = {
  runAsNonRoot: true,
  runAsUser: 65532,
  runAsGroup: 65532,
  seccompProfile: { type: 'RuntimeDefault' },
};
const containerSecurity = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
};
/** A server in the image's node that reports who it runs as and whether / is writable. */
const probeServer = `
const fs = require('node:fs');
require('node:http').createServer((req, res) => {
  let rootfs = 'writable';
  try { fs.writeFileSync('/probe', 'x'); } catch (err) { rootfs = err.code; }
  res.end(JSON.stringify({ uid: process.getuid(), gid: process.getgid(), rootfs, node: process.version }));
}).listen(8081, () => console.log('probe listening as', process.getuid()));
process.on('SIGTERM', () => process.exit(0)); // PID 1 has no default action for it`;

/** A manifest of deploy/base, as far as this file edits it. */
interface Manifest {
  kind?: string;
  metadata: { name: string; namespace?: string };
  roleRef?: { kind: string; name: string };
}

/** deploy/base's ClusterRoles and ClusterRoleBindings, renamed, that the Deployment test applied. */
let clusterScoped: Manifest[] = [];

describe('a real single-node cluster: the operator image as pods (kubelet, containerd, CNI)', function () {
  let cluster: Cluster | undefined;
  let image = '';
  const core = (): CoreV1Api => controlPlane().kubeConfig().makeApiClient(CoreV1Api);
  const curlInNode = (url: string): Promise<string> => curlInCluster(cluster!, url);

  before(async function () {
    this.timeout(900_000);
    if (process.getuid?.() !== 0) this.skip();
    let t = Date.now();
    cluster = await startCluster({
      controlPlane: controlPlane(),
      nodeLabels: { 'maaslab.dev/hypervisor': 'true' },
      nodeTaints: [`${taint.key}=${taint.value}:${taint.effect}`],
    });
    console.log(
      `      cluster: Node Ready in ${Date.now() - t} ms (${JSON.stringify(cluster.timings)})`,
    );
    t = Date.now();
    // Cached by its inputs: a second run costs a hash and a copy.
    await run(join(repoRoot, 'hack', 'build-image.sh'), [], { maxBuffer: 16 << 20 });
    console.log(`      image: make image in ${Date.now() - t} ms`);
    t = Date.now();
    const names = await cluster.importImage(archive);
    console.log(`      image: imported ${names.join(', ')} in ${Date.now() - t} ms`);
    image = names.find((n) => n.includes('maaslab-operator')) ?? '';
    expect(image, `ctr images import named ${JSON.stringify(names)}`).to.match(
      /^ghcr\.io\/maaslab\/maaslab-operator:/,
    );
    await core().createNamespace({ body: { metadata: { name: namespace } } });
  });

  after(async function () {
    this.timeout(180_000);
    // No-ops after the last test; after a failure, what it would have removed.
    await deleteTestObjects().catch((err: unknown) =>
      console.error(`      cleanup: ${String(err)}`),
    );
    await cluster?.stop();
  });

  it('runs a Pod of the image with imagePullPolicy Never, as 65532 on a read-only root file system', async function () {
    this.timeout(300_000);
    const pod: V1Pod = {
      metadata: { name: 'image-probe', namespace, labels: { app: 'image-probe' } },
      spec: {
        tolerations,
        securityContext: podSecurity,
        containers: [
          {
            name: 'probe',
            image,
            imagePullPolicy: 'Never',
            command: ['node', '-e', probeServer],
            ports: [{ name: 'http', containerPort: 8081 }],
            readinessProbe: { httpGet: { path: '/', port: 'http' }, periodSeconds: 1 },
            securityContext: containerSecurity,
          },
        ],
      },
    };
    const t = Date.now();
    await core().createNamespacedPod({ namespace, body: pod });
    const ready = await waitFor(
      async () => {
        const p = await core().readNamespacedPod({ name: 'image-probe', namespace });
        return p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') && p;
      },
      {
        timeoutMs: 240_000,
        intervalMs: 250,
        description: 'Pod image-probe Ready',
        explain: async () =>
          JSON.stringify(
            (await core().readNamespacedPod({ name: 'image-probe', namespace })).status,
            null,
            2,
          ),
      },
    );
    console.log(`      pod: created to Ready in ${Date.now() - t} ms`);
    expect(ready.status?.phase).to.equal('Running');
    expect(ready.spec?.nodeName).to.equal(cluster!.nodeName);
    const seen = JSON.parse(await curlInNode(`http://${ready.status!.podIP!}:8081/`)) as Record<
      string,
      unknown
    >;
    expect(seen).to.include({ uid: 65532, gid: 65532, rootfs: 'EROFS' });
  });

  it('reaches that Pod through a Service ClusterIP (kube-proxy, iptables)', async function () {
    this.timeout(120_000);
    const svc = await core().createNamespacedService({
      namespace,
      body: {
        metadata: { name: 'image-probe' },
        spec: { selector: { app: 'image-probe' }, ports: [{ port: 80, targetPort: 'http' }] },
      },
    });
    const body = await waitFor(() => curlInNode(`http://${svc.spec!.clusterIP!}/`), {
      timeoutMs: 60_000,
      intervalMs: 500,
      description: `Service ${svc.spec!.clusterIP!}:80 answering`,
    });
    expect(JSON.parse(body)).to.include({ uid: 65532 });
  });

  it('serves kubectl logs and exec through the kubelet (apiserver to kubelet at its InternalIP)', async function () {
    this.timeout(120_000);
    const kubectl = (...args: string[]): Promise<string> =>
      run(kubectlPath(), [
        '--kubeconfig',
        controlPlane().adminKubeconfig,
        '-n',
        namespace,
        ...args,
      ]).then((r) => r.stdout);
    expect(await kubectl('logs', 'image-probe')).to.include('probe listening as 65532');
    expect((await kubectl('exec', 'image-probe', '--', 'id', '-u')).trim()).to.equal('65532');
  });

  it("runs deploy/base's Deployment (replicas 1) with its pod security settings until Available", async function () {
    this.timeout(400_000);
    // Available means /readyz passed, which the operator's manager fails until its informers
    // synced: it reached the apiserver in-cluster, through the kubernetes Service (kube-proxy)
    // with its service account's token.
    // kube-testenv disables the ServiceAccount admission plugin; the token volume that
    // plugin would add is added here, so the operator finds its in-cluster credentials.
    const { stdout } = await run(kubectlPath(), ['kustomize', join(repoRoot, 'deploy', 'base')], {
      maxBuffer: 16 << 20,
    });
    // Its own namespace and cluster-wide names; the CRDs are the ones setup.ts applied.
    const docs = parseAllDocuments(stdout.replaceAll('maaslab-system', operatorNamespace))
      .map((d) => d.toJS() as Manifest)
      .filter((d) => d.kind !== 'CustomResourceDefinition');
    for (const d of docs) {
      if (d.kind === 'ClusterRole' || d.kind === 'ClusterRoleBinding')
        d.metadata.name += clusterScopedSuffix;
      if (d.roleRef?.kind === 'ClusterRole') d.roleRef.name += clusterScopedSuffix;
    }
    clusterScoped = docs.filter((d) => d.kind === 'ClusterRole' || d.kind === 'ClusterRoleBinding');
    const deployment = docs.find((d) => d.kind === 'Deployment') as V1Deployment;
    deployment.spec!.replicas = 1;
    const spec = deployment.spec!.template.spec!;
    spec.tolerations = [...(spec.tolerations ?? []), ...tolerations];
    const container = spec.containers[0]!;
    container.image = image;
    container.imagePullPolicy = 'Never';
    spec.volumes = [...(spec.volumes ?? []), serviceAccountVolume];
    container.volumeMounts = [
      ...(container.volumeMounts ?? []),
      {
        name: 'kube-api-access',
        mountPath: '/var/run/secrets/kubernetes.io/serviceaccount',
        readOnly: true,
      },
    ];
    const manifest = docs.map((d) => stringify(d)).join('---\n');
    const t = Date.now();
    await applyViaStdin(manifest);
    const apps = controlPlane().kubeConfig().makeApiClient(AppsV1Api);
    await waitFor(
      async () => {
        const d = await apps.readNamespacedDeployment({
          name: deployment.metadata!.name!,
          namespace: operatorNamespace,
        });
        return (
          d.status?.conditions?.some((c) => c.type === 'Available' && c.status === 'True') &&
          (d.status.readyReplicas ?? 0) >= 1
        );
      },
      {
        timeoutMs: 300_000,
        intervalMs: 500,
        description: 'Deployment maaslab-operator Available',
        explain: async () => {
          const pods = await core().listNamespacedPod({ namespace: operatorNamespace });
          return JSON.stringify(
            pods.items.map((p) => ({ name: p.metadata?.name, status: p.status })),
            null,
            2,
          );
        },
      },
    );
    console.log(`      deployment: applied to Available in ${Date.now() - t} ms`);
    const pods = await core().listNamespacedPod({ namespace: operatorNamespace });
    const pod = pods.items[0]!;
    expect(pod.spec?.securityContext).to.include({ runAsNonRoot: true, runAsUser: 65532 });
    expect(pod.spec?.containers[0]?.securityContext).to.include({ readOnlyRootFilesystem: true });
    expect(pod.status?.containerStatuses?.[0]).to.include({ ready: true, restartCount: 0 });
  });

  it('deletes the pods through the kubelet, then tears down leaving no process, mount, cgroup or namespace', async function () {
    this.timeout(300_000);
    const t = Date.now();
    await deleteTestObjects();
    await waitFor(
      async () => {
        const pods = await core().listPodForAllNamespaces();
        return pods.items.every((p) => p.spec?.nodeName !== cluster!.nodeName);
      },
      {
        timeoutMs: 180_000,
        intervalMs: 500,
        description: "the node's pods deleted by the kubelet",
      },
    );
    console.log(`      pods: deleted (graceful, by the kubelet) in ${Date.now() - t} ms`);
    const { dir, netns, cgroupRoot } = cluster!;
    const cgroups = await cgroupDirs(cgroupRoot);
    const stopped = Date.now();
    await cluster!.stop();
    console.log(`      cluster: torn down in ${Date.now() - stopped} ms`);
    expect((await run('ip', ['netns', 'list'])).stdout).not.to.include(netns);
    // The host's end of the node's veth pair, and with it the route to the node.
    expect((await run('ip', ['-o', 'link', 'show'])).stdout).not.to.include(
      `mlnode${netns.slice(-4)}`,
    );
    expect((await run('ip', ['route', 'show'])).stdout).not.to.include(
      `${cluster!.nodeIP.slice(0, -1)}0/30`,
    );
    for (const d of cgroups) expect(existsSync(d), d).to.equal(false);
    expect(existsSync(dir), dir).to.equal(false);
    expect(await readFile('/proc/self/mountinfo', 'utf8')).not.to.include(dir);
    const left: string[] = [];
    for (const pid of await readdir('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      if (cmdline.includes(dir)) left.push(`${pid}: ${cmdline.replaceAll('\0', ' ')}`);
    }
    expect(
      left,
      'processes still running with the state directory in their arguments',
    ).to.deep.equal([]);
    // The control plane is the shared one: it stays, without the Node and the endpoints.
    const nodes = await core().listNode();
    expect(nodes.items.map((n) => n.metadata?.name)).not.to.include(cluster!.nodeName);
  });
});

/** The test's namespaces (their pods are deleted by the kubelet) and deploy/base's renamed cluster-wide RBAC. */
async function deleteTestObjects(): Promise<void> {
  const kubectl = (...args: string[]): Promise<unknown> =>
    run(kubectlPath(), [
      '--kubeconfig',
      controlPlane().adminKubeconfig,
      'delete',
      '--ignore-not-found',
      ...args,
    ]);
  await kubectl('namespace', namespace, operatorNamespace, '--wait=false');
  for (const d of clusterScoped) await kubectl(d.kind!.toLowerCase(), d.metadata.name);
  clusterScoped = [];
}

/** What the ServiceAccount admission plugin mounts: a bound token, the CA and the namespace. */
const serviceAccountVolume: V1Volume = {
  name: 'kube-api-access',
  projected: {
    defaultMode: 0o444,
    sources: [
      { serviceAccountToken: { path: 'token', expirationSeconds: 3607 } },
      { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
      {
        downwardAPI: {
          items: [
            { path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } },
          ],
        },
      },
    ],
  },
};

/** kubectl apply --server-side of a manifest on stdin. */
async function applyViaStdin(manifest: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = execFile(
      kubectlPath(),
      [
        '--kubeconfig',
        controlPlane().adminKubeconfig,
        'apply',
        '--server-side',
        '--force-conflicts',
        '-f',
        '-',
      ],
      (err, _stdout, stderr) =>
        err ? reject(new Error(`kubectl apply: ${stderr}`, { cause: err })) : resolve(),
    );
    child.stdin!.end(manifest);
  });
}
