// The informer against a real kube-apiserver: list+watch, sync gate, field selectors on our
// CRDs, a broken watch that recovers through backoff+relist, and the watchdog relist.
import { expect } from 'chai';
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import {
  type Informer,
  InformerEvent,
  createInformer,
} from '../../../../src/runtime/cache/informer.js';
import { type ListWatchSource, createListWatch } from '../../../../src/runtime/cache/list-watch.js';
import {
  type RestClient,
  type WatchCallbacks,
  createRestClient,
} from '../../../../src/runtime/client/rest.js';
import { controlPlane } from '../../../support/controlplane.js';
import { type TestNamespace, createTestNamespace } from '../../../support/namespace.js';
import { waitFor } from '../../../support/wait.js';

const CM = { apiVersion: 'v1', kind: 'ConfigMap' } as const;
const NODE = { apiVersion: 'maaslab.dev/v1alpha1', kind: 'MaasNode' } as const;

describe('runtime/informer (real API server)', () => {
  let kc: KubeConfig;
  let rest: RestClient;
  let ns: TestNamespace;
  const informers: Array<Informer<KubernetesObject>> = [];

  const configMap = (name: string, data: Record<string, string> = {}) =>
    rest.request<KubernetesObject>({
      method: 'POST',
      ref: { ...CM, namespace: ns.name },
      body: { ...CM, metadata: { name }, data },
    });

  const start = (source: ListWatchSource, watchdogMs?: number): Informer<KubernetesObject> => {
    const inf = createInformer<KubernetesObject>({
      source,
      random: () => 0,
      ...(watchdogMs ? { watchdogMs } : {}),
    });
    informers.push(inf);
    inf.start();
    return inf;
  };

  before(async () => {
    kc = controlPlane().kubeConfig('admin');
    rest = createRestClient(controlPlane().restConfig('admin'));
  });
  beforeEach(async () => {
    ns = await createTestNamespace(kc, 'rt-informer');
  });
  afterEach(async () => {
    await Promise.all(informers.splice(0).map((i) => i.stop()));
    await ns.delete();
  });

  it('lists, gates on sync, and follows adds, updates and deletes', async () => {
    await configMap('before', { a: '1' });
    const inf = start(createListWatch(rest, { ref: { ...CM, namespace: ns.name } }));
    const seen: string[] = [];
    inf.on(InformerEvent.Add, (o) => seen.push(`add:${o.metadata?.name ?? ''}`));
    inf.on(InformerEvent.Update, (o) => seen.push(`update:${o.metadata?.name ?? ''}`));
    inf.on(InformerEvent.Delete, (o) => seen.push(`delete:${o.metadata?.name ?? ''}`));
    await inf.waitForSync(AbortSignal.timeout(30_000));
    expect(inf.get(`${ns.name}/before`)?.kind).to.equal('ConfigMap');
    expect(Object.isFrozen(inf.get(`${ns.name}/before`))).to.equal(true);

    await configMap('after');
    await rest.request({
      method: 'PATCH',
      ref: { ...CM, namespace: ns.name, name: 'after' },
      body: { data: { x: 'y' } },
      contentType: 'application/merge-patch+json',
    });
    await rest.request({ method: 'DELETE', ref: { ...CM, namespace: ns.name, name: 'before' } });
    await waitFor(() => seen.includes('delete:before'), { description: 'delete event' });
    expect(seen).to.include.members(['add:before', 'add:after', 'update:after', 'delete:before']);
    expect(inf.list().map((o) => o.metadata?.name))
      .to.include('after')
      .and.not.include('before');
    expect(inf.stats().lists).to.equal(1);
  });

  it('watches MaasNodes of one hypervisor only, with a spec.hypervisor field selector', async () => {
    const mk = (name: string, hypervisor: string) =>
      rest.request({
        method: 'POST',
        ref: { ...NODE, namespace: ns.name },
        body: { ...NODE, metadata: { name }, spec: { hypervisor } },
      });
    await mk('a1', 'hv-a');
    await mk('b1', 'hv-b');
    const inf = start(
      createListWatch(rest, {
        ref: { ...NODE, namespace: ns.name },
        fieldSelector: 'spec.hypervisor=hv-a',
      }),
    );
    await inf.waitForSync();
    await mk('a2', 'hv-a');
    await mk('b2', 'hv-b');
    await waitFor(() => inf.get(`${ns.name}/a2`), { description: 'a2 in cache' });
    expect(
      inf
        .list()
        .map((o) => o.metadata?.name)
        .sort(),
    ).to.deep.equal(['a1', 'a2']);
  });

  it('recovers from a broken watch: backoff, relist, and nothing missed meanwhile', async () => {
    let last: { cb: WatchCallbacks; stop(): void } | undefined;
    const real = createListWatch(rest, { ref: { ...CM, namespace: ns.name } });
    const source: ListWatchSource = {
      list: (s) => real.list(s),
      async watch(rv, cb) {
        const handle = await real.watch(rv, cb);
        last = { cb, stop: () => handle.stop() };
        return handle;
      },
    };
    const inf = start(source);
    await inf.waitForSync();
    await waitFor(() => last, { description: 'watch open' });
    // Break the connection under the informer, as a network error would.
    last?.stop();
    last?.cb.onDone(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
    await configMap('while-broken');
    await waitFor(() => inf.get(`${ns.name}/while-broken`), {
      description: 'object created while the watch was down',
      timeoutMs: 15_000,
    });
    expect(inf.stats().backoffs).to.equal(1);
    expect(inf.stats().lists).to.equal(2);
    // And the new watch works.
    await configMap('after-recovery');
    await waitFor(() => inf.get(`${ns.name}/after-recovery`), { description: 'watch resumed' });
  });

  it('relists when the watch stays silent past the watchdog', async () => {
    await configMap('quiet');
    const inf = start(createListWatch(rest, { ref: { ...CM, namespace: ns.name } }), 1500);
    await inf.waitForSync();
    await waitFor(() => inf.stats().watchdogRelists >= 1 && inf.stats().lists >= 2, {
      description: 'a watchdog relist',
      timeoutMs: 20_000,
    });
    expect(inf.get(`${ns.name}/quiet`)).to.not.equal(undefined);
  });
});
