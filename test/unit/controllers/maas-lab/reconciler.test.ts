// The MaasLab reconciler against in-memory caches and a recording client: what it writes,
// in which order, and what it leaves alone. The real API server version is in
// test/integration/controllers/maas-lab.test.ts.
import { expect } from 'chai';
import type {
  Hypervisor,
  MaasLab,
  MaasNode,
  VirtNetwork,
} from '../../../../src/api/v1alpha1/index.js';
import {
  childAction,
  covers,
  createMaasLabReconciler,
} from '../../../../src/controllers/maas-lab/reconciler.js';
import { desiredChildren } from '../../../../src/controllers/maas-lab/desired.js';
import type { LabCaches } from '../../../../src/controllers/maas-lab/scope.js';
import type { EventInput } from '../../../../src/runtime/events/event-record.js';
import type { CacheReader } from '../../../../src/runtime/manager/manager.js';
import { requestKey, type Request } from '../../../../src/runtime/controller/reconcile.js';
import type { ResourceRef } from '../../../../src/runtime/client/rest.js';
import { createFakeClock } from '../../../fakes/clock.js';

const GV = 'maaslab.dev/v1alpha1';
const NS = 'maas';

type Obj = { metadata?: { name?: string; namespace?: string } };

/** A CacheReader over a mutable array. */
function cacheOf<T extends Obj>(items: T[]): CacheReader<T> {
  const key = (o: T) =>
    requestKey({ namespace: o.metadata?.namespace, name: o.metadata?.name ?? '' });
  return {
    get: (k: string | Request) => {
      const want = typeof k === 'string' ? k : requestKey(k);
      return items.find((o) => key(o) === want);
    },
    list: (namespace?: string) =>
      items.filter((o) => namespace === undefined || o.metadata?.namespace === namespace),
    hasSynced: () => true,
  };
}

interface World {
  labs: MaasLab[];
  networks: VirtNetwork[];
  nodes: MaasNode[];
  hypervisors: Hypervisor[];
  applied: string[];
  deleted: string[];
  statuses: unknown[];
  events: EventInput[];
  failApply?: Error;
  /** The child whose apply fails (the others go through). */
  failApplyOf?: string;
}

function world(): World {
  return {
    labs: [],
    networks: [],
    nodes: [],
    hypervisors: [
      {
        apiVersion: GV,
        kind: 'Hypervisor',
        metadata: { name: 'hv' },
        spec: { uri: 'test:///default' },
      },
    ],
    applied: [],
    deleted: [],
    statuses: [],
    events: [],
  };
}

/** A reconciler whose client writes into `w` the way the API server would. */
function reconcilerFor(
  w: World,
  serves?: (hv: string) => boolean,
  clock: ReturnType<typeof createFakeClock> = createFakeClock(),
) {
  const caches: LabCaches = {
    labs: cacheOf(w.labs),
    networks: cacheOf(w.networks),
    nodes: cacheOf(w.nodes),
    hypervisors: cacheOf(w.hypervisors),
  };
  return createMaasLabReconciler({
    caches,
    clock,
    events: { record: (e) => void w.events.push(e) },
    ...(serves && { serves }),
    client: {
      async apply<T>(obj: T, opts?: { fieldManager?: string }): Promise<T> {
        if (w.failApply) throw w.failApply;
        const o = obj as unknown as VirtNetwork | MaasNode;
        if (o.metadata?.name === w.failApplyOf) throw new Error(`apply ${w.failApplyOf} failed`);
        expect(opts?.fieldManager).to.equal('maaslab');
        w.applied.push(`${o.kind}/${o.metadata?.name}`);
        const stored = { ...structuredClone(o), metadata: { ...o.metadata, generation: 1 } };
        const list = (o.kind === 'VirtNetwork' ? w.networks : w.nodes) as (typeof stored)[];
        const i = list.findIndex((x) => x.metadata?.name === o.metadata?.name);
        if (i >= 0) list[i] = stored;
        else list.push(stored);
        return stored as T;
      },
      async delete(ref: ResourceRef) {
        w.deleted.push(`${ref.kind}/${ref.name}`);
        const list = (ref.kind === 'VirtNetwork' ? w.networks : w.nodes) as Obj[];
        const i = list.findIndex((x) => x.metadata?.name === ref.name);
        if (i < 0) return false;
        list.splice(i, 1);
        return true;
      },
      async patchStatus<T>(obj: T, status: unknown) {
        const lab = obj as unknown as MaasLab;
        if (JSON.stringify(lab.status) === JSON.stringify(status))
          return { changed: false, object: obj };
        w.statuses.push(status);
        const i = w.labs.findIndex((l) => l.metadata?.name === lab.metadata?.name);
        w.labs[i] = { ...lab, status: status as MaasLab['status'] };
        return { changed: true, object: w.labs[i] as T };
      },
    },
  });
}

function lab(
  name: string,
  count: number,
  macPrefix = '52:54:00:7f:04',
  created = '2026-01-01T00:00:00Z',
): MaasLab {
  return {
    apiVersion: GV,
    kind: 'MaasLab',
    metadata: {
      name,
      namespace: NS,
      uid: `${name}-uid`,
      generation: 1,
      creationTimestamp: new Date(created),
    },
    spec: {
      hypervisor: 'hv',
      networks: [
        { name: 'maas', mode: 'isolated', ipv4: { address: '10.0.0.1', prefixLength: 24 } },
      ],
      nodes: { count, macPrefix, template: { interfaces: [{ network: 'maas' }] } },
    },
  };
}

/** Ready=True at the object's generation, as its own controller would report. */
function markReady(o: VirtNetwork | MaasNode): void {
  const generation = o.metadata?.generation ?? 1;
  (o as { status?: unknown }).status = {
    observedGeneration: generation,
    conditions: [
      {
        type: 'Ready',
        status: 'True',
        reason: 'Reconciled',
        message: '',
        observedGeneration: generation,
        lastTransitionTime: '2026-01-01T00:00:00Z',
      },
    ],
  };
}

const pass = (r: ReturnType<typeof reconcilerFor>, name = 'lab') =>
  r.reconcile({ namespace: NS, name }, new AbortController().signal);
const condition = (l: MaasLab | undefined, type: string) =>
  l?.status?.conditions?.find((c) => c.type === type);

describe('controllers/maas-lab/reconciler', () => {
  it('covers: desired fields present and equal in the observed object, arrays by position', () => {
    expect(covers({ a: 1, b: { c: [1, 2] }, x: 9 }, { a: 1, b: { c: [1, 2] } })).to.equal(true);
    expect(covers({ a: 1, b: { c: [1] } }, { b: { c: [1, 2] } })).to.equal(false);
    expect(covers({ a: '1Gi' }, { a: '2Gi' })).to.equal(false);
    expect(covers(undefined, { a: 1 })).to.equal(false);
    expect(covers({ a: 1 }, { a: undefined })).to.equal(true);
  });

  it('childAction: create when missing, none when settled, update on a spec change', () => {
    const { networks } = desiredChildren(lab('lab', 1));
    const net = networks[0]!;
    expect(childAction(net, undefined)).to.equal('create');
    const stored = { ...structuredClone(net), status: { active: true } } as VirtNetwork;
    expect(childAction(net, stored)).to.equal('none');
    expect(childAction(net, { ...stored, spec: { ...stored.spec, mtu: 9000 } })).to.equal('none');
    expect(childAction(net, { ...stored, spec: { ...stored.spec, mode: 'nat' } })).to.equal(
      'update',
    );
  });

  it('applies networks first and the nodes in the same pass; NetworksNotReady until they are', async () => {
    const w = world();
    w.labs.push(lab('lab', 3));
    const r = reconcilerFor(w);
    expect(await pass(r)).to.deep.equal({});
    // Nodes do not wait for the networks here: each makes its disks and definition meanwhile
    // and starts once its networks are Ready (its own gate).
    expect(w.applied).to.deep.equal([
      'VirtNetwork/lab-maas',
      'MaasNode/lab-node1',
      'MaasNode/lab-node2',
      'MaasNode/lab-node3',
    ]);
    expect(condition(w.labs[0], 'Ready')?.reason).to.equal('NetworksNotReady');
    expect(w.labs[0]?.status?.printableStatus).to.equal('Provisioning');
    expect(w.events.map((e) => e.reason)).to.deep.equal(['NetworksCreated', 'NodesCreated']);
    expect(w.nodes.map((n) => n.spec.interfaces?.[0]?.mac)).to.deep.equal([
      '52:54:00:7f:04:01',
      '52:54:00:7f:04:02',
      '52:54:00:7f:04:03',
    ]);
    expect(w.events.at(-1)?.note).to.equal('created MaasNodes lab-node1, lab-node2, lab-node3');

    // Settled children are not applied again.
    await pass(r);
    expect(w.applied).to.have.length(4);

    markReady(w.networks[0]!);
    await pass(r);
    expect(w.applied).to.have.length(4);
    expect(condition(w.labs[0], 'Ready')?.reason).to.equal('NodesNotReady');
  });

  it('applies nodes ten at a time; one failing apply keeps what the others made', async () => {
    const w = world();
    w.labs.push(lab('lab', 12));
    w.failApplyOf = 'lab-node3';
    const r = reconcilerFor(w);
    let error: unknown;
    await pass(r).catch((e: unknown) => (error = e));
    expect(String(error)).to.contain('apply lab-node3 failed');
    // The first ten went out together: nine made it; the last two wait for the retry.
    expect(w.nodes.map((n) => n.metadata?.name)).to.deep.equal(
      [1, 2, 4, 5, 6, 7, 8, 9, 10].map((i) => `lab-node${i}`),
    );
    expect(w.events.at(-1)?.note).to.equal(
      'created MaasNodes lab-node1, lab-node2, lab-node4, lab-node5, lab-node6 and 4 more',
    );
    w.failApplyOf = undefined;
    await pass(r);
    expect(w.nodes).to.have.length(12);
    expect(w.events.at(-1)?.note).to.equal('created MaasNodes lab-node3, lab-node11, lab-node12');
  });

  it("writes a building lab's Ready count at most once a second, and Ready at once", async () => {
    const w = world();
    w.labs.push(lab('lab', 3));
    const clock = createFakeClock();
    const r = reconcilerFor(w, undefined, clock);
    await pass(r);
    markReady(w.networks[0]!);
    await pass(r);
    const writes = w.statuses.length;
    // One more node Ready: only the count (and the message repeating it) changed.
    markReady(w.nodes[0]!);
    expect(await pass(r)).to.deep.equal({ requeueAfterMs: 1000 });
    expect(w.statuses).to.have.length(writes);
    expect(w.labs[0]?.status?.nodes?.ready).to.equal(0);
    // The pass it asked for, a second later, writes it.
    clock.advance(1000);
    expect(await pass(r)).to.deep.equal({});
    expect(w.statuses).to.have.length(writes + 1);
    expect(w.labs[0]?.status?.nodes?.summary).to.equal('1/3');
    // Becoming Ready is no mere progress: written at once.
    markReady(w.nodes[1]!);
    markReady(w.nodes[2]!);
    expect(await pass(r)).to.deep.equal({});
    expect(condition(w.labs[0], 'Ready')?.status).to.equal('True');
    expect(w.labs[0]?.status?.nodes?.summary).to.equal('3/3');
  });

  it('reports Ready when every child is, then makes no writes at all', async () => {
    const w = world();
    w.labs.push(lab('lab', 2));
    const r = reconcilerFor(w);
    await pass(r);
    markReady(w.networks[0]!);
    await pass(r);
    for (const n of w.nodes) markReady(n);
    await pass(r);
    const l = w.labs[0];
    expect(condition(l, 'Ready')?.status).to.equal('True');
    expect(l?.status?.nodes).to.deep.equal({ ready: 2, total: 2, summary: '2/2' });
    expect(l?.status?.observedGeneration).to.equal(1);
    const writes = w.applied.length + w.statuses.length + w.deleted.length;
    await pass(r);
    await pass(r);
    expect(w.applied.length + w.statuses.length + w.deleted.length).to.equal(writes);
  });

  it('scales down from the top and never deletes what it does not control', async () => {
    const w = world();
    w.labs.push(lab('lab', 5));
    const r = reconcilerFor(w);
    await pass(r);
    markReady(w.networks[0]!);
    await pass(r);
    expect(w.nodes).to.have.length(5);
    // Someone else's node with a name in the lab's pattern and the lab's label.
    w.nodes.push({
      apiVersion: GV,
      kind: 'MaasNode',
      metadata: { name: 'lab-node9', namespace: NS, labels: { 'maaslab.dev/lab': 'lab' } },
      spec: { hypervisor: 'other' },
    });
    w.labs[0] = {
      ...w.labs[0]!,
      spec: { ...w.labs[0]!.spec, nodes: { ...w.labs[0]!.spec.nodes, count: 2 } },
      metadata: { ...w.labs[0]!.metadata, generation: 2 },
    };
    await pass(r);
    expect(w.deleted).to.deep.equal([
      'MaasNode/lab-node5',
      'MaasNode/lab-node4',
      'MaasNode/lab-node3',
    ]);
    expect(w.nodes.map((n) => n.metadata?.name)).to.deep.equal([
      'lab-node1',
      'lab-node2',
      'lab-node9',
    ]);
    expect(w.labs[0]?.status?.nodes?.total).to.equal(2);
    expect(w.labs[0]?.status?.observedGeneration).to.equal(2);
    // A node still terminating (held by its finalizer) is not deleted twice.
    w.nodes.push({
      ...structuredClone(w.nodes[0]!),
      metadata: { ...w.nodes[0]!.metadata, name: 'lab-node3', deletionTimestamp: new Date() },
    });
    await pass(r);
    expect(w.deleted).to.have.length(3);
  });

  it('removes a network the spec dropped, after the nodes', async () => {
    const w = world();
    const l = lab('lab', 1);
    l.spec.networks!.push({ name: 'extra', mode: 'isolated' });
    w.labs.push(l);
    const r = reconcilerFor(w);
    await pass(r);
    expect(w.networks.map((n) => n.metadata?.name)).to.deep.equal(['lab-maas', 'lab-extra']);
    w.labs[0] = { ...l, spec: { ...l.spec, networks: [l.spec.networks![0]!] } };
    await pass(r);
    expect(w.deleted).to.deep.equal(['VirtNetwork/lab-extra']);
  });

  it('stalls the younger lab on MAC collisions and applies only its free MACs', async () => {
    const w = world();
    w.labs.push(lab('older', 2, '52:54:00:aa:00', '2026-01-01T00:00:00Z'));
    w.labs.push(lab('lab', 3, '52:54:00:AA:00', '2026-01-02T00:00:00Z'));
    const r = reconcilerFor(w);
    await pass(r);
    markReady(w.networks[0]!);
    await pass(r);
    const stalled = condition(w.labs[1], 'Stalled');
    expect(stalled?.status).to.equal('True');
    expect(stalled?.reason).to.equal('MacCollision');
    expect(stalled?.message).to.contain('52:54:00:aa:00:01').and.contain(`MaasLab ${NS}/older`);
    expect(condition(w.labs[1], 'Reconciling')).to.equal(undefined);
    expect(w.labs[1]?.status?.printableStatus).to.equal('Failed');
    expect(w.nodes.map((n) => n.metadata?.name)).to.deep.equal(['lab-node3']);
    const warnings = () => w.events.filter((e) => e.reason === 'MacCollision');
    expect(warnings().map((e) => e.type)).to.deep.equal(['Warning']);
    await pass(r);
    expect(warnings()).to.have.length(1); // once per collision, not per pass
    // The older lab is not the one to yield.
    await pass(r, 'older');
    expect(condition(w.labs[0], 'Stalled')).to.equal(undefined);
  });

  it('stalls on a stand-alone MaasNode that holds a MAC first, but not on lab-owned nodes', async () => {
    const w = world();
    w.nodes.push({
      apiVersion: GV,
      kind: 'MaasNode',
      metadata: {
        name: 'by-hand',
        namespace: 'elsewhere',
        creationTimestamp: new Date('2025-01-01T00:00:00Z'),
      },
      spec: { hypervisor: 'hv', interfaces: [{ network: 'x', mac: '52:54:00:7f:04:02' }] },
    });
    // A node some (deleted) lab controls is garbage, not a claim.
    w.nodes.push({
      apiVersion: GV,
      kind: 'MaasNode',
      metadata: {
        name: 'orphan',
        namespace: 'elsewhere',
        creationTimestamp: new Date('2025-01-01T00:00:00Z'),
        ownerReferences: [
          { apiVersion: GV, kind: 'MaasLab', name: 'gone', uid: 'gone-uid', controller: true },
        ],
      },
      spec: { hypervisor: 'hv', interfaces: [{ network: 'x', mac: '52:54:00:7f:04:01' }] },
    });
    w.labs.push(lab('lab', 2));
    const r = reconcilerFor(w);
    await pass(r);
    const message = condition(w.labs[0], 'Stalled')?.message;
    expect(message).to.contain('MaasNode elsewhere/by-hand').and.contain('52:54:00:7f:04:02');
    expect(message).to.not.contain('orphan');
  });

  it('never applies to objects of its children names it does not control (NameConflict)', async () => {
    const w = world();
    w.networks.push({
      apiVersion: GV,
      kind: 'VirtNetwork',
      metadata: { name: 'lab-maas', namespace: NS },
      spec: { hypervisor: 'hv' },
    });
    w.labs.push(lab('lab', 1));
    const r = reconcilerFor(w);
    await pass(r);
    expect(w.applied).to.deep.equal([]);
    expect(condition(w.labs[0], 'Stalled')?.reason).to.equal('NameConflict');
    expect(condition(w.labs[0], 'Stalled')?.message).to.contain('VirtNetwork lab-maas');
  });

  it('stalls with HypervisorNotFound and builds nothing', async () => {
    const w = world();
    w.hypervisors.length = 0;
    w.labs.push(lab('lab', 1));
    await pass(reconcilerFor(w));
    expect(w.applied).to.deep.equal([]);
    expect(condition(w.labs[0], 'Stalled')?.reason).to.equal('HypervisorNotFound');
  });

  it('reports Unknown while the hypervisor is unreachable', async () => {
    const w = world();
    w.hypervisors[0]!.status = {
      conditions: [
        {
          type: 'Ready',
          status: 'False',
          reason: 'HypervisorUnreachable',
          message: '',
          lastTransitionTime: '2026-01-01T00:00:00Z',
        },
      ],
    };
    w.labs.push(lab('lab', 1));
    await pass(reconcilerFor(w));
    expect(condition(w.labs[0], 'Ready')?.status).to.equal('Unknown');
    expect(w.labs[0]?.status?.printableStatus).to.equal('Unknown');
  });

  it('on a failed write reports the error without advancing observedGeneration, then throws', async () => {
    const w = world();
    w.labs.push(lab('lab', 1));
    w.failApply = new Error('boom');
    let thrown: unknown;
    await pass(reconcilerFor(w)).catch((e: unknown) => (thrown = e));
    expect((thrown as Error).message).to.equal('boom');
    expect(condition(w.labs[0], 'Reconciling')?.message).to.equal('retrying: boom');
    expect(w.labs[0]?.status?.observedGeneration).to.equal(undefined);
  });

  it('leaves labs of shards served elsewhere, and gone labs, alone', async () => {
    const w = world();
    w.labs.push(lab('lab', 1));
    expect(await pass(reconcilerFor(w, () => false))).to.deep.equal({});
    expect(await pass(reconcilerFor(w), 'missing')).to.deep.equal({});
    expect(w.applied.length + w.statuses.length).to.equal(0);
  });
});
