import { expect } from 'chai';
import { Registry } from 'prom-client';
import { createController } from '../../../../src/runtime/controller/controller.js';
import {
  MetricName,
  RECONCILE_TIME_BUCKETS,
  WORKQUEUE_DURATION_BUCKETS,
  createRuntimeMetrics,
} from '../../../../src/runtime/metrics/runtime-metrics.js';
import { TerminalError, type Result } from '../../../../src/runtime/controller/reconcile.js';
import { createFakeClock } from '../../../fakes/clock.js';

const flush = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

interface Sample {
  readonly labels: Record<string, string | number>;
  readonly value: number;
  readonly metricName?: string;
}

async function samples(registry: Registry, name: string): Promise<Sample[]> {
  const metric = registry.getSingleMetric(name);
  expect(metric, name).to.not.equal(undefined);
  const got = await metric!.get();
  return got.values as Sample[];
}

async function value(
  registry: Registry,
  name: string,
  labels: Record<string, string>,
): Promise<number | undefined> {
  const match = (await samples(registry, name)).find(
    (s) =>
      (s.metricName ?? name) === name &&
      Object.entries(labels).every(([k, v]) => s.labels[k] === v) &&
      Object.keys(s.labels).length === Object.keys(labels).length,
  );
  return match?.value;
}

describe('runtime/metrics', () => {
  it('registers exactly controller-runtime’s names (and our informer restarts) on the given registry, not the global one', async () => {
    const registry = new Registry();
    createRuntimeMetrics({ registry });
    const names = (await registry.getMetricsAsJSON()).map((m) => m.name).sort();
    expect(names).to.deep.equal(
      [
        'controller_runtime_active_workers',
        'controller_runtime_max_concurrent_reconciles',
        'controller_runtime_reconcile_errors_total',
        'controller_runtime_reconcile_time_seconds',
        'controller_runtime_reconcile_timeouts_total',
        'controller_runtime_reconcile_total',
        'controller_runtime_terminal_reconcile_errors_total',
        'leader_election_master_status',
        'maaslab_informer_restarts_total',
        'rest_client_requests_total',
        'workqueue_adds_total',
        'workqueue_depth',
        'workqueue_longest_running_processor_seconds',
        'workqueue_queue_duration_seconds',
        'workqueue_retries_total',
        'workqueue_unfinished_work_seconds',
        'workqueue_work_duration_seconds',
      ].sort(),
    );
    expect(Object.values(MetricName).sort()).to.deep.equal(names);
    const { register } = await import('prom-client');
    expect(register.getSingleMetric(MetricName.ReconcileTotal)).to.equal(undefined);
  });

  it('uses controller-runtime’s and client-go’s buckets', async () => {
    expect(RECONCILE_TIME_BUCKETS).to.have.length(40);
    expect(RECONCILE_TIME_BUCKETS[0]).to.equal(0.005);
    expect(RECONCILE_TIME_BUCKETS.at(-1)).to.equal(60);
    expect(WORKQUEUE_DURATION_BUCKETS).to.deep.equal([
      1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10, 100, 1000,
    ]);
    const registry = new Registry();
    const m = createRuntimeMetrics({ registry });
    m.controller('c', 1).reconciled('success', 0.3);
    const les = (await samples(registry, MetricName.ReconcileTime))
      .filter((s) => s.metricName === `${MetricName.ReconcileTime}_bucket`)
      .map((s) => s.labels['le']);
    expect(les.slice(0, -1).map(Number)).to.deep.equal([...RECONCILE_TIME_BUCKETS]);
    expect(les.at(-1)).to.equal('+Inf');
  });

  it('pre-seeds a controller’s and its queue’s series to 0 (initMetrics)', async () => {
    const registry = new Registry();
    const m = createRuntimeMetrics({ registry });
    m.controller('maasnode', 4);
    m.queue('maasnode');
    for (const result of ['success', 'error', 'requeue', 'requeue_after']) {
      expect(
        await value(registry, MetricName.ReconcileTotal, { controller: 'maasnode', result }),
        result,
      ).to.equal(0);
    }
    for (const name of [
      MetricName.ReconcileErrors,
      MetricName.TerminalReconcileErrors,
      MetricName.ActiveWorkers,
    ]) {
      expect(await value(registry, name, { controller: 'maasnode' }), name).to.equal(0);
    }
    expect(
      await value(registry, MetricName.MaxConcurrentReconciles, { controller: 'maasnode' }),
    ).to.equal(4);
    const q = { name: 'maasnode', controller: 'maasnode' };
    for (const name of [
      MetricName.WorkqueueDepth,
      MetricName.WorkqueueAdds,
      MetricName.WorkqueueRetries,
    ]) {
      expect(await value(registry, name, q), name).to.equal(0);
    }
    const text = await registry.metrics();
    expect(text).to.include(
      'workqueue_queue_duration_seconds_count{name="maasnode",controller="maasnode"} 0',
    );
  });

  it('counts a controller’s passes under the right names and labels', async () => {
    const registry = new Registry();
    const m = createRuntimeMetrics({ registry });
    const clock = createFakeClock(0);
    const outcomes: Array<Result | Error> = [
      new Error('transient'),
      { requeueAfterMs: 1000 },
      new TerminalError('nope', { reason: 'NameConflict' }),
    ];
    let i = 0;
    const c = createController({
      name: 'maasnode',
      clock,
      maxConcurrentReconciles: 2,
      metrics: m.controller('maasnode', 2),
      queueMetrics: m.queue('maasnode'),
      reconciler: {
        async reconcile(): Promise<Result> {
          const o = outcomes[i++] ?? {};
          await clock.sleep(250);
          if (o instanceof Error) throw o;
          return o;
        },
      },
    });
    c.start();
    c.enqueue({ namespace: 'lab', name: 'n1' });
    await clock.tickAsync(250); // error, retry in 5 ms
    await clock.tickAsync(5 + 250); // requeue after 1 s
    await clock.tickAsync(1000 + 250); // terminal
    await clock.tickAsync(10_000);
    await c.stop();
    await flush();

    const ctl = { controller: 'maasnode' };
    const total = (result: string) =>
      value(registry, MetricName.ReconcileTotal, { ...ctl, result });
    expect(await total('error')).to.equal(2);
    expect(await total('requeue_after')).to.equal(1);
    expect(await total('success')).to.equal(0);
    expect(await value(registry, MetricName.ReconcileErrors, ctl)).to.equal(2);
    expect(await value(registry, MetricName.TerminalReconcileErrors, ctl)).to.equal(1);
    expect(await value(registry, MetricName.ActiveWorkers, ctl)).to.equal(0);
    const text = await registry.metrics();
    expect(text).to.include(
      'controller_runtime_reconcile_time_seconds_count{controller="maasnode"} 3',
    );
    expect(text).to.include(
      'controller_runtime_reconcile_time_seconds_bucket{le="0.25",controller="maasnode"} 3',
    );

    const q = { name: 'maasnode', controller: 'maasnode' };
    expect(await value(registry, MetricName.WorkqueueAdds, q)).to.equal(3);
    expect(await value(registry, MetricName.WorkqueueRetries, q)).to.equal(2);
    expect(await value(registry, MetricName.WorkqueueDepth, q)).to.equal(0);
    expect(text).to.include(
      'workqueue_work_duration_seconds_count{name="maasnode",controller="maasnode"} 3',
    );
    expect(text).to.include(
      'workqueue_work_duration_seconds_bucket{le="0.1",name="maasnode",controller="maasnode"} 0',
    );
    expect(text).to.include(
      'workqueue_work_duration_seconds_bucket{le="1",name="maasnode",controller="maasnode"} 3',
    );
    expect(text).to.include(
      'workqueue_queue_duration_seconds_count{name="maasnode",controller="maasnode"} 3',
    );
    expect(await value(registry, MetricName.WorkqueueUnfinishedWork, q)).to.equal(0);
  });

  it('reports unfinished work and the longest-running processor while a pass runs', async () => {
    const registry = new Registry();
    const m = createRuntimeMetrics({ registry });
    const clock = createFakeClock(0);
    const q = { name: 'slow', controller: 'slow' };
    const c = createController({
      name: 'slow',
      clock,
      metrics: m.controller('slow', 1),
      queueMetrics: m.queue('slow'),
      reconciler: { reconcile: (_req, signal) => clock.sleep(10_000, signal).then(() => ({})) },
    });
    c.start();
    c.enqueue({ name: 'x' });
    await clock.tickAsync(2_000);
    expect(await value(registry, MetricName.WorkqueueLongestRunningProcessor, q)).to.equal(2);
    expect(await value(registry, MetricName.WorkqueueUnfinishedWork, q)).to.equal(2);
    expect(await value(registry, MetricName.ActiveWorkers, { controller: 'slow' })).to.equal(1);
    await clock.tickAsync(8_000);
    expect(await value(registry, MetricName.WorkqueueLongestRunningProcessor, q)).to.equal(0);
    await c.stop();
  });

  it('sets leader_election_master_status per lease name', async () => {
    const registry = new Registry();
    const m = createRuntimeMetrics({ registry });
    m.leaderElection.on('maaslab-hv-a');
    m.leaderElection.off('maaslab-hv-b');
    expect(
      await value(registry, MetricName.LeaderElectionMasterStatus, { name: 'maaslab-hv-a' }),
    ).to.equal(1);
    expect(
      await value(registry, MetricName.LeaderElectionMasterStatus, { name: 'maaslab-hv-b' }),
    ).to.equal(0);
    m.leaderElection.forget('maaslab-hv-b');
    expect(
      await registry.getSingleMetricAsString(MetricName.LeaderElectionMasterStatus),
    ).to.not.contain('maaslab-hv-b');
  });
});

describe('runtime/metrics informer restarts', () => {
  it('reads each informer’s restarts at scrape time, summed per kind', async () => {
    const registry = new Registry();
    const metrics = createRuntimeMetrics({ registry });
    let restarts = [
      { kind: 'MaasNode', restarts: 0 },
      { kind: 'MaasNode', restarts: 2 },
      { kind: 'Hypervisor', restarts: 1 },
    ];
    metrics.informers(() => restarts);
    expect(await value(registry, MetricName.InformerRestarts, { kind: 'MaasNode' })).to.equal(2);
    expect(await value(registry, MetricName.InformerRestarts, { kind: 'Hypervisor' })).to.equal(1);
    restarts = [{ kind: 'MaasNode', restarts: 5 }];
    expect(await value(registry, MetricName.InformerRestarts, { kind: 'MaasNode' })).to.equal(5);
    expect(await value(registry, MetricName.InformerRestarts, { kind: 'Hypervisor' })).to.equal(
      undefined,
    );
  });
});
