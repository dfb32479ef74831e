import { expect } from 'chai';
import type { KubernetesObject } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import {
  controllerBuilder,
  generationChanged,
  statusOnlyUpdatesIgnored,
} from '../../../../src/runtime/controller/builder.js';
import { type Manager, createManager } from '../../../../src/runtime/manager/manager.js';
import type { Request } from '../../../../src/runtime/controller/reconcile.js';
import type {
  RestClient,
  RestRequest,
  WatchCallbacks,
} from '../../../../src/runtime/client/rest.js';

const LAB = { apiVersion: 'maaslab.dev/v1alpha1', kind: 'MaasLab' };
const NODE = { apiVersion: 'maaslab.dev/v1alpha1', kind: 'MaasNode' };
const HV = { apiVersion: 'maaslab.dev/v1alpha1', kind: 'Hypervisor' };

const obj = (
  name: string,
  extra: Partial<NonNullable<KubernetesObject['metadata']>> = {},
): KubernetesObject => ({
  metadata: { namespace: 'ns', name, resourceVersion: '1', generation: 1, ...extra },
});

/** Lists come from `lists[kind]` (a list may be held back until `release()`); watches are recorded. */
function fakeRest(lists: Record<string, KubernetesObject[]>): RestClient & {
  watches: Map<string, WatchCallbacks>;
  listCalls: RestRequest[];
  release(): void;
  hold: boolean;
} {
  let release: () => void = () => undefined;
  const gate = new Promise<void>((r) => (release = r));
  const f = {
    watches: new Map<string, WatchCallbacks>(),
    listCalls: [] as RestRequest[],
    hold: false,
    release: () => release(),
    async request<T>(req: RestRequest): Promise<T> {
      f.listCalls.push(req);
      if (f.hold) await gate;
      return { items: lists[req.ref.kind] ?? [], metadata: { resourceVersion: '1' } } as T;
    },
    path: () => Promise.resolve(''),
    watch(ref: { kind: string }, _q: unknown, cb: WatchCallbacks) {
      f.watches.set(ref.kind, cb);
      return Promise.resolve({ stop: () => undefined });
    },
  };
  return f;
}

const until = async (fn: () => boolean): Promise<void> => {
  for (let i = 0; i < 200 && !fn(); i++) await new Promise((r) => setImmediate(r));
  expect(fn()).to.equal(true);
};

describe('runtime/manager and builder', () => {
  let manager: Manager | undefined;
  afterEach(async () => {
    await manager?.stop();
    manager = undefined;
  });

  const make = (rest: RestClient, registry = new Registry()): Manager =>
    (manager = createManager({
      restConfig: { server: 'http://127.0.0.1:1' },
      namespace: 'maaslab-system',
      rest,
      metricsRegistry: registry,
      metricsBindAddress: '127.0.0.1:0',
      // Plain HTTP on loopback: this fake REST client cannot answer TokenReviews.
      metricsServing: { secure: false },
      healthProbeBindAddress: '127.0.0.1:0',
      identity: 'test',
    }));

  it('wires for/owns/watches into one queue, starts controllers only after sync', async () => {
    const rest = fakeRest({
      MaasLab: [obj('lab1')],
      MaasNode: [
        obj('lab1-n1', {
          ownerReferences: [{ ...LAB, name: 'lab1', uid: 'u1', controller: true, kind: 'MaasLab' }],
        }),
        obj('orphan'),
      ],
      Hypervisor: [{ metadata: { name: 'hv1', resourceVersion: '1' } }],
    });
    rest.hold = true;
    const m = make(rest);
    const seen: string[] = [];
    const ctl = controllerBuilder(m)
      .for(LAB)
      .owns(NODE)
      .watches(HV, (): Request[] => [{ namespace: 'ns', name: 'from-hv' }])
      .complete({
        reconcile: (req) => {
          seen.push(`${req.namespace ?? ''}/${req.name}`);
          return Promise.resolve({});
        },
      });
    expect(ctl.name).to.equal('maaslab');
    const starting = m.start();
    await until(() => m.servers().probe !== undefined && rest.listCalls.length === 3);
    const probe = m.servers().probe!;
    expect((await fetch(`http://127.0.0.1:${probe.port}/readyz`)).status).to.equal(500);
    expect(seen).to.deep.equal([]);
    rest.release();
    await starting;
    await until(() => seen.length === 2);
    expect(seen.sort()).to.deep.equal(['ns/from-hv', 'ns/lab1']);
    expect((await fetch(`http://127.0.0.1:${probe.port}/readyz`)).status).to.equal(200);
    const metrics = await (
      await fetch(`http://127.0.0.1:${m.servers().metrics!.port}/metrics`)
    ).text();
    expect(metrics).to.contain(
      'controller_runtime_reconcile_total{controller="maaslab",result="success"}',
    );
    expect(m.cache(LAB).get('ns/lab1')?.metadata?.name).to.equal('lab1');
    expect(m.cache(NODE).list()).to.have.length(2);
  });

  it('applies event filters and rejects duplicate names and a missing for()', async () => {
    const rest = fakeRest({ MaasLab: [obj('lab1')] });
    const m = make(rest);
    const seen: string[] = [];
    controllerBuilder(m)
      .for(LAB)
      .withEventFilter(generationChanged)
      .named('labs')
      .complete({
        reconcile: (req) => {
          seen.push(req.name);
          return Promise.resolve({});
        },
      });
    expect(() =>
      controllerBuilder(m)
        .for(LAB)
        .named('labs')
        .complete({} as never),
    ).to.throw(/duplicate/);
    expect(() => controllerBuilder(m).complete({} as never)).to.throw(/for\(\)/);
    await m.start();
    await until(() => seen.length === 1);
    const w = rest.watches.get('MaasLab')!;
    // A status write (same generation) is filtered; a spec edit (new generation) is not.
    w.onEvent('MODIFIED', obj('lab1', { resourceVersion: '2' }));
    w.onEvent('MODIFIED', obj('lab1', { resourceVersion: '3', generation: 2 }));
    await until(() => seen.length === 2);
    await new Promise((r) => setImmediate(r));
    expect(seen).to.deep.equal(['lab1', 'lab1']);
  });

  it("applies a source's own predicates to that source only, and counts API requests", async () => {
    const rest = fakeRest({ MaasLab: [obj('lab1')], MaasNode: [obj('n1')] });
    const registry = new Registry();
    const m = make(rest, registry);
    const seen: string[] = [];
    controllerBuilder(m)
      .for(LAB)
      // A fan-out watch that should fire only on spec changes of the node.
      .watches(NODE, (): Request[] => [{ namespace: 'ns', name: 'from-node' }], {
        predicates: [generationChanged],
      })
      .complete({
        reconcile: (req) => {
          seen.push(req.name);
          return Promise.resolve({});
        },
      });
    await m.start();
    await until(() => seen.length === 2);
    expect([...seen].sort()).to.deep.equal(['from-node', 'lab1']);
    // The lab's own status write still reaches it (no predicate on for()); the node's does not.
    rest.watches.get('MaasLab')!.onEvent('MODIFIED', obj('lab1', { resourceVersion: '2' }));
    rest.watches.get('MaasNode')!.onEvent('MODIFIED', obj('n1', { resourceVersion: '2' }));
    // Handlers run a few ticks later; give them real time, then look at what ran.
    await new Promise((r) => setTimeout(r, 100));
    expect(seen.length).to.be.greaterThan(2);
    expect(new Set(seen.slice(2))).to.deep.equal(new Set(['lab1']));
    const before = seen.length;
    rest.watches
      .get('MaasNode')!
      .onEvent('MODIFIED', obj('n1', { resourceVersion: '3', generation: 2 }));
    await until(() => seen.length > before);
    expect(seen[before]).to.equal('from-node');
    // Two LISTs and two watches went through the instrumented client.
    const text = await registry.metrics();
    expect(text).to.contain('rest_client_requests_total{code="2xx",method="GET"} 2');
    expect(text).to.contain('rest_client_requests_total{code="2xx",method="WATCH"} 2');
  });

  it('coalesces a source whose coalesceMs is set: at once, then once per window', async () => {
    const owned = (rv: number): KubernetesObject =>
      obj('lab1-n1', {
        resourceVersion: String(rv),
        ownerReferences: [{ ...LAB, name: 'lab1', uid: 'u1', controller: true, kind: 'MaasLab' }],
      });
    const rest = fakeRest({ MaasLab: [obj('lab1')], MaasNode: [owned(1)] });
    const m = make(rest);
    const seen: number[] = [];
    const t0 = performance.now();
    controllerBuilder(m)
      .for(LAB, { predicates: [generationChanged] })
      .owns(NODE, { coalesceMs: 300 })
      .complete({
        reconcile: () => {
          seen.push(performance.now() - t0);
          return Promise.resolve({});
        },
      });
    await m.start();
    await until(() => seen.length >= 1);
    // Let the start's window (the initial ADDED of the node) run out.
    await new Promise((r) => setTimeout(r, 400));
    const before = seen.length;
    const w = rest.watches.get('MaasNode')!;
    const burst = performance.now() - t0;
    // A burst of 20 child changes: one pass at once, one at the end of the window.
    for (let rv = 2; rv < 22; rv++) w.onEvent('MODIFIED', owned(rv));
    await until(() => seen.length === before + 1);
    expect(seen[before]! - burst).to.be.lessThan(250);
    await new Promise((r) => setTimeout(r, 500));
    expect(seen.length).to.equal(before + 2);
    expect(seen[before + 1]! - burst).to.be.within(290, 700);
    // Quiet since: the next change is passed on at once again.
    await new Promise((r) => setTimeout(r, 400));
    const lone = performance.now() - t0;
    w.onEvent('MODIFIED', owned(30));
    await until(() => seen.length === before + 3);
    expect(seen[before + 2]! - lone).to.be.lessThan(250);
  });

  it('takes a per-request window from a coalesceMs function; 0 means no window', async () => {
    const owned = (name: string, lab: string, rv: number): KubernetesObject =>
      obj(name, {
        resourceVersion: String(rv),
        ownerReferences: [
          { ...LAB, name: lab, uid: `u-${lab}`, controller: true, kind: 'MaasLab' },
        ],
      });
    const rest = fakeRest({
      MaasLab: [obj('small'), obj('big')],
      MaasNode: [owned('s1', 'small', 1), owned('b1', 'big', 1)],
    });
    const m = make(rest);
    const seen: Array<{ name: string; at: number }> = [];
    const windows: string[] = [];
    const t0 = performance.now();
    controllerBuilder(m)
      .for(LAB, { predicates: [generationChanged] })
      .owns(NODE, {
        coalesceMs: (req) => {
          windows.push(req.name);
          return req.name === 'big' ? 300 : 0;
        },
      })
      .complete({
        reconcile: (req) => {
          seen.push({ name: req.name, at: performance.now() - t0 });
          return Promise.resolve({});
        },
      });
    await m.start();
    await new Promise((r) => setTimeout(r, 400));
    const w = rest.watches.get('MaasNode')!;
    const passes = (name: string): number => seen.filter((s) => s.name === name).length;
    // Real time, not ticks: the big lab's second pass waits out its 300 ms window.
    const within = async (ms: number, fn: () => boolean): Promise<void> => {
      const end = performance.now() + ms;
      while (!fn() && performance.now() < end) await new Promise((r) => setTimeout(r, 5));
      expect(fn()).to.equal(true);
    };
    // Two changes 60 ms apart on each lab's node: the small lab (no window) passes after each,
    // the big one passes once at once and the second waits for its window's end.
    const small0 = passes('small');
    const big0 = passes('big');
    w.onEvent('MODIFIED', owned('s1', 'small', 2));
    w.onEvent('MODIFIED', owned('b1', 'big', 2));
    await within(250, () => passes('small') > small0 && passes('big') === big0 + 1);
    await new Promise((r) => setTimeout(r, 60));
    const small1 = passes('small');
    const second = performance.now() - t0;
    w.onEvent('MODIFIED', owned('s1', 'small', 3));
    w.onEvent('MODIFIED', owned('b1', 'big', 3));
    await within(250, () => passes('small') > small1);
    expect(seen.filter((s) => s.name === 'small').at(-1)!.at - second).to.be.lessThan(150);
    expect(passes('big')).to.equal(big0 + 1);
    await within(1000, () => passes('big') === big0 + 2);
    expect(seen.filter((s) => s.name === 'big').at(-1)!.at - second).to.be.greaterThan(150);
    expect(windows).to.include.members(['small', 'big']);
  });

  it('statusOnlyUpdatesIgnored drops status and finalizer writes, passes spec and actionable metadata', () => {
    const base = obj('n1', { labels: { a: '1' }, annotations: { b: '2' }, finalizers: ['f'] });
    const withStatus = { ...base, status: { phase: 'Running' } } as KubernetesObject;
    const pass = (o: KubernetesObject): boolean => statusOnlyUpdatesIgnored.update!(base, o);
    expect(pass({ ...withStatus, metadata: { ...base.metadata, resourceVersion: '2' } })).to.equal(
      false,
    );
    expect(pass({ ...base, metadata: { ...base.metadata, generation: 2 } })).to.equal(true);
    expect(pass({ ...base, metadata: { ...base.metadata, labels: { a: '2' } } })).to.equal(true);
    expect(pass({ ...base, metadata: { ...base.metadata, annotations: {} } })).to.equal(true);
    // A controller adds its finalizer and goes on in the same pass.
    expect(pass({ ...base, metadata: { ...base.metadata, finalizers: [] } })).to.equal(false);
    expect(
      pass({ ...base, metadata: { ...base.metadata, deletionTimestamp: new Date(0) } }),
    ).to.equal(true);
    expect(statusOnlyUpdatesIgnored.create).to.equal(undefined);
    expect(statusOnlyUpdatesIgnored.delete).to.equal(undefined);
  });

  it('shares one informer per kind and scope, and merges scopes in the cache', async () => {
    const rest = fakeRest({ MaasNode: [obj('a')] });
    const m = make(rest);
    const i1 = m.informer(NODE, { fieldSelector: 'spec.hypervisor=hv1' });
    expect(m.informer(NODE, { fieldSelector: 'spec.hypervisor=hv1' })).to.equal(i1);
    m.informer(NODE, { fieldSelector: 'spec.hypervisor=hv2' });
    await m.start();
    expect(rest.listCalls.map((c) => c.query?.['fieldSelector'])).to.have.members([
      'spec.hypervisor=hv1',
      'spec.hypervisor=hv2',
    ]);
    expect(m.cache(NODE).list()).to.have.length(2);
    expect(() => m.informer(HV)).to.throw(/after start/);
  });
});
