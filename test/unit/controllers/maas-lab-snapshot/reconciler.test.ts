// The MaasLabSnapshot reconciler against in-memory caches, a node "controller" that
// acknowledges holds the way the real one reports them, and the fake hypervisor: the order of
// a capture (hold, stop, copy, release), all or nothing, Suspended's pause and resume, and
// deletion freeing the golden volumes. The real thing runs in test/integration/e2e/lab-snapshot.test.ts.
import { expect } from 'chai';
import {
  HeldReason,
  heldMessage,
  HoldAnnotation,
  type MaasLab,
  type MaasLabSnapshot,
  type MaasLabSnapshotStatus,
  type MaasNode,
} from '../../../../src/api/v1alpha1/index.js';
import { createMaasLabSnapshotReconciler } from '../../../../src/controllers/maas-lab-snapshot/reconciler.js';
import {
  desiredDomain,
  desiredVolumes,
  nvramVolumeName,
} from '../../../../src/controllers/maas-node/desired.js';
import { withInjectedFaults } from '../../../../src/libvirt/hypervisor/index.js';
import { CLEANUP_FINALIZER } from '../../../../src/runtime/controller/objects.js';
import { createFakeHypervisor, type FakeHypervisor } from '../../../fakes/hypervisor.js';
import { createFakeClock } from '../../../fakes/clock.js';
import { recipeHypervisor, recipeLab } from '../fixtures.js';
import { fakeClient, key, signal, store } from '../reconciler-support.js';
import {
  controllerDomain,
  controllerOwner,
  controllerPlan,
} from '../../../../src/controllers/maas/controller-desired.js';
import { labNodes, withController } from './support.js';

const snapshotOf = (mode: 'Offline' | 'Suspended'): MaasLabSnapshot => ({
  apiVersion: 'maaslab.dev/v1alpha1',
  kind: 'MaasLabSnapshot',
  metadata: { name: 'golden', namespace: 'maas', uid: 'abcdef0123', generation: 1 },
  spec: { lab: 'recipe', mode, shutdownGracePeriodSeconds: 30 },
});

/** What a world has beyond the recipe lab's nodes. */
interface WorldOptions {
  /** The lab has its own MAAS controller VM (defined, running, its overlay made). */
  readonly controller?: boolean;
  /** The MaasLab controller acknowledges a hold on the lab (default true). */
  readonly labAcks?: boolean;
  /** UEFI nodes; those listed have started once, so libvirt has made their NVRAM. */
  readonly uefi?: { readonly started: readonly number[] };
}

/** Everything one capture runs against. */
async function world(mode: 'Offline' | 'Suspended', failing?: RegExp, opts: WorldOptions = {}) {
  const lab: MaasLab = opts.controller ? withController(recipeLab()) : recipeLab();
  const labs = store<MaasLab>(lab);
  const firmware = opts.uefi ? { firmware: 'uefi' as const } : {};
  const nodes = store<MaasNode>(
    ...labNodes(lab).map((n) => ({ ...n, spec: { ...n.spec, ...firmware } })),
  );
  const snapshots = store<MaasLabSnapshot>(snapshotOf(mode));
  const hv: FakeHypervisor = createFakeHypervisor();
  const ctx = { hypervisor: recipeHypervisor.spec, kvm: false };
  if (opts.controller) {
    const plan = controllerPlan(lab, recipeHypervisor.spec)!;
    await hv.ensureVolumes([
      { pool: plan.pool, name: plan.overlayVolume, format: 'qcow2', capacityBytes: plan.diskBytes },
    ]);
    const domain = controllerDomain(plan, controllerOwner(lab), {
      kvm: false,
      consoleLogPath: '/pool/maas.recipe-maas.console.log',
    });
    await hv.defineDomain(domain);
    await hv.start(domain.name, domain.owner);
  }
  for (const n of nodes.list()) {
    await hv.ensureVolumes(desiredVolumes(n, ctx));
    const domain = desiredDomain(n, ctx);
    await hv.defineDomain(domain);
    await hv.start(domain.name, domain.owner);
  }
  for (const i of opts.uefi?.started ?? []) {
    const name = nvramVolumeName(`maas.recipe-node${i}`);
    await hv.ensureVolumes([{ pool: 'default', name, format: 'raw', capacityBytes: 540672 }]);
  }
  const clock = createFakeClock();
  const annotations: string[] = [];
  /** Every status written, in order. */
  const written: MaasLabSnapshotStatus[] = [];
  const client = fakeClient(snapshots);
  const reconciler = createMaasLabSnapshotReconciler({
    caches: {
      snapshots,
      labs,
      nodes,
      hypervisors: store(recipeHypervisor),
    },
    client: {
      ...client,
      patchStatus: (obj, status, sig) => {
        written.push(structuredClone(status as MaasLabSnapshotStatus));
        return client.patchStatus(obj, status, sig);
      },
    },
    // The node controller's side: it reports Held with the holder's name, or stops doing so.
    annotate: async (node, k, value) => {
      annotations.push(`${node.metadata?.name ?? ''} ${k}=${String(value)}`);
      if (node.kind === 'MaasLab') {
        // The MaasLab controller's side: ControllerReady False, Held, with the holder's name.
        const l = labs.get(key(node.metadata?.name ?? ''))!;
        const { [k]: _gone, ...others } = l.metadata?.annotations ?? {};
        const ack = value !== null && opts.labAcks !== false;
        labs.put({
          ...l,
          metadata: {
            ...l.metadata,
            annotations: value === null ? others : { ...others, [k]: value },
          },
          status: {
            ...l.status,
            conditions: ack
              ? [
                  {
                    type: 'ControllerReady',
                    status: 'False' as const,
                    reason: HeldReason,
                    message: heldMessage(value),
                    lastTransitionTime: '2026-01-01T00:00:00Z',
                  },
                ]
              : [],
          },
        });
        return;
      }
      const cur = nodes.get(key(node.metadata?.name ?? ''))!;
      const { [k]: _dropped, ...rest } = cur.metadata?.annotations ?? {};
      const held =
        value === null
          ? []
          : [
              {
                type: 'Reconciling',
                status: 'True' as const,
                reason: HeldReason,
                message: heldMessage(value),
                lastTransitionTime: '2026-01-01T00:00:00Z',
              },
            ];
      nodes.put({
        ...cur,
        metadata: { ...cur.metadata, annotations: value === null ? rest : { ...rest, [k]: value } },
        status: { ...cur.status, conditions: held },
      });
    },
    hypervisorFor: () => (failing ? withInjectedFaults(hv, () => failing) : hv),
    clock,
  });
  const pass = () => reconciler.reconcile(key('golden'), signal);
  const snap = () => snapshots.get(key('golden'))!;
  return { hv, labs, nodes, snapshots, clock, annotations, pass, snap, written };
}

const domains = ['maas.recipe-node1', 'maas.recipe-node2', 'maas.recipe-node3'];
const goldens = domains.map((d) => `default/${d}-root.snap-golden-abcdef01.qcow2`);
const stateOf = async (hv: FakeHypervisor, d: string) => (await hv.observeDomainState(d))?.state;

describe('controllers/maas-lab-snapshot/reconciler', () => {
  it('Offline: holds, asks for ACPI shutdown, waits the grace period, powers off, copies, releases', async () => {
    const w = await world('Offline');
    // Pass 1: finalizer, holds put; the node controller acknowledges them at once here.
    expect(await w.pass()).to.deep.equal({ requeueAfterMs: 1000 });
    expect(w.snap().metadata?.finalizers).to.deep.equal([CLEANUP_FINALIZER]);
    expect(w.snap().status?.phase).to.equal('Holding');
    expect(w.annotations).to.deep.equal(
      [1, 2, 3].map((i) => `recipe-node${i} ${HoldAnnotation}=MaasLabSnapshot/golden`),
    );
    // Pass 2: every node acknowledged; ACPI asked; the fake guests ignore it.
    w.hv.resetRecording();
    expect(await w.pass()).to.deep.equal({ requeueAfterMs: 1000 });
    expect(w.snap().status?.phase).to.equal('Stopping');
    expect(w.hv.mutations).to.deep.equal(Array(3).fill('virDomainShutdownFlags'));
    // Within the grace period nothing more happens.
    w.clock.advance(10_000);
    w.hv.resetRecording();
    await w.pass();
    expect(w.hv.mutations).to.deep.equal([]);
    // After it: powered off, copied, Ready, released.
    w.clock.advance(21_000);
    w.hv.resetRecording();
    expect(await w.pass()).to.deep.equal({});
    expect(w.hv.mutations).to.deep.equal([
      ...Array(3).fill('virDomainDestroyFlags'),
      ...Array(3).fill('virStorageVolCreateXMLFrom'),
    ]);
    const s = w.snap().status!;
    expect(s).to.include({ phase: 'Ready', readyToUse: true, hypervisor: 'local' });
    expect(s.members?.map((m) => [m.domain, m.consistency])).to.deep.equal(
      domains.map((d) => [d, 'CrashConsistent']),
    );
    expect(s.conditions?.find((c) => c.type === 'Ready')).to.include({
      status: 'True',
      reason: 'SnapshotReady',
    });
    for (const g of goldens) expect(w.hv.volumes()).to.include(g);
    for (const n of w.nodes.list())
      expect(n.metadata?.annotations?.[HoldAnnotation]).to.equal(undefined);
    // Done is done: another pass changes nothing.
    w.hv.resetRecording();
    await w.pass();
    expect(w.hv.mutations).to.deep.equal([]);
  });

  it('counts the members as each is copied: Capturing 0/3 … 3/3, then Ready 3/3', async () => {
    const w = await world('Offline');
    await w.pass();
    await w.pass();
    w.clock.advance(31_000);
    expect(await w.pass()).to.deep.equal({});
    const progress = w.written.map((s) => [s.phase, s.membersCaptured, s.membersTotal]);
    expect(progress).to.deep.equal([
      ['Holding', undefined, undefined],
      ['Stopping', 0, 3],
      ['Capturing', 0, 3],
      ['Capturing', 1, 3],
      ['Capturing', 2, 3],
      ['Capturing', 3, 3],
      ['Ready', 3, 3],
    ]);
    // While copying the snapshot says so; once done, it is Ready and says what it made.
    const capturing = w.written[3]!;
    expect(capturing.conditions?.find((c) => c.type === 'Reconciling')).to.include({
      status: 'True',
      message: 'copying the disks',
    });
    expect(capturing.members).to.equal(undefined);
    expect(w.snap().status).to.include({ membersCaptured: 3, membersTotal: 3, readyToUse: true });
  });

  it('a failed capture counts back to 0 captured: its copies are gone', async () => {
    const w = await world('Suspended', /recipe-node2-root\.snap-/);
    await w.pass();
    await w.pass();
    expect(w.written.map((s) => [s.phase, s.membersCaptured, s.membersTotal])).to.deep.equal([
      ['Holding', undefined, undefined],
      ['Capturing', 0, 3],
      ['Capturing', 1, 3],
      ['Failed', 0, 3],
    ]);
    expect(w.snap().status?.failedMember).to.equal('maas.recipe-node2');
  });

  it('Offline: members already off are Clean and nothing is stopped', async () => {
    const w = await world('Offline');
    for (const d of domains) w.hv.external.destroy(d);
    await w.pass();
    w.hv.resetRecording();
    await w.pass();
    expect(w.hv.mutations).to.deep.equal(Array(3).fill('virStorageVolCreateXMLFrom'));
    expect(w.snap().status?.members?.map((m) => m.consistency)).to.deep.equal(
      Array(3).fill('Clean'),
    );
  });

  it("UEFI: a started node's NVRAM is captured with its disk; one never started has none yet", async () => {
    const w = await world('Offline', undefined, { uefi: { started: [1, 3] } });
    for (const d of domains) w.hv.external.destroy(d);
    await w.pass();
    w.hv.resetRecording();
    expect(await w.pass()).to.deep.equal({});
    expect(w.hv.mutations).to.deep.equal(Array(5).fill('virStorageVolCreateXMLFrom'));
    const members = w.snap().status!.members!;
    expect(members.map((m) => m.volumes.map((v) => [v.disk, v.capacityBytes]))).to.deep.equal([
      [
        ['root', 8 * 1024 ** 3],
        ['UEFI-VARS', 540672],
      ],
      [['root', 8 * 1024 ** 3]],
      [
        ['root', 8 * 1024 ** 3],
        ['UEFI-VARS', 540672],
      ],
    ]);
    expect(w.snap().status).to.include({ phase: 'Ready', readyToUse: true });
    for (const i of [1, 3]) {
      expect(w.hv.volumes()).to.include(
        `default/maas.recipe-node${i}-VARS.snap-golden-abcdef01.qcow2`,
      );
    }
  });

  it('Suspended: pauses every member, saves its memory for the copy, restores and resumes it', async () => {
    const w = await world('Suspended');
    await w.pass();
    w.hv.resetRecording();
    await w.pass();
    expect(w.hv.mutations).to.deep.equal([
      ...Array(3).fill('virDomainSuspend'),
      ...Array(3).fill('virDomainManagedSave'),
      ...Array(3).fill('virStorageVolCreateXMLFrom'),
      ...Array(3).fill(['virDomainCreateWithFlags', 'virDomainResume']).flat(),
    ]);
    for (const d of domains) expect(await stateOf(w.hv, d)).to.equal('running');
    expect(w.snap().status?.members?.map((m) => m.consistency)).to.deep.equal(
      Array(3).fill('CrashConsistent'),
    );
  });

  it('all or nothing: a copy failing at node2 removes node1’s, names node2, resumes and releases', async () => {
    const w = await world('Suspended', /recipe-node2-root\.snap-/);
    await w.pass();
    await w.pass();
    const s = w.snap().status!;
    expect(s).to.include({ phase: 'Failed', readyToUse: false, failedMember: 'maas.recipe-node2' });
    expect(s.members).to.equal(undefined);
    const stalled = s.conditions?.find((c) => c.type === 'Stalled');
    expect(stalled?.reason).to.equal('CaptureFailed');
    expect(stalled?.message).to.match(/^capturing maas\.recipe-node2 failed: injected fault/);
    expect(w.hv.volumes().filter((v) => v.includes('.snap-'))).to.deep.equal([]);
    for (const d of domains) expect(await stateOf(w.hv, d)).to.equal('running');
    for (const n of w.nodes.list())
      expect(n.metadata?.annotations?.[HoldAnnotation]).to.equal(undefined);
  });

  it('waits while another holder has the lab (LabBusy), touching nothing', async () => {
    const w = await world('Offline');
    const n1 = w.nodes.get(key('recipe-node1'))!;
    w.nodes.put({
      ...n1,
      metadata: { ...n1.metadata, annotations: { [HoldAnnotation]: 'MaasLab/recipe/restore/t' } },
    });
    w.hv.resetRecording();
    expect(await w.pass()).to.deep.equal({ requeueAfterMs: 1000 });
    expect(w.hv.mutations).to.deep.equal([]);
    expect(w.annotations).to.deep.equal([]);
    expect(w.snap().status?.conditions?.find((c) => c.type === 'Reconciling')).to.include({
      reason: 'LabBusy',
      message: 'waiting: MaasLab/recipe/restore/t holds the lab',
    });
  });

  it('gives back its own holds when another holder has part of the lab (no deadlock)', async () => {
    const w = await world('Offline');
    // Two holders started together: this capture holds node1 and node2, a restore node3.
    for (const [name, holder] of [
      ['recipe-node1', 'MaasLabSnapshot/golden'],
      ['recipe-node2', 'MaasLabSnapshot/golden'],
      ['recipe-node3', 'MaasLab/recipe/restore/t'],
    ] as const) {
      const n = w.nodes.get(key(name))!;
      w.nodes.put({ ...n, metadata: { ...n.metadata, annotations: { [HoldAnnotation]: holder } } });
    }
    w.hv.resetRecording();
    expect(await w.pass()).to.deep.equal({ requeueAfterMs: 1000 });
    expect(w.hv.mutations).to.deep.equal([]);
    expect(
      w.nodes.list().map((n) => n.metadata?.annotations?.[HoldAnnotation] ?? 'none'),
    ).to.deep.equal(['none', 'none', 'MaasLab/recipe/restore/t']);
  });

  it('deletion frees the golden volumes and drops the finalizer', async () => {
    const w = await world('Suspended');
    await w.pass();
    await w.pass();
    expect(w.hv.volumes().filter((v) => v.includes('.snap-'))).to.have.length(3);
    const s = w.snap();
    w.snapshots.put({ ...s, metadata: { ...s.metadata, deletionTimestamp: new Date() } });
    await w.pass();
    expect(w.hv.volumes().filter((v) => v.includes('.snap-'))).to.deep.equal([]);
    expect(w.snap().metadata?.finalizers).to.deep.equal([]);
    // The members' own volumes stay.
    for (const d of domains) expect(w.hv.volumes()).to.include(`default/${d}-root.qcow2`);
  });

  describe('a lab with its own MAAS controller VM', () => {
    const controller = 'maas.recipe-maas';

    it('holds it through the lab, waits for the acknowledgement, captures its overlay first, releases it', async () => {
      const w = await world('Offline', undefined, { controller: true, labAcks: false });
      // Pass 1: the nodes and the lab are held; the lab has not acknowledged: Holding.
      expect(await w.pass()).to.deep.equal({ requeueAfterMs: 1000 });
      expect(w.annotations).to.deep.equal([
        ...[1, 2, 3].map((i) => `recipe-node${i} ${HoldAnnotation}=MaasLabSnapshot/golden`),
        `recipe ${HoldAnnotation}=MaasLabSnapshot/golden`,
      ]);
      w.hv.resetRecording();
      expect(await w.pass()).to.deep.equal({ requeueAfterMs: 1000 });
      expect(w.snap().status?.phase).to.equal('Holding');
      expect(w.hv.mutations, 'nothing stopped before the lab says Held').to.deep.equal([]);
      // The MaasLab controller acknowledges.
      const l = w.labs.get(key('recipe'))!;
      w.labs.put({
        ...l,
        status: {
          conditions: [
            {
              type: 'ControllerReady',
              status: 'False',
              reason: HeldReason,
              message: heldMessage('MaasLabSnapshot/golden'),
              lastTransitionTime: '2026-01-01T00:00:00Z',
            },
          ],
        },
      });
      await w.pass(); // ACPI asked of all four
      w.clock.advance(31_000);
      w.hv.resetRecording();
      expect(await w.pass()).to.deep.equal({});
      expect(w.hv.mutations).to.deep.equal([
        ...Array(4).fill('virDomainDestroyFlags'),
        ...Array(4).fill('virStorageVolCreateXMLFrom'),
      ]);
      const s = w.snap().status!;
      expect(s).to.include({ phase: 'Ready', membersCaptured: 4, membersTotal: 4 });
      expect(s.members?.[0]).to.deep.include({
        role: 'Controller',
        index: 0,
        domain: controller,
        consistency: 'CrashConsistent',
      });
      expect(s.members?.[0]?.volumes.map((v) => [v.disk, v.source, v.golden])).to.deep.equal([
        ['disk', `${controller}-disk.qcow2`, `${controller}-disk.snap-golden-abcdef01.qcow2`],
      ]);
      expect(w.hv.volumes()).to.include(`default/${controller}-disk.snap-golden-abcdef01.qcow2`);
      // Released, the lab too.
      expect(w.labs.get(key('recipe'))!.metadata?.annotations?.[HoldAnnotation]).to.equal(
        undefined,
      );
      expect(w.annotations.at(-1)).to.equal(`recipe ${HoldAnnotation}=null`);
    });

    it('waits while another capture holds the lab, and while the lab restores', async () => {
      const w = await world('Offline', undefined, { controller: true });
      const l = w.labs.get(key('recipe'))!;
      w.labs.put({
        ...l,
        metadata: { ...l.metadata, annotations: { [HoldAnnotation]: 'MaasLabSnapshot/other' } },
      });
      w.hv.resetRecording();
      expect(await w.pass()).to.deep.equal({ requeueAfterMs: 1000 });
      expect(w.hv.mutations).to.deep.equal([]);
      expect(w.snap().status?.conditions?.find((c) => c.type === 'Reconciling')).to.include({
        reason: 'LabBusy',
        message: 'waiting: MaasLabSnapshot/other holds the lab',
      });
      w.labs.put({
        ...l,
        spec: { ...l.spec, restoreFrom: { snapshot: 'old', token: 't' } },
        status: { restore: { snapshot: 'old', token: 't', phase: 'Restoring' } },
      });
      await w.pass();
      expect(w.snap().status?.conditions?.find((c) => c.type === 'Reconciling')).to.include({
        reason: 'LabBusy',
        message: 'waiting: MaasLab/recipe/restore/t holds the lab',
      });
      expect(w.hv.mutations).to.deep.equal([]);
      for (const n of w.nodes.list())
        expect(n.metadata?.annotations?.[HoldAnnotation]).to.equal(undefined);
    });

    it('deletion releases a hold it left on the lab and frees the controller golden volume', async () => {
      const w = await world('Suspended', undefined, { controller: true });
      await w.pass();
      await w.pass();
      expect(w.hv.volumes().filter((v) => v.includes('.snap-'))).to.have.length(4);
      const l = w.labs.get(key('recipe'))!;
      w.labs.put({
        ...l,
        metadata: { ...l.metadata, annotations: { [HoldAnnotation]: 'MaasLabSnapshot/golden' } },
      });
      const s = w.snap();
      w.snapshots.put({ ...s, metadata: { ...s.metadata, deletionTimestamp: new Date() } });
      await w.pass();
      expect(w.hv.volumes().filter((v) => v.includes('.snap-'))).to.deep.equal([]);
      expect(w.labs.get(key('recipe'))!.metadata?.annotations?.[HoldAnnotation]).to.equal(
        undefined,
      );
      expect(w.hv.volumes()).to.include(`default/${controller}-disk.qcow2`);
    });
  });
});
