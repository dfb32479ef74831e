// End to end for deploy/monitoring and deploy/argocd: a real Prometheus (Debian's, on
// 127.0.0.1) scrapes the operator child process every second while it builds the recipe lab
// on a private libvirtd — over HTTPS with a ServiceAccount token bound to
// maaslab-metrics-reader, as the ServiceMonitor does (and a second job without a token is
// refused). Then every dashboard query must be accepted by Prometheus and the
// core panels must show the lab; the alert expressions must be quiet for the healthy lab;
// and Argo CD's health Lua, run on the live objects, must agree with kstatus.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'chai';
import { parseAllDocuments } from 'yaml';
import type { MaasLab } from '../../../src/api/v1alpha1/index.js';
import { controlPlane, repoRoot } from '../../support/controlplane.js';
import {
  type Conditioned,
  type E2eEnvironment,
  isReadyNow,
  kstatus,
  startE2eEnvironment,
} from '../../support/e2e.js';
import {
  type Dashboard,
  type PrometheusServer,
  argoHealth,
  dashboardQueries,
  loadDashboard,
  loadRuleGroups,
  startPrometheus,
  substitute,
  variableValues,
} from '../../support/monitoring.js';
import { kubectlApply, kubectlRun } from '../../support/operator.js';
import {
  METRICS_READER_ROLE,
  type TestServiceAccount,
  createServiceAccountWithToken,
} from '../../support/metrics-auth.js';
import { waitFor } from '../../support/wait.js';

const LAB = 'recipe';
const JOB = 'maaslab-operator';
/** The same target scraped without a token: it must stay down. */
const ANONYMOUS_JOB = 'maaslab-operator-anonymous';
/** Grafana's $__rate_interval for a 1 s scrape is 4 s; a wider window keeps rates non-empty. */
const RATE_INTERVAL = '30s';
const LONG = { timeoutMs: 480_000, intervalMs: 1000 } as const;

interface Doc {
  kind: string;
  metadata: { name: string; namespace?: string };
  spec: Record<string, unknown> & {
    nodes?: { macPrefix?: string; template?: Record<string, unknown> };
  };
}

/** A live object of ours, with what kstatus needs to find it. */
interface Live extends Conditioned {
  readonly kind: string;
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly generation?: number;
  };
}

describe('e2e: monitoring (Prometheus + dashboard) and Argo CD health on the recipe lab', function () {
  this.timeout(900_000);

  let env: E2eEnvironment | undefined;
  let prom: PrometheusServer | undefined;
  let scraper: TestServiceAccount | undefined;
  let dashboard: Dashboard;
  let builtFromS: number;
  let readyAtS: number;

  const e = (): E2eEnvironment => {
    if (!env) throw new Error('environment not started');
    return env;
  };
  const p = (): PrometheusServer => {
    if (!prom) throw new Error('prometheus not started');
    return prom;
  };
  const ns = (): string => e().labNs.name;
  const kubeconfig = (): string => controlPlane().adminKubeconfig;
  const lab = (): Promise<MaasLab> => e().read.get<MaasLab>('MaasLab', LAB, ns());
  /** Every object of the lab: the Hypervisor, the lab, its VirtNetworks and MaasNodes. */
  const liveObjects = async (): Promise<Live[]> => [
    await e().read.get<Live>('Hypervisor', e().hv),
    await e().read.get<Live>('MaasLab', LAB, ns()),
    ...(await e().read.list<Live>('VirtNetwork', ns())),
    ...(await e().read.list<Live>('MaasNode', ns())),
  ];
  const refOf = (o: Live): string =>
    o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;
  /** An instant query that must succeed; its result vector. */
  const instant = async (expr: string) => {
    const answer = await p().query(expr);
    expect(answer.status, `${expr}: ${answer.errorType ?? ''} ${answer.error ?? ''}`).to.equal(
      'success',
    );
    return answer.data?.result ?? [];
  };

  before(async function () {
    this.timeout(300_000);
    dashboard = await loadDashboard();
    env = await startE2eEnvironment('mon', { leaderElect: true, secureMetrics: true });
    // Prometheus's identity, as in a cluster: a ServiceAccount bound to maaslab-metrics-reader.
    scraper = await createServiceAccountWithToken(
      env.admin,
      env.leaseNs.name,
      'prometheus',
      METRICS_READER_ROLE,
    );
    prom = await startPrometheus({
      job: JOB,
      metricsUrl: env.operator.metricsUrl,
      interval: '1s',
      bearerToken: scraper.token,
      unauthenticatedJob: ANONYMOUS_JOB,
    });
    // Prometheus applies new targets after a few seconds, and the lab may be built in less:
    // without a scrape before the build, its counters would be seen only at their end value.
    await waitFor(async () => (await instant(`up{job="${JOB}"}`))[0]?.value?.[1] === '1', {
      timeoutMs: 60_000,
      intervalMs: 500,
      description: 'a first scrape of the operator',
    });
  });

  after(async function () {
    this.timeout(180_000);
    await prom?.stop();
    await scraper?.cleanup();
    await env?.stop();
  });

  it('scrapes over HTTPS with the reader token; without a token the scrape is refused (401)', async function () {
    const targets = await waitFor(
      async () => {
        const t = await p().targets();
        return t.length === 2 && t.every((x) => x.health !== 'unknown') ? t : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 500, description: 'both targets scraped once' },
    );
    const byJob = new Map(targets.map((t) => [t.scrapePool, t]));
    expect(byJob.get(JOB)?.scrapeUrl).to.match(/^https:\/\/127\.0\.0\.1:\d+\/metrics$/);
    expect(byJob.get(JOB)?.health).to.equal('up');
    expect(byJob.get(ANONYMOUS_JOB)?.health).to.equal('down');
    expect(byJob.get(ANONYMOUS_JOB)?.lastError).to.contain('401');
    expect((await instant(`up{job="${ANONYMOUS_JOB}"}`))[0]?.value?.[1]).to.equal('0');
  });

  it('scrapes the operator while it builds the recipe lab', async function () {
    const docs = parseAllDocuments(
      await readFile(join(repoRoot, 'examples', 'recipe-lab.yaml'), 'utf8'),
    ).map((d) => d.toJS() as Doc);
    for (const d of docs) {
      if (d.kind === 'Hypervisor') {
        d.metadata.name = e().hv;
        Object.assign(d.spec, {
          uri: e().lv.uri,
          storagePool: e().pool,
          storagePoolPath: join(e().lv.dir, 'pool'),
        });
      } else {
        d.metadata.namespace = ns();
        d.spec.hypervisor = e().hv;
        // The recipe's shape (three PXE nodes on an isolated network), sized down so that
        // TCG on a busy two-core machine builds it quickly.
        d.spec.networks = [
          { name: 'maas', mode: 'isolated', ipv4: { address: '10.81.0.1', prefixLength: 24 } },
        ];
        Object.assign(d.spec.nodes ?? {}, { macPrefix: '52:54:00:7f:06' });
        Object.assign(d.spec.nodes?.template ?? {}, {
          memory: '128Mi',
          disks: [{ name: 'root', size: '64Mi', bus: 'virtio', format: 'qcow2' }],
          vnc: { enabled: false },
        });
      }
    }
    builtFromS = Date.now() / 1000;
    await kubectlApply(kubeconfig(), docs, join(e().scratch, 'lab.yaml'));
    await waitFor(async () => isReadyNow(await lab()), {
      ...LONG,
      description: `lab Ready (log: ${e().logFile})`,
    });
    // Prometheus has seen it too: three Running nodes on our hypervisor.
    await waitFor(
      async () => {
        const r = await instant(
          `sum(maaslab_nodes{job="${JOB}",hypervisor="${e().hv}",status="Running"})`,
        );
        return r[0]?.value?.[1] === '3';
      },
      {
        timeoutMs: 60_000,
        intervalMs: 1000,
        description: 'maaslab_nodes Running = 3 in Prometheus',
      },
    );
    readyAtS = Date.now() / 1000;
  });

  it('every dashboard query is accepted by Prometheus', async function () {
    const values = variableValues(dashboard, RATE_INTERVAL, { hypervisor: e().hv });
    const queries = dashboardQueries(dashboard);
    expect(queries.length).to.be.greaterThan(20);
    for (const q of queries) await instant(substitute(q.expr, values));
    // The hypervisor variable's own query (label_values) finds our hypervisor.
    expect(await p().labelValues('hypervisor', 'maaslab_hypervisor_up')).to.include(e().hv);
  });

  it('the core panels show the lab: hypervisor up, nodes by status, labs, reconcile rate, libvirt calls', async function () {
    const values = variableValues(dashboard, RATE_INTERVAL, { hypervisor: e().hv });
    const panel = (title: string): string[] => {
      const qs = dashboardQueries(dashboard).filter((q) => q.panel === title);
      expect(qs, title).to.not.be.empty;
      return qs.map((q) => substitute(q.expr, values));
    };

    const [up] = panel('Hypervisors up');
    const upNow = await instant(up ?? '');
    expect(upNow.map((r) => [r.metric.hypervisor, r.value?.[1]])).to.deep.equal([[e().hv, '1']]);

    const [byStatus] = panel('MaasNodes by status');
    const statuses = await instant(byStatus ?? '');
    expect(statuses.map((r) => [r.metric.status, r.value?.[1]])).to.deep.equal([['Running', '3']]);

    const [ready, total] = panel('Labs: nodes Ready / total');
    const labOf = (r: { metric: Record<string, string> }) =>
      r.metric.namespace === ns() && r.metric.lab === LAB;
    expect((await instant(ready ?? '')).filter(labOf).map((r) => r.value?.[1])).to.deep.equal([
      '3',
    ]);
    expect((await instant(total ?? '')).filter(labOf).map((r) => r.value?.[1])).to.deep.equal([
      '3',
    ]);

    // Capacity is read at once; allocation when the Hypervisor controller next looks (every
    // minute): three nodes of one vCPU and 128 MiB each.
    const [capCpus, allocCpus] = panel('vCPUs: capacity and allocated');
    const [capMem, allocMem] = panel('Memory: capacity and allocated');
    const one = async (expr: string): Promise<number> => {
      const r = await instant(expr);
      expect(r, expr).to.have.length(1);
      return Number(r[0]?.value?.[1]);
    };
    expect(await one(capCpus ?? '')).to.be.greaterThan(0);
    expect(await one(capMem ?? '')).to.be.greaterThan(0);
    await waitFor(
      async () =>
        (await one(allocCpus ?? '')) === 3 && (await one(allocMem ?? '')) === 3 * 128 * 1024 ** 2,
      { timeoutMs: 150_000, intervalMs: 2000, description: 'allocation of the three nodes' },
    );
    const allocation = panel('Allocation');
    for (const q of allocation) expect(await one(q), q).to.be.greaterThan(0);

    // Rates over the build: some controller reconciled successfully at a rate above zero,
    // and libvirt calls were timed.
    // From the apply to now, not only to Ready: a build of a few seconds may be over before
    // its counters' next scrape, and every rate window ending within 30 s of it still sees it.
    const over = async (expr: string): Promise<number> => {
      const answer = await p().queryRange(
        expr,
        builtFromS,
        Math.max(readyAtS, Date.now() / 1000),
        2,
      );
      expect(answer.status, expr).to.equal('success');
      const samples = (answer.data?.result ?? []).flatMap((s) => s.values ?? []);
      return Math.max(0, ...samples.map(([, v]) => Number(v)).filter((v) => Number.isFinite(v)));
    };
    const [reconciles] = panel('Reconciles per second');
    expect(await over(reconciles ?? ''), 'reconcile rate during the build').to.be.greaterThan(0);
    const [libvirtTime] = panel('libvirt call time by operation (p99)');
    expect(await over(libvirtTime ?? ''), 'libvirt call time during the build').to.be.greaterThan(
      0,
    );
    const [reconcileTime] = panel('Reconcile time');
    expect(await over(reconcileTime ?? ''), 'reconcile p50 during the build').to.be.greaterThan(0);
    const [depth] = panel('Queue depth');
    expect(await instant(depth ?? '')).to.not.be.empty;
    const [leases] = panel('Shard leases held');
    const held = await instant(leases ?? '');
    expect(held.map((r) => [r.metric.name, r.value?.[1]])).to.deep.include([
      `maaslab-hv-${e().hv}`,
      '1',
    ]);
  });

  it('the alert expressions are accepted and quiet for the healthy lab', async function () {
    const rules = (await loadRuleGroups()).flatMap((g) => g.rules);
    for (const r of rules) {
      const result = await instant(r.expr);
      // Reconcile errors during a build (conflicts, a network not yet Ready) are normal; the
      // alert's 25% over 15 minutes is not judged on a three-minute run.
      if (r.alert === 'MaaslabReconcileErrorsHigh') continue;
      const ours = result.filter(
        (s) => s.metric.hypervisor === undefined || s.metric.hypervisor === e().hv,
      );
      expect(ours, `${r.alert}: ${JSON.stringify(ours)}`).to.deep.equal([]);
    }
  });

  it('Argo CD health is Healthy wherever kstatus says Current (live objects)', async function () {
    const objs = await liveObjects();
    expect(objs.map((o) => o.kind).sort()).to.deep.equal(
      ['Hypervisor', 'MaasLab', 'MaasNode', 'MaasNode', 'MaasNode', 'VirtNetwork'].sort(),
    );
    const health = await argoHealth(objs);
    for (const [i, o] of objs.entries()) {
      const k = await kstatus(kubeconfig(), o.kind, refOf(o));
      const what = `${o.kind} ${refOf(o)}: kstatus ${k.status}, Argo ${JSON.stringify(health[i])}`;
      // The lab is Ready, so everything is Current; anything else would make this vacuous.
      expect(k.status, what).to.equal('Current');
      expect(health[i]?.status, what).to.equal('Healthy');
    }
  });

  it('Argo CD health is Progressing while kstatus says InProgress, then Healthy again', async function () {
    await kubectlRun(kubeconfig(), [
      'patch',
      '-n',
      ns(),
      `maaslabs.maaslab.dev/${LAB}`,
      '--type',
      'merge',
      '-p',
      JSON.stringify({ spec: { nodes: { count: 4 } } }),
    ]);
    // A fourth domain takes seconds under TCG: both verdicts see the lab mid-way.
    const [health] = await argoHealth([await e().read.get<Live>('MaasLab', LAB, ns())]);
    const k = await kstatus(kubeconfig(), 'MaasLab', `${ns()}/${LAB}`);
    expect(k.status).to.equal('InProgress');
    expect(health?.status).to.equal('Progressing');

    await waitFor(async () => isReadyNow(await lab()) && (await lab()).status?.nodes?.total === 4, {
      ...LONG,
      description: 'lab Ready with 4 nodes',
    });
    const objs = await liveObjects();
    const verdicts = await argoHealth(objs);
    for (const [i, o] of objs.entries()) {
      expect((await kstatus(kubeconfig(), o.kind, refOf(o))).status, refOf(o)).to.equal('Current');
      expect(verdicts[i]?.status, refOf(o)).to.equal('Healthy');
    }
  });
});
