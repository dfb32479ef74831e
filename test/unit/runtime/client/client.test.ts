import { expect } from 'chai';
import { createClient, statusMergePatch } from '../../../../src/runtime/client/client.js';
import { createEventRecorder } from '../../../../src/runtime/events/recorder.js';
import { EventType } from '../../../../src/runtime/events/event-record.js';
import {
  type RestClient,
  type RestRequest,
  isConflict,
} from '../../../../src/runtime/client/rest.js';
import { ConflictError } from '../../../../src/runtime/controller/reconcile.js';
import { createFakeClock } from '../../../fakes/clock.js';

/** A RestClient that records requests and answers from a script (default: echo the body). */
function fakeRest(answer: (req: RestRequest, n: number) => unknown = (r) => r.body): RestClient & {
  calls: RestRequest[];
} {
  const calls: RestRequest[] = [];
  return {
    calls,
    request<T>(req: RestRequest): Promise<T> {
      calls.push(req);
      try {
        return Promise.resolve(answer(req, calls.length) as T);
      } catch (err) {
        return Promise.reject(err);
      }
    },
    path: () => Promise.resolve(''),
    watch: () => Promise.reject(new Error('no watch')),
  };
}

const http = (code: number): Error =>
  Object.assign(new Error(`HTTP ${code}`), { statusCode: code });

const node = {
  apiVersion: 'maaslab.dev/v1alpha1',
  kind: 'MaasNode',
  metadata: { namespace: 'ns', name: 'n1', resourceVersion: '5', finalizers: ['other'] },
  status: { printableStatus: 'Stopped', old: 1 },
};

describe('runtime/client', () => {
  const clock = createFakeClock();

  it('builds status merge patches that null removed keys, at any depth; arrays are replaced', () => {
    expect(statusMergePatch({ a: 1, b: 2 }, { a: 3 })).to.deep.equal({ a: 3, b: null });
    expect(statusMergePatch(undefined, { a: 3 })).to.deep.equal({ a: 3 });
    // status.power switching from virsh's fields to a BMC's: `id` must go.
    expect(
      statusMergePatch(
        { power: { type: 'virsh', address: 'qemu:///system', id: 'd' }, keep: { x: 1 } },
        { power: { type: 'ipmi', address: '127.0.0.1:6230' }, keep: { x: 1 } },
      ),
    ).to.deep.equal({
      power: { type: 'ipmi', address: '127.0.0.1:6230', id: null },
      keep: { x: 1 },
    });
    expect(statusMergePatch({ list: [{ a: 1 }, { b: 2 }] }, { list: [{ a: 1 }] })).to.deep.equal({
      list: [{ a: 1 }],
    });
    expect(statusMergePatch({ o: { a: 1 } }, { o: 'scalar' })).to.deep.equal({ o: 'scalar' });
  });

  it('skips a status write when nothing changed', async () => {
    const rest = fakeRest();
    const res = await createClient({ rest }).patchStatus(node, {
      old: 1,
      printableStatus: 'Stopped',
    });
    expect(res.changed).to.equal(false);
    expect(res.object).to.equal(node);
    expect(rest.calls).to.have.length(0);
  });

  it('merge-patches only /status, with an explicit content type and a resourceVersion lock', async () => {
    const rest = fakeRest(() => ({
      ...node,
      metadata: { ...node.metadata, resourceVersion: '6' },
    }));
    const res = await createClient({ rest }).patchStatus(node, { printableStatus: 'Running' });
    expect(res.changed).to.equal(true);
    expect(rest.calls).to.have.length(1);
    const [call] = rest.calls;
    expect(call).to.deep.include({
      method: 'PATCH',
      subresource: 'status',
      contentType: 'application/merge-patch+json',
    });
    expect(call?.ref).to.deep.equal({
      apiVersion: 'maaslab.dev/v1alpha1',
      kind: 'MaasNode',
      namespace: 'ns',
      name: 'n1',
    });
    expect(call?.body).to.deep.equal({
      metadata: { resourceVersion: '5' },
      status: { printableStatus: 'Running', old: null },
    });
  });

  it('never re-applies a status on 409: ConflictError, one PATCH, no re-read', async () => {
    const rest = fakeRest(() => {
      throw http(409);
    });
    const client = createClient({ rest, clock: { ...clock, sleep: () => Promise.resolve() } });
    let caught: unknown;
    await client
      .patchStatus(node, { printableStatus: 'Running' })
      .catch((e: unknown) => (caught = e));
    expect(caught).to.be.instanceOf(ConflictError);
    expect(isConflict(caught)).to.equal(true);
    expect((caught as Error).message).to.match(
      /MaasNode ns\/n1 not written.*resourceVersion 5 \(409\)/,
    );
    expect(((caught as Error).cause as { statusCode: number }).statusCode).to.equal(409);
    expect(rest.calls.map((c) => c.method)).to.deep.equal(['PATCH']);
    // Other failures pass through as they are.
    const down = fakeRest(() => {
      throw http(500);
    });
    let other: unknown;
    await createClient({ rest: down })
      .patchStatus(node, { x: 1 })
      .catch((e: unknown) => (other = e));
    expect(other).not.to.be.instanceOf(ConflictError);
    expect((other as { statusCode: number }).statusCode).to.equal(500);
  });

  it('re-reads and re-applies a finalizer patch on 409, and gives up after the last attempt', async () => {
    const fresh = { ...node, metadata: { ...node.metadata, resourceVersion: '9' } };
    const rest = fakeRest((req, n) => {
      if (req.method === 'GET') return fresh;
      if (n === 1) throw http(409);
      return req.body;
    });
    const client = createClient({ rest, clock: { ...clock, sleep: () => Promise.resolve() } });
    await client.ensureFinalizer(node);
    expect(rest.calls.map((c) => c.method)).to.deep.equal(['PATCH', 'GET', 'PATCH']);
    expect(rest.calls[2]?.body).to.deep.include({
      metadata: { finalizers: ['other', 'maaslab.dev/cleanup'], resourceVersion: '9' },
    });

    const always = fakeRest((req) => {
      if (req.method === 'GET') return fresh;
      throw http(409);
    });
    const c2 = createClient({ rest: always, clock: { ...clock, sleep: () => Promise.resolve() } });
    let caught: unknown;
    await c2.ensureFinalizer(node).catch((e: unknown) => (caught = e));
    expect((caught as { statusCode: number }).statusCode).to.equal(409);
    expect(always.calls.filter((c) => c.method === 'PATCH')).to.have.length(5);
  });

  it('adds and removes finalizers with a locked merge patch, skipping no-ops', async () => {
    const rest = fakeRest();
    const client = createClient({ rest });
    const added = await client.ensureFinalizer(node);
    expect(added.changed).to.equal(true);
    expect(rest.calls[0]).to.deep.include({
      method: 'PATCH',
      contentType: 'application/merge-patch+json',
      body: { metadata: { finalizers: ['other', 'maaslab.dev/cleanup'], resourceVersion: '5' } },
    });
    expect(rest.calls[0]?.subresource).to.equal(undefined);
    expect((await client.dropFinalizer(node)).changed).to.equal(false);
    const gone = fakeRest(() => {
      throw http(404);
    });
    const holding = {
      ...node,
      metadata: { ...node.metadata, finalizers: ['maaslab.dev/cleanup'] },
    };
    const dropped = await createClient({ rest: gone }).dropFinalizer(holding);
    expect(dropped).to.deep.equal({ changed: true, object: undefined });
    expect(gone.calls[0]?.body).to.deep.equal({
      metadata: { finalizers: [], resourceVersion: '5' },
    });
  });

  it('applies server-side as field manager maaslab, forced', async () => {
    const rest = fakeRest();
    await createClient({ rest }).apply(node);
    expect(rest.calls[0]).to.deep.include({
      method: 'PATCH',
      contentType: 'application/apply-patch+yaml',
      query: { fieldManager: 'maaslab', force: true },
    });
  });

  it('get and delete treat 404 as absence', async () => {
    const rest = fakeRest(() => {
      throw http(404);
    });
    const client = createClient({ rest });
    expect(await client.get(node as never)).to.equal(undefined);
    expect(await client.delete({ apiVersion: 'v1', kind: 'ConfigMap', name: 'x' })).to.equal(false);
  });
});

describe('runtime/events', () => {
  it('posts events.k8s.io/v1 Events, aggregates repeats into a series, never throws', async () => {
    const clock = createFakeClock();
    const rest = fakeRest((req, n) => {
      if (n === 2) throw http(500);
      return req.body;
    });
    const rec = createEventRecorder({
      rest,
      clock,
      reportingInstance: 'op-1',
      seriesIntervalMs: 1000,
    });
    const ev = { regarding: node, type: EventType.Normal, reason: 'Created', action: 'Create' };
    rec.record(ev);
    rec.record(ev); // within the series interval: counted only
    clock.advance(1000);
    rec.record(ev); // bumps the series (and this PATCH fails, quietly)
    rec.record({ ...ev, reason: 'Other' });
    rec.record({ ...ev, reason: '' }); // invalid: logged, not thrown
    await rec.flush();
    expect(rest.calls.map((c) => c.method)).to.deep.equal(['POST', 'PATCH', 'POST']);
    expect(rest.calls[0]?.ref).to.deep.equal({
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      namespace: 'ns',
    });
    expect(rest.calls[0]?.body).to.deep.include({ reason: 'Created', reportingInstance: 'op-1' });
    expect(rest.calls[1]?.body).to.deep.include({
      series: { count: 3, lastObservedTime: '2026-01-01T00:00:01.000000Z' },
    });
    expect(rest.calls[1]?.contentType).to.equal('application/merge-patch+json');
  });
});
