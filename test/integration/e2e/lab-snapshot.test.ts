// End to end: lab snapshots (issue 15) with the operator as a child process (deploy/base's
// RBAC) against the shared kube-apiserver and a private libvirtd with QEMU. On the recipe lab
// (three PXE-first nodes, 256 MiB each here to spare the two-core machine):
//   1. capture (Offline): every node's disk becomes a golden volume; the PXE guests ignore
//      ACPI, so after the grace period they are powered off (CrashConsistent), and they run
//      again after the capture;
//   2. a marker written into node1's disk after the capture is gone after a restore, and the
//      lab runs again;
//   3. a capture whose copy of node2's disk fails (test-only fault injection at the verb
//      layer, MAASLAB_TEST_FAULTS_FILE) removes every golden volume it made, names node2, and
//      the lab runs again;
//   4. a restore whose copy into node2 fails keeps every member held and off (never a mixed
//      lab), names node2, and completes once the fault is gone: markers on node1 and node2
//      are both gone;
//   5. deleting the snapshot frees its golden volumes.
// And on a lab with its own MAAS controller VM (spec.maas.controller, booted from a blank
// volume, MAAS played by the MAAS API test server at the controller's address inside a
// network namespace, as in maas-controller-path.test.ts): the controller is a member, first,
// with its qcow2 overlay; a marker written into the overlay after the capture is gone after a
// restore, and the controller runs again before the node.
import { randomInt } from 'node:crypto';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import type {
  Hypervisor,
  MaasLab,
  MaasLabSnapshot,
  MaasNode,
} from '../../../src/api/v1alpha1/index.js';
import { ContentType, type RestClient } from '../../../src/runtime/client/rest.js';
import { controlPlane } from '../../support/controlplane.js';
import {
  GROUP_VERSION,
  type E2eEnvironment,
  type ExampleDoc,
  type MaaslabReader,
  conditionOf,
  createUserVolume,
  envHypervisor,
  recipeLabDocs,
  startE2eEnvironment,
} from '../../support/e2e.js';
import { startMaasApiServer, type MaasApiServer } from '../../support/maas-api-server/server.js';
import { type NetnsEndpoint, exposeInNetns } from '../../support/netns-endpoint.js';
import { type PrivateLibvirtd, run } from '../../support/libvirtd.js';
import type { TestNamespace } from '../../support/namespace.js';
import { type OperatorProcess, kubectlApply } from '../../support/operator.js';
import { parseMetrics, sample } from '../../support/metrics-text.js';
import { waitFor } from '../../support/wait.js';

const READY_TIMEOUT_MS = 480_000;
const STEP_TIMEOUT_MS = 240_000;
const NODES = [1, 2, 3];
/** Where the marker goes in a node's disk: 1 MiB in, 4 KiB of 0xab. */
const MARKER = { offset: '1M', length: '4k', pattern: '0xab' } as const;

describe('e2e: lab snapshots (capture, restore, faults), operator as a child process', function () {
  this.timeout(900_000);

  let env: E2eEnvironment;
  let faultsDir: string | undefined;
  let lv: PrivateLibvirtd;
  let admin: RestClient;
  let read: MaaslabReader;
  let scratch: string;
  let labNs: TestNamespace;
  let hv: string;
  let pool: string;
  let operator: OperatorProcess;
  let logFile: string;
  let faultsFile: string;
  /** The lab manifest as applied (hypervisor and namespace filled in). */
  let labDoc: ExampleDoc;

  const domainOf = (i: number, labName = 'recipe'): string => `${labNs.name}.${labName}-node${i}`;
  const volumeOf = (i: number, labName = 'recipe'): string => `${domainOf(i, labName)}-root.qcow2`;
  const volumePath = (i: number, labName = 'recipe'): string =>
    join(lv.dir, 'pool', volumeOf(i, labName));
  const state = async (i: number): Promise<string> =>
    (await lv.virsh(['domstate', domainOf(i)])).trim();
  const poolVolumes = async (): Promise<string[]> => {
    await lv.virsh(['pool-refresh', pool]);
    return (await lv.virsh(['vol-list', '--pool', pool]))
      .split('\n')
      .map((l) => l.trim().split(/\s+/)[0] ?? '')
      .filter((n) => n.includes(labNs.name));
  };
  const lab = (name = 'recipe'): Promise<MaasLab> => read.get<MaasLab>('MaasLab', name, labNs.name);
  const snapshot = (name: string): Promise<MaasLabSnapshot> =>
    read.get<MaasLabSnapshot>('MaasLabSnapshot', name, labNs.name);
  const allRunning = async (): Promise<boolean> => {
    for (const i of NODES) if ((await state(i)) !== 'running') return false;
    return true;
  };
  const patch = (kind: string, name: string, body: unknown): Promise<unknown> =>
    admin.request({
      method: 'PATCH',
      ref: { apiVersion: GROUP_VERSION, kind, name, namespace: labNs.name },
      body,
      contentType: ContentType.MergePatch,
    });
  const createSnapshot = (name: string, mode = 'Offline'): Promise<unknown> =>
    admin.request({
      method: 'POST',
      ref: { apiVersion: GROUP_VERSION, kind: 'MaasLabSnapshot', namespace: labNs.name },
      body: {
        apiVersion: GROUP_VERSION,
        kind: 'MaasLabSnapshot',
        metadata: { name, namespace: labNs.name },
        spec: {
          lab: 'recipe',
          mode,
          ...(mode === 'Offline' && { shutdownGracePeriodSeconds: 3 }),
        },
      },
    });

  /** Whether node i's disk holds the marker (read without a lock: the guest may run). */
  async function hasMarker(i: number, labName = 'recipe'): Promise<boolean> {
    // qemu-io exits 1 and says so when the pattern does not match (run rejects then).
    try {
      await run('qemu-io', [
        ...['-f', 'qcow2', '-r', '-U'],
        ...['-c', `read -P ${MARKER.pattern} ${MARKER.offset} ${MARKER.length}`],
        volumePath(i, labName),
      ]);
      return true;
    } catch (err) {
      if (String(err).includes('Pattern verification failed')) return false;
      throw err;
    }
  }

  /**
   * Writes the marker into node i's disk the way a user's change would land: the node held
   * by the test (the operator leaves it alone and says so), powered off, the disk written
   * with qemu-io, the hold released (its controller starts it again).
   */
  async function writeMarker(i: number): Promise<void> {
    const node = `recipe-node${i}`;
    const holder = 'test/lab-snapshot-marker';
    await patch('MaasNode', node, { metadata: { annotations: { 'maaslab.dev/hold': holder } } });
    await waitFor(
      async () => {
        const n = await read.get<MaasNode>('MaasNode', node, labNs.name);
        const c = n.status?.conditions?.find((x) => x.type === 'Reconciling');
        return c?.reason === 'Held' && c.message.startsWith(`held by ${holder};`);
      },
      { timeoutMs: STEP_TIMEOUT_MS, intervalMs: 250, description: `${node} held` },
    );
    await lv.virsh(['destroy', domainOf(i)]).catch(() => undefined);
    await run('qemu-io', [
      ...['-f', 'qcow2'],
      ...['-c', `write -P ${MARKER.pattern} ${MARKER.offset} ${MARKER.length}`],
      volumePath(i),
    ]);
    await patch('MaasNode', node, { metadata: { annotations: { 'maaslab.dev/hold': null } } });
    expect(await hasMarker(i), `marker on node${i}`).to.equal(true);
  }

  before(async function () {
    this.timeout(300_000);
    faultsDir = await mkdtemp(join(tmpdir(), 'maaslab-snap-faults-'));
    faultsFile = join(faultsDir, 'faults');
    await writeFile(faultsFile, '');
    env = await startE2eEnvironment('snap', { env: { MAASLAB_TEST_FAULTS_FILE: faultsFile } });
    ({ lv, admin, read, scratch, labNs, hv, pool, operator, logFile } = env);
    const docs = await recipeLabDocs(env, (d) => {
      const nodes = d.spec.nodes as { template: { memory: string } };
      nodes.template.memory = '256Mi';
      labDoc = structuredClone(d);
    });
    await kubectlApply(controlPlane().adminKubeconfig, docs, join(scratch, 'lab.yaml'));
    await waitFor(
      async () =>
        (await lab()).status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
      { timeoutMs: READY_TIMEOUT_MS, intervalMs: 500, description: `lab Ready (log: ${logFile})` },
    );
  });

  after(async function () {
    this.timeout(180_000);
    await env?.stop();
    if (faultsDir) await rm(faultsDir, { recursive: true, force: true });
  });

  it('1: captures every node of the running lab (Offline), and the lab runs again', async function () {
    const t0 = Date.now();
    await createSnapshot('golden');
    const snap = await waitFor(
      async () => {
        const s = await snapshot('golden');
        return s.status?.readyToUse === true ? s : undefined;
      },
      {
        timeoutMs: STEP_TIMEOUT_MS,
        intervalMs: 250,
        description: `snapshot Ready (log: ${logFile})`,
      },
    );
    console.log(
      `      capture of 3 running nodes (3 s grace): ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
    const s = snap.status!;
    expect(s.phase).to.equal('Ready');
    expect(s.creationTime).to.be.a('string');
    expect(s.members?.map((m) => m.domain)).to.deep.equal(NODES.map((i) => domainOf(i)));
    // PXE guests ignore ACPI: they were powered off after the grace period.
    expect(s.members?.map((m) => m.consistency)).to.deep.equal([
      'CrashConsistent',
      'CrashConsistent',
      'CrashConsistent',
    ]);
    expect(s.conditions?.find((c) => c.type === 'Ready')).to.include({
      status: 'True',
      reason: 'SnapshotReady',
    });
    const goldens = s.members!.flatMap((m) => m.volumes.map((v) => v.golden));
    expect(goldens).to.have.length(3);
    const vols = await poolVolumes();
    for (const g of goldens) expect(vols, g).to.include(g);
    expect(s.sizeBytes).to.be.a('number');
    // Golden volumes are read-only files.
    for (const g of goldens) {
      expect((await stat(join(lv.dir, 'pool', g))).mode & 0o777, g).to.equal(0o444);
    }
    // The Hypervisor's allocated counts them.
    await waitFor(
      async () =>
        (await read.get<Hypervisor>('Hypervisor', hv)).status?.allocated?.snapshotStorage !==
        undefined,
      { timeoutMs: 60_000, intervalMs: 250, description: 'Hypervisor allocated.snapshotStorage' },
    );
    // The holds are gone and the nodes' own controllers started them again (runStrategy Always).
    await waitFor(allRunning, {
      timeoutMs: STEP_TIMEOUT_MS,
      intervalMs: 500,
      description: 'lab running again',
    });
    const l = await waitFor(
      async () => {
        const x = await lab();
        return x.status?.snapshots?.count === 1 ? x : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250, description: 'lab status.snapshots' },
    );
    expect(l.status?.snapshots?.bytes).to.equal(s.sizeBytes);
    const m = parseMetrics(await (await fetch(operator.metricsUrl)).text());
    expect(
      sample(m, 'maaslab_lab_snapshot_bytes', { namespace: labNs.name, lab: 'recipe' }),
    ).to.equal(s.sizeBytes);
  });

  it('2: a marker written after the capture is gone after a restore, and the lab runs again', async function () {
    await writeMarker(1);
    const t0 = Date.now();
    await patch('MaasLab', 'recipe', {
      spec: { restoreFrom: { snapshot: 'golden', token: 'first' } },
    });
    await waitFor(
      async () => {
        const r = (await lab()).status?.restore;
        return r?.token === 'first' && r.phase === 'Completed';
      },
      {
        timeoutMs: STEP_TIMEOUT_MS,
        intervalMs: 250,
        description: `restore Completed (log: ${logFile})`,
      },
    );
    console.log(`      restore of 3 nodes: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    expect(await hasMarker(1), 'marker after the restore').to.equal(false);
    const r = (await lab()).status?.restore;
    expect(r).to.include({ snapshot: 'golden', membersRestored: 3, membersTotal: 3 });
    await waitFor(allRunning, {
      timeoutMs: STEP_TIMEOUT_MS,
      intervalMs: 500,
      description: 'lab running again',
    });
  });

  it('3: a capture failing at node2 removes what it made, names node2, and the lab runs again', async function () {
    await writeFile(faultsFile, 'recipe-node2-root\\.snap-broken-');
    await createSnapshot('broken');
    const snap = await waitFor(
      async () => {
        const s = await snapshot('broken');
        return s.status?.phase === 'Failed' ? s : undefined;
      },
      {
        timeoutMs: STEP_TIMEOUT_MS,
        intervalMs: 250,
        description: `snapshot Failed (log: ${logFile})`,
      },
    );
    await writeFile(faultsFile, '');
    expect(snap.status?.failedMember).to.equal(domainOf(2));
    expect(snap.status?.readyToUse).to.equal(false);
    const stalled = snap.status?.conditions?.find((c) => c.type === 'Stalled');
    expect(stalled).to.include({ status: 'True', reason: 'CaptureFailed' });
    expect(stalled?.message).to.include(domainOf(2));
    // node1's golden volume had been made before node2 failed: it is gone too.
    expect((await poolVolumes()).filter((v) => v.includes('.snap-broken-'))).to.deep.equal([]);
    await waitFor(allRunning, {
      timeoutMs: STEP_TIMEOUT_MS,
      intervalMs: 500,
      description: 'lab running again',
    });
    for (const i of NODES) {
      const n = await read.get<MaasNode>('MaasNode', `recipe-node${i}`, labNs.name);
      expect(n.metadata?.annotations?.['maaslab.dev/hold'], `node${i} hold`).to.equal(undefined);
    }
  });

  it('4: a restore failing at node2 keeps every member held and off, then completes; no marker is left', async function () {
    await writeMarker(1);
    await writeMarker(2);
    await writeFile(faultsFile, 'recipe-node2-root\\.qcow2$');
    await patch('MaasLab', 'recipe', {
      spec: { restoreFrom: { snapshot: 'golden', token: 'second' } },
    });
    const failing = await waitFor(
      async () => {
        const r = (await lab()).status?.restore;
        return r?.token === 'second' && r.failedMember !== undefined ? r : undefined;
      },
      {
        timeoutMs: STEP_TIMEOUT_MS,
        intervalMs: 250,
        description: `restore failing (log: ${logFile})`,
      },
    );
    expect(failing.failedMember).to.equal(domainOf(2));
    expect(failing.phase).to.equal('Restoring');
    // Never a mixed lab: node1 is back at the snapshot already, and nothing runs.
    for (const i of NODES) expect(await state(i), `node${i}`).to.equal('shut off');
    const reconciling = (await lab()).status?.conditions?.find((c) => c.type === 'Reconciling');
    expect(reconciling).to.include({ status: 'True', reason: 'Restoring' });
    await writeFile(faultsFile, '');
    await waitFor(
      async () => {
        const r = (await lab()).status?.restore;
        return r?.token === 'second' && r.phase === 'Completed';
      },
      {
        timeoutMs: STEP_TIMEOUT_MS,
        intervalMs: 250,
        description: `restore Completed (log: ${logFile})`,
      },
    );
    expect(await hasMarker(1), 'node1 marker').to.equal(false);
    expect(await hasMarker(2), 'node2 marker').to.equal(false);
    await waitFor(allRunning, {
      timeoutMs: STEP_TIMEOUT_MS,
      intervalMs: 500,
      description: 'lab running again',
    });
  });

  it('5: deleting the snapshot frees its golden volumes', async function () {
    const goldens = (await snapshot('golden')).status!.members!.flatMap((m) =>
      m.volumes.map((v) => v.golden),
    );
    for (const name of ['golden', 'broken']) {
      await admin.request({
        method: 'DELETE',
        ref: { apiVersion: GROUP_VERSION, kind: 'MaasLabSnapshot', name, namespace: labNs.name },
      });
    }
    await waitFor(
      async () =>
        (
          await admin.request<{ items: unknown[] }>({
            method: 'GET',
            ref: { apiVersion: GROUP_VERSION, kind: 'MaasLabSnapshot', namespace: labNs.name },
          })
        ).items.length === 0,
      { timeoutMs: STEP_TIMEOUT_MS, intervalMs: 250, description: 'snapshots gone' },
    );
    const vols = await poolVolumes();
    for (const g of goldens) expect(vols, g).not.to.include(g);
    expect(vols.filter((v) => v.includes('.snap-'))).to.deep.equal([]);
    for (const i of NODES) expect(vols).to.include(volumeOf(i));
  });

  it('6: Suspended: members are paused for the copy only, CrashConsistent, and resume where they were', async function () {
    await writeMarker(1); // in this snapshot: test 7 finds it in the new lab
    await waitFor(allRunning, {
      timeoutMs: STEP_TIMEOUT_MS,
      intervalMs: 500,
      description: 'lab running',
    });
    const reasons = async (): Promise<string[]> =>
      Promise.all(
        NODES.map(async (i) => (await lv.virsh(['domstate', '--reason', domainOf(i)])).trim()),
      );
    const t0 = Date.now();
    await createSnapshot('live', 'Suspended');
    const snap = await waitFor(
      async () => {
        const s = await snapshot('live');
        if (s.status?.phase === 'Failed') throw new Error(JSON.stringify(s.status.conditions));
        return s.status?.readyToUse === true ? s : undefined;
      },
      {
        timeoutMs: STEP_TIMEOUT_MS,
        intervalMs: 250,
        description: `snapshot Ready (log: ${logFile})`,
      },
    );
    console.log(
      `      capture of 3 running nodes (Suspended): ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
    expect(snap.status?.members?.map((m) => m.consistency)).to.deep.equal(
      Array(3).fill('CrashConsistent'),
    );
    // Paused, saved, restored paused and resumed: libvirt says "unpaused", not "booted".
    await waitFor(allRunning, {
      timeoutMs: STEP_TIMEOUT_MS,
      intervalMs: 500,
      description: 'lab running',
    });
    expect(await reasons()).to.deep.equal(Array(3).fill('running (unpaused)'));
  });

  it('7: with its lab gone, the snapshot is restored into a new lab of the same shape', async function () {
    await admin.request({
      method: 'DELETE',
      ref: { apiVersion: GROUP_VERSION, kind: 'MaasLab', name: 'recipe', namespace: labNs.name },
    });
    await waitFor(
      async () =>
        (await lv.virsh(['list', '--all', '--name']))
          .split('\n')
          .every((l) => !l.includes(labNs.name)),
      { timeoutMs: STEP_TIMEOUT_MS, intervalMs: 500, description: 'the old lab’s domains gone' },
    );
    const again = structuredClone(labDoc);
    again.metadata.name = 'again';
    again.spec.restoreFrom = { snapshot: 'live', token: 'from-live' };
    await kubectlApply(controlPlane().adminKubeconfig, [again], join(scratch, 'again.yaml'));
    const t0 = Date.now();
    await waitFor(
      async () => {
        const r = (await lab('again')).status?.restore;
        return r?.token === 'from-live' && r.phase === 'Completed';
      },
      {
        timeoutMs: READY_TIMEOUT_MS,
        intervalMs: 500,
        description: `restore into the new lab (log: ${logFile})`,
      },
    );
    console.log(`      new lab built and restored: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    // node1's disk came from the snapshot: it has the marker written before the capture.
    expect(await hasMarker(1, 'again'), 'again-node1 marker').to.equal(true);
    expect(await hasMarker(2, 'again'), 'again-node2 marker').to.equal(false);
    await waitFor(
      async () =>
        (await lab('again')).status?.conditions?.some(
          (c) => c.type === 'Ready' && c.status === 'True',
        ),
      { timeoutMs: READY_TIMEOUT_MS, intervalMs: 500, description: 'new lab Ready' },
    );
    const goldens = (await snapshot('live')).status!.members!.flatMap((m) =>
      m.volumes.map((v) => v.golden),
    );
    await admin.request({
      method: 'DELETE',
      ref: {
        apiVersion: GROUP_VERSION,
        kind: 'MaasLabSnapshot',
        name: 'live',
        namespace: labNs.name,
      },
    });
    await waitFor(async () => (await poolVolumes()).every((v) => !goldens.includes(v)), {
      timeoutMs: STEP_TIMEOUT_MS,
      intervalMs: 250,
      description: 'golden volumes of the lab-less snapshot freed',
    });
  });
});

describe('e2e: lab snapshots of a lab with its own MAAS controller VM, operator as a child process', function () {
  this.timeout(900_000);

  const LAB = 'snapc';
  const BASE_VOLUME = 'snapc-blank-base.qcow2';
  const LONG = { timeoutMs: 240_000, intervalMs: 500 } as const;
  const HOLDER = 'test/lab-snapshot-controller-marker';
  const third = randomInt(256);
  const subnet = `10.252.${third}`;
  const controllerAddress = `${subnet}.2`;
  let env: E2eEnvironment | undefined;
  let maas: MaasApiServer | undefined;
  let endpoint: NetnsEndpoint | undefined;
  let socketDir: string | undefined;
  let ns: string;

  const lab = (): Promise<MaasLab> => env!.read.get<MaasLab>('MaasLab', LAB, ns);
  const snapshot = (name: string): Promise<MaasLabSnapshot> =>
    env!.read.get<MaasLabSnapshot>('MaasLabSnapshot', name, ns);
  const virsh = async (args: string[]): Promise<string> =>
    (await run('virsh', ['-c', env!.lv.uri, ...args])).stdout;
  const controllerDomain = (): string => `${ns}.${LAB}-maas`;
  const nodeDomain = (): string => `${ns}.${LAB}-node1`;
  const overlayPath = (): string => join(env!.lv.dir, 'pool', `${controllerDomain()}-disk.qcow2`);
  const state = async (domain: string): Promise<string> =>
    (await virsh(['domstate', domain])).trim();
  const patch = (kind: string, name: string, body: unknown): Promise<unknown> =>
    env!.admin.request({
      method: 'PATCH',
      ref: { apiVersion: GROUP_VERSION, kind, name, namespace: ns },
      body,
      contentType: ContentType.MergePatch,
    });
  const explain = async (): Promise<string> => {
    const l = await lab().catch(() => undefined);
    const snaps = await env!.read.list<MaasLabSnapshot>('MaasLabSnapshot', ns).catch(() => []);
    const { stdout } = await run('tail', ['-n', '40', env!.logFile]).catch(() => ({
      stdout: '',
    }));
    const states = await Promise.all(
      [controllerDomain(), nodeDomain()].map((d) => state(d).catch((e: unknown) => String(e))),
    );
    return `domains: ${states.join(', ')}\nlab status: ${JSON.stringify(l?.status)}\nsnapshots: ${JSON.stringify(snaps.map((x) => x.status))}\noperator log tail:\n${stdout}`;
  };
  async function hasMarker(path: string): Promise<boolean> {
    try {
      await run('qemu-io', [
        ...['-f', 'qcow2', '-r', '-U'],
        ...['-c', `read -P ${MARKER.pattern} ${MARKER.offset} ${MARKER.length}`],
        path,
      ]);
      return true;
    } catch (err) {
      if (String(err).includes('Pattern verification failed')) return false;
      throw err;
    }
  }

  before(async function () {
    this.timeout(600_000);
    socketDir = await mkdtemp(join(tmpdir(), 'maaslab-snapc-'));
    // What answers at the controller's address: the MAAS API test server, in a network
    // namespace of this test's (the operator asks for the API key there; no admin exists, so
    // it is refused, which is all this test needs).
    maas = await startMaasApiServer({
      socketPath: join(socketDir, 'maas.sock'),
      subnetCidr: `${subnet}.0/24`,
    });
    endpoint = await exposeInNetns(controllerAddress, 5240, join(socketDir, 'maas.sock'));
    env = await startE2eEnvironment('snapc');
    ns = env.labNs.name;
    const kubeconfig = controlPlane().adminKubeconfig;
    await kubectlApply(kubeconfig, [envHypervisor(env)], join(env.scratch, 'hypervisor.yaml'));
    await createUserVolume(env, BASE_VOLUME, '64M');
    await kubectlApply(
      kubeconfig,
      [
        {
          apiVersion: GROUP_VERSION,
          kind: 'MaasLab',
          metadata: { name: LAB, namespace: ns },
          spec: {
            hypervisor: env.hv,
            networks: [
              { name: 'pxe', mode: 'isolated', ipv4: { address: `${subnet}.1`, prefixLength: 24 } },
            ],
            nodes: {
              count: 1,
              template: {
                memory: '128Mi',
                disks: [{ name: 'root', size: '64Mi' }],
                interfaces: [{ network: 'pxe' }],
                vnc: { enabled: false },
                // Running, so the restore's start order shows (a MAAS lab's default is
                // Manual: MAAS drives power).
                runStrategy: 'Always',
              },
            },
            maas: {
              controller: {
                image: { volume: BASE_VOLUME },
                vcpus: 1,
                memory: '1Gi',
                diskSize: '4Gi',
              },
            },
          },
        },
      ],
      join(env.scratch, 'lab.yaml'),
    );
    await waitFor(
      async () =>
        conditionOf(await lab(), 'ControllerReady')?.status === 'True' &&
        (await state(controllerDomain())) === 'running' &&
        (await state(nodeDomain())) === 'running',
      { ...LONG, description: 'controller and node running', explain },
    );
  });

  after(async function () {
    this.timeout(180_000);
    await env?.stop();
    await endpoint?.remove();
    await maas?.close();
    if (socketDir) await rm(socketDir, { recursive: true, force: true });
  });

  it('8: captures the controller VM first, with its overlay, and the controller runs again', async function () {
    const t0 = Date.now();
    await env!.admin.request({
      method: 'POST',
      ref: { apiVersion: GROUP_VERSION, kind: 'MaasLabSnapshot', namespace: ns },
      body: {
        apiVersion: GROUP_VERSION,
        kind: 'MaasLabSnapshot',
        metadata: { name: 'withctl', namespace: ns },
        spec: { lab: LAB, mode: 'Offline', shutdownGracePeriodSeconds: 3 },
      },
    });
    // While the capture holds it, the lab says so in ControllerReady (its acknowledgement).
    const heldSeen = waitFor(
      async () => {
        const c = conditionOf(await lab(), 'ControllerReady');
        return (
          c?.reason === 'Held' && (c.message ?? '').startsWith('held by MaasLabSnapshot/withctl;')
        );
      },
      { ...LONG, intervalMs: 100, description: 'ControllerReady Held by the capture', explain },
    );
    const snap = await waitFor(
      async () => {
        const x = await snapshot('withctl');
        if (x.status?.phase === 'Failed') throw new Error(JSON.stringify(x.status));
        return x.status?.readyToUse === true ? x : undefined;
      },
      { ...LONG, intervalMs: 250, description: 'snapshot Ready', explain },
    );
    console.log(
      `      capture of a controller and a node (3 s grace): ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
    await heldSeen;
    const members = snap.status!.members!;
    expect(members.map((m) => [m.role, m.index, m.domain])).to.deep.equal([
      ['Controller', 0, controllerDomain()],
      ['Node', 1, nodeDomain()],
    ]);
    const [controller] = members;
    expect(controller!.volumes.map((v) => [v.disk, v.source, v.format])).to.deep.equal([
      ['disk', `${controllerDomain()}-disk.qcow2`, 'qcow2'],
    ]);
    expect(controller!.consistency).to.equal('CrashConsistent'); // no OS: powered off
    const golden = controller!.volumes[0]!.golden;
    await virsh(['pool-refresh', env!.pool]);
    expect(await virsh(['vol-list', env!.pool])).to.include(golden);
    // The golden copy stands alone: it needs neither the overlay nor the shared base.
    const info = JSON.parse(
      (
        await run('qemu-img', [
          ...['info', '-U', '--output=json'],
          join(env!.lv.dir, 'pool', golden),
        ])
      ).stdout,
    ) as { format: string; 'virtual-size': number; 'backing-filename'?: string };
    console.log(
      `      controller golden volume: ${info.format}, backing ${info['backing-filename'] ?? 'none'}`,
    );
    expect(info.format).to.equal('qcow2');
    expect(info['virtual-size']).to.equal(4 * 1024 ** 3);
    // Released: the lab's controller phase starts it again, the node's controller the node.
    await waitFor(
      async () =>
        (await lab()).metadata?.annotations?.['maaslab.dev/hold'] === undefined &&
        conditionOf(await lab(), 'ControllerReady')?.status === 'True' &&
        (await state(controllerDomain())) === 'running' &&
        (await state(nodeDomain())) === 'running',
      { ...LONG, description: 'controller and node running again', explain },
    );
  });

  it('9: a marker written into the controller overlay after the capture is gone after a restore; controller first', async function () {
    // The user's change: the test holds the controller VM the way a capture does, the lab
    // acknowledges, the VM is powered off and its overlay written with qemu-io.
    await patch('MaasLab', LAB, { metadata: { annotations: { 'maaslab.dev/hold': HOLDER } } });
    await waitFor(
      async () => {
        const c = conditionOf(await lab(), 'ControllerReady');
        return c?.reason === 'Held' && (c.message ?? '').startsWith(`held by ${HOLDER};`);
      },
      { ...LONG, intervalMs: 250, description: 'controller held by the test', explain },
    );
    await virsh(['destroy', controllerDomain()]).catch(() => undefined);
    await run('qemu-io', [
      ...['-f', 'qcow2'],
      ...['-c', `write -P ${MARKER.pattern} ${MARKER.offset} ${MARKER.length}`],
      overlayPath(),
    ]);
    // Held means held: a pass of the lab's after the power-off (woken here by an annotation
    // of the test's) leaves the VM off, where an unheld pass would start it again.
    await patch('MaasLab', LAB, { metadata: { annotations: { 'test.maaslab.dev/poke': '1' } } });
    await new Promise((r) => setTimeout(r, 3000));
    expect(await state(controllerDomain()), 'held controller').to.equal('shut off');
    expect(conditionOf(await lab(), 'ControllerReady')?.reason).to.equal('Held');
    await patch('MaasLab', LAB, { metadata: { annotations: { 'maaslab.dev/hold': null } } });
    expect(await hasMarker(overlayPath()), 'marker in the overlay').to.equal(true);
    await waitFor(async () => (await state(controllerDomain())) === 'running', {
      ...LONG,
      description: 'controller running after the release',
      explain,
    });

    const t0 = Date.now();
    await patch('MaasLab', LAB, {
      spec: { restoreFrom: { snapshot: 'withctl', token: 'ctl-1' } },
    });
    // Starting the controller's wave: the controller is started while the node still waits.
    let controllerFirst = false;
    await waitFor(
      async () => {
        const l = await lab();
        const r = l.status?.restore;
        if (
          r?.phase === 'Starting' &&
          (await state(controllerDomain())) === 'running' &&
          (await state(nodeDomain())) !== 'running'
        ) {
          controllerFirst = true;
        }
        return r?.token === 'ctl-1' && r.phase === 'Completed';
      },
      { ...LONG, intervalMs: 100, description: 'restore Completed', explain },
    );
    console.log(
      `      restore of a controller and a node: ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
    const r = (await lab()).status?.restore;
    expect(r).to.include({ snapshot: 'withctl', membersRestored: 2, membersTotal: 2 });
    expect(await hasMarker(overlayPath()), 'marker after the restore').to.equal(false);
    expect(controllerFirst, 'the controller ran while the node still waited').to.equal(true);
    await waitFor(
      async () =>
        conditionOf(await lab(), 'ControllerReady')?.status === 'True' &&
        (await state(controllerDomain())) === 'running' &&
        (await state(nodeDomain())) === 'running',
      { ...LONG, description: 'controller and node running after the restore', explain },
    );
  });

  it('10: deleting the snapshot frees the controller golden volume too', async function () {
    const goldens = (await snapshot('withctl')).status!.members!.flatMap((m) =>
      m.volumes.map((v) => v.golden),
    );
    await env!.admin.request({
      method: 'DELETE',
      ref: { apiVersion: GROUP_VERSION, kind: 'MaasLabSnapshot', name: 'withctl', namespace: ns },
    });
    await waitFor(
      async () => {
        await virsh(['pool-refresh', env!.pool]);
        const vols = await virsh(['vol-list', env!.pool]);
        return goldens.every((g) => !vols.includes(g));
      },
      { ...LONG, description: 'golden volumes freed', explain },
    );
    const vols = await virsh(['vol-list', env!.pool]);
    expect(vols).to.include(`${controllerDomain()}-disk.qcow2`);
    expect(vols).to.include(BASE_VOLUME);
  });
});
