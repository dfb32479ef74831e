// The VirtNetwork reconciler's decision paths against the in-memory FakeHypervisor. The real
// kube-apiserver and libvirtd paths are in test/integration/controllers/virt-network.test.ts.
import { expect } from 'chai';
import type {
  Hypervisor as HypervisorResource,
  MaasNode,
  VirtNetwork,
} from '../../../../src/api/v1alpha1/index.js';
import { createVirtNetworkReconciler } from '../../../../src/controllers/virt-network/reconciler.js';
import { OwnEvents } from '../../../../src/controllers/common/own-events.js';
import { NetworkEventLifecycleType } from '../../../../src/libvirt/constants.js';
import { createFakeClock } from '../../../fakes/clock.js';
import { createFakeHypervisor, type FakeHypervisor } from '../../../fakes/hypervisor.js';
import { node, vnet } from '../fixtures.js';
import {
  cond,
  fakeClient,
  hypervisorResource,
  key,
  signal,
  store,
  withFinalizer,
} from '../reconciler-support.js';

describe('controllers/virt-network reconciler (FakeHypervisor)', () => {
  let hv: FakeHypervisor;
  let networks: ReturnType<typeof store<VirtNetwork>>;
  let nodes: ReturnType<typeof store<MaasNode>>;
  let hypervisors: ReturnType<typeof store<HypervisorResource>>;
  let events: { type: string; reason: string; note?: string }[];
  const reconciler = () =>
    createVirtNetworkReconciler({
      caches: { networks, nodes, hypervisors },
      hypervisorFor: () => hv,
      client: fakeClient(networks),
      events: { record: (e) => void events.push(e) },
      clock: createFakeClock(),
      bridgeRecheckMs: 5_000,
    });

  beforeEach(() => {
    events = [];
    hv = createFakeHypervisor();
    hypervisors = store(hypervisorResource);
    nodes = store<MaasNode>();
    networks = store(
      withFinalizer(
        vnet('maas', { mode: 'isolated', ipv4: { address: '10.77.0.1', prefixLength: 24 } }),
      ),
    );
  });

  it('waits for a Hypervisor that is not Ready (HypervisorNotReady), touching nothing', async () => {
    hypervisors = store({ ...hypervisorResource, status: {} });
    await reconciler().reconcile(key('maas'), signal);
    const v = networks.get(key('maas'));
    expect(cond(v, 'Ready')).to.include({ status: 'False', reason: 'HypervisorNotReady' });
    expect(hv.calls).to.deep.equal([]);
  });

  it('adds its finalizer and builds the network in the same pass', async () => {
    networks = store(
      vnet('maas', { mode: 'isolated', ipv4: { address: '10.77.0.1', prefixLength: 24 } }),
    );
    await reconciler().reconcile(key('maas'), signal);
    const v = networks.get(key('maas'));
    expect(v?.metadata?.finalizers).to.deep.equal(['maaslab.dev/cleanup']);
    expect(hv.mutations).to.include('virNetworkCreate');
    expect(cond(v, 'Ready')?.status).to.equal('True');
  });

  it('builds the network and reports libvirtName, uuid, bridge, active and Ready', async () => {
    await reconciler().reconcile(key('maas'), signal);
    const v = networks.get(key('maas'));
    expect(v?.status).to.include({ libvirtName: 'maas.maas', active: true });
    expect(v?.status?.bridge).to.be.a('string');
    expect(cond(v, 'Ready')?.status).to.equal('True');
    hv.resetRecording();
    await reconciler().reconcile(key('maas'), signal);
    expect(hv.mutations).to.deep.equal([]);
  });

  it('announces the Defined and Started of a network it creates, so they wake no pass of its own', async () => {
    const own = new OwnEvents<NetworkEventLifecycleType>({ now: () => 0 });
    const r = createVirtNetworkReconciler({
      caches: { networks, nodes, hypervisors },
      hypervisorFor: () => hv,
      client: fakeClient(networks),
      events: { record: (e) => void events.push(e) },
      clock: createFakeClock(),
      ownEvents: own,
    });
    await r.reconcile(key('maas'), signal);
    expect(hv.mutations).to.include('virNetworkCreate');
    expect(own.consume('local', 'maas.maas', NetworkEventLifecycleType.Defined)).to.equal(true);
    expect(own.consume('local', 'maas.maas', NetworkEventLifecycleType.Started)).to.equal(true);
    // One each: a second Started (someone restarting it) is news.
    expect(own.consume('local', 'maas.maas', NetworkEventLifecycleType.Started)).to.equal(false);
    // A pass that finds the network as it should be announces nothing.
    await r.reconcile(key('maas'), signal);
    expect(own.size).to.equal(0);
  });

  it('follows spec.autostart: off at creation, flipped on and off, no call when equal', async () => {
    const cur = networks.get(key('maas')) as VirtNetwork;
    const withAutostart = (autostart: boolean | undefined): void => {
      const v = networks.get(key('maas')) as VirtNetwork;
      const { autostart: _, ...spec } = v.spec;
      networks.put({ ...v, spec: autostart === undefined ? spec : { ...spec, autostart } });
    };
    networks.put({ ...cur, spec: { ...cur.spec, autostart: false } });
    await reconciler().reconcile(key('maas'), signal);
    expect((await hv.observeNetwork('maas.maas'))?.autostart).to.equal(false);
    expect(hv.mutations).to.not.include('virNetworkSetAutostart');
    expect(cond(networks.get(key('maas')), 'Ready')?.status).to.equal('True');
    hv.resetRecording();
    await reconciler().reconcile(key('maas'), signal);
    expect(hv.mutations).to.deep.equal([]);

    // Unset means the CRD default, true.
    withAutostart(undefined);
    await reconciler().reconcile(key('maas'), signal);
    expect(hv.mutations).to.deep.equal(['virNetworkSetAutostart']);
    expect((await hv.observeNetwork('maas.maas'))?.autostart).to.equal(true);
    hv.resetRecording();
    await reconciler().reconcile(key('maas'), signal);
    expect(hv.mutations).to.deep.equal([]);

    withAutostart(false);
    await reconciler().reconcile(key('maas'), signal);
    expect(hv.mutations).to.deep.equal(['virNetworkSetAutostart']);
    expect((await hv.observeNetwork('maas.maas'))?.autostart).to.equal(false);
    expect(cond(networks.get(key('maas')), 'Ready')?.status).to.equal('True');
  });

  it('refuses deletion while a MaasNode uses it, then deletes it and drops the finalizer', async () => {
    await reconciler().reconcile(key('maas'), signal);
    const cur = networks.get(key('maas')) as VirtNetwork;
    networks.put({
      ...cur,
      metadata: { ...cur.metadata, deletionTimestamp: new Date('2026-01-01T00:00:00Z') },
    });
    nodes.put(node('n1', { interfaces: [{ network: 'maas' }] }));
    hv.resetRecording();
    const refused = await reconciler().reconcile(key('maas'), signal);
    expect(refused.requeueAfterMs).to.be.greaterThan(0);
    expect(hv.mutations).to.deep.equal([]);
    expect(cond(networks.get(key('maas')), 'Ready')?.message).to.contain('n1');

    nodes = store<MaasNode>();
    await reconciler().reconcile(key('maas'), signal);
    expect(hv.calls.map((c) => c.verb)).to.include('deleteNetwork');
    expect(await hv.observeNetwork('maas.maas')).to.equal(undefined);
    expect(networks.get(key('maas'))?.metadata?.finalizers).to.deep.equal([]);
  });

  it('stalls with BridgeNotFound on a missing host bridge, warns once, and recovers by itself', async () => {
    hv.hostBridges = new Set();
    networks.put(withFinalizer(vnet('lan', { mode: 'bridge', bridge: { name: 'mlnobr0' } })));
    const first = await reconciler().reconcile(key('lan'), signal);
    expect(first.requeueAfterMs).to.equal(5_000);
    const v = networks.get(key('lan'));
    expect(cond(v, 'Stalled')).to.include({ status: 'True', reason: 'BridgeNotFound' });
    expect(cond(v, 'Stalled')?.message).to.contain('mlnobr0');
    expect(cond(v, 'Ready')?.status).to.equal('False');
    expect(v?.status?.active).to.equal(false);
    expect(hv.mutations).to.not.include('virNetworkCreate');
    expect(events.filter((e) => e.reason === 'BridgeNotFound')).to.have.length(1);
    expect(events[0]).to.include({ type: 'Warning' });
    expect(events[0]?.note).to.contain('mlnobr0');

    // Still missing: same verdict, no second event.
    const again = await reconciler().reconcile(key('lan'), signal);
    expect(again.requeueAfterMs).to.equal(5_000);
    expect(events.filter((e) => e.reason === 'BridgeNotFound')).to.have.length(1);

    // The admin creates the bridge: the next look starts the network.
    hv.hostBridges.add('mlnobr0');
    await reconciler().reconcile(key('lan'), signal);
    const ready = networks.get(key('lan'));
    expect(ready?.status?.active).to.equal(true);
    expect(cond(ready, 'Ready')?.status).to.equal('True');
    expect(cond(ready, 'Stalled')).to.equal(undefined);
    expect(hv.mutations).to.include('virNetworkCreate');
  });
});
