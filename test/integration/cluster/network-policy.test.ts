// deploy/base/network-policy/ enforced on a real kubelet: the single-node cluster of
// test/support/cluster.ts runs kube-network-policies in the node's network namespace
// (test/support/network-policy.ts), so a NetworkPolicy here drops packets as it would on a
// cluster whose CNI enforces policies. deploy/base's operator (one replica, in a namespace of
// its own, its cluster-wide RBAC renamed, as pod.test.ts applies it) is reached from two
// client pods running the operator's image: one in a namespace labelled metrics=enabled (the
// scraper, as allow-metrics-traffic.yaml documents), one in a namespace without the label.
//
// Each connection attempt runs in a client pod (kubectl exec) and reports how it ended: an
// HTTP status (the operator answered), `refused` (the pod's kernel answered with a TCP reset
// or an ICMP port unreachable: the packet got there, nothing listens) or `timeout` (the packet
// was dropped: what a policy does). First without the policies, so that the later timeouts are the enforcer's doing and
// not the network's; then with them; then without them again. With them, Debian's Prometheus
// also scrapes from inside each client pod's network namespace (as 65534, so that nothing
// exempts it as root): up from the scraper's namespace, a timed-out scrape from the other.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AppsV1Api, CoreV1Api, type V1Deployment, type V1Pod } from '@kubernetes/client-node';
import { expect } from 'chai';
import { parseAllDocuments, stringify } from 'yaml';
import { createRestClient } from '../../../src/runtime/index.js';
import { type Cluster, startCluster } from '../../support/cluster.js';
import { controlPlane, repoRoot } from '../../support/controlplane.js';
import { kubectlPath } from '../../support/kubectl.js';
import {
  METRICS_READER_ROLE,
  type TestServiceAccount,
  createServiceAccountWithToken,
} from '../../support/metrics-auth.js';
import { type NetnsPrometheus, startPrometheusInNetns } from '../../support/monitoring.js';
import { queuedPackets } from '../../support/network-policy.js';
import { waitFor } from '../../support/wait.js';

const run = promisify(execFile);
const archive = join(repoRoot, 'build', 'image', 'maaslab-operator.oci.tar');
const operatorNs = 'netpol-test-operator';
const suffix = '-netpol-test';
/** The scraper's namespace, labelled as allow-metrics-traffic.yaml asks. */
const monitoringNs = 'netpol-test-monitoring';
/** A namespace no policy names. */
const otherNs = 'netpol-test-other';
const taint = { key: 'maaslab.dev/test-cluster', value: 'true', effect: 'NoSchedule' };
const tolerations = [{ ...taint, operator: 'Equal' }];
const POD_SELECTOR = 'app.kubernetes.io/name=maaslab-operator,app.kubernetes.io/component=operator';
/** How long a client waits for a connection before calling it dropped. */
const CONNECT_TIMEOUT_MS = 3000;

/** How long one `kubectl exec` of the probe may take before it counts as hung (the probe itself ends in ~3 s). */
const EXEC_TIMEOUT_MS = 30_000;
/** How many hung execs in a row one probe tolerates before it fails. */
const EXEC_ATTEMPTS = 3;

/**
 * The client's probe, run with `node -e` in a client pod: `tcp HOST PORT` connects; `udp HOST PORT` sends two datagrams;
 * `http|https HOST PORT PATH [token]` also sends a GET (with the bearer token read from stdin
 * when the fifth argument says so) and reports the status. Prints one of: `status NNN`,
 * `connected`, `refused`, `timeout`, or the error code.
 *
 * Stdin is read only when a token is sent, and then without blocking the event loop: a
 * synchronous read of fd 0 waits for an end of stdin that an exec stream may never deliver,
 * and that wait stopped the probe's own timer (two CI runs hung in kubectl exec that way).
 * Without a token the exec has no stdin at all. A token that never arrives ends the probe as
 * `no token`, never as the `timeout` a dropped packet gives.
 */
const PROBE = `
const [mode, host, port, path, wantsToken] = process.argv.slice(1);
const done = (s) => { console.log(s); process.exit(0); };
const failed = (e) => done(e.code === 'ECONNREFUSED' ? 'refused' : e.code || String(e));
const connect = (token) => {
  setTimeout(() => done('timeout'), ${CONNECT_TIMEOUT_MS});
  if (mode === 'tcp') {
    require('node:net').connect(Number(port), host, () => done('connected')).on('error', failed);
  } else if (mode === 'udp') {
    // A connected UDP socket reports the pod's ICMP port unreachable as ECONNREFUSED.
    const s = require('node:dgram').createSocket('udp4').on('error', failed);
    s.connect(Number(port), host, () => { s.send('x'); setTimeout(() => s.send('x'), 300); });
  } else {
    const headers = token ? { authorization: 'Bearer ' + token } : {};
    require('node:' + mode).get({ host, port: Number(port), path, headers, rejectUnauthorized: false },
      (res) => { res.resume(); done('status ' + res.statusCode); }).on('error', failed);
  }
};
if (wantsToken === 'token') {
  const noToken = setTimeout(() => done('no token'), 10000);
  let token = '';
  process.stdin.setEncoding('utf8').on('data', (d) => { token += d; })
    .on('end', () => { clearTimeout(noToken); connect(token.trim()); });
} else {
  connect('');
}`;

/** A manifest of deploy/base, as far as this file edits it. */
interface Manifest {
  kind?: string;
  metadata: { name: string; namespace?: string };
  roleRef?: { kind: string; name: string };
}

describe('a real single-node cluster: deploy/base/network-policy enforced (kube-network-policies)', function () {
  let cluster: Cluster | undefined;
  let image = '';
  let operatorIP = '';
  let policies: Manifest[] = [];
  let clusterScoped: Manifest[] = [];
  let reader: TestServiceAccount | undefined;
  const core = (): CoreV1Api => controlPlane().kubeConfig().makeApiClient(CoreV1Api);
  /** kubectl with `stdin` on its standard input; killed (and failed) after `timeoutMs` when given. */
  const kubectl = async (args: readonly string[], stdin = '', timeoutMs = 0): Promise<string> =>
    new Promise((resolve, reject) => {
      const child = execFile(
        kubectlPath(),
        ['--kubeconfig', controlPlane().adminKubeconfig, ...args],
        { maxBuffer: 16 << 20, timeout: timeoutMs, killSignal: 'SIGKILL' },
        (err, stdout, stderr) =>
          err
            ? reject(
                err.killed
                  ? new KubectlHung(`kubectl ${args[0]}: no answer in ${timeoutMs} ms, killed`)
                  : new Error(`kubectl ${args[0]}: ${stderr}`, { cause: err }),
              )
            : resolve(stdout),
      );
      child.stdin!.end(stdin);
    });
  const apply = (docs: readonly unknown[]): Promise<string> =>
    kubectl(
      ['apply', '--server-side', '--force-conflicts', '-f', '-'],
      docs.map((d) => stringify(d)).join('---\n'),
    );
  /**
   * From the client pod in `ns`: how a connection to the operator pod ends. An exec that hangs
   * (the probe inside ends by itself within seconds, so a hang is the exec stream's, not the
   * network's) is killed and run again, and said in the output; the probe's answer is what
   * the tests assert, never how kubectl got it.
   */
  const probe = async (
    ns: string,
    mode: 'tcp' | 'udp' | 'http' | 'https',
    port: number,
    path = '/',
    token = '',
  ): Promise<string> => {
    const args = [
      'exec',
      ...(token ? ['-i'] : []),
      '-n',
      ns,
      'client',
      '--',
      'node',
      '-e',
      PROBE,
      mode,
      operatorIP,
      String(port),
      path,
      ...(token ? ['token'] : []),
    ];
    for (let attempt = 1; ; attempt++) {
      try {
        return (await kubectl(args, token, EXEC_TIMEOUT_MS)).trim();
      } catch (err) {
        if (!(err instanceof KubectlHung) || attempt >= EXEC_ATTEMPTS) throw err;
        console.log(`      probe ${mode} ${port} from ${ns}: ${err.message}; again`);
      }
    }
  };
  const metricsFrom = (ns: string, token = ''): Promise<string> =>
    probe(ns, 'https', 8080, '/metrics', token);
  const prometheuses: NetnsPrometheus[] = [];
  /** The network namespace of the client pod in `ns`: its container's process's. */
  const clientNetns = async (ns: string): Promise<string> => {
    const pod = await core().readNamespacedPod({ name: 'client', namespace: ns });
    const id = pod.status!.containerStatuses![0]!.containerID!.replace(/^containerd:\/\//, '');
    const line = (await cluster!.ctr(['task', 'ls'])).split('\n').find((l) => l.startsWith(id));
    const pid = line?.trim().split(/\s+/)[1];
    if (!pid) throw new Error(`no task for container ${id} of ${ns}/client`);
    return `/proc/${pid}/ns/net`;
  };
  /** Prometheus in the client pod's network namespace, scraping the operator with the reader's token. */
  const startPrometheusInPod = async (ns: string): Promise<NetnsPrometheus> => {
    const p = await startPrometheusInNetns(
      await clientNetns(ns),
      `${operatorIP}:8080`,
      reader!.token,
    );
    prometheuses.push(p);
    return p;
  };
  const operatorPod = async (): Promise<V1Pod> => {
    const pods = await core().listNamespacedPod({
      namespace: operatorNs,
      labelSelector: POD_SELECTOR,
    });
    const live = pods.items.filter((p) => !p.metadata?.deletionTimestamp);
    expect(live, 'one operator pod').to.have.length(1);
    return live[0]!;
  };

  before(async function () {
    this.timeout(900_000);
    if (process.getuid?.() !== 0) this.skip();
    let t = Date.now();
    cluster = await startCluster({
      controlPlane: controlPlane(),
      nodeTaints: [`${taint.key}=${taint.value}:${taint.effect}`],
    });
    console.log(
      `      cluster: Node Ready in ${Date.now() - t} ms (${JSON.stringify(cluster.timings)})`,
    );
    expect(cluster.timings).to.have.property('networkPolicies');
    t = Date.now();
    await run(join(repoRoot, 'hack', 'build-image.sh'), [], { maxBuffer: 16 << 20 });
    image = (await cluster.importImage(archive)).find((n) => n.includes('maaslab-operator')) ?? '';
    expect(image).to.match(/^ghcr\.io\/maaslab\/maaslab-operator:/);
    console.log(`      image: built (cached) and imported in ${Date.now() - t} ms`);

    // deploy/base in a namespace of its own; its NetworkPolicies kept aside for the tests.
    const { stdout } = await run(kubectlPath(), ['kustomize', join(repoRoot, 'deploy', 'base')], {
      maxBuffer: 16 << 20,
    });
    const docs = parseAllDocuments(stdout.replaceAll('maaslab-system', operatorNs))
      .map((d) => d.toJS() as Manifest)
      .filter((d) => d.kind !== 'CustomResourceDefinition');
    for (const d of docs) {
      if (d.kind === 'ClusterRole' || d.kind === 'ClusterRoleBinding') d.metadata.name += suffix;
      if (d.roleRef?.kind === 'ClusterRole') d.roleRef.name += suffix;
    }
    clusterScoped = docs.filter((d) => d.kind === 'ClusterRole' || d.kind === 'ClusterRoleBinding');
    policies = docs.filter((d) => d.kind === 'NetworkPolicy');
    expect(policies.map((p) => p.metadata.name).sort()).to.deep.equal([
      'maaslab-operator-allow-bmc-traffic',
      'maaslab-operator-allow-metrics-traffic',
      'maaslab-operator-allow-probes',
    ]);
    const deployment = docs.find((d) => d.kind === 'Deployment') as V1Deployment;
    deployment.spec!.replicas = 1;
    const spec = deployment.spec!.template.spec!;
    spec.tolerations = [...(spec.tolerations ?? []), ...tolerations];
    const container = spec.containers[0]!;
    container.image = image;
    container.imagePullPolicy = 'Never';
    // kube-testenv runs without the ServiceAccount admission plugin: its token volume, by hand.
    spec.volumes = [...(spec.volumes ?? []), tokenVolume];
    container.volumeMounts = [
      ...(container.volumeMounts ?? []),
      {
        name: 'kube-api-access',
        mountPath: '/var/run/secrets/kubernetes.io/serviceaccount',
        readOnly: true,
      },
    ];
    await apply(docs.filter((d) => d.kind !== 'NetworkPolicy'));

    // The two clients: the image's node, idle, as the deploy/ pods run (65532, read-only /).
    for (const [ns, labels] of [
      [monitoringNs, { metrics: 'enabled' }],
      [otherNs, {}],
    ] as const) {
      await core().createNamespace({ body: { metadata: { name: ns, labels } } });
      await core().createNamespacedPod({
        namespace: ns,
        body: {
          metadata: { name: 'client' },
          spec: {
            tolerations,
            securityContext: { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532 },
            containers: [
              {
                name: 'client',
                image,
                imagePullPolicy: 'Never',
                command: [
                  'node',
                  '-e',
                  "process.on('SIGTERM', () => process.exit(0)); setInterval(() => {}, 1e9)",
                ],
                securityContext: {
                  allowPrivilegeEscalation: false,
                  readOnlyRootFilesystem: true,
                  capabilities: { drop: ['ALL'] },
                },
              },
            ],
          },
        },
      });
    }
    reader = await createServiceAccountWithToken(
      createRestClient(controlPlane().restConfig('admin')),
      monitoringNs,
      'prometheus',
      `${METRICS_READER_ROLE}${suffix}`,
    );
    t = Date.now();
    const apps = controlPlane().kubeConfig().makeApiClient(AppsV1Api);
    await waitFor(
      async () => {
        const d = await apps.readNamespacedDeployment({
          name: 'maaslab-operator',
          namespace: operatorNs,
        });
        const clients = await Promise.all(
          [monitoringNs, otherNs].map((namespace) =>
            core().readNamespacedPod({ name: 'client', namespace }),
          ),
        );
        return (d.status?.readyReplicas ?? 0) >= 1 && clients.every(isReady);
      },
      {
        timeoutMs: 300_000,
        intervalMs: 500,
        description: 'the operator Deployment Available and both clients Ready',
        explain: async () =>
          JSON.stringify(
            (await core().listNamespacedPod({ namespace: operatorNs })).items.map((p) => p.status),
          ),
      },
    );
    operatorIP = (await operatorPod()).status!.podIP!;
    console.log(
      `      operator and clients Ready in ${Date.now() - t} ms; operator pod ${operatorIP}`,
    );
  });

  after(async function () {
    this.timeout(300_000);
    const step = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
      await fn().catch((err: unknown) => console.error(`      cleanup (${what}): ${String(err)}`));
    };
    for (const p of prometheuses) await step('prometheus', () => p.stop());
    await step('reader', async () => reader?.cleanup());
    await step('namespaces', () =>
      kubectl([
        'delete',
        'namespace',
        operatorNs,
        monitoringNs,
        otherNs,
        '--ignore-not-found',
        '--wait=false',
      ]),
    );
    for (const d of clusterScoped)
      await step(d.metadata.name, () =>
        kubectl(['delete', d.kind!.toLowerCase(), d.metadata.name, '--ignore-not-found']),
      );
    await step('cluster', async () => cluster?.stop());
  });

  it('without the policies, both namespaces reach the metrics port (the network alone stops nobody)', async function () {
    this.timeout(120_000);
    // 401: the TLS handshake and the request got to the operator, which wants a token.
    expect(await metricsFrom(monitoringNs)).to.equal('status 401');
    expect(await metricsFrom(otherNs)).to.equal('status 401');
    expect(await probe(otherNs, 'tcp', 9443)).to.equal('refused');
    expect(await probe(otherNs, 'udp', 6200)).to.equal('refused');
  });

  it('with deploy/base/network-policy applied, only the metrics=enabled namespace reaches the metrics port', async function () {
    this.timeout(180_000);
    const queuedBefore = await queuedPackets(cluster!.netns);
    await apply(policies);
    const t = Date.now();
    // The enforcer follows the policies through its informers: the first drop is the proof.
    await waitFor(async () => (await metricsFrom(otherNs)) === 'timeout', {
      timeoutMs: 60_000,
      intervalMs: 500,
      description: 'the metrics port dropped for the namespace without metrics=enabled',
    });
    console.log(`      policies applied to the first dropped connection in ${Date.now() - t} ms`);
    expect(await probe(otherNs, 'tcp', 8080)).to.equal('timeout');
    // The scraper is answered: 401 anonymous, 200 with metrics-reader's token.
    expect(await metricsFrom(monitoringNs)).to.equal('status 401');
    expect(await metricsFrom(monitoringNs, reader!.token)).to.equal('status 200');
    // It was the queue that decided: the iptables rules sent packets to the enforcer, whose
    // log has its drop verdicts.
    expect(await queuedPackets(cluster!.netns)).to.be.above(queuedBefore);
    const log = await readFile(join(cluster!.dir, 'logs', 'kube-network-policies.log'), 'utf8');
    expect(log).to.match(/verdict="drop"/);
    // Its own nftables rules fail on this kernel (no nft_queue): why the harness queues instead.
    const at = log.indexOf('syncing nftables rules');
    if (at >= 0) console.log(`      enforcer: ${log.slice(at, at + 240).replace(/\s+/g, ' ')}`);
  });

  it('the probe port stays open to every source, and the operator pod stays Ready', async function () {
    this.timeout(180_000);
    expect(await probe(otherNs, 'http', 8081, '/healthz')).to.equal('status 200');
    expect(await probe(monitoringNs, 'http', 8081, '/readyz')).to.equal('status 200');
    // Three readiness periods (10 s) and more than one liveness period (20 s) under the policies.
    await new Promise((resolve) => setTimeout(resolve, 35_000));
    const pod = await operatorPod();
    expect(isReady(pod), JSON.stringify(pod.status?.conditions)).to.equal(true);
    expect(pod.status?.containerStatuses?.[0]?.restartCount).to.equal(0);
  });

  it('allow-bmc-traffic: TCP 8443 and UDP 6230-6329 reach the pod from any namespace; ports no policy names do not', async function () {
    this.timeout(120_000);
    // Nothing listens on 8443 without a Hypervisor with BMCs: the pod's reset, not a drop.
    expect(await probe(otherNs, 'tcp', 8443)).to.equal('refused');
    expect(await probe(monitoringNs, 'tcp', 8443)).to.equal('refused');
    // The same reset was seen above without policies; now that SYN is dropped.
    expect(await probe(otherNs, 'tcp', 9443)).to.equal('timeout');
    expect(await probe(monitoringNs, 'tcp', 9443)).to.equal('timeout');
    // UDP 6230-6329 (IPMI): both ends of the range answered by the pod, just outside dropped.
    expect(await probe(otherNs, 'udp', 6230)).to.equal('refused');
    expect(await probe(otherNs, 'udp', 6329)).to.equal('refused');
    expect(await probe(otherNs, 'udp', 6200)).to.equal('timeout');
    expect(await probe(otherNs, 'udp', 6330)).to.equal('timeout');
  });

  it("a real Prometheus in the scraper pod's network namespace scrapes with the reader's token; in the other pod's, its scrape is dropped", async function () {
    this.timeout(180_000);
    // Debian's Prometheus, as user 65534, inside each client pod's network namespace: its
    // packets leave with the pod's address, which is what the enforcer matches policies on.
    const [allowed, denied] = await Promise.all(
      [monitoringNs, otherNs].map((ns) => startPrometheusInPod(ns)),
    );
    const t = Date.now();
    const up = await waitFor(
      async () => {
        const a = await allowed!.target();
        return a?.health === 'up' && a;
      },
      {
        timeoutMs: 60_000,
        intervalMs: 500,
        description: "the scraper namespace's Prometheus target up",
        explain: async () => JSON.stringify(await allowed!.target()),
      },
    );
    console.log(`      prometheus (scraper pod's netns): target up in ${Date.now() - t} ms`);
    expect(up.lastError).to.equal('');
    const down = await waitFor(
      async () => {
        const d = await denied!.target();
        return d?.health === 'down' && d;
      },
      {
        timeoutMs: 60_000,
        intervalMs: 500,
        description: "the other namespace's Prometheus target down",
        explain: async () => JSON.stringify(await denied!.target()),
      },
    );
    // A drop, not a refusal: the scrape times out.
    expect(down.lastError).to.match(/deadline exceeded|timeout/i);
    console.log(`      prometheus (other pod's netns): target down: ${down.lastError}`);
  });

  it('without the policies again, the other namespace reaches the metrics port again', async function () {
    this.timeout(120_000);
    await kubectl(['delete', 'networkpolicy', '--all', '-n', operatorNs]);
    await waitFor(async () => (await metricsFrom(otherNs)) === 'status 401', {
      timeoutMs: 60_000,
      intervalMs: 500,
      description: 'the metrics port open again for the namespace without metrics=enabled',
    });
    expect(await probe(otherNs, 'tcp', 9443)).to.equal('refused');
  });
});

/** A kubectl that did not end within its time limit. */
class KubectlHung extends Error {}

function isReady(p: V1Pod): boolean {
  return p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** What the ServiceAccount admission plugin mounts: a bound token, the CA and the namespace. */
const tokenVolume = {
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
