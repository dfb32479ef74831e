// Leader election against a real kube-apiserver: MicroTime on the wire, exactly one leader
// of two, immediate takeover after release, takeover after a leader goes silent, and shard
// leases named maaslab-hv-<name>. Timings are shortened (lease 3 s, renew 2 s, retry 0.3 s).
import { expect } from 'chai';
import type { KubeConfig } from '@kubernetes/client-node';
import {
  type LeaseElector,
  createLeaseElector,
} from '../../../../src/runtime/leaderelection/lease.js';
import type { LeaseTiming } from '../../../../src/runtime/leaderelection/lease-record.js';
import {
  type LeaseStore,
  createLeaseStore,
} from '../../../../src/runtime/leaderelection/lease-store.js';
import { type RestClient, createRestClient } from '../../../../src/runtime/client/rest.js';
import { createShardLeases } from '../../../../src/cli/shard-leases.js';
import { controlPlane } from '../../../support/controlplane.js';
import { type TestNamespace, createTestNamespace } from '../../../support/namespace.js';
import { waitFor } from '../../../support/wait.js';

const timing: LeaseTiming = { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 300 };

/** A store that can be cut off, as a partitioned replica would be. */
function severable(store: LeaseStore): LeaseStore & { cut: boolean } {
  const s = {
    cut: false,
    get: (n: string) => (s.cut ? Promise.reject(new Error('partitioned')) : store.get(n)),
    create: (n: string, r: Parameters<LeaseStore['create']>[1]) =>
      s.cut ? Promise.reject(new Error('partitioned')) : store.create(n, r),
    update: (n: string, r: Parameters<LeaseStore['update']>[1], rv: string) =>
      s.cut ? Promise.reject(new Error('partitioned')) : store.update(n, r, rv),
  };
  return s;
}

describe('runtime/lease (real API server)', () => {
  let kc: KubeConfig;
  let rest: RestClient;
  let ns: TestNamespace;
  let electors: LeaseElector[] = [];

  const elector = (identity: string, store: LeaseStore): LeaseElector => {
    const e = createLeaseElector({ name: 'maaslab-test', identity, store, timing });
    electors.push(e);
    e.start();
    return e;
  };

  before(() => {
    kc = controlPlane().kubeConfig('admin');
    rest = createRestClient(controlPlane().restConfig('admin'));
  });
  beforeEach(async () => {
    ns = await createTestNamespace(kc, 'rt-lease');
  });
  afterEach(async () => {
    await Promise.all(electors.map((e) => e.release()));
    electors = [];
    await ns.delete();
  });

  it('elects exactly one of two, writes MicroTime, and hands over at once on release', async () => {
    const store = createLeaseStore(rest, ns.name);
    const a = elector('a', store);
    await waitFor(() => a.isLeader(), { description: 'a leads' });
    const b = elector('b', store);
    const raw = await rest.request<{ spec: Record<string, unknown> }>({
      method: 'GET',
      ref: {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        namespace: ns.name,
        name: 'maaslab-test',
      },
    });
    expect(raw.spec['holderIdentity']).to.equal('a');
    expect(raw.spec['leaseDurationSeconds']).to.equal(3);
    expect(String(raw.spec['renewTime'])).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    // Several renew periods later, still one leader.
    const renewed = await waitFor(
      async () => {
        const l = await store.get('maaslab-test');
        return (l?.record.renewTimeMs ?? 0) > Date.parse(String(raw.spec['renewTime'])) + 1000 && l;
      },
      { description: 'renewals' },
    );
    expect(renewed.record.holderIdentity).to.equal('a');
    expect(b.isLeader()).to.equal(false);
    const t0 = Date.now();
    await a.release();
    await waitFor(() => b.isLeader(), { description: 'b takes over', timeoutMs: 5000 });
    // Release makes takeover immediate: well under the 3 s lease.
    expect(Date.now() - t0).to.be.lessThan(2500);
    const after = await store.get('maaslab-test');
    expect(after?.record).to.include({ holderIdentity: 'b', leaseTransitions: 1 });
  });

  it('a partitioned leader stops by its renew deadline, and the other takes over after the lease', async () => {
    const cutA = severable(createLeaseStore(rest, ns.name));
    const a = elector('a', cutA);
    await waitFor(() => a.isLeader(), { description: 'a leads' });
    const b = elector('b', createLeaseStore(rest, ns.name));
    cutA.cut = true;
    const t0 = Date.now();
    await waitFor(() => !a.isLeader(), { description: 'a steps down', timeoutMs: 5000 });
    const aStopped = Date.now() - t0;
    await waitFor(() => b.isLeader(), { description: 'b takes over', timeoutMs: 10_000 });
    const bLed = Date.now() - t0;
    expect(aStopped).to.be.lessThan(bLed);
    expect(a.isLeader()).to.equal(false);
  });

  it('shard leases: one Lease per hypervisor, maaslab-hv-<name>', async () => {
    const started: string[] = [];
    const shards = createShardLeases({
      store: createLeaseStore(rest, ns.name),
      identity: 'replica-1',
      timing,
      onStart: (s) => void started.push(s),
      onStop: () => undefined,
    });
    await shards.set(['hv-a', 'hv-b']);
    await waitFor(() => shards.leading().size === 2, { description: 'both shards led' });
    const leases = await rest.request<{ items: Array<{ metadata: { name: string } }> }>({
      method: 'GET',
      ref: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace: ns.name },
    });
    expect(leases.items.map((l) => l.metadata.name).sort()).to.deep.equal([
      'maaslab-hv-hv-a',
      'maaslab-hv-hv-b',
    ]);
    expect(started.sort()).to.deep.equal(['hv-a', 'hv-b']);
    await shards.stop();
    const a = await createLeaseStore(rest, ns.name).get('maaslab-hv-hv-a');
    expect(a?.record.holderIdentity).to.equal('');
  });
});
