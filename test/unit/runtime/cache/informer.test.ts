import { expect } from 'chai';
import type { KubernetesObject } from '@kubernetes/client-node';
import {
  type Informer,
  InformerEvent,
  createInformer,
} from '../../../../src/runtime/cache/informer.js';
import type { ListResult, ListWatchSource } from '../../../../src/runtime/cache/list-watch.js';
import type { WatchCallbacks } from '../../../../src/runtime/client/rest.js';
import type { Logger } from '../../../../src/runtime/log.js';
import { type FakeClock, createFakeClock } from '../../../fakes/clock.js';

const flush = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

const cm = (
  name: string,
  rv: string,
  data: Record<string, string> = {},
): KubernetesObject & {
  data: Record<string, string>;
} => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { namespace: 'ns', name, resourceVersion: rv },
  data,
});

interface FakeWatch {
  readonly rv: string;
  readonly cb: WatchCallbacks;
  stopped: boolean;
}

/** A ListWatchSource the test drives: `items` is what LIST returns, watches are recorded. */
function fakeSource(): ListWatchSource & {
  items: KubernetesObject[];
  rv: number;
  listError: unknown;
  lists: number;
  watches: FakeWatch[];
  current(): FakeWatch;
} {
  const s = {
    items: [] as KubernetesObject[],
    rv: 10,
    listError: undefined as unknown,
    lists: 0,
    watches: [] as FakeWatch[],
    current(): FakeWatch {
      const w = s.watches.at(-1);
      if (!w) throw new Error('no watch');
      return w;
    },
    list(): Promise<ListResult> {
      s.lists++;
      if (s.listError) return Promise.reject(s.listError);
      return Promise.resolve({ items: structuredClone(s.items), resourceVersion: String(s.rv) });
    },
    watch(rv: string, cb: WatchCallbacks) {
      const w: FakeWatch = { rv, cb, stopped: false };
      s.watches.push(w);
      return Promise.resolve({ stop: () => void (w.stopped = true) });
    },
  };
  return s;
}

/** Records handler calls as strings like `add:a@1`. */
function record(inf: Informer<KubernetesObject>): string[] {
  const seen: string[] = [];
  const tag = (o: KubernetesObject): string =>
    `${o.metadata?.name ?? ''}@${o.metadata?.resourceVersion ?? ''}`;
  inf.on(InformerEvent.Add, (o) => seen.push(`add:${tag(o)}`));
  inf.on(InformerEvent.Update, (o, old) => seen.push(`update:${tag(old)}->${tag(o)}`));
  inf.on(InformerEvent.Delete, (o) => seen.push(`delete:${tag(o)}`));
  return seen;
}

describe('runtime/informer', () => {
  let clock: FakeClock;
  let src: ReturnType<typeof fakeSource>;
  let inf: Informer<KubernetesObject>;

  beforeEach(() => {
    clock = createFakeClock();
    src = fakeSource();
    inf = createInformer({ source: src, clock, random: () => 0, watchdogMs: 60_000 });
  });
  afterEach(async () => {
    await inf.stop();
  });

  it('lists, syncs, then watches from the list resourceVersion', async () => {
    src.items = [cm('a', '1'), cm('b', '2')];
    const seen = record(inf);
    expect(inf.hasSynced()).to.equal(false);
    inf.start();
    await inf.waitForSync();
    expect(inf.hasSynced()).to.equal(true);
    expect(seen).to.deep.equal(['add:a@1', 'add:b@2']);
    await flush();
    expect(src.current().rv).to.equal('10');
    expect(inf.list().map((o) => o.metadata?.name)).to.deep.equal(['a', 'b']);
    expect(inf.list('other')).to.have.length(0);
    expect(inf.get('ns/a')?.metadata?.resourceVersion).to.equal('1');
  });

  it('hands out deep-frozen objects and read-only lists', async () => {
    src.items = [cm('a', '1', { k: 'v' })];
    inf.start();
    await inf.waitForSync();
    const a = inf.get('ns/a') as ReturnType<typeof cm>;
    expect(Object.isFrozen(a)).to.equal(true);
    expect(() => {
      a.data['k'] = 'x';
    }).to.throw(TypeError);
    expect(() => (inf.list() as KubernetesObject[]).push(cm('z', '9'))).to.throw(TypeError);
  });

  it('keeps objects without metadata.managedFields, listed or watched', async () => {
    const managed = (o: ReturnType<typeof cm>): KubernetesObject => ({
      ...o,
      metadata: {
        ...o.metadata,
        managedFields: [{ manager: 'maaslab', operation: 'Apply', fieldsType: 'FieldsV1' }],
      },
    });
    src.items = [managed(cm('a', '1', { k: 'v' }))];
    inf.start();
    await inf.waitForSync();
    await flush();
    expect(inf.get('ns/a')?.metadata).to.deep.equal({
      namespace: 'ns',
      name: 'a',
      resourceVersion: '1',
    });
    src.current().cb.onEvent('MODIFIED', managed(cm('a', '2')));
    expect(inf.get('ns/a')?.metadata?.managedFields).to.equal(undefined);
    expect(inf.get('ns/a')?.metadata?.resourceVersion).to.equal('2');
  });

  it('applies watch events and skips updates with an unchanged resourceVersion', async () => {
    inf.start();
    await inf.waitForSync();
    await flush();
    const seen = record(inf);
    const w = src.current();
    w.cb.onEvent('ADDED', cm('a', '11'));
    w.cb.onEvent('MODIFIED', cm('a', '11'));
    w.cb.onEvent('MODIFIED', cm('a', '12'));
    w.cb.onEvent('BOOKMARK', { metadata: { resourceVersion: '13' } });
    w.cb.onEvent('DELETED', cm('a', '14'));
    w.cb.onEvent('DELETED', cm('never-seen', '15'));
    expect(seen).to.deep.equal(['add:a@11', 'update:a@11->a@12', 'delete:a@14']);
    expect(inf.get('ns/a')).to.equal(undefined);
  });

  it('survives a throwing handler and still calls the others', async () => {
    const errors: string[] = [];
    const logger: Logger = {
      error: (m) => errors.push(m),
      warn: () => undefined,
      info: () => undefined,
      debug: () => undefined,
      child: () => logger,
    };
    inf = createInformer({ source: src, clock, random: () => 0, logger });
    src.items = [cm('a', '1')];
    inf.on(InformerEvent.Add, () => {
      throw new Error('boom');
    });
    const seen = record(inf);
    inf.start();
    await inf.waitForSync();
    expect(seen).to.deep.equal(['add:a@1']);
    expect(errors).to.deep.equal(['Informer handler threw']);
  });

  it('re-watches from the latest resourceVersion after a clean close, without relisting', async () => {
    inf.start();
    await inf.waitForSync();
    await flush();
    src.current().cb.onEvent('ADDED', cm('a', '20'));
    src.current().cb.onDone(null);
    await flush();
    expect(src.lists).to.equal(1);
    expect(src.watches).to.have.length(2);
    expect(src.current().rv).to.equal('20');
    // A client-side timeout is a clean close too.
    src.current().cb.onDone(new DOMException('timeout', 'TimeoutError'));
    await clock.tickAsync(1000);
    expect(src.lists).to.equal(1);
    expect(src.watches).to.have.length(3);
  });

  it('relists at once on 410 Gone, emitting deletes for objects that vanished', async () => {
    src.items = [cm('a', '1'), cm('b', '2')];
    inf.start();
    await inf.waitForSync();
    await flush();
    const seen = record(inf);
    src.items = [cm('b', '3')];
    src.current().cb.onEvent('ERROR', { kind: 'Status', code: 410 } as KubernetesObject);
    await flush();
    expect(src.lists).to.equal(2);
    expect(seen).to.deep.equal(['update:b@2->b@3', 'delete:a@1']);
  });

  it('restarts a failed watch after a jittered backoff that doubles, then relists', async () => {
    inf.start();
    await inf.waitForSync();
    await flush();
    src.current().cb.onDone(Object.assign(new Error('connection reset'), { statusCode: 500 }));
    await clock.tickAsync(799);
    expect(src.lists).to.equal(1);
    await clock.tickAsync(1);
    expect(src.lists).to.equal(2);
    expect(src.watches).to.have.length(2);
    src.current().cb.onDone(new Error('again'));
    await clock.tickAsync(1599);
    expect(src.lists).to.equal(2);
    await clock.tickAsync(1);
    expect(src.lists).to.equal(3);
    expect(inf.stats().backoffs).to.equal(2);
  });

  it('keeps retrying a failing list with backoff capped at 30 s, and syncs when it works', async () => {
    src.listError = new Error('apiserver down');
    inf.start();
    await flush();
    expect(inf.hasSynced()).to.equal(false);
    for (const d of [800, 1600, 3200, 6400, 12800, 25600, 30000, 30000]) {
      const before = src.lists;
      await clock.tickAsync(d - 1);
      expect(src.lists, `before ${d}`).to.equal(before);
      await clock.tickAsync(1);
      expect(src.lists, `after ${d}`).to.equal(before + 1);
    }
    src.listError = undefined;
    await clock.tickAsync(30_000);
    expect(inf.hasSynced()).to.equal(true);
  });

  it('relists when the watch has been silent for watchdogMs', async () => {
    inf.start();
    await inf.waitForSync();
    await flush();
    const first = src.current();
    await clock.tickAsync(59_999);
    expect(src.lists).to.equal(1);
    // Any event, a bookmark included, resets the watchdog.
    first.cb.onEvent('BOOKMARK', { metadata: { resourceVersion: '30' } });
    await clock.tickAsync(59_999);
    expect(src.lists).to.equal(1);
    await clock.tickAsync(1);
    expect(first.stopped).to.equal(true);
    expect(src.lists).to.equal(2);
    expect(inf.stats().watchdogRelists).to.equal(1);
    expect(src.current()).to.not.equal(first);
  });

  it('does not tight-loop when a watch closes at once', async () => {
    inf.start();
    await inf.waitForSync();
    await flush();
    src.current().cb.onDone(null);
    await flush();
    expect(src.watches).to.have.length(1);
    await clock.tickAsync(800);
    expect(src.watches).to.have.length(2);
  });

  it('stops its watch on stop, and waitForSync honours its signal', async () => {
    src.listError = new Error('down');
    inf.start();
    const ac = new AbortController();
    const waiting = inf.waitForSync(ac.signal);
    ac.abort(new Error('gave up'));
    let caught: unknown;
    await waiting.catch((e: unknown) => (caught = e));
    expect((caught as Error).message).to.equal('gave up');
    src.listError = undefined;
    await clock.tickAsync(800);
    await inf.stop();
    expect(src.current().stopped).to.equal(true);
    expect(clock.pendingTimers()).to.equal(0);
  });
});
