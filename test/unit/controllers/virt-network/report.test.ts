// The VirtNetwork pass reports once, in one place: one status patch per pass, none for a
// failure no phase observed, the finalizer after the report, observedGeneration only on
// success, and a report that fails after the pass failed is logged and counted while the
// pass's own error is returned.
import { expect } from 'chai';
import { Registry } from 'prom-client';
import type {
  Hypervisor as HypervisorResource,
  MaasNode,
  VirtNetwork,
} from '../../../../src/api/v1alpha1/index.js';
import {
  createSwallowedErrorMetrics,
  SwallowedErrorsMetricName,
} from '../../../../src/controllers/metrics.js';
import {
  createVirtNetworkReconciler,
  type VirtNetworkReconcilerOptions,
} from '../../../../src/controllers/virt-network/reconciler.js';
import { loggerInto } from '../../../../src/runtime/controller/reconcile.js';
import type { LogMeta, Logger } from '../../../../src/runtime/log.js';
import { createFakeClock } from '../../../fakes/clock.js';
import { createFakeHypervisor, type FakeHypervisor } from '../../../fakes/hypervisor.js';
import { vnet } from '../fixtures.js';
import {
  cond,
  fakeClient,
  hypervisorResource,
  key,
  onCall,
  signal,
  store,
  withFinalizer,
} from '../reconciler-support.js';

describe('controllers/virt-network report (one per pass)', () => {
  let hv: FakeHypervisor;
  let networks: ReturnType<typeof store<VirtNetwork>>;
  let nodes: ReturnType<typeof store<MaasNode>>;
  let hypervisors: ReturnType<typeof store<HypervisorResource>>;
  let writes: string[];
  let events: { type: string; reason: string }[];
  const isolated = () =>
    withFinalizer(
      vnet('maas', { mode: 'isolated', ipv4: { address: '10.77.0.1', prefixLength: 24 } }),
    );

  const options = (
    over: Partial<VirtNetworkReconcilerOptions> = {},
  ): VirtNetworkReconcilerOptions => {
    const client = fakeClient(networks);
    return {
      caches: { networks, nodes, hypervisors },
      hypervisorFor: () => hv,
      client: {
        ...client,
        patchStatus: async (...args) => {
          writes.push('status');
          return client.patchStatus(...args);
        },
        dropFinalizer: async (...args) => {
          writes.push('finalizer');
          return client.dropFinalizer(...args);
        },
      },
      events: { record: (e) => void events.push(e) },
      clock: createFakeClock(),
      ...over,
    };
  };
  const failing = (message: string): Pick<VirtNetworkReconcilerOptions, 'client'> => ({
    client: {
      ...fakeClient(networks),
      patchStatus: async () => {
        throw new Error(message);
      },
    },
  });
  const errorOf = (p: Promise<unknown>): Promise<unknown> => p.catch((e: unknown) => e);

  beforeEach(() => {
    hv = createFakeHypervisor();
    hypervisors = store(hypervisorResource);
    nodes = store<MaasNode>();
    networks = store(isolated());
    writes = [];
    events = [];
  });

  it('writes status once for a pass that defines and starts, and advances observedGeneration', async () => {
    const result = await createVirtNetworkReconciler(options()).reconcile(key('maas'), signal);
    expect(writes).to.deep.equal(['status']);
    expect(result.requeueAfterMs).to.equal(10 * 60_000);
    const v = networks.get(key('maas'));
    expect(cond(v, 'Ready')?.status).to.equal('True');
    expect(v?.status?.observedGeneration).to.equal(1);
  });

  it('is locked to the newer copy that reached the cache during the pass when only its status changed', async () => {
    const locks = async (change: Partial<NonNullable<VirtNetwork['metadata']>>) => {
      const read = isolated();
      networks = store({ ...read, metadata: { ...read.metadata, resourceVersion: '1' } });
      const seen: unknown[] = [];
      // The watch event of the previous pass's report arrives while this pass starts the network.
      const eventArrives = onCall(hv, 'ensureNetwork', () => {
        const cur = networks.get(key('maas'))!;
        const metadata = { ...cur.metadata, resourceVersion: '101', ...change };
        networks.put({ ...cur, metadata, status: { observedGeneration: 1 } });
      });
      const base = options();
      await createVirtNetworkReconciler({
        ...base,
        hypervisorFor: () => eventArrives,
        client: {
          ...base.client,
          patchStatus: async (obj, status, sig) => {
            seen.push(obj.metadata?.resourceVersion);
            return base.client.patchStatus(obj, status, sig);
          },
        },
      }).reconcile(key('maas'), signal);
      return seen;
    };
    expect(await locks({})).to.deep.equal(['101']);
    expect(await locks({ annotations: { 'example.com/note': 'x' } })).to.deep.equal(['1']);
  });

  it('a missing Hypervisor: Stalled with its name, once, and no libvirt call', async () => {
    hypervisors = store<HypervisorResource>();
    const result = await createVirtNetworkReconciler(options()).reconcile(key('maas'), signal);
    expect(result).to.deep.equal({});
    expect(writes).to.deep.equal(['status']);
    const stalled = cond(networks.get(key('maas')), 'Stalled');
    expect(stalled).to.include({ status: 'True', reason: 'HypervisorNotFound' });
    expect(stalled?.message).to.equal('Hypervisor local does not exist');
    expect(hv.calls).to.deep.equal([]);
  });

  it('an unreachable host: Ready Unknown, last known fields kept, looked at again soon', async () => {
    const r = createVirtNetworkReconciler(options());
    await r.reconcile(key('maas'), signal);
    const before = networks.get(key('maas'))?.status;
    hv.unreachable = true;
    writes = [];
    const result = await r.reconcile(key('maas'), signal);
    expect(result.requeueAfterMs).to.equal(10_000);
    expect(writes).to.deep.equal(['status']);
    const v = networks.get(key('maas'));
    expect(cond(v, 'Ready')).to.include({ status: 'Unknown', reason: 'HypervisorUnreachable' });
    expect(v?.status).to.include({ uuid: before?.uuid, bridge: before?.bridge, active: true });
  });

  it('reports nothing for a failure no phase observed (a failed first look at libvirt)', async () => {
    hv.failNext('observeNetwork', new Error('libvirt said no'));
    const err = await errorOf(
      createVirtNetworkReconciler(options()).reconcile(key('maas'), signal),
    );
    expect((err as Error).message).to.equal('libvirt said no');
    expect(writes).to.deep.equal([]);
  });

  it('reports a failed libvirt call (LibvirtError, a Warning) without advancing observedGeneration', async () => {
    hv.failNext('ensureNetwork', new Error('dnsmasq failed'));
    const err = await errorOf(
      createVirtNetworkReconciler(options()).reconcile(key('maas'), signal),
    );
    expect((err as Error).message).to.equal('dnsmasq failed');
    expect(writes).to.deep.equal(['status']);
    const v = networks.get(key('maas'));
    expect(cond(v, 'Reconciling')).to.include({ status: 'True', reason: 'LibvirtError' });
    expect(v?.status?.observedGeneration).to.equal(undefined);
    expect(events.map((e) => e.reason)).to.deep.equal(['LibvirtError']);
  });

  it('a foreign network of our name: Stalled NameConflict, terminal, observedGeneration advanced', async () => {
    hv.external.defineNetwork({ name: 'maas.maas', mode: 'isolated' });
    const err = await errorOf(
      createVirtNetworkReconciler(options()).reconcile(key('maas'), signal),
    );
    expect(err).to.be.instanceOf(Error);
    expect((err as Error).name).to.equal('TerminalError');
    expect(writes).to.deep.equal(['status']);
    const v = networks.get(key('maas'));
    expect(cond(v, 'Stalled')).to.include({ status: 'True', reason: 'NameConflict' });
    expect(v?.status?.observedGeneration).to.equal(1);
    expect(hv.mutations).to.deep.equal([]);
  });

  it('deletion: the report goes before the finalizer, once', async () => {
    const r = createVirtNetworkReconciler(options());
    await r.reconcile(key('maas'), signal);
    const cur = networks.get(key('maas')) as VirtNetwork;
    networks.put({ ...cur, metadata: { ...cur.metadata, deletionTimestamp: new Date() } });
    writes = [];
    await r.reconcile(key('maas'), signal);
    expect(writes).to.deep.equal(['status', 'finalizer']);
    expect(cond(networks.get(key('maas')), 'Reconciling')?.reason).to.equal('Deleting');
  });

  it('deletion without a Hypervisor: no report, the finalizer goes', async () => {
    const cur = networks.get(key('maas')) as VirtNetwork;
    networks.put({ ...cur, metadata: { ...cur.metadata, deletionTimestamp: new Date() } });
    hypervisors = store<HypervisorResource>();
    await createVirtNetworkReconciler(options()).reconcile(key('maas'), signal);
    expect(writes).to.deep.equal(['finalizer']);
  });

  it('a failed deletion reports Deleting, keeps the finalizer and returns the error', async () => {
    const r = createVirtNetworkReconciler(options());
    await r.reconcile(key('maas'), signal);
    const cur = networks.get(key('maas')) as VirtNetwork;
    networks.put({ ...cur, metadata: { ...cur.metadata, deletionTimestamp: new Date() } });
    hv.failNext('deleteNetwork', new Error('busy'));
    writes = [];
    const err = await errorOf(r.reconcile(key('maas'), signal));
    expect((err as Error).message).to.equal('busy');
    expect(writes).to.deep.equal(['status']);
    expect(cond(networks.get(key('maas')), 'Reconciling')?.reason).to.equal('Deleting');
  });

  it('logs and counts a status patch that fails after the pass failed, and returns the pass error', async () => {
    const registry = new Registry();
    const swallowedErrors = createSwallowedErrorMetrics(registry, [
      { controller: 'virtnetwork', step: 'status' },
    ]);
    const lines: LogMeta[] = [];
    const logger = (base: LogMeta = {}): Logger => {
      const at = (message: string, meta: LogMeta = {}): void =>
        void lines.push({ message, ...base, ...meta });
      return { error: at, warn: at, info: at, debug: at, child: (m) => logger({ ...base, ...m }) };
    };
    const pass = new AbortController();
    loggerInto(pass.signal, logger({ reconcileID: 'r1' }));
    hv.failNext('ensureNetwork', new Error('dnsmasq failed'));
    const r = createVirtNetworkReconciler(
      options({ swallowedErrors, ...failing('apiserver down') }),
    );
    const err = await errorOf(r.reconcile(key('maas'), pass.signal));
    expect((err as Error).message).to.equal('dnsmasq failed');
    const metric = await registry.getSingleMetric(SwallowedErrorsMetricName)?.get();
    expect(metric?.values).to.deep.equal([
      { value: 1, labels: { controller: 'virtnetwork', step: 'status' } },
    ]);
    expect(lines).to.have.length(1);
    expect(lines[0]).to.include({ reconcileID: 'r1', step: 'status' });
    expect(JSON.stringify(lines[0])).to.contain('apiserver down');
  });

  it('returns a status patch failure of a pass that succeeded or ended in a terminal verdict', async () => {
    const ok = createVirtNetworkReconciler(options(failing('apiserver down')));
    expect(((await errorOf(ok.reconcile(key('maas'), signal))) as Error).message).to.equal(
      'apiserver down',
    );
    hv = createFakeHypervisor();
    hv.external.defineNetwork({ name: 'maas.maas', mode: 'isolated' });
    const foreign = createVirtNetworkReconciler(options(failing('apiserver still down')));
    expect(((await errorOf(foreign.reconcile(key('maas'), signal))) as Error).message).to.equal(
      'apiserver still down',
    );
  });
});
