// The MaasLab restore phase on the fake hypervisor, a pass at a time: hold, power off, put the
// golden volumes back, release (next pass), Completed; a copy failing part-way keeps every
// member held and off; refusals touch nothing; status.restore and the condition it implies.
import { expect } from 'chai';
import {
  HeldReason,
  heldMessage,
  HoldAnnotation,
  type MaasLab,
  type MaasLabSnapshot,
  type MaasNode,
} from '../../../../src/api/v1alpha1/index.js';
import { desiredChildren } from '../../../../src/controllers/maas-lab/desired.js';
import type { Findings, LabPass } from '../../../../src/controllers/maas-lab/pass.js';
import { restore } from '../../../../src/controllers/maas-lab/restore.js';
import { restoreVerdictOf } from '../../../../src/controllers/maas-lab/status.js';
import { labMembers } from '../../../../src/controllers/maas-lab-snapshot/desired.js';
import {
  desiredDomain,
  desiredVolumes,
  NVRAM_DISK,
  nvramVolume,
} from '../../../../src/controllers/maas-node/desired.js';
import { withInjectedFaults } from '../../../../src/libvirt/hypervisor/index.js';
import { noopLogger } from '../../../../src/runtime/index.js';
import { createFakeHypervisor } from '../../../fakes/hypervisor.js';
import { recipeHypervisor, recipeLab } from '../fixtures.js';
import { key, signal, store } from '../reconciler-support.js';
import { captured, labNodes, withController } from '../maas-lab-snapshot/support.js';
import type { ControllerDeps } from '../../../../src/controllers/maas/controller-vm.js';
import { createImageDownloads } from '../../../../src/controllers/maas/image-download.js';
import { provisionController } from '../../../../src/controllers/maas-lab/normal.js';

const domains = ['maas.recipe-node1', 'maas.recipe-node2', 'maas.recipe-node3'];

async function world(
  opts: {
    failing?: RegExp;
    snapshotPhase?: 'Ready' | 'Failed';
    controller?: boolean;
    /** UEFI nodes; the snapshot has the NVRAM of those listed (the others had not started). */
    uefiCaptured?: readonly number[];
  } = {},
) {
  const lab0 = opts.controller ? withController(recipeLab()) : recipeLab();
  const firmware = opts.uefiCaptured ? { firmware: 'uefi' as const } : {};
  const nodes = store<MaasNode>(
    ...labNodes(lab0).map((n) => ({ ...n, spec: { ...n.spec, ...firmware } })),
  );
  const hv = createFakeHypervisor();
  const ctx = { hypervisor: recipeHypervisor.spec, kvm: false };
  const secrets = new Map<string, Record<string, string>>();
  const finalizers: string[] = [];
  /** The real controller phase's deps: a base volume on the host, the API key stored. */
  const controllerDeps: ControllerDeps = {
    hypervisorFor: () => hv,
    secrets: {
      read: async (ns, name) => secrets.get(`${ns}/${name}`),
      write: async (owner, name, data) =>
        void secrets.set(`${owner.metadata?.namespace ?? ''}/${name}`, { ...data }),
    },
    downloads: createImageDownloads(),
    finalizers: {
      ensureFinalizer: async (obj: unknown, f: string) => {
        finalizers.push(`+${f}`);
        return { changed: true, object: obj };
      },
      dropFinalizer: async (obj: unknown) => ({ changed: true, object: obj }),
    } as unknown as ControllerDeps['finalizers'],
  };
  if (opts.controller) {
    secrets.set('maas/recipe-maas-api-key', { 'api-key': 'a:b:c' });
    await hv.ensureVolumes([
      { pool: 'default', name: 'base.qcow2', format: 'qcow2', capacityBytes: 1 << 20 },
    ]);
  }
  // The lab's networks, Ready (the controller starts only then).
  const networks = new Map(
    desiredChildren(lab0).networks.map((n) => [
      n.metadata?.name ?? '',
      {
        ...n,
        status: {
          conditions: [
            {
              type: 'Ready',
              status: 'True' as const,
              reason: 'Ready',
              message: '',
              lastTransitionTime: '2026-01-01T00:00:00Z',
            },
          ],
        },
      },
    ]),
  );
  for (const n of nodes.list()) {
    await hv.ensureVolumes(desiredVolumes(n, ctx));
    const d = desiredDomain(n, ctx);
    await hv.defineDomain(d);
    await hv.start(d.name, d.owner);
    // Started: libvirt made its NVRAM from the template.
    const nvram = nvramVolume(n, ctx);
    if (nvram) await hv.ensureVolumes([{ ...nvram, capacityBytes: 540672 }]);
  }
  // The lab as it was: its controller built and running (by the real phase).
  const controllerPass = async (lab: MaasLab, restoreHoldsController?: string) => {
    const found: Findings = {};
    const p = {
      scope: { lab, hypervisor: recipeHypervisor, networks },
      signal,
      found,
      deps: { controller: controllerDeps },
      blocking: [],
      ...(restoreHoldsController !== undefined && { restoreHoldsController }),
    } as unknown as LabPass;
    await provisionController(p);
    return found;
  };
  if (opts.controller) {
    const f = await controllerPass(lab0);
    expect(f.controller?.condition).to.include({ status: 'True', reason: 'Running' });
  }
  const members = labMembers(lab0, nodes.list(), recipeHypervisor);
  const snap: MaasLabSnapshot = {
    metadata: { name: 'golden', namespace: 'maas', uid: 'abcdef0123' },
    spec: { lab: 'recipe' },
    status: {
      phase: opts.snapshotPhase ?? 'Ready',
      readyToUse: (opts.snapshotPhase ?? 'Ready') === 'Ready',
      sizeBytes: 4096,
      members: captured(members).map((m) => ({
        ...m,
        volumes: m.volumes.filter(
          (v) => v.disk !== NVRAM_DISK || (opts.uefiCaptured ?? []).includes(m.index),
        ),
      })),
    },
  };
  // The golden volumes the capture made.
  for (const m of snap.status!.members!) {
    for (const v of m.volumes) {
      await hv.ensureVolumes([
        { ...v, name: v.golden, format: 'qcow2', cloneFrom: { pool: v.pool, volume: v.source } },
      ]);
    }
  }
  let lab: MaasLab = {
    ...lab0,
    spec: { ...lab0.spec, restoreFrom: { snapshot: 'golden', token: 't1' } },
  };
  const events: string[] = [];
  const annotate = async (node: Readonly<MaasNode>, k: string, value: string | null) => {
    const cur = nodes.get(key(node.metadata?.name ?? ''))!;
    const { [k]: _dropped, ...rest } = cur.metadata?.annotations ?? {};
    nodes.put({
      ...cur,
      metadata: { ...cur.metadata, annotations: value === null ? rest : { ...rest, [k]: value } },
      status: {
        conditions:
          value === null
            ? []
            : [
                {
                  type: 'Reconciling',
                  status: 'True',
                  reason: HeldReason,
                  message: heldMessage(value),
                  lastTransitionTime: '2026-01-01T00:00:00Z',
                },
              ],
      },
    });
  };
  let failing = opts.failing;
  /** One pass of the phase; its findings become the lab's status, as the report would write. */
  const pass = async (): Promise<{ result: unknown; found: Findings }> => {
    const found: Findings = {};
    const p = {
      scope: {
        lab,
        hypervisor: recipeHypervisor,
        nodes: new Map(nodes.list().map((n) => [n.metadata?.name ?? '', n])),
        networks,
      },
      desired: desiredChildren(lab),
      signal,
      log: noopLogger,
      found,
      record: (_t: string, reason: string) => void events.push(reason),
      deps: {
        client: {} as LabPass['deps']['client'],
        controller: controllerDeps,
        restore: {
          hypervisorFor: () => withInjectedFaults(hv, () => failing),
          annotate,
          snapshots: store(snap),
          now: () => Date.UTC(2026, 0, 1),
        },
      },
      blocking: [],
      conflicts: [],
    } as unknown as LabPass;
    let result: unknown;
    try {
      result = await restore(p);
      // The controller phase comes later in the same pass (normalPhases).
      if (opts.controller) await provisionController(p);
    } catch (err) {
      result = err;
    }
    if (found.restore) lab = { ...lab, status: { ...lab.status, restore: found.restore } };
    return { result, found };
  };
  return {
    hv,
    nodes,
    pass,
    events,
    lab: () => lab,
    setLab: (l: MaasLab) => void (lab = l),
    finalizers,
    controllerPass,
    clearFault: () => (failing = undefined),
  };
}

describe('controllers/maas-lab/restore', () => {
  it('holds, powers off, puts every volume back, then releases in the next pass; Completed', async () => {
    const w = await world();
    let r = await w.pass();
    expect(r.found.restore).to.include({ phase: 'Holding', membersTotal: 3 });
    for (const n of w.nodes.list()) {
      expect(n.metadata?.annotations?.[HoldAnnotation]).to.equal('MaasLab/recipe/restore/t1');
    }
    w.hv.resetRecording();
    r = await w.pass();
    expect(w.hv.mutations).to.deep.equal([
      ...Array(3).fill('virDomainDestroyFlags'),
      ...Array(3).fill(['virStorageVolDelete', 'virStorageVolCreateXMLFrom']).flat(),
    ]);
    expect(r.found.restore).to.include({ phase: 'Starting', membersRestored: 3 });
    // Volumes done, holds still on: nothing runs until the status says so.
    for (const n of w.nodes.list())
      expect(n.metadata?.annotations?.[HoldAnnotation]).to.be.a('string');
    w.hv.resetRecording();
    r = await w.pass();
    expect(w.hv.mutations).to.deep.equal([]);
    expect(r.found.restore).to.include({
      phase: 'Completed',
      completionTime: '2026-01-01T00:00:00Z',
    });
    for (const n of w.nodes.list())
      expect(n.metadata?.annotations?.[HoldAnnotation]).to.equal(undefined);
    expect(w.events).to.include('Restored');
    // The same token again: nothing.
    r = await w.pass();
    expect(r.found.restore).to.equal(undefined);
    expect(r.found.snapshots).to.deep.equal({ count: 1, bytes: 4096 });
  });

  it('UEFI: puts each NVRAM back with its disk; one the snapshot has none of is deleted, for libvirt to make anew', async () => {
    const w = await world({ uefiCaptured: [1, 3] });
    await w.pass();
    w.hv.resetRecording();
    const r = await w.pass();
    const back = ['virStorageVolDelete', 'virStorageVolCreateXMLFrom'];
    expect(w.hv.mutations).to.deep.equal([
      ...Array(3).fill('virDomainDestroyFlags'),
      ...[back, back, back, ['virStorageVolDelete'], back, back].flat(),
    ]);
    expect(r.found.restore).to.include({ phase: 'Starting', membersRestored: 3 });
    const vars = (i: number) => `default/maas.recipe-node${i}-VARS.fd`;
    expect(w.hv.volumes()).to.include.members([vars(1), vars(3)]);
    expect(w.hv.volumes()).to.not.include(vars(2));
  });

  it('a copy failing at node2 keeps every member held and off, names it, and a retry completes', async () => {
    const w = await world({ failing: /recipe-node2-root\.qcow2$/ });
    await w.pass();
    const r = await w.pass();
    expect(r.result).to.be.instanceOf(Error);
    expect(r.found.restore).to.include({
      phase: 'Restoring',
      failedMember: 'maas.recipe-node2',
      membersRestored: 1,
    });
    expect(restoreVerdictOf(r.found)).to.include({ kind: 'progressing', reason: 'Restoring' });
    for (const d of domains) expect((await w.hv.observeDomainState(d))?.state).to.equal('shutoff');
    for (const n of w.nodes.list())
      expect(n.metadata?.annotations?.[HoldAnnotation]).to.be.a('string');
    w.clearFault();
    expect((await w.pass()).found.restore?.phase).to.equal('Starting');
    expect((await w.pass()).found.restore?.phase).to.equal('Completed');
    expect(w.hv.volumes()).to.include.members(domains.map((d) => `default/${d}-root.qcow2`));
  });

  it('refuses a failed snapshot without touching the lab (Stalled RestoreRefused)', async () => {
    const w = await world({ snapshotPhase: 'Failed' });
    w.hv.resetRecording();
    const r = await w.pass();
    expect(w.hv.mutations).to.deep.equal([]);
    expect(r.found.restore).to.include({ phase: 'Refused' });
    expect(restoreVerdictOf(r.found)).to.deep.equal({
      kind: 'stalled',
      reason: 'RestoreRefused',
      message: 'MaasLabSnapshot golden failed; it cannot be restored',
    });
    for (const n of w.nodes.list())
      expect(n.metadata?.annotations?.[HoldAnnotation]).to.equal(undefined);
  });

  it('a stalled lab stays stalled whatever the restore says', () => {
    const why = { reason: 'R', message: 'm' };
    expect(restoreVerdictOf({ stalled: why, restoring: why })).to.equal(undefined);
    expect(restoreVerdictOf({})).to.equal(undefined);
  });

  describe('a lab with its own MAAS controller VM', () => {
    const controller = 'maas.recipe-maas';
    const state = async (
      hv: { observeDomainState(d: string): Promise<{ state: string } | undefined> },
      d: string,
    ) => (await hv.observeDomainState(d))?.state;

    it('puts its overlay back first, keeps its own controller phase still, starts it first, then the nodes', async () => {
      const w = await world({ controller: true });
      // Pass 1: nodes held; the controller phase stands still (Held by the restore).
      let r = await w.pass();
      expect(r.found.restore).to.include({ phase: 'Holding', membersTotal: 4 });
      expect(r.found.controller?.condition).to.deep.include({
        status: 'False',
        reason: HeldReason,
        message: heldMessage('MaasLab/recipe/restore/t1'),
      });
      // Pass 2: everything off, the controller's overlay back first, still held.
      w.hv.resetRecording();
      r = await w.pass();
      expect(w.hv.mutations).to.deep.equal([
        ...Array(4).fill('virDomainDestroyFlags'),
        ...Array(4).fill(['virStorageVolDelete', 'virStorageVolCreateXMLFrom']).flat(),
      ]);
      expect(r.found.restore).to.include({ phase: 'Starting', membersRestored: 4 });
      expect(r.found.controller?.condition.reason).to.equal(HeldReason);
      expect(await state(w.hv, controller)).to.equal('shutoff');
      // Pass 3: the controller's wave: its phase starts it; the nodes stay held meanwhile.
      r = await w.pass();
      expect(r.found.restore).to.include({
        phase: 'Starting',
        message: 'waiting for the controller to run before the nodes start',
      });
      expect(r.found.controller?.condition).to.deep.include({ status: 'True', reason: 'Running' });
      expect(await state(w.hv, controller)).to.equal('running');
      for (const n of w.nodes.list())
        expect(n.metadata?.annotations?.[HoldAnnotation]).to.equal('MaasLab/recipe/restore/t1');
      // Pass 4: it runs: the nodes are released; Completed.
      r = await w.pass();
      expect(r.found.restore).to.include({ phase: 'Completed', membersRestored: 4 });
      for (const n of w.nodes.list())
        expect(n.metadata?.annotations?.[HoldAnnotation]).to.equal(undefined);
      expect(w.hv.volumes()).to.include(`default/${controller}-disk.qcow2`);
    });

    it('waits while a capture holds the lab, and its controller phase leaves the VM alone', async () => {
      const w = await world({ controller: true });
      const l = w.lab();
      w.setLab({
        ...l,
        metadata: { ...l.metadata, annotations: { [HoldAnnotation]: 'MaasLabSnapshot/s' } },
      });
      w.hv.external.destroy(controller);
      w.hv.resetRecording();
      w.finalizers.length = 0;
      const r = await w.pass();
      expect(r.found.restore).to.include({
        phase: 'Pending',
        message: 'waiting: MaasLabSnapshot/s holds the lab',
      });
      expect(r.found.controller?.condition).to.deep.include({
        status: 'False',
        reason: HeldReason,
        message: heldMessage('MaasLabSnapshot/s'),
      });
      expect(w.hv.mutations).to.deep.equal([]);
      expect(await state(w.hv, controller)).to.equal('shutoff');
      // Only the finalizer, which is no action on the VM (the lab here has none yet).
      expect(w.finalizers).to.deep.equal(['+maaslab.dev/maas-controller']);
      for (const n of w.nodes.list())
        expect(n.metadata?.annotations?.[HoldAnnotation]).to.equal(undefined);
    });
  });
});
