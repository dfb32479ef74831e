// The Hypervisor reconciler against the FakeHypervisor, an in-memory cache and a recording
// status client: status, pool, events, gauges and requeues. The real API server and the
// libvirt test driver are in test/integration/controllers/hypervisor.test.ts.
import { expect } from 'chai';
import { Registry } from 'prom-client';
import type { Hypervisor as HypervisorResource } from '../../../../src/api/v1alpha1/index.js';
import {
  createHypervisorReconciler,
  hypervisorRateLimiter,
} from '../../../../src/controllers/hypervisor/reconciler.js';
import {
  createHypervisorMetrics,
  type HypervisorMetrics,
} from '../../../../src/controllers/metrics.js';
import {
  ErrorDomain,
  ErrorLevel,
  ErrorNumber,
  LibvirtError,
} from '../../../../src/libvirt/index.js';
import { createController } from '../../../../src/runtime/controller/controller.js';
import type { EventInput } from '../../../../src/runtime/events/event-record.js';
import type { CacheReader } from '../../../../src/runtime/manager/manager.js';
import type { Client } from '../../../../src/runtime/client/client.js';
import { ConflictError } from '../../../../src/runtime/controller/reconcile.js';
import { ShardLostError } from '../../../../src/controllers/common/hypervisor-registry.js';
import { shardGuardedClient } from '../../../../src/controllers/common/shard-guard.js';
import { createFakeClock } from '../../../fakes/clock.js';
import { createFakeHypervisor, type FakeHypervisor } from '../../../fakes/hypervisor.js';

const GV = 'maaslab.dev/v1alpha1';

interface World {
  resources: HypervisorResource[];
  statuses: unknown[];
  events: EventInput[];
  forgotten: string[];
  registry: Registry;
  metrics: HypervisorMetrics;
  fake: FakeHypervisor;
  served: boolean;
}

function world(spec: Partial<HypervisorResource['spec']> = {}): World {
  const registry = new Registry();
  return {
    resources: [
      {
        apiVersion: GV,
        kind: 'Hypervisor',
        metadata: { name: 'hv', generation: 3 },
        spec: { uri: 'fake:///system', ...spec },
      },
    ],
    statuses: [],
    events: [],
    forgotten: [],
    registry,
    metrics: createHypervisorMetrics(registry),
    fake: createFakeHypervisor(),
    served: true,
  };
}

interface Hooks {
  /** Called on every cache read (the observe step), e.g. to lose the lease mid-pass. */
  onRead?: () => void;
  /** Fails the next status writes with these errors, in order. */
  writeFailures?: Error[];
  /** Wraps the status client as the operator does (shardGuardedClient over `served`). */
  guarded?: boolean;
  /** Called as each status write begins. */
  onWrite?: () => Promise<void>;
}

function reconcilerFor(w: World, hooks: Hooks = {}) {
  const cache: CacheReader<HypervisorResource> = {
    get: (k) => {
      hooks.onRead?.();
      return w.resources.find((r) => r.metadata?.name === (typeof k === 'string' ? k : k.name));
    },
    list: () => w.resources,
    hasSynced: () => true,
  };
  return createHypervisorReconciler({
    cache,
    verbsFor: () => w.fake,
    forget: (name) => void w.forgotten.push(name),
    clock: createFakeClock(),
    events: { record: (e) => void w.events.push(e) },
    metrics: w.metrics,
    serves: () => w.served,
    client: guard(hooks.guarded ?? false, w, {
      async patchStatus<T>(obj: T, status: unknown) {
        await hooks.onWrite?.();
        const failure = hooks.writeFailures?.shift();
        if (failure) throw failure;
        const r = obj as unknown as HypervisorResource;
        if (JSON.stringify(r.status) === JSON.stringify(status)) {
          return { changed: false, object: obj };
        }
        w.statuses.push(status);
        w.resources[0] = { ...r, status: status as HypervisorResource['status'] };
        return { changed: true, object: w.resources[0] as T };
      },
    }),
  });
}

const guard = <C extends Pick<Client, 'patchStatus'>>(on: boolean, w: World, client: C): C =>
  on ? shardGuardedClient(client, () => w.served) : client;

const pass = (r: ReturnType<typeof reconcilerFor>, name = 'hv') =>
  r.reconcile({ name }, new AbortController().signal);
const ready = (w: World) => w.resources[0]?.status?.conditions?.find((c) => c.type === 'Ready');
const gauge = async (w: World, name: string): Promise<number | undefined> => {
  const m = (await w.registry.getSingleMetric(name)?.get())?.values.find(
    (v) => v.labels['hypervisor'] === 'hv',
  );
  return m?.value;
};

describe('controllers/hypervisor/reconciler', () => {
  it('fills the status from the host, is Ready, refreshes every minute, sets the gauges', async () => {
    const w = world();
    expect(await pass(reconcilerFor(w))).to.deep.equal({ requeueAfterMs: 60_000 });
    const status = w.resources[0]?.status;
    expect(status).to.deep.include({
      hostname: 'fake-host',
      libvirtVersion: '9.0.0',
      hypervisorVersion: 'QEMU 7.2.0',
      capacity: { cpus: 8, memory: '16Gi' },
      allocated: { cpus: 0, memory: '0' },
      domains: 0,
      observedGeneration: 3,
    });
    expect(ready(w)).to.deep.include({
      status: 'True',
      reason: 'Reconciled',
      observedGeneration: 3,
    });
    expect(w.events.map((e) => e.reason)).to.deep.equal(['Connected']);
    expect(await gauge(w, 'maaslab_hypervisor_up')).to.equal(1);
    expect(await gauge(w, 'maaslab_hypervisor_capacity_cpus')).to.equal(8);
    expect(await gauge(w, 'maaslab_hypervisor_capacity_memory_bytes')).to.equal(16 * 1024 ** 3);
    expect(await gauge(w, 'maaslab_hypervisor_allocated_cpus')).to.equal(0);
    expect(await gauge(w, 'maaslab_hypervisor_allocated_memory_bytes')).to.equal(0);
    // A second pass changes nothing: no status write, no new event, no pool mutation.
    await pass(reconcilerFor(w));
    expect(w.statuses).to.have.length(1);
    expect(w.events).to.have.length(1);
    expect(w.fake.mutations).to.deep.equal([]);
  });

  it('goes Ready=False HypervisorUnreachable and throws (the queue backs off), and back', async () => {
    const w = world();
    const r = reconcilerFor(w);
    await pass(r);
    w.fake.unreachable = true;
    const failed = async (): Promise<unknown> => {
      let thrown: unknown;
      await pass(r).catch((e: unknown) => (thrown = e));
      return thrown;
    };
    expect(await failed()).to.be.instanceOf(Error);
    expect(await failed()).to.be.instanceOf(Error);
    expect(ready(w)).to.deep.include({ status: 'False', reason: 'HypervisorUnreachable' });
    expect(ready(w)?.message).to.contain('fake:///system');
    const reconciling = w.resources[0]?.status?.conditions?.find((c) => c.type === 'Reconciling');
    expect(reconciling?.status).to.equal('True');
    // The last known facts stay.
    expect(w.resources[0]?.status?.capacity).to.deep.equal({ cpus: 8, memory: '16Gi' });
    expect(await gauge(w, 'maaslab_hypervisor_up')).to.equal(0);
    expect(w.events.map((e) => `${e.type}/${e.reason}`)).to.deep.equal([
      'Normal/Connected',
      'Warning/HypervisorUnreachable',
    ]);

    w.fake.unreachable = false;
    expect(await pass(r)).to.deep.equal({ requeueAfterMs: 60_000 });
    expect(ready(w)?.status).to.equal('True');
    expect(w.events.at(-1)?.reason).to.equal('Connected');
  });

  it('sets the gauges before the status write: a reader of the status finds them current', async () => {
    const w = world();
    const upAtWrite: Array<number | undefined> = [];
    const r = reconcilerFor(w, {
      onWrite: async () => void upAtWrite.push(await gauge(w, 'maaslab_hypervisor_up')),
    });
    await pass(r);
    w.fake.unreachable = true;
    await pass(r).catch(() => undefined);
    w.fake.unreachable = false;
    await pass(r);
    expect(upAtWrite).to.deep.equal([1, 0, 1]);
  });

  it("retries an unreachable host through the queue's rate limiter: 0.8 s doubling to 30 s, reset by a success", async () => {
    const w = world();
    const clock = createFakeClock(0);
    const r = reconcilerFor(w);
    const passes: number[] = [];
    const controller = createController({
      name: 'hypervisor',
      clock,
      rateLimiter: hypervisorRateLimiter(clock),
      reconciler: {
        reconcile: (req, signal) => {
          passes.push(clock.now());
          return r.reconcile(req, signal);
        },
      },
    });
    w.fake.unreachable = true;
    controller.start();
    controller.enqueue({ name: 'hv' });
    const settle = async (): Promise<void> => {
      for (let i = 0; i < 10; i++) await new Promise((res) => setImmediate(res));
    };
    await settle();
    for (let i = 0; i < 8; i++) {
      await clock.tickAsync(30_000);
      await settle();
    }
    const gaps = passes.slice(1).map((t, i) => t - passes[i]!);
    // 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, then capped at 30 s.
    expect(gaps.slice(0, 8)).to.deep.equal([800, 1600, 3200, 6400, 12_800, 25_600, 30_000, 30_000]);
    expect(controller.queue.numRequeues('hv')).to.be.greaterThan(6);
    w.fake.unreachable = false;
    await clock.tickAsync(30_000);
    await settle();
    expect(ready(w)?.status).to.equal('True');
    expect(controller.queue.numRequeues('hv')).to.equal(0);
    // Down again: the backoff starts over at 0.8 s.
    w.fake.unreachable = true;
    controller.enqueue({ name: 'hv' });
    await settle();
    const from = passes.length;
    await clock.tickAsync(800);
    await settle();
    expect(passes.length).to.equal(from + 1);
    await controller.stop({ drain: false });
  });

  it('advances observedGeneration only when a pass succeeded', async () => {
    const w = world();
    const r = reconcilerFor(w);
    await pass(r);
    expect(w.resources[0]?.status?.observedGeneration).to.equal(3);
    // A new generation while the host is down: not observed.
    w.resources[0] = { ...w.resources[0]!, metadata: { name: 'hv', generation: 4 } };
    w.fake.unreachable = true;
    await pass(r).catch(() => undefined);
    expect(ready(w)?.status).to.equal('False');
    expect(w.resources[0]?.status?.observedGeneration).to.equal(3);
    // A libvirt failure of the act step: not observed either.
    w.fake.unreachable = false;
    w.fake.failNext(
      'ensurePool',
      new LibvirtError(ErrorNumber.OperationFailed, ErrorDomain.Storage, ErrorLevel.Error, 'nope'),
    );
    await pass(r).catch(() => undefined);
    expect(ready(w)?.reason).to.equal('LibvirtError');
    expect(w.resources[0]?.status?.observedGeneration).to.equal(3);
    // The next success observes it.
    await pass(r);
    expect(w.resources[0]?.status?.observedGeneration).to.equal(4);
  });

  it('a first pass that fails writes no observedGeneration at all', async () => {
    const w = world();
    w.fake.unreachable = true;
    await pass(reconcilerFor(w)).catch(() => undefined);
    expect(ready(w)?.status).to.equal('False');
    expect(w.resources[0]?.status).not.to.have.property('observedGeneration');
  });

  it('creates a missing storage pool at storagePoolPath', async () => {
    const w = world({ storagePool: 'images', storagePoolPath: '/srv/images' });
    await pass(reconcilerFor(w));
    expect(w.fake.mutations).to.include('virStoragePoolDefineXML');
    expect(w.fake.calls.find((c) => c.verb === 'ensurePool')?.args).to.deep.equal([
      { name: 'images', path: '/srv/images' },
    ]);
    expect(ready(w)?.status).to.equal('True');
    expect(w.events.map((e) => e.reason)).to.include('StoragePoolCreated');
  });

  it('stalls when the pool is missing and there is no path to create it', async () => {
    const w = world({ storagePool: 'images' });
    expect(await pass(reconcilerFor(w))).to.deep.equal({ requeueAfterMs: 60_000 });
    expect(ready(w)).to.deep.include({ status: 'False', reason: 'StoragePoolNotFound' });
    const stalled = w.resources[0]?.status?.conditions?.find((c) => c.type === 'Stalled');
    expect(stalled?.status).to.equal('True');
  });

  it('reports a libvirt failure and retries (throws)', async () => {
    const w = world();
    w.fake.failNext(
      'ensurePool',
      new LibvirtError(ErrorNumber.OperationFailed, ErrorDomain.Storage, ErrorLevel.Error, 'nope'),
    );
    let thrown: unknown;
    await pass(reconcilerFor(w)).catch((e: unknown) => (thrown = e));
    expect(thrown).to.be.instanceOf(Error);
    expect(ready(w)).to.deep.include({ status: 'False', reason: 'LibvirtError', message: 'nope' });
  });

  it('leaves shards served elsewhere alone, and forgets resources that are gone', async () => {
    const w = world();
    w.served = false;
    expect(await pass(reconcilerFor(w))).to.deep.equal({});
    expect(w.statuses).to.deep.equal([]);
    expect(w.fake.calls).to.deep.equal([]);
    w.served = true;
    expect(await pass(reconcilerFor(w), 'gone')).to.deep.equal({});
    expect(w.forgotten).to.deep.equal(['gone']);
  });

  it('a 409 on its status write is not re-applied: ConflictError; the next pass observes afresh', async () => {
    const w = world();
    const conflict = new ConflictError('status of Hypervisor hv not written (409)');
    const r = reconcilerFor(w, { writeFailures: [conflict] });
    let thrown: unknown;
    await pass(r).catch((e: unknown) => (thrown = e));
    expect(thrown).to.equal(conflict);
    expect(w.statuses).to.deep.equal([]);
    // Meanwhile the host changed; the requeued pass reports what it sees now, not the old view.
    w.fake = createFakeHypervisor({ host: { hostname: 'renamed-host' } });
    expect(await pass(r)).to.deep.equal({ requeueAfterMs: 60_000 });
    expect(w.statuses).to.have.length(1);
    expect(w.resources[0]?.status?.hostname).to.equal('renamed-host');
  });

  it('writes no status once its shard lease is lost mid-pass', async () => {
    const w = world();
    // The lease goes after the pass's own serves check, while it observes the host.
    const r = reconcilerFor(w, { guarded: true, onRead: () => void (w.served = false) });
    let thrown: unknown;
    await pass(r).catch((e: unknown) => (thrown = e));
    expect(thrown).to.be.instanceOf(ShardLostError);
    expect(w.statuses).to.deep.equal([]);
    expect(w.resources[0]?.status).to.equal(undefined);
  });
});
