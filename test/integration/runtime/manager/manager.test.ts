// The manager end to end against a real kube-apiserver: a controller built with the builder
// reconciles MaasNodes of one hypervisor (field-selected), writes status through the client,
// /readyz turns ready after sync, /metrics counts the passes, and stop() shuts it all down.
import { expect } from 'chai';
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { controllerBuilder } from '../../../../src/runtime/controller/builder.js';
import { type Manager, createManager } from '../../../../src/runtime/manager/manager.js';
import type { StatusObject } from '../../../../src/runtime/client/client.js';
import { type RestClient, createRestClient } from '../../../../src/runtime/client/rest.js';
import { controlPlane } from '../../../support/controlplane.js';
import { type TestNamespace, createTestNamespace } from '../../../support/namespace.js';
import { waitFor } from '../../../support/wait.js';

const NODE = { apiVersion: 'maaslab.dev/v1alpha1', kind: 'MaasNode' } as const;

describe('runtime/manager (real API server)', () => {
  let kc: KubeConfig;
  let rest: RestClient;
  let ns: TestNamespace;
  let manager: Manager | undefined;

  before(() => {
    kc = controlPlane().kubeConfig('admin');
    rest = createRestClient(controlPlane().restConfig('admin'));
  });
  beforeEach(async () => {
    ns = await createTestNamespace(kc, 'rt-manager');
  });
  afterEach(async () => {
    await manager?.stop();
    manager = undefined;
    await ns.delete();
  });

  it('syncs, reconciles the selected objects, writes status, serves probes and metrics, stops', async () => {
    const mk = (name: string, hypervisor: string) =>
      rest.request({
        method: 'POST',
        ref: { ...NODE, namespace: ns.name },
        body: { ...NODE, metadata: { name }, spec: { hypervisor } },
      });
    await mk('mine', 'hv-a');
    await mk('theirs', 'hv-b');
    const m = createManager({
      restConfig: controlPlane().restConfig('admin'),
      namespace: ns.name,
      metricsRegistry: new Registry(),
      metricsBindAddress: '127.0.0.1:0',
      // Plain HTTP on loopback; the secure server has its own test (runtime/manager/metrics-auth).
      metricsServing: { secure: false },
      healthProbeBindAddress: '127.0.0.1:0',
    });
    manager = m;
    const scope = { namespace: ns.name, fieldSelector: 'spec.hypervisor=hv-a' };
    const seen: string[] = [];
    controllerBuilder(m)
      .for(NODE, { scopes: [scope] })
      .complete({
        async reconcile(req) {
          seen.push(req.name);
          const node = m.cache<KubernetesObject & StatusObject>(NODE).get(req);
          if (!node) return {};
          await m.client.patchStatus(node, { printableStatus: 'Provisioning' });
          return {};
        },
      });
    await m.start(AbortSignal.timeout(60_000));
    const { probe, metrics } = m.servers();
    expect((await fetch(`http://127.0.0.1:${probe?.port ?? 0}/readyz`)).status).to.equal(200);
    await waitFor(
      async () => {
        const n = await m.client.get<StatusObject>({ ...NODE, namespace: ns.name, name: 'mine' });
        return (
          (n?.status as { printableStatus?: string } | undefined)?.printableStatus ===
          'Provisioning'
        );
      },
      { description: 'status written by the controller' },
    );
    const other = await m.client.get<StatusObject>({ ...NODE, namespace: ns.name, name: 'theirs' });
    expect(other?.status).to.equal(undefined);
    expect(seen).to.not.include('theirs');
    const text = await (await fetch(`http://127.0.0.1:${metrics?.port ?? 0}/metrics`)).text();
    expect(text).to.match(
      /controller_runtime_reconcile_total\{controller="maasnode",result="success"\} [1-9]/,
    );
    await m.stop();
    let refused = false;
    await fetch(`http://127.0.0.1:${probe?.port ?? 0}/healthz`).catch(() => (refused = true));
    expect(refused).to.equal(true);
  });

  it('a status write that meets a 409 is not re-applied: the key is requeued and observed again', async () => {
    await rest.request({
      method: 'POST',
      ref: { ...NODE, namespace: ns.name },
      body: { ...NODE, metadata: { name: 'raced' }, spec: { hypervisor: 'hv-a' } },
    });
    const m = createManager({
      restConfig: controlPlane().restConfig('admin'),
      namespace: ns.name,
      metricsRegistry: new Registry(),
      metricsBindAddress: '127.0.0.1:0',
      // Plain HTTP on loopback; the secure server has its own test (runtime/manager/metrics-auth).
      metricsServing: { secure: false },
      healthProbeBindAddress: '0',
    });
    manager = m;
    type Node = KubernetesObject & StatusObject;
    const written: string[] = [];
    const conflicts: unknown[] = [];
    let raced = false;
    controllerBuilder(m)
      .for(NODE, { scopes: [{ namespace: ns.name }] })
      .complete({
        async reconcile(req) {
          const node = m.cache<Node>(NODE).get(req);
          if (!node) return {};
          // The status this pass computes from what it observed: the node's `color` label.
          const status = {
            printableStatus: node.metadata?.labels?.color === 'green' ? 'Running' : 'Provisioning',
          };
          if (!raced) {
            // Someone else writes between our observation and our report.
            raced = true;
            await rest.request({
              method: 'PATCH',
              ref: { ...NODE, namespace: ns.name, name: req.name },
              body: { metadata: { labels: { color: 'green' } } },
              contentType: 'application/merge-patch+json',
            });
          }
          try {
            const res = await m.client.patchStatus(node, status);
            if (res.changed) written.push(status.printableStatus);
          } catch (err) {
            conflicts.push(err);
            throw err;
          }
          return {};
        },
      });
    await m.start(AbortSignal.timeout(60_000));
    await waitFor(() => written.includes('Running'), {
      description: 'status from the fresh observation',
    });
    // The stale status (Provisioning) was never written, not even once.
    expect(written).to.deep.equal(['Running']);
    expect(conflicts.length).to.be.greaterThan(0);
    expect(conflicts.every((e) => (e as Error).name === 'ConflictError')).to.equal(true);
    const stored = await m.client.get<Node>({ ...NODE, namespace: ns.name, name: 'raced' });
    expect((stored?.status as { printableStatus?: string }).printableStatus).to.equal('Running');
    // Counted as requeues, not as errors.
    const { metrics } = m.servers();
    const text = await (await fetch(`http://127.0.0.1:${metrics?.port ?? 0}/metrics`)).text();
    expect(text).to.match(
      /controller_runtime_reconcile_total\{controller="maasnode",result="requeue"\} [1-9]/,
    );
    expect(text).to.match(/controller_runtime_reconcile_errors_total\{controller="maasnode"\} 0/);
  });
});
