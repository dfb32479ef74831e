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
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { parseAllDocuments } from 'yaml';
import type {
  Hypervisor,
  MaasLab,
  MaasLabSnapshot,
  MaasNode,
} from '../../../src/api/v1alpha1/index.js';
import {
  ContentType,
  type RestClient,
  createRestClient,
} from '../../../src/runtime/client/rest.js';
import { controlPlane, repoRoot } from '../../support/controlplane.js';
import { GROUP_VERSION, type MaaslabReader, maaslabReader } from '../../support/e2e.js';
import { type PrivateLibvirtd, run, startPrivateLibvirtd } from '../../support/libvirtd.js';
import { type TestNamespace, createTestNamespace } from '../../support/namespace.js';
import {
  type OperatorProcess,
  applyOperatorRbac,
  kubectlApply,
  startOperator,
} from '../../support/operator.js';
import { parseMetrics, sample } from '../../support/metrics-text.js';
import { waitFor } from '../../support/wait.js';

const READY_TIMEOUT_MS = 480_000;
const STEP_TIMEOUT_MS = 240_000;
const NODES = [1, 2, 3];
/** Where the marker goes in a node's disk: 1 MiB in, 4 KiB of 0xab. */
const MARKER = { offset: '1M', length: '4k', pattern: '0xab' } as const;

interface Doc {
  kind: string;
  metadata: { name: string; namespace?: string };
  spec: Record<string, unknown>;
}

describe('e2e: lab snapshots (capture, restore, faults), operator as a child process', function () {
  this.timeout(900_000);

  let lv: PrivateLibvirtd;
  let admin: RestClient;
  let read: MaaslabReader;
  let scratch: string;
  let leaseNs: TestNamespace;
  let labNs: TestNamespace;
  let hv: string;
  let pool: string;
  let operator: OperatorProcess;
  let logFile: string;
  let faultsFile: string;
  /** The lab manifest as applied (hypervisor and namespace filled in). */
  let labDoc: Doc;

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
    const cp = controlPlane();
    admin = createRestClient(cp.restConfig('admin'));
    read = maaslabReader(admin);
    scratch = await mkdtemp(join(tmpdir(), 'maaslab-snap-'));
    logFile = join(scratch, 'operator.log');
    faultsFile = join(scratch, 'faults');
    await writeFile(faultsFile, '');
    lv = await startPrivateLibvirtd();
    leaseNs = await createTestNamespace(cp.kubeConfig('admin'), 'e2e-snap-op');
    labNs = await createTestNamespace(cp.kubeConfig('admin'), 'e2e-snap');
    hv = `snap-${labNs.name.slice(-5)}`;
    pool = `maaslab-${labNs.name.slice(-5)}`;
    await applyOperatorRbac(cp.adminKubeconfig, leaseNs.name, scratch);
    operator = await startOperator({
      kubeconfig: cp.operatorKubeconfig,
      namespace: leaseNs.name,
      logFile,
      env: { MAASLAB_TEST_FAULTS_FILE: faultsFile },
    });

    const docs = parseAllDocuments(
      await readFile(join(repoRoot, 'examples', 'recipe-lab.yaml'), 'utf8'),
    ).map((d) => d.toJS() as Doc);
    for (const d of docs) {
      if (d.kind === 'Hypervisor') {
        d.metadata.name = hv;
        Object.assign(d.spec, {
          uri: lv.uri,
          storagePool: pool,
          storagePoolPath: join(lv.dir, 'pool'),
        });
      } else {
        d.metadata.namespace = labNs.name;
        d.spec.hypervisor = hv;
        const nodes = d.spec.nodes as { template: { memory: string } };
        nodes.template.memory = '256Mi';
        labDoc = structuredClone(d);
      }
    }
    await kubectlApply(cp.adminKubeconfig, docs, join(scratch, 'lab.yaml'));
    await waitFor(
      async () =>
        (await lab()).status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
      { timeoutMs: READY_TIMEOUT_MS, intervalMs: 500, description: `lab Ready (log: ${logFile})` },
    );
  });

  after(async function () {
    this.timeout(180_000);
    await operator?.stop().catch(() => undefined);
    await admin
      ?.request({
        method: 'DELETE',
        ref: { apiVersion: GROUP_VERSION, kind: 'Hypervisor', name: hv },
      })
      .catch(() => undefined);
    await lv?.stop();
    await labNs?.delete();
    await leaseNs?.delete();
    if (process.env.MAASLAB_KEEP_E2E) console.log(`      operator log kept in ${logFile}`);
    else await rm(scratch, { recursive: true, force: true });
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
