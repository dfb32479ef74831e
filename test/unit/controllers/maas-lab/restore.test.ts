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
import { desiredDomain, desiredVolumes } from '../../../../src/controllers/maas-node/desired.js';
import { withInjectedFaults } from '../../../../src/libvirt/hypervisor/index.js';
import { noopLogger } from '../../../../src/runtime/index.js';
import { createFakeHypervisor } from '../../../fakes/hypervisor.js';
import { recipeHypervisor, recipeLab } from '../fixtures.js';
import { key, signal, store } from '../reconciler-support.js';
import { captured, labNodes } from '../maas-lab-snapshot/support.js';

const domains = ['maas.recipe-node1', 'maas.recipe-node2', 'maas.recipe-node3'];

async function world(opts: { failing?: RegExp; snapshotPhase?: 'Ready' | 'Failed' } = {}) {
  const lab0 = recipeLab();
  const nodes = store<MaasNode>(...labNodes(lab0));
  const hv = createFakeHypervisor();
  const ctx = { hypervisor: recipeHypervisor.spec, kvm: false };
  for (const n of nodes.list()) {
    await hv.ensureVolumes(desiredVolumes(n, ctx));
    const d = desiredDomain(n, ctx);
    await hv.defineDomain(d);
    await hv.start(d.name, d.owner);
  }
  const members = labMembers(lab0, nodes.list(), recipeHypervisor);
  const snap: MaasLabSnapshot = {
    metadata: { name: 'golden', namespace: 'maas', uid: 'abcdef0123' },
    spec: { lab: 'recipe' },
    status: {
      phase: opts.snapshotPhase ?? 'Ready',
      readyToUse: (opts.snapshotPhase ?? 'Ready') === 'Ready',
      sizeBytes: 4096,
      members: captured(members),
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
      },
      desired: desiredChildren(lab),
      signal,
      log: noopLogger,
      found,
      record: (_t: string, reason: string) => void events.push(reason),
      deps: {
        client: {} as LabPass['deps']['client'],
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
    } catch (err) {
      result = err;
    }
    if (found.restore) lab = { ...lab, status: { ...lab.status, restore: found.restore } };
    return { result, found };
  };
  return { hv, nodes, pass, events, lab: () => lab, clearFault: () => (failing = undefined) };
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
});
