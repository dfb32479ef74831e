// The MaasNode pass reports once, in one place: one status patch per pass, none for a failure
// no phase observed, the finalizer after the report, and a report that fails after the pass
// failed is logged and counted while the pass's own error is returned.
import { expect } from 'chai';
import { Registry } from 'prom-client';
import type { MaasNode, VirtNetwork } from '../../../../src/api/v1alpha1/index.js';
import {
  createSwallowedErrorMetrics,
  SwallowedErrorsMetricName,
} from '../../../../src/controllers/metrics.js';
import {
  createMaasNodeReconciler,
  type MaasNodeReconcilerOptions,
} from '../../../../src/controllers/maas-node/reconciler.js';
import { loggerInto } from '../../../../src/runtime/controller/reconcile.js';
import type { LogMeta, Logger } from '../../../../src/runtime/log.js';
import { createFakeClock } from '../../../fakes/clock.js';
import { createFakeHypervisor, type FakeHypervisor } from '../../../fakes/hypervisor.js';
import { node } from '../fixtures.js';
import {
  cond,
  fakeClient,
  hypervisorResource,
  key,
  readyNetwork,
  signal,
  store,
  withFinalizer,
} from '../reconciler-support.js';

describe('controllers/maas-node report (one per pass)', () => {
  let hv: FakeHypervisor;
  let nodes: ReturnType<typeof store<MaasNode>>;
  let networks: ReturnType<typeof store<VirtNetwork>>;
  let writes: string[];
  const spec = {
    disks: [{ name: 'root', size: '8Gi' }],
    interfaces: [{ network: 'maas', mac: '52:54:00:7f:04:01' }],
  };

  const options = (over: Partial<MaasNodeReconcilerOptions> = {}): MaasNodeReconcilerOptions => {
    const client = fakeClient(nodes);
    return {
      caches: { nodes, networks, hypervisors: store(hypervisorResource) },
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
      annotate: async () => undefined,
      events: { record: () => undefined },
      clock: createFakeClock(),
      ...over,
    };
  };

  beforeEach(() => {
    hv = createFakeHypervisor();
    networks = store(readyNetwork('maas'));
    nodes = store<MaasNode>();
    writes = [];
  });

  it('writes status once for a pass that creates, defines and starts', async () => {
    nodes.put(withFinalizer(node('n1', spec)));
    await createMaasNodeReconciler(options()).reconcile(key('n1'), signal);
    expect(writes).to.deep.equal(['status']);
    expect(nodes.get(key('n1'))?.status?.printableStatus).to.equal('Running');
  });

  it('deletion: the report goes before the finalizer, once', async () => {
    nodes.put(withFinalizer(node('n1', spec)));
    const r = createMaasNodeReconciler(options());
    await r.reconcile(key('n1'), signal);
    const cur = nodes.get(key('n1')) as MaasNode;
    nodes.put({ ...cur, metadata: { ...cur.metadata, deletionTimestamp: new Date() } });
    writes = [];
    await r.reconcile(key('n1'), signal);
    expect(writes).to.deep.equal(['status', 'finalizer']);
  });

  it('reports nothing for a failure no phase observed (a failed first look at libvirt)', async () => {
    nodes.put(withFinalizer(node('n1', spec)));
    hv.failNext('observeDomain', new Error('libvirt said no'));
    const err = await createMaasNodeReconciler(options())
      .reconcile(key('n1'), signal)
      .catch((e: unknown) => e);
    expect((err as Error).message).to.equal('libvirt said no');
    expect(writes).to.deep.equal([]);
  });

  it('reports a failed libvirt call without advancing observedGeneration', async () => {
    nodes.put(withFinalizer(node('n1', spec)));
    hv.failNext('ensureVolumes', new Error('pool full'));
    const err = await createMaasNodeReconciler(options())
      .reconcile(key('n1'), signal)
      .catch((e: unknown) => e);
    expect((err as Error).message).to.equal('pool full');
    const n = nodes.get(key('n1'));
    expect(cond(n, 'Reconciling')).to.include({ status: 'True', reason: 'LibvirtError' });
    expect(n?.status?.observedGeneration).to.equal(undefined);
  });

  it('logs and counts a status patch that fails after the pass failed, and returns the pass error', async () => {
    const registry = new Registry();
    const swallowedErrors = createSwallowedErrorMetrics(registry, [
      { controller: 'maasnode', step: 'status' },
    ]);
    const lines: LogMeta[] = [];
    const logger = (base: LogMeta = {}): Logger => {
      const at = (message: string, meta: LogMeta = {}): void =>
        void lines.push({ message, ...base, ...meta });
      return { error: at, warn: at, info: at, debug: at, child: (m) => logger({ ...base, ...m }) };
    };
    const pass = new AbortController();
    loggerInto(pass.signal, logger({ reconcileID: 'r1' }));
    nodes.put(withFinalizer(node('n1', spec)));
    hv.failNext('ensureVolumes', new Error('pool full'));
    const r = createMaasNodeReconciler(
      options({
        swallowedErrors,
        client: {
          ...fakeClient(nodes),
          patchStatus: async () => {
            throw new Error('apiserver down');
          },
        },
      }),
    );
    const err = await r.reconcile(key('n1'), pass.signal).catch((e: unknown) => e);
    expect((err as Error).message).to.equal('pool full');
    const metric = await registry.getSingleMetric(SwallowedErrorsMetricName)?.get();
    expect(metric?.values).to.deep.equal([
      { value: 1, labels: { controller: 'maasnode', step: 'status' } },
    ]);
    expect(lines).to.have.length(1);
    expect(lines[0]).to.include({ reconcileID: 'r1', step: 'status' });
    expect(JSON.stringify(lines[0])).to.contain('apiserver down');
  });

  it('returns a status patch failure of a pass that otherwise succeeded', async () => {
    nodes.put(withFinalizer(node('n1', spec)));
    const r = createMaasNodeReconciler(
      options({
        client: {
          ...fakeClient(nodes),
          patchStatus: async () => {
            throw new Error('apiserver down');
          },
        },
      }),
    );
    const err = await r.reconcile(key('n1'), signal).catch((e: unknown) => e);
    expect((err as Error).message).to.equal('apiserver down');
  });
});
