// The MaasLab pass reports once, in one place: one status patch per pass (or none while only
// progress changed lately: the pass asks to come back), observedGeneration only on success,
// and a report that fails after a failed write is logged and counted while the write's own
// error is returned.
import { expect } from 'chai';
import { Registry } from 'prom-client';
import type {
  Hypervisor,
  MaasLab,
  MaasNode,
  VirtNetwork,
} from '../../../../src/api/v1alpha1/index.js';
import {
  createMaasLabReconciler,
  type MaasLabReconcilerOptions,
} from '../../../../src/controllers/maas-lab/reconciler.js';
import {
  createSwallowedErrorMetrics,
  SwallowedErrorsMetricName,
} from '../../../../src/controllers/metrics.js';
import { loggerInto } from '../../../../src/runtime/controller/reconcile.js';
import type { LogMeta, Logger } from '../../../../src/runtime/log.js';
import { createFakeClock } from '../../../fakes/clock.js';
import { hypervisorResource, store } from '../reconciler-support.js';

const key = { namespace: 'maas', name: 'lab' };

const lab = (over: Partial<MaasLab['metadata']> = {}): MaasLab => ({
  apiVersion: 'maaslab.dev/v1alpha1',
  kind: 'MaasLab',
  metadata: {
    name: 'lab',
    namespace: 'maas',
    uid: 'lab-uid',
    generation: 1,
    creationTimestamp: new Date('2026-01-01T00:00:00Z'),
    ...over,
  },
  spec: {
    hypervisor: 'local',
    networks: [{ name: 'maas', mode: 'isolated', ipv4: { address: '10.0.0.1', prefixLength: 24 } }],
    nodes: {
      count: 2,
      macPrefix: '52:54:00:7f:04',
      template: { interfaces: [{ network: 'maas' }] },
    },
  },
});

describe('controllers/maas-lab report (one per pass)', () => {
  let labs: ReturnType<typeof store<MaasLab>>;
  let networks: ReturnType<typeof store<VirtNetwork>>;
  let nodes: ReturnType<typeof store<MaasNode>>;
  let writes: string[];
  let failApply: Error | undefined;

  const options = (over: Partial<MaasLabReconcilerOptions> = {}): MaasLabReconcilerOptions => ({
    caches: { labs, networks, nodes, hypervisors: store<Hypervisor>(hypervisorResource) },
    client: {
      async apply<T>(obj: T): Promise<T> {
        if (failApply) throw failApply;
        const o = obj as unknown as VirtNetwork & MaasNode;
        writes.push(`apply ${o.kind}/${o.metadata?.name}`);
        const stored = { ...o, metadata: { ...o.metadata, generation: 1 } };
        (o.kind === 'VirtNetwork' ? networks : nodes).put(stored);
        return stored as T;
      },
      delete: async () => true,
      async patchStatus<T>(obj: T, status: unknown) {
        writes.push('status');
        const cur = labs.get(key) as MaasLab;
        labs.put({ ...cur, status: status as MaasLab['status'] });
        return { changed: true, object: obj };
      },
    },
    events: { record: () => undefined },
    clock: createFakeClock(),
    ...over,
  });
  const failingStatus = (message: string): Pick<MaasLabReconcilerOptions, 'client'> => ({
    client: {
      ...options().client,
      patchStatus: async () => {
        throw new Error(message);
      },
    },
  });
  const errorOf = (p: Promise<unknown>): Promise<unknown> => p.catch((e: unknown) => e);
  const signal = new AbortController().signal;

  beforeEach(() => {
    labs = store(lab());
    networks = store<VirtNetwork>();
    nodes = store<MaasNode>();
    writes = [];
    failApply = undefined;
  });

  it('writes status once, after the children, and advances observedGeneration', async () => {
    expect(await createMaasLabReconciler(options()).reconcile(key, signal)).to.deep.equal({});
    expect(writes).to.deep.equal([
      'apply VirtNetwork/lab-maas',
      'apply MaasNode/lab-node1',
      'apply MaasNode/lab-node2',
      'status',
    ]);
    expect(labs.get(key)?.status?.observedGeneration).to.equal(1);
  });

  it('is locked to the newer copy that reached the cache during the pass when only its status changed', async () => {
    const locks = (change: Partial<MaasLab['metadata']>) => async (): Promise<unknown[]> => {
      labs = store(lab({ resourceVersion: '1' }));
      const seen: unknown[] = [];
      const base = options();
      const client: MaasLabReconcilerOptions['client'] = {
        ...base.client,
        apply: async (obj, ...rest) => {
          // The watch event of the previous pass's report arrives while this pass applies.
          const cur = labs.get(key) as MaasLab;
          const metadata = { ...cur.metadata, resourceVersion: '101', ...change };
          labs.put({ ...cur, metadata, status: { printableStatus: 'Provisioning' } });
          return base.client.apply(obj, ...rest);
        },
        patchStatus: async (obj, status, sig) => {
          seen.push(obj.metadata?.resourceVersion);
          return base.client.patchStatus(obj, status, sig);
        },
      };
      await createMaasLabReconciler({ ...base, client }).reconcile(key, signal);
      return seen;
    };
    expect(await locks({})()).to.deep.equal(['101']);
    // A label (or spec, annotation, finalizer) changed too: the pass's own copy's lock (409).
    expect(await locks({ labels: { team: 'b' } })()).to.deep.equal(['1']);
    expect(await locks({ generation: 2 })()).to.deep.equal(['1']);
  });

  it('a lab being deleted: Terminating, no child written, observedGeneration advanced', async () => {
    labs = store(lab({ deletionTimestamp: new Date('2026-01-02T00:00:00Z') }));
    await createMaasLabReconciler(options()).reconcile(key, signal);
    expect(writes).to.deep.equal(['status']);
    expect(labs.get(key)?.status).to.include({
      printableStatus: 'Terminating',
      observedGeneration: 1,
    });
  });

  it('a failed write is reported once (retrying) without advancing observedGeneration', async () => {
    failApply = new Error('apiserver busy');
    const err = await errorOf(createMaasLabReconciler(options()).reconcile(key, signal));
    expect((err as Error).message).to.equal('apiserver busy');
    expect(writes).to.deep.equal(['status']);
    const reconciling = labs.get(key)?.status?.conditions?.find((c) => c.type === 'Reconciling');
    expect(reconciling?.message).to.equal('retrying: apiserver busy');
    expect(labs.get(key)?.status?.observedGeneration).to.equal(undefined);
  });

  it('logs and counts a status patch that fails after a failed write, and returns the write error', async () => {
    const registry = new Registry();
    const swallowedErrors = createSwallowedErrorMetrics(registry, [
      { controller: 'maaslab', step: 'status' },
    ]);
    const lines: LogMeta[] = [];
    const logger = (base: LogMeta = {}): Logger => {
      const at = (message: string, meta: LogMeta = {}): void =>
        void lines.push({ message, ...base, ...meta });
      return { error: at, warn: at, info: at, debug: at, child: (m) => logger({ ...base, ...m }) };
    };
    const pass = new AbortController();
    loggerInto(pass.signal, logger({ reconcileID: 'r1' }));
    failApply = new Error('apiserver busy');
    const r = createMaasLabReconciler(
      options({ swallowedErrors, ...failingStatus('apiserver down') }),
    );
    const err = await errorOf(r.reconcile(key, pass.signal));
    expect((err as Error).message).to.equal('apiserver busy');
    const metric = await registry.getSingleMetric(SwallowedErrorsMetricName)?.get();
    expect(metric?.values).to.deep.equal([
      { value: 1, labels: { controller: 'maaslab', step: 'status' } },
    ]);
    expect(lines).to.have.length(1);
    expect(lines[0]).to.include({ reconcileID: 'r1', step: 'status' });
    expect(JSON.stringify(lines[0])).to.contain('apiserver down');
  });

  it('returns a status patch failure of a pass that otherwise succeeded', async () => {
    const r = createMaasLabReconciler(options(failingStatus('apiserver down')));
    expect(((await errorOf(r.reconcile(key, signal))) as Error).message).to.equal('apiserver down');
  });
});
