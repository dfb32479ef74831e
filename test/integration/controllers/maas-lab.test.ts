// The MaasLab controller on a real kube-apiserver (with the garbage collector): networks
// first and nodes with them (each node waits for its networks itself), aggregate status, scaling from the top, MAC
// collisions between labs and cascade deletion. Only this controller runs, so the test plays
// the VirtNetwork and MaasNode controllers by writing their /status.
import { expect } from 'chai';
import type { KubeConfig } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import {
  GroupVersion,
  MacCollisionReason,
  type MaasLab,
  type MaasNode,
  type VirtNetwork,
} from '../../../src/api/v1alpha1/index.js';
import { rbac, setup } from '../../../src/controllers/maas-lab/reconciler.js';
import { createLabMetrics } from '../../../src/controllers/metrics.js';
import {
  ContentType,
  type RestClient,
  createRestClient,
} from '../../../src/runtime/client/rest.js';
import { type Manager, createManager } from '../../../src/runtime/manager/manager.js';
import type { ObjectList } from '../../../src/runtime/client/rest.js';
import { controlPlane } from '../../support/controlplane.js';
import { type TestNamespace, createTestNamespace } from '../../support/namespace.js';
import { afterPass } from '../../support/passes.js';
import { waitFor } from '../../support/wait.js';
import { grantOperator } from './rbac.js';

const LAB = { apiVersion: GroupVersion, kind: 'MaasLab' } as const;
const NET = { apiVersion: GroupVersion, kind: 'VirtNetwork' } as const;
const NODE = { apiVersion: GroupVersion, kind: 'MaasNode' } as const;
const HV = { apiVersion: GroupVersion, kind: 'Hypervisor' } as const;

interface EventLike {
  readonly reason?: string;
  readonly note?: string;
  readonly regarding?: { readonly name?: string };
}

describe('controllers/maas-lab (real API server)', function () {
  let kc: KubeConfig;
  let rest: RestClient;
  let ns: TestNamespace;
  let hv: string;
  let manager: Manager | undefined;
  let revoke: (() => Promise<void>) | undefined;
  let registry: Registry;

  const labSpec = (count: number, macPrefix = '52:54:00:7f:04', networks = ['maas', 'up']) => ({
    hypervisor: hv,
    networks: networks.map((name, i) => ({
      name,
      mode: 'isolated',
      ipv4: { address: `10.${90 + i}.0.1`, prefixLength: 24 },
    })),
    nodes: {
      count,
      macPrefix,
      template: { interfaces: networks.map((network) => ({ network })) },
    },
  });

  const createLab = (name: string, spec: object): Promise<MaasLab> =>
    rest.request<MaasLab>({
      method: 'POST',
      ref: { ...LAB, namespace: ns.name },
      body: { ...LAB, metadata: { name }, spec },
    });
  /** Wakes a lab's controller with an annotation (a change it watches); resolves to the lab. */
  const poke = async (name: string): Promise<MaasLab> =>
    (await rest.request({
      method: 'PATCH',
      ref: { ...LAB, namespace: ns.name, name },
      body: { metadata: { annotations: { 'test.maaslab.dev/poke': String(Date.now()) } } },
      contentType: ContentType.MergePatch,
    })) as MaasLab;
  const getLab = (name: string) =>
    rest.request<MaasLab>({ method: 'GET', ref: { ...LAB, namespace: ns.name, name } });
  const list = async <T>(kind: typeof NET | typeof NODE): Promise<T[]> =>
    (await rest.request<ObjectList<T>>({ method: 'GET', ref: { ...kind, namespace: ns.name } }))
      .items;
  const names = (items: readonly { metadata?: { name?: string } }[]): string[] =>
    items.map((i) => i.metadata?.name ?? '').sort();
  const condition = (lab: MaasLab, type: string) =>
    lab.status?.conditions?.find((c) => c.type === type);

  /** Plays a child's controller: Ready=True at the child's current generation. */
  const markReady = async (kind: typeof NET | typeof NODE, obj: VirtNetwork | MaasNode) => {
    const generation = obj.metadata?.generation ?? 1;
    await rest.request({
      method: 'PATCH',
      ref: { ...kind, namespace: ns.name, name: obj.metadata?.name ?? '' },
      subresource: 'status',
      contentType: ContentType.MergePatch,
      body: {
        status: {
          observedGeneration: generation,
          conditions: [
            {
              type: 'Ready',
              status: 'True',
              reason: 'Reconciled',
              message: '',
              observedGeneration: generation,
              lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
            },
          ],
        },
      },
    });
  };

  /**
   * Plays the children's controllers at deletion: the lab creates them with the cleanup
   * finalizer, which only their controllers (not running here) remove once libvirt is clean.
   */
  let finalizerStandIn: ReturnType<typeof setInterval> | undefined;
  const releaseDeletedChildren = async (): Promise<void> => {
    for (const kind of [NET, NODE]) {
      for (const o of await list<VirtNetwork | MaasNode>(kind)) {
        if (!o.metadata?.deletionTimestamp || !o.metadata.finalizers?.length) continue;
        await rest
          .request({
            method: 'PATCH',
            ref: { ...kind, namespace: ns.name, name: o.metadata.name ?? '' },
            contentType: ContentType.MergePatch,
            body: { metadata: { finalizers: null } },
          })
          .catch(() => undefined);
      }
    }
  };

  const labEvents = async (lab: string): Promise<EventLike[]> =>
    (
      await rest.request<ObjectList<EventLike>>({
        method: 'GET',
        ref: { apiVersion: 'events.k8s.io/v1', kind: 'Event', namespace: ns.name },
      })
    ).items.filter((e) => e.regarding?.name === lab);

  const startManager = async (): Promise<Manager> => {
    // The controller runs as the operator user with only its own `rbac` rules: a missing
    // verb fails the test.
    registry = new Registry();
    const m = createManager({
      restConfig: controlPlane().restConfig('operator'),
      namespace: ns.name,
      metricsRegistry: registry,
      metricsBindAddress: '0',
      healthProbeBindAddress: '0',
    });
    setup(m, { metrics: createLabMetrics(registry) });
    await m.start(AbortSignal.timeout(60_000));
    manager = m;
    finalizerStandIn = setInterval(() => void releaseDeletedChildren().catch(() => undefined), 250);
    return m;
  };

  before(async () => {
    kc = controlPlane().kubeConfig('admin');
    rest = createRestClient(controlPlane().restConfig('admin'));
    revoke = await grantOperator(rest, `maaslab-it-lab-${Date.now()}`, rbac);
  });
  after(async () => {
    await revoke?.();
  });
  beforeEach(async () => {
    ns = await createTestNamespace(kc, 'maas-lab');
    hv = `hv-${ns.name}`;
    await rest.request({
      method: 'POST',
      ref: HV,
      body: { ...HV, metadata: { name: hv }, spec: { uri: 'test:///default' } },
    });
  });
  afterEach(async () => {
    clearInterval(finalizerStandIn);
    await releaseDeletedChildren().catch(() => undefined);
    await manager?.stop();
    manager = undefined;
    await rest.request({ method: 'DELETE', ref: { ...HV, name: hv } }).catch(() => undefined);
    await ns.delete();
  });

  it('builds networks and nodes at once; aggregates status; scales from the top; cascades', async () => {
    await startManager();
    const created = await createLab('lab', labSpec(3));
    const uid = created.metadata?.uid;

    // Networks first, with controller owner references.
    const nets = await waitFor(
      async () => {
        const items = await list<VirtNetwork>(NET);
        return items.length === 2 && items;
      },
      { description: 'two VirtNetworks' },
    );
    expect(names(nets)).to.deep.equal(['lab-maas', 'lab-up']);
    for (const n of nets) {
      expect(n.metadata?.ownerReferences).to.deep.equal([
        {
          apiVersion: GroupVersion,
          kind: 'MaasLab',
          name: 'lab',
          uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ]);
      expect(n.metadata?.labels).to.deep.include({ 'maaslab.dev/lab': 'lab' });
      // Created with the cleanup finalizer already in place.
      expect(n.metadata?.finalizers).to.deep.equal(['maaslab.dev/cleanup']);
      expect(n.metadata?.managedFields?.some((f) => f.manager === 'maaslab')).to.equal(true);
    }

    // The nodes come at once, named and numbered, MACs from the prefix: each makes its disks
    // and definition while the networks come up, and starts once they are Ready.
    const nodes = await waitFor(
      async () => {
        const items = await list<MaasNode>(NODE);
        return items.length === 3 && items;
      },
      { description: 'three MaasNodes' },
    );
    expect(names(nodes)).to.deep.equal(['lab-node1', 'lab-node2', 'lab-node3']);
    // While the networks are not Ready, the lab says so.
    const waiting = await waitFor(
      async () => {
        const lab = await getLab('lab');
        return condition(lab, 'Ready')?.reason === 'NetworksNotReady' && lab;
      },
      { description: 'lab Ready=False NetworksNotReady' },
    );
    expect(waiting.status?.networks).to.deep.equal({ ready: 0, total: 2 });
    expect(waiting.status?.nodes).to.deep.include({ ready: 0, total: 3, summary: '0/3' });
    expect(waiting.status?.observedGeneration).to.equal(waiting.metadata?.generation);
    expect(condition(waiting, 'Reconciling')?.status).to.equal('True');

    // One Ready network is not enough.
    await markReady(NET, nets[0]!);
    await waitFor(async () => (await getLab('lab')).status?.networks?.ready === 1, {
      description: 'networks 1/2',
    });
    expect(condition(await getLab('lab'), 'Ready')?.reason).to.equal('NetworksNotReady');

    // Both Ready: the lab waits for its nodes.
    await markReady(NET, nets[1]!);
    await waitFor(async () => condition(await getLab('lab'), 'Ready')?.reason === 'NodesNotReady', {
      description: 'lab Ready=False NodesNotReady',
    });
    const macs = Object.fromEntries(
      nodes.map((n) => [n.metadata?.name, n.spec.interfaces?.[0]?.mac]),
    );
    expect(macs).to.deep.equal({
      'lab-node1': '52:54:00:7f:04:01',
      'lab-node2': '52:54:00:7f:04:02',
      'lab-node3': '52:54:00:7f:04:03',
    });
    expect(nodes[0]?.spec.interfaces?.[1]?.network).to.equal('lab-up');
    expect(nodes.every((n) => n.metadata?.ownerReferences?.[0]?.uid === uid)).to.equal(true);

    // Every node Ready: the lab is Ready.
    for (const n of nodes) await markReady(NODE, n);
    const ready = await waitFor(
      async () => {
        const lab = await getLab('lab');
        return condition(lab, 'Ready')?.status === 'True' && lab;
      },
      { description: 'lab Ready=True' },
    );
    expect(ready.status?.nodes).to.deep.include({ ready: 3, total: 3, summary: '3/3' });
    expect(ready.status?.networks).to.deep.equal({ ready: 2, total: 2 });
    expect(ready.status?.printableStatus).to.equal('Ready');
    expect(condition(ready, 'Reconciling')).to.equal(undefined);
    expect(condition(ready, 'Stalled')).to.equal(undefined);
    const text = await registry.metrics();
    expect(text).to.contain(`maaslab_lab_nodes_ready{namespace="${ns.name}",lab="lab"} 3`);
    expect(text).to.contain(`maaslab_lab_nodes_total{namespace="${ns.name}",lab="lab"} 3`);

    // A quiet lab is not rewritten: a pass over it (woken by an annotation) writes nothing.
    let rv: string | undefined;
    await afterPass(registry, 'maaslab', async () => {
      rv = (await poke('lab')).metadata?.resourceVersion;
    });
    expect(rv).to.be.a('string');
    expect((await getLab('lab')).metadata?.resourceVersion).to.equal(rv);

    // Scale 3 → 5 → 2.
    const scale = (count: number) =>
      rest.request({
        method: 'PATCH',
        ref: { ...LAB, namespace: ns.name, name: 'lab' },
        contentType: ContentType.MergePatch,
        body: { spec: { nodes: { count } } },
      });
    await scale(5);
    await waitFor(async () => (await list(NODE)).length === 5, { description: 'five nodes' });
    const five = await waitFor(
      async () => {
        const lab = await getLab('lab');
        return lab.status?.nodes?.total === 5 && lab;
      },
      { description: 'lab total 5' },
    );
    expect(five.status?.nodes?.ready).to.equal(3);
    await scale(2);
    await waitFor(async () => (await list(NODE)).length === 2, { description: 'two nodes' });
    expect(names(await list(NODE))).to.deep.equal(['lab-node1', 'lab-node2']);
    const deleted = await waitFor(
      async () => (await labEvents('lab')).find((e) => e.reason === 'NodesDeleted'),
      { description: 'NodesDeleted event' },
    );
    expect(deleted.note).to.equal('deleted MaasNodes lab-node5, lab-node4, lab-node3');
    await waitFor(
      async () => {
        const lab = await getLab('lab');
        return lab.status?.nodes?.summary === '2/2' && condition(lab, 'Ready')?.status === 'True';
      },
      { description: 'lab Ready with 2/2' },
    );
    const events = (await labEvents('lab')).map((e) => e.reason);
    expect(events).to.include.members(['NetworksCreated', 'NodesCreated', 'NodesDeleted']);

    // Deleting the lab takes its children with it (garbage collection, owner references).
    await rest.request({ method: 'DELETE', ref: { ...LAB, namespace: ns.name, name: 'lab' } });
    await waitFor(async () => (await list(NODE)).length === 0 && (await list(NET)).length === 0, {
      timeoutMs: 60_000,
      description: 'children collected',
    });
  });

  it('stalls the younger of two labs whose MACs collide, until the older one goes', async () => {
    await startManager();
    await createLab('older', labSpec(2, '52:54:00:aa:00', ['net']));
    const olderNet = await waitFor(
      async () => (await list<VirtNetwork>(NET)).find((n) => n.metadata?.name === 'older-net'),
      { description: 'older-net' },
    );
    await markReady(NET, olderNet);
    await waitFor(async () => (await list(NODE)).length === 2, { description: 'older nodes' });

    // Same hypervisor, same macPrefix: every MAC collides.
    await createLab('younger', labSpec(3, '52:54:00:AA:00', ['net']));
    const stalled = await waitFor(
      async () => {
        const lab = await getLab('younger');
        return condition(lab, 'Stalled')?.status === 'True' && lab;
      },
      { description: 'younger Stalled' },
    );
    const why = condition(stalled, 'Stalled');
    expect(why?.reason).to.equal(MacCollisionReason);
    expect(why?.message).to.contain('52:54:00:aa:00:01');
    expect(why?.message).to.contain(`MaasLab ${ns.name}/older`);
    expect(why?.message).to.contain(`MaasLab ${ns.name}/younger`);
    expect(condition(stalled, 'Ready')?.status).to.equal('False');
    expect(condition(stalled, 'Reconciling')).to.equal(undefined);
    expect(stalled.status?.printableStatus).to.equal('Failed');
    // The older lab keeps its MACs and stays unstalled.
    expect(condition(await getLab('older'), 'Stalled')).to.equal(undefined);
    await waitFor(
      async () => (await labEvents('younger')).some((e) => e.reason === MacCollisionReason),
      { description: 'MacCollision event' },
    );

    // The younger lab's network comes, and Ready: only its node whose MAC (:03) is free is
    // built; nodes 1 and 2 may not take the older lab's MACs.
    const youngerNet = await waitFor(
      async () => (await list<VirtNetwork>(NET)).find((n) => n.metadata?.name === 'younger-net'),
      { description: 'younger-net' },
    );
    await markReady(NET, youngerNet);
    await waitFor(async () => (await list(NODE)).length === 3, { description: 'younger-node3' });
    // And no other: a further pass over the younger lab still makes none.
    await afterPass(registry, 'maaslab', () => poke('younger'));
    expect(names(await list(NODE))).to.deep.equal(['older-node1', 'older-node2', 'younger-node3']);

    // The older lab goes: the collision is gone, the younger lab is rechecked and builds.
    await rest.request({ method: 'DELETE', ref: { ...LAB, namespace: ns.name, name: 'older' } });
    await waitFor(
      async () => names(await list(NODE)).join() === 'younger-node1,younger-node2,younger-node3',
      { timeoutMs: 60_000, description: 'younger nodes after the older lab went' },
    );
    await waitFor(async () => condition(await getLab('younger'), 'Stalled') === undefined, {
      description: 'younger no longer Stalled',
    });
  });

  it('stalls on a stand-alone MaasNode holding a MAC, and leaves foreign objects alone', async () => {
    await startManager();
    // Made by hand before the lab: older, so it keeps the MAC; and a network of the name the
    // lab would use, not controlled by it.
    await rest.request({
      method: 'POST',
      ref: { ...NODE, namespace: ns.name },
      body: {
        ...NODE,
        metadata: { name: 'by-hand' },
        spec: { hypervisor: hv, interfaces: [{ network: 'x', mac: '52:54:00:bb:00:02' }] },
      },
    });
    await rest.request({
      method: 'POST',
      ref: { ...NET, namespace: ns.name },
      body: { ...NET, metadata: { name: 'lab-up' }, spec: { hypervisor: hv, mode: 'isolated' } },
    });
    // Creation times have whole seconds, and the older claim keeps the MAC.
    await new Promise((r) => setTimeout(r, 1100));
    await createLab('lab', labSpec(2, '52:54:00:bb:00'));
    const stalled = await waitFor(
      async () => {
        const lab = await getLab('lab');
        return condition(lab, 'Stalled')?.status === 'True' && lab;
      },
      { description: 'lab Stalled' },
    );
    expect(condition(stalled, 'Stalled')?.reason).to.equal(MacCollisionReason);
    expect(condition(stalled, 'Stalled')?.message).to.contain(`MaasNode ${ns.name}/by-hand`);
    const foreign = (await list<VirtNetwork>(NET)).find((n) => n.metadata?.name === 'lab-up');
    expect(foreign?.metadata?.ownerReferences).to.equal(undefined);
    expect(foreign?.metadata?.managedFields?.some((f) => f.manager === 'maaslab')).to.equal(false);
  });

  it('stalls with HypervisorNotFound until the Hypervisor exists', async () => {
    await startManager();
    await createLab('lab', { ...labSpec(1), hypervisor: `${hv}-later` });
    const stalled = await waitFor(
      async () => {
        const lab = await getLab('lab');
        return condition(lab, 'Stalled')?.reason === 'HypervisorNotFound' && lab;
      },
      { description: 'HypervisorNotFound' },
    );
    expect(stalled.status?.printableStatus).to.equal('Failed');
    expect(await list(NET)).to.have.length(0);
    await rest.request({
      method: 'POST',
      ref: HV,
      body: { ...HV, metadata: { name: `${hv}-later` }, spec: { uri: 'test:///default' } },
    });
    try {
      await waitFor(async () => (await list(NET)).length === 2, {
        description: 'networks once the Hypervisor exists',
      });
    } finally {
      await rest
        .request({ method: 'DELETE', ref: { ...HV, name: `${hv}-later` } })
        .catch(() => undefined);
    }
  });
});
