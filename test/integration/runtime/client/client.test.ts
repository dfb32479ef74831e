// The client's writes against a real kube-apiserver: /status merge patches (skipped when
// unchanged, never re-applied on conflict), locked finalizer patches, server-side apply, and Events.
import { expect } from 'chai';
import type { KubeConfig } from '@kubernetes/client-node';
import { type Client, createClient } from '../../../../src/runtime/client/client.js';
import { EventType } from '../../../../src/runtime/events/event-record.js';
import { createEventRecorder } from '../../../../src/runtime/events/recorder.js';
import type { MetaObject } from '../../../../src/runtime/controller/objects.js';
import { ConflictError } from '../../../../src/runtime/controller/reconcile.js';
import {
  type RestClient,
  createRestClient,
  isConflict,
} from '../../../../src/runtime/client/rest.js';
import { controlPlane } from '../../../support/controlplane.js';
import { type TestNamespace, createTestNamespace } from '../../../support/namespace.js';
import { waitFor } from '../../../support/wait.js';

const NODE = { apiVersion: 'maaslab.dev/v1alpha1', kind: 'MaasNode' } as const;

interface Node extends MetaObject {
  readonly metadata: MetaObject['metadata'] & { readonly generation?: number };
  readonly spec: Record<string, unknown>;
  readonly status?: Record<string, unknown>;
  readonly managedFields?: unknown;
}

describe('runtime/client (real API server)', () => {
  let kc: KubeConfig;
  let rest: RestClient;
  let client: Client;
  let ns: TestNamespace;

  const createNode = (name: string): Promise<Node> =>
    rest.request<Node>({
      method: 'POST',
      ref: { ...NODE, namespace: ns.name },
      body: { ...NODE, metadata: { name }, spec: { hypervisor: 'hv-a' } },
    });
  const read = async (name: string): Promise<Node> => {
    const n = await client.get<Node>({ ...NODE, namespace: ns.name, name });
    if (!n) throw new Error(`${name} not found`);
    return n;
  };

  before(() => {
    kc = controlPlane().kubeConfig('admin');
    rest = createRestClient(controlPlane().restConfig('admin'));
    client = createClient({ rest });
  });
  beforeEach(async () => {
    ns = await createTestNamespace(kc, 'rt-client');
  });
  afterEach(async () => {
    await ns.delete();
  });

  it('writes status only through /status, and skips a write that changes nothing', async () => {
    const created = await createNode('n1');
    const status = { printableStatus: 'Provisioning', observedGeneration: 1 };
    const first = await client.patchStatus(created, status);
    expect(first.changed).to.equal(true);
    expect(first.object.status).to.deep.equal(status);
    expect(first.object.metadata?.generation).to.equal(created.metadata.generation);
    const rv = first.object.metadata?.resourceVersion;
    const again = await client.patchStatus(first.object, { ...status });
    expect(again.changed).to.equal(false);
    expect((await read('n1')).metadata?.resourceVersion).to.equal(rv);
    // A removed key is removed on the server too.
    const fewer = await client.patchStatus(again.object, { printableStatus: 'Running' });
    expect(fewer.object.status).to.deep.equal({ printableStatus: 'Running' });
  });

  it('never re-applies a status computed from a stale object: ConflictError, nothing written', async () => {
    const stale = await createNode('n2');
    // Someone else writes meanwhile: our resourceVersion is now stale.
    await rest.request({
      method: 'PATCH',
      ref: { ...NODE, namespace: ns.name, name: 'n2' },
      body: { metadata: { labels: { touched: 'yes' } } },
      contentType: 'application/merge-patch+json',
    });
    const touched = await read('n2');
    let caught: unknown;
    await client
      .patchStatus(stale, { printableStatus: 'Provisioning' })
      .catch((e: unknown) => (caught = e));
    expect(caught).to.be.instanceOf(ConflictError);
    expect(isConflict(caught)).to.equal(true);
    const now = await read('n2');
    expect(now.status).to.equal(undefined);
    expect(now.metadata?.resourceVersion).to.equal(touched.metadata?.resourceVersion);
    // Observed again, the write goes through.
    const res = await client.patchStatus(now, { printableStatus: 'Provisioning' });
    expect(res.changed).to.equal(true);
    expect((await read('n2')).status).to.deep.equal({ printableStatus: 'Provisioning' });
  });

  it('locks finalizer patches to the resourceVersion, and adds and removes idempotently', async () => {
    const created = await createNode('n3');
    const added = await client.ensureFinalizer(created);
    expect(added.changed).to.equal(true);
    expect(added.object.metadata?.finalizers).to.deep.equal(['maaslab.dev/cleanup']);
    expect((await client.ensureFinalizer(added.object)).changed).to.equal(false);
    // The raw patch with a stale resourceVersion is refused: that is the lock.
    let caught: unknown;
    await rest
      .request({
        method: 'PATCH',
        ref: { ...NODE, namespace: ns.name, name: 'n3' },
        body: { metadata: { finalizers: [], resourceVersion: created.metadata?.resourceVersion } },
        contentType: 'application/merge-patch+json',
      })
      .catch((e: unknown) => (caught = e));
    expect(isConflict(caught)).to.equal(true);
    // Deleting bumps the resourceVersion, so `added.object` is stale: dropFinalizer hits 409,
    // re-reads and removes the finalizer, which lets the deletion finish.
    await client.delete({ ...NODE, namespace: ns.name, name: 'n3' });
    const dropped = await client.dropFinalizer(added.object);
    expect(dropped.changed).to.equal(true);
    await waitFor(
      async () => (await client.get({ ...NODE, namespace: ns.name, name: 'n3' })) === undefined,
      {
        description: 'n3 deleted',
      },
    );
  });

  it('server-side applies as field manager maaslab, idempotently', async () => {
    const desired: MetaObject & {
      metadata: { labels: Record<string, string> };
      data: Record<string, string>;
    } = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'applied', namespace: ns.name, labels: { app: 'maaslab' } },
      data: { k: 'v' },
    };
    const first = await client.apply(desired);
    const second = await client.apply(desired);
    expect(second.metadata?.resourceVersion).to.equal(first.metadata?.resourceVersion);
    const managers = (
      second as { metadata: { managedFields?: Array<{ manager: string; operation: string }> } }
    ).metadata.managedFields;
    expect(managers?.map((m) => `${m.manager}/${m.operation}`)).to.deep.equal(['maaslab/Apply']);
    const changed = await client.apply({ ...desired, data: { k: 'w' } });
    expect(changed.metadata?.resourceVersion).to.not.equal(first.metadata?.resourceVersion);
  });

  it('posts events.k8s.io/v1 Events and aggregates repeats into a series', async () => {
    const node = await createNode('n4');
    const events = createEventRecorder({ rest, reportingInstance: 'it-1', seriesIntervalMs: 0 });
    const input = {
      regarding: node,
      type: EventType.Warning,
      reason: 'NameConflict',
      action: 'Define',
      note: 'domain exists',
    };
    events.record(input);
    await events.flush();
    events.record(input);
    await events.flush();
    const list = await rest.request<{ items: Array<Record<string, unknown>> }>({
      method: 'GET',
      ref: { apiVersion: 'events.k8s.io/v1', kind: 'Event', namespace: ns.name },
    });
    expect(list.items).to.have.length(1);
    const ev = list.items[0];
    expect(ev).to.deep.include({
      reason: 'NameConflict',
      action: 'Define',
      type: 'Warning',
      reportingController: 'maaslab.dev/operator',
      reportingInstance: 'it-1',
    });
    expect((ev?.['regarding'] as { uid?: string }).uid).to.equal(node.metadata?.uid);
    expect((ev?.['series'] as { count?: number }).count).to.equal(2);
  });
});
