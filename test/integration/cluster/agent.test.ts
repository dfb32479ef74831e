// Agent mode on a real kubelet: `kubectl apply --server-side -k` of deploy/overlays/agent, as a
// user applies it, on the single-node cluster of test/support/cluster.ts whose node is labelled
// (and tainted) maaslab.dev/hypervisor=true, with the host's libvirt socket being a private
// libvirtd's (test/libvirtd/libvirtd-env.sh) that gives its socket to a group, 0660, as Debian's
// gives it to `libvirt`. The agent's pod runs as 65532 on a read-only root file system and reaches
// the socket through that group only; it registers its Hypervisor, and a MaasLab applied with
// kubectl gets its domains running on that libvirtd. Then the probes: with libvirtd gone the pod
// stays Running, unrestarted, and is not Ready (/readyz's libvirt-reachable check) until it is
// back; and in a group that is not the socket's, or as a user the host has no record of
// (libvirtd names every client), it runs but is never Ready, and its log says why. Then an
// upgrade: a new version of the image (test/support/oci-derive.ts), imported and applied as a
// user's overlay would change its tag; the old pod drains on SIGTERM and exits 0 well within its
// grace period, the new one takes the Hypervisor's Lease, and no domain restarts or doubles.
//
// The test's kustomization patches only what a user's overlay would (the image, the socket's
// group, where the socket is on the host) plus what kube-testenv lacks: its apiserver runs
// without the ServiceAccount admission plugin, so the token volume that plugin adds to every
// pod is added here (test/integration/cluster/pod.test.ts does the same for deploy/base).
// The overlay goes into maaslab-system, as the deploy/ tests apply it, and is deleted at the end
// with their helper; the CRDs and base RBAC stay for the other tests.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import {
  CoreV1Api,
  type V1ContainerStateTerminated,
  type V1Pod,
  Watch,
} from '@kubernetes/client-node';
import { expect } from 'chai';
import {
  AGENT_UID,
  SOCKET_GID,
  agentTestKustomization,
  startAgentHost,
} from '../../support/agent-overlay.js';
import { type Cluster, curlInNode as curlInCluster } from '../../support/cluster.js';
import { controlPlane, repoRoot } from '../../support/controlplane.js';
import { DEPLOY_NAMESPACE, deleteDeployExtras } from '../../support/deploy.js';
import type { PrivateLibvirtd } from '../../support/libvirtd.js';
import { type TestNamespace, createTestNamespace } from '../../support/namespace.js';
import { deriveImage } from '../../support/oci-derive.js';
import { kubectlApply, kubectlRun } from '../../support/operator.js';
import { OPERATOR_IMAGE_ARCHIVE, importOperatorImage } from '../../support/overlay.js';
import { waitFor } from '../../support/wait.js';

const run = promisify(execFile);
/** A group that is not the socket's, for the negative case. */
const WRONG_GID = 4712;
const LAB = 'agent';
const POD_SELECTOR = 'app.kubernetes.io/name=maaslab-operator,app.kubernetes.io/component=operator';

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}
interface Status {
  status?: { conditions?: Condition[]; printableStatus?: string };
}

describe('a real single-node cluster: deploy/overlays/agent on a hypervisor node (the host libvirtd socket through its group)', function () {
  let cluster: Cluster | undefined;
  let lv: PrivateLibvirtd | undefined;
  let labNs: TestNamespace | undefined;
  let scratch = '';
  let image = '';
  let hvName = '';
  /** The agent pod that was Ready before libvirtd went away. */
  let readyPod: V1Pod | undefined;
  const admin = (): string => controlPlane().adminKubeconfig;
  const core = (): CoreV1Api => controlPlane().kubeConfig().makeApiClient(CoreV1Api);
  const kubectl = (...args: string[]): Promise<string> => kubectlRun(admin(), args);
  const agentPods = async (): Promise<V1Pod[]> =>
    (await core().listNamespacedPod({ namespace: DEPLOY_NAMESPACE, labelSelector: POD_SELECTOR }))
      .items;
  const isReady = (p: V1Pod): boolean =>
    p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  /** The one agent pod of the node, not terminating; throws while there is none or two. */
  const thePod = async (): Promise<V1Pod> => {
    const pods = (await agentPods()).filter((p) => !p.metadata?.deletionTimestamp);
    if (pods.length !== 1) throw new Error(`${pods.length} agent pods`);
    return pods[0]!;
  };
  /** The agent pods' status, and each one's /readyz and log tail: why a wait gave up. */
  const podsExplained = async (): Promise<string> => {
    const out: string[] = [];
    for (const p of await agentPods()) {
      const name = p.metadata?.name ?? '?';
      const readyzBody = p.status?.podIP ? await readyz(p).catch((e: unknown) => String(e)) : '';
      const logs = await kubectl('logs', '-n', DEPLOY_NAMESPACE, name, '--tail=30').catch(
        (e: unknown) => String(e),
      );
      out.push(
        `pod ${name}: ${JSON.stringify({ phase: p.status?.phase, conditions: p.status?.conditions })}`,
        `/readyz:\n${readyzBody}`,
        `log:\n${logs}`,
      );
    }
    return out.join('\n');
  };
  const curlInNode = (url: string): Promise<string> => curlInCluster(cluster!, url);
  const readyz = (pod: V1Pod): Promise<string> =>
    curlInNode(`http://${pod.status!.podIP!}:8081/readyz`);
  /** Applies the test's overlay with the socket group `gid`, as a user applies theirs. */
  const applyOverlay = async (gid: number, runAsUser?: number): Promise<void> => {
    const dir = join(scratch, 'overlay');
    await run('mkdir', ['-p', dir]);
    await writeFile(
      join(dir, 'kustomization.yaml'),
      agentTestKustomization(
        relative(dir, join(repoRoot, 'deploy', 'overlays', 'agent')),
        image,
        join(lv!.dir, 'sock'),
        gid,
        runAsUser,
      ),
    );
    await kubectl('apply', '--server-side', '--force-conflicts', '-k', dir);
  };
  const hypervisorReady = async (): Promise<Condition | undefined> => {
    const hv = JSON.parse(await kubectl('get', 'hypervisor', hvName, '-o', 'json')) as Status;
    return hv.status?.conditions?.find((c) => c.type === 'Ready');
  };

  before(async function () {
    this.timeout(900_000);
    if (process.getuid?.() !== 0) this.skip();
    scratch = await mkdtemp(join(tmpdir(), 'maaslab-agent-test-'));
    const t = Date.now();
    // The host as the README prepares it: a user and group 65532, which libvirtd must be able
    // to name, the socket in a group of its own, and the node labelled and tainted.
    ({ lv, cluster } = await startAgentHost());
    hvName = cluster.nodeName;
    console.log(
      `      libvirtd (socket group ${SOCKET_GID}) and cluster: Node Ready in ${Date.now() - t} ms`,
    );
    image = await importOperatorImage(cluster);
  });

  after(async function () {
    this.timeout(300_000);
    // No-ops after the last test; after a failure, what it would have removed.
    const step = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
      await fn().catch((err: unknown) => console.error(`      cleanup (${what}): ${String(err)}`));
    };
    if (labNs) await step('lab', () => deleteLab());
    await step('overlay', () => deleteOverlay());
    await step('cluster', async () => cluster?.stop());
    await step('libvirtd', async () => lv?.stop());
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  /** The lab's namespace and everything in it, waiting for the agent to finalize the nodes. */
  async function deleteLab(): Promise<void> {
    if (!labNs) return;
    const ns = labNs.name;
    await kubectl('delete', 'maaslab', LAB, '-n', ns, '--ignore-not-found', '--timeout=180s');
    // The lab's MaasNodes and VirtNetworks go by garbage collection, each through the agent's
    // finalizer (its domain, its network): the agent must outlive them.
    await waitFor(
      async () => (await kubectl('get', 'maasnodes,virtnetworks', '-n', ns, '-o', 'name')) === '',
      {
        timeoutMs: 180_000,
        intervalMs: 500,
        description: `the lab's nodes and networks in ${ns} gone`,
      },
    );
    await labNs.delete();
    labNs = undefined;
  }

  /** The overlay's extras (the DaemonSet with them), its pods gone, and the Hypervisor. */
  async function deleteOverlay(): Promise<void> {
    if (!cluster) return;
    await deleteDeployExtras(admin());
    await waitFor(async () => (await agentPods()).length === 0, {
      timeoutMs: 120_000,
      intervalMs: 500,
      description: 'the agent pods deleted by the kubelet',
    });
    await kubectl('delete', 'hypervisor', hvName, '--ignore-not-found');
    // The agent's shard Lease (--leader-elect), which nobody renews any more.
    await kubectl(
      'delete',
      'lease',
      `maaslab-hv-${hvName}`,
      '-n',
      DEPLOY_NAMESPACE,
      '--ignore-not-found',
    );
  }

  it('runs the DaemonSet pod Running and Ready, as 65532 in the socket group on a read-only root file system', async function () {
    this.timeout(300_000);
    const t = Date.now();
    await applyOverlay(SOCKET_GID);
    const pod = await waitFor(
      async () => {
        const p = await thePod();
        return isReady(p) && p;
      },
      {
        timeoutMs: 240_000,
        intervalMs: 250,
        description: 'the agent pod Ready',
        explain: podsExplained,
      },
    );
    console.log(`      agent: applied to pod Ready in ${Date.now() - t} ms`);
    expect(pod.status?.phase).to.equal('Running');
    expect(pod.spec?.nodeName).to.equal(cluster!.nodeName);
    expect(pod.spec?.securityContext).to.include({ runAsNonRoot: true, runAsUser: 65532 });
    expect(pod.spec?.securityContext?.supplementalGroups).to.deep.equal([SOCKET_GID]);
    expect(pod.spec?.containers[0]?.securityContext).to.include({ readOnlyRootFilesystem: true });
    expect(pod.status?.containerStatuses?.[0]).to.include({ ready: true, restartCount: 0 });
    const name = pod.metadata!.name!;
    const exec = (...cmd: string[]): Promise<string> =>
      kubectl('exec', '-n', DEPLOY_NAMESPACE, name, '--', ...cmd);
    // What the process really runs as, not what the spec asks for.
    const ids = (await exec('id')).trim();
    expect(ids).to.match(/^uid=65532\b/);
    expect(ids).to.match(new RegExp(`groups=.*\\b${SOCKET_GID}\\b`));
    const write = await exec('sh', '-c', 'touch /probe 2>&1; echo rc=$?');
    expect(write).to.match(/Read-only file system/);
    expect(write).to.match(/rc=1/);
    // The host's socket, as libvirt's client finds it for qemu:///system.
    expect(await exec('ls', '-ln', '/run/libvirt/libvirt-sock')).to.match(
      new RegExp(`^srw-rw---- +1 +0 +${SOCKET_GID} `),
    );
    const body = await readyz(pod);
    expect(body).to.include('[+]libvirt-reachable ok');
    expect(body).to.include('[+]hypervisor-registered ok');
    readyPod = pod;
  });

  it("registers its node's Hypervisor (qemu:///system, field manager maaslab-agent), which the agent reports Ready", async function () {
    this.timeout(120_000);
    const hv = JSON.parse(
      await kubectl('get', 'hypervisor', hvName, '-o', 'json', '--show-managed-fields'),
    ) as { spec: { uri: string }; metadata: { managedFields?: { manager: string }[] } };
    expect(hv.spec.uri).to.equal('qemu:///system');
    expect(hv.metadata.managedFields?.map((f) => f.manager)).to.include('maaslab-agent');
    // The storage pool is the admin's to set (README, "Agent mode"): a folder of the private
    // libvirtd's, which the agent defines there.
    await kubectl(
      'patch',
      'hypervisor',
      hvName,
      '--type',
      'merge',
      '-p',
      JSON.stringify({ spec: { storagePool: 'agent', storagePoolPath: join(lv!.dir, 'pool') } }),
    );
    const ready = await waitFor(
      async () => {
        const c = await hypervisorReady();
        return c?.status === 'True' && c;
      },
      {
        timeoutMs: 90_000,
        intervalMs: 500,
        description: `Hypervisor ${hvName} Ready`,
        explain: async () => kubectl('get', 'hypervisor', hvName, '-o', 'yaml'),
      },
    );
    expect(ready.status).to.equal('True');
    expect((await lv!.virsh(['pool-list', '--name'])).split('\n').map((l) => l.trim())).to.include(
      'agent',
    );
  });

  it('makes a MaasLab applied with kubectl Ready, its domains running on the private libvirtd', async function () {
    this.timeout(400_000);
    labNs = await createTestNamespace(controlPlane().kubeConfig(), 'agent-lab');
    const ns = labNs.name;
    const lab = {
      apiVersion: 'maaslab.dev/v1alpha1',
      kind: 'MaasLab',
      metadata: { name: LAB, namespace: ns },
      spec: {
        hypervisor: hvName,
        networks: [
          { name: 'maas', mode: 'isolated', ipv4: { address: '10.86.0.1', prefixLength: 24 } },
        ],
        nodes: {
          count: 2,
          macPrefix: '52:54:00:7f:0a',
          template: {
            memory: '128Mi',
            disks: [{ name: 'root', size: '64Mi' }],
            interfaces: [{ network: 'maas' }],
            vnc: { enabled: false },
          },
        },
      },
    };
    const t = Date.now();
    await kubectlApply(admin(), [lab], join(scratch, 'lab.yaml'));
    await kubectl('wait', '-n', ns, 'maaslab', LAB, '--for=condition=Ready', '--timeout=300s');
    console.log(`      lab: applied to Ready in ${Date.now() - t} ms`);
    const running = (await lv!.virsh(['list', '--name', '--state-running']))
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '');
    expect(running.sort()).to.deep.equal([`${ns}.${LAB}-node1`, `${ns}.${LAB}-node2`]);
    expect((await lv!.virsh(['net-list', '--name'])).trim()).to.include(`${LAB}-maas`);
  });

  it('stays Running and live while libvirtd is down, not Ready (/readyz libvirt-reachable), and Ready again once it is back', async function () {
    this.timeout(400_000);
    const first = await thePod();
    expect(first.metadata?.uid).to.equal(readyPod?.metadata?.uid);
    const restarts = first.status?.containerStatuses?.[0]?.restartCount ?? -1;
    const killed = Date.now();
    await lv!.kill();
    // The check itself, then kubelet's verdict (readinessProbe: every 10 s, 3 failures).
    await waitFor(async () => (await readyz(first)).includes('[-]libvirt-reachable failed'), {
      timeoutMs: 60_000,
      intervalMs: 250,
      description: '/readyz failing',
    });
    console.log(`      probe: /readyz failing ${Date.now() - killed} ms after libvirtd was killed`);
    const notReady = await waitFor(
      async () => {
        const p = await thePod();
        return !isReady(p) && p;
      },
      {
        timeoutMs: 120_000,
        intervalMs: 250,
        description: 'the agent pod not Ready',
        explain: podsExplained,
      },
    );
    console.log(`      probe: not Ready ${Date.now() - killed} ms after libvirtd was killed`);
    const body = await curlInNode(`http://${notReady.status!.podIP!}:8081/readyz`).catch(
      (err: unknown) => String(err),
    );
    expect(body).to.include('[-]libvirt-reachable failed');
    expect(body).to.include('[+]hypervisor-registered ok');
    expect(await curlInNode(`http://${notReady.status!.podIP!}:8081/healthz`)).to.include(
      'check passed',
    );
    // Down longer than the liveness probe's period (20 s) plus its initial delay, so kubelet
    // has asked /healthz while libvirt was gone.
    await waitFor(() => Date.now() - killed > 30_000, { timeoutMs: 60_000, intervalMs: 500 });
    const during = await thePod();
    expect(during.metadata?.uid).to.equal(first.metadata?.uid);
    expect(during.status?.phase).to.equal('Running');
    expect(during.status?.containerStatuses?.[0]?.state?.running).to.not.equal(undefined);
    expect(during.status?.containerStatuses?.[0]?.restartCount).to.equal(restarts);
    expect(isReady(during)).to.equal(false);
    const down = await waitFor(
      async () => {
        const c = await hypervisorReady();
        return c?.status === 'False' && c;
      },
      { timeoutMs: 60_000, intervalMs: 500, description: 'Hypervisor Ready=False' },
    );
    expect(down.reason).to.equal('HypervisorUnreachable');
    const logs = await kubectl('logs', '-n', DEPLOY_NAMESPACE, first.metadata!.name!);
    expect(logs).to.match(/libvirt not reachable: not ready/);

    const back = Date.now();
    await lv!.restart();
    await waitFor(async () => (await readyz(first)).includes('[+]libvirt-reachable ok'), {
      timeoutMs: 90_000,
      intervalMs: 250,
      description: '/readyz passing again',
    });
    console.log(
      `      probe: /readyz passing ${Date.now() - back} ms after libvirtd was restarted`,
    );
    const again = await waitFor(
      async () => {
        const p = await thePod();
        return isReady(p) && p;
      },
      {
        timeoutMs: 120_000,
        intervalMs: 250,
        description: 'the agent pod Ready again',
        explain: podsExplained,
      },
    );
    console.log(`      probe: Ready again ${Date.now() - back} ms after libvirtd was restarted`);
    expect(again.metadata?.uid).to.equal(first.metadata?.uid);
    expect(again.status?.containerStatuses?.[0]?.restartCount).to.equal(restarts);
    expect(await readyz(again)).to.include('[+]libvirt-reachable ok');
    expect(await kubectl('logs', '-n', DEPLOY_NAMESPACE, first.metadata!.name!)).to.match(
      /libvirt reachable: ready/,
    );
  });

  it("upgrades by rolling out a new image: the old pod drains on SIGTERM and exits 0 within its grace period, the lab's domains keep running (same ids), none is added", async function () {
    this.timeout(400_000);
    const old = await thePod();
    const ns = labNs!.name;
    /** Every domain of the private libvirtd by UUID: name, state and id (a new id = a restart). */
    const domains = async (): Promise<Map<string, string>> => {
      const out = new Map<string, string>();
      const uuids = (await lv!.virsh(['list', '--all', '--uuid']))
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l !== '');
      for (const uuid of uuids) {
        const info = await lv!.virsh(['dominfo', uuid]);
        const field = (key: string): string =>
          new RegExp(`^${key}:\\s*(.*)$`, 'm').exec(info)?.[1]?.trim() ?? '';
        out.set(uuid, `${field('Name')} ${field('State')} id=${field('Id')}`);
      }
      return out;
    };
    const before = await domains();
    expect([...before.values()].filter((d) => d.includes(' running id='))).to.have.length(2);

    const derived = await deriveImage(
      OPERATOR_IMAGE_ARCHIVE,
      join(scratch, 'upgrade.oci.tar'),
      'upgrade',
    );
    expect(await cluster!.importImage(derived.archive)).to.include(derived.name);

    // The old pod's last status, as the kubelet reports it before the pod object goes.
    // A Watch hands over the objects as parsed JSON: times are strings there, not Dates.
    let oldTerminated: V1ContainerStateTerminated | undefined;
    let oldDeletedAt: Date | undefined;
    const list = await core().listNamespacedPod({
      namespace: DEPLOY_NAMESPACE,
      labelSelector: POD_SELECTOR,
    });
    const watch = await new Watch(controlPlane().kubeConfig()).watch(
      `/api/v1/namespaces/${DEPLOY_NAMESPACE}/pods`,
      { resourceVersion: list.metadata?.resourceVersion, labelSelector: POD_SELECTOR },
      (_type: string, pod: V1Pod) => {
        if (pod.metadata?.uid !== old.metadata?.uid) return;
        // deletionTimestamp is when the kubelet's SIGKILL is due: the delete plus the grace.
        const due = pod.metadata?.deletionTimestamp;
        const grace = pod.metadata?.deletionGracePeriodSeconds ?? 0;
        if (due !== undefined) oldDeletedAt ??= new Date(new Date(due).getTime() - grace * 1000);
        oldTerminated = pod.status?.containerStatuses?.[0]?.state?.terminated ?? oldTerminated;
      },
      () => undefined,
    );
    const t = Date.now();
    let fresh: V1Pod;
    try {
      image = derived.name;
      await applyOverlay(SOCKET_GID);
      fresh = await waitFor(
        async () => {
          const p = await thePod();
          return p.metadata?.uid !== old.metadata?.uid && isReady(p) && p;
        },
        {
          timeoutMs: 240_000,
          intervalMs: 250,
          description: 'the upgraded pod Ready',
          explain: podsExplained,
        },
      );
      console.log(`      upgrade: applied to the new pod Ready in ${Date.now() - t} ms`);
      await waitFor(() => oldTerminated !== undefined, {
        timeoutMs: 30_000,
        intervalMs: 100,
        description: "the old pod's terminated state",
      });
    } finally {
      watch.abort();
    }
    // Drained on SIGTERM by itself: exit 0, before the kubelet's SIGKILL at the grace period.
    const grace = old.spec?.terminationGracePeriodSeconds ?? 30;
    const drain =
      new Date(oldTerminated!.finishedAt ?? 0).getTime() - (oldDeletedAt?.getTime() ?? 0);
    console.log(
      `      upgrade: old pod exited ${oldTerminated!.exitCode} (${oldTerminated!.reason}) ${drain} ms after its deletion (grace period ${grace} s; whole seconds, as the kubelet stamps them)`,
    );
    expect(oldTerminated!.exitCode).to.equal(0);
    expect(oldDeletedAt, "the old pod's deletionTimestamp").to.not.equal(undefined);
    expect(drain).to.be.within(-1000, grace * 1000 - 1000);

    expect(fresh.spec?.containers[0]?.image).to.equal(derived.name);
    expect(
      await kubectl(
        'exec',
        '-n',
        DEPLOY_NAMESPACE,
        fresh.metadata!.name!,
        '--',
        'cat',
        derived.markerPath,
      ),
    ).to.equal(derived.marker);
    // The new pod holds the Hypervisor's shard and reports the lab as it was.
    const lease = JSON.parse(
      await kubectl('get', 'lease', `maaslab-hv-${hvName}`, '-n', DEPLOY_NAMESPACE, '-o', 'json'),
    ) as { spec?: { holderIdentity?: string } };
    expect(lease.spec?.holderIdentity ?? '').to.include(fresh.metadata!.name!);
    await kubectl('wait', '-n', ns, 'maaslab', LAB, '--for=condition=Ready', '--timeout=120s');
    await waitFor(async () => (await hypervisorReady())?.status === 'True', {
      timeoutMs: 60_000,
      intervalMs: 500,
      description: 'Hypervisor Ready under the new pod',
    });
    // No domain restarted (same UUIDs, same ids, still running), none added or removed.
    expect(await domains()).to.deep.equal(before);
    readyPod = fresh;
  });

  /**
   * Applies the overlay so that the pod cannot use the socket, and expects the new pod to run,
   * never be Ready, and log why; then applies the good overlay and waits for Ready again.
   */
  async function expectNeverReadyThenRight(
    apply: () => Promise<void>,
    isTheBadPod: (p: V1Pod) => boolean,
    why: RegExp,
  ): Promise<void> {
    await apply();
    const bad = await waitFor(
      async () => {
        const p = await thePod();
        return (
          isTheBadPod(p) && p.status?.containerStatuses?.[0]?.state?.running !== undefined && p
        );
      },
      {
        timeoutMs: 180_000,
        intervalMs: 500,
        description: 'the bad pod running',
        explain: podsExplained,
      },
    );
    const name = bad.metadata!.name!;
    const logged = await waitFor(
      async () => {
        const logs = await kubectl('logs', '-n', DEPLOY_NAMESPACE, name);
        return /libvirt not reachable: not ready/.test(logs) && logs;
      },
      {
        timeoutMs: 90_000,
        intervalMs: 1000,
        description: "the agent's log saying libvirt is not reachable",
      },
    );
    expect(logged).to.match(why);
    expect(await readyz(bad)).to.include('[-]libvirt-reachable failed');
    const now = await thePod();
    expect(now.metadata?.uid).to.equal(bad.metadata?.uid);
    expect(isReady(now)).to.equal(false);
    expect(now.status?.containerStatuses?.[0]?.restartCount).to.equal(0);

    // Put right, as the README says: the pod is Ready.
    const t = Date.now();
    await applyOverlay(SOCKET_GID);
    await waitFor(
      async () => {
        const p = await thePod();
        return p.metadata?.uid !== bad.metadata?.uid && isReady(p);
      },
      {
        timeoutMs: 240_000,
        intervalMs: 250,
        description: 'the put-right pod Ready',
        explain: podsExplained,
      },
    );
    console.log(`      agent: put right to pod Ready in ${Date.now() - t} ms`);
  }

  it('in a group that is not the socket’s, the pod is never Ready and says why (Permission denied)', async function () {
    this.timeout(500_000);
    await expectNeverReadyThenRight(
      () => applyOverlay(WRONG_GID),
      (p) => p.spec?.securityContext?.supplementalGroups?.[0] === WRONG_GID,
      /Failed to connect socket to '[^']*\/libvirt-sock': Permission denied/,
    );
  });

  it('as a user the host has no record of, the pod is never Ready and says why (libvirtd cannot name it)', async function () {
    this.timeout(500_000);
    const stranger = AGENT_UID - 1;
    await expectNeverReadyThenRight(
      () => applyOverlay(SOCKET_GID, stranger),
      (p) => p.spec?.securityContext?.runAsUser === stranger,
      new RegExp(`Failed to find user record for uid '${stranger}'`),
    );
  });

  it('deletes the lab (domains gone from libvirtd), the overlay and its pod', async function () {
    this.timeout(400_000);
    const ns = labNs!.name;
    await deleteLab();
    expect((await lv!.virsh(['list', '--all', '--name'])).trim()).to.not.include(ns);
    await deleteOverlay();
    expect(await agentPods()).to.deep.equal([]);
  });
});
