// deploy/monitoring and deploy/flux: the kustomizations build, the PrometheusRule's groups pass
// `promtool check rules` and the promtool unit tests in deploy/monitoring/tests/, every alert
// links to its runbook section, and the dashboard asks only for metrics the operator exports.
// The dashboard against a live Prometheus is test/integration/monitoring/.
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { parse } from 'yaml';
import { HypervisorMetricName, LabMetricName } from '../../../src/controllers/metrics.js';
import { InventoryMetricName } from '../../../src/controllers/inventory-metrics.js';
import { LibvirtMetricName } from '../../../src/libvirt/metrics.js';
import { MetricName } from '../../../src/runtime/metrics/runtime-metrics.js';
import { repoRoot } from '../../support/controlplane.js';
import {
  DASHBOARD_FILE,
  MONITORING_DIR,
  type PromRuleGroup,
  allPanels,
  dashboardQueries,
  loadDashboard,
  loadRuleGroups,
  ruleFile,
  substitute,
  variableValues,
} from '../../support/monitoring.js';
import { kustomize } from '../../support/operator.js';

const run = promisify(execFile);

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
}

const render = async (dir: string): Promise<K8sObject[]> => (await kustomize(dir)) as K8sObject[];

/** Histogram series names map back to the histogram the code registers. */
const baseName = (series: string): string => series.replace(/_(bucket|sum|count)$/, '');

/** Every metric the operator registers (src/runtime, src/controllers, src/libvirt). */
const exported = new Set<string>([
  ...Object.values(MetricName),
  ...Object.values(HypervisorMetricName),
  ...Object.values(LabMetricName),
  ...Object.values(InventoryMetricName),
  ...Object.values(LibvirtMetricName),
]);

/** The metric names a PromQL expression reads (ours and controller-runtime's families). */
const metricsIn = (expr: string): string[] => [
  ...new Set(
    [...expr.matchAll(/\b(?:maaslab|controller_runtime|workqueue|leader_election)_\w+/g)].map(
      (m) => m[0],
    ),
  ),
];

/** GitHub's anchor for a Markdown heading. */
const anchor = (heading: string): string =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\w\- ]/g, '')
    .replace(/ /g, '-');

const ALERTS = [
  'MaaslabHypervisorDown',
  'MaaslabReconcileErrorsHigh',
  'MaaslabNodeNotReady',
  'MaaslabWorkqueueBacklog',
  'MaaslabLeaderMissing',
];

describe('deploy/monitoring', () => {
  let groups: PromRuleGroup[];
  before(async () => {
    groups = await loadRuleGroups();
  });

  describe('kustomize', () => {
    it('builds: ServiceMonitor, PrometheusRule and the dashboard ConfigMap in maaslab-system', async () => {
      const objs = await render('deploy/monitoring');
      expect(objs.map((o) => `${o.kind}/${o.metadata.name}`).sort()).to.deep.equal([
        'ConfigMap/maaslab-grafana-dashboard',
        'PrometheusRule/maaslab-operator',
        'ServiceMonitor/maaslab-operator',
      ]);
      for (const o of objs) expect(o.metadata.namespace, o.kind).to.equal('maaslab-system');

      const sm = objs.find((o) => o.kind === 'ServiceMonitor');
      expect(sm?.apiVersion).to.equal('monitoring.coreos.com/v1');
      expect(sm?.spec).to.deep.include({
        jobLabel: 'app.kubernetes.io/name',
        namespaceSelector: { matchNames: ['maaslab-system'] },
        selector: {
          matchLabels: {
            'app.kubernetes.io/name': 'maaslab-operator',
            'app.kubernetes.io/component': 'operator',
          },
        },
      });
      // HTTPS with Prometheus's service-account token, as Kubebuilder's scaffold scrapes.
      expect(sm?.spec?.endpoints).to.deep.equal([
        {
          port: 'metrics',
          path: '/metrics',
          scheme: 'https',
          interval: '30s',
          bearerTokenFile: '/var/run/secrets/kubernetes.io/serviceaccount/token',
          tlsConfig: { insecureSkipVerify: true },
        },
      ]);

      const cm = objs.find((o) => o.kind === 'ConfigMap');
      expect(cm?.metadata.labels).to.include({ grafana_dashboard: '1' });
      expect(cm?.data?.['maaslab.json']).to.equal(await readFile(DASHBOARD_FILE, 'utf8'));
    });

    it('builds deploy/flux: a GitRepository and the operator before its monitoring and the labs', async () => {
      const objs = await render('deploy/flux');
      const byName = new Map(objs.map((o) => [`${o.kind}/${o.metadata.name}`, o]));
      expect([...byName.keys()].sort()).to.deep.equal([
        'GitRepository/maaslab',
        'Kustomization/maaslab-labs',
        'Kustomization/maaslab-monitoring',
        'Kustomization/maaslab-operator',
      ]);
      const op = byName.get('Kustomization/maaslab-operator')?.spec;
      expect(op).to.deep.include({
        path: './deploy/overlays/central',
        prune: true,
        wait: true,
        sourceRef: { kind: 'GitRepository', name: 'maaslab' },
      });
      expect(op?.healthChecks).to.deep.equal([
        {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          name: 'maaslab-operator',
          namespace: 'maaslab-system',
        },
      ]);
      const mon = byName.get('Kustomization/maaslab-monitoring')?.spec;
      expect(mon).to.deep.include({ path: './deploy/monitoring', prune: true, wait: true });
      expect(mon?.dependsOn).to.deep.equal([{ name: 'maaslab-operator' }]);
      // The labs wait for the operator, and Flux waits for them (kstatus), pruning removed ones.
      const labs = byName.get('Kustomization/maaslab-labs')?.spec;
      expect(labs).to.deep.include({ path: './deploy/flux/labs', prune: true, wait: true });
      expect(labs?.dependsOn).to.deep.equal([{ name: 'maaslab-operator' }]);
      const example = await render('deploy/flux/labs');
      expect(example.map((o) => `${o.kind}/${o.metadata.name}`).sort()).to.deep.equal([
        'MaasLab/lab',
        'Namespace/maaslab-labs',
      ]);
      expect(example.find((o) => o.kind === 'MaasLab')?.metadata).to.deep.include({
        namespace: 'maaslab-labs',
      });
      // Documentation only: a placeholder host, never contacted.
      expect(byName.get('GitRepository/maaslab')?.spec?.url).to.match(
        /^https:\/\/git\.example\.com\//,
      );
    });

    it('the Argo CD Application points at an overlay and a placeholder repository', async () => {
      const app = parse(
        await readFile(join(repoRoot, 'deploy', 'argocd', 'application.yaml'), 'utf8'),
      ) as K8sObject;
      expect(app.kind).to.equal('Application');
      const source = app.spec?.source as { repoURL: string; path: string };
      expect(source.repoURL).to.match(/^https:\/\/git\.example\.com\//);
      expect(source.path).to.equal('deploy/overlays/central');
    });
  });

  describe('alerts', () => {
    let dir: string;
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'maaslab-promtool-'));
      await writeFile(join(dir, 'rules.yaml'), ruleFile(groups));
    });
    after(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('are the five alerts, each with summary, description and a runbook section', async () => {
      const rules = groups.flatMap((g) => g.rules);
      expect(rules.map((r) => r.alert)).to.deep.equal(ALERTS);
      const runbooks = await readFile(join(repoRoot, 'docs', 'runbooks.md'), 'utf8');
      const anchors = new Set(
        [...runbooks.matchAll(/^#{1,6} (.+)$/gm)].map((m) => anchor(m[1] ?? '')),
      );
      for (const r of rules) {
        expect(r.annotations, r.alert).to.have.all.keys('summary', 'description', 'runbook_url');
        const url = new URL(r.annotations?.runbook_url ?? '');
        expect(url.pathname, r.alert).to.match(/\/docs\/runbooks\.md$/);
        expect(url.hash.slice(1), r.alert).to.equal(r.alert?.toLowerCase());
        expect(anchors.has(url.hash.slice(1)), `${r.alert}: no section ${url.hash}`).to.equal(true);
        expect(r.labels?.severity, r.alert).to.be.oneOf(['warning', 'critical']);
      }
      expect(rules.find((r) => r.alert === 'MaaslabNodeNotReady')?.for).to.equal('10m');
    });

    it('read only metrics the operator exports', () => {
      for (const r of groups.flatMap((g) => g.rules)) {
        const names = metricsIn(r.expr);
        expect(names, r.alert).to.not.be.empty;
        for (const n of names) expect(exported.has(baseName(n)), `${r.alert}: ${n}`).to.equal(true);
      }
    });

    it('pass promtool check rules', async () => {
      const { stdout } = await run('promtool', ['check', 'rules', join(dir, 'rules.yaml')]);
      expect(stdout).to.contain(`SUCCESS: ${ALERTS.length} rules found`);
    });

    it('fire on synthetic series and resolve (promtool test rules, deploy/monitoring/tests/)', async () => {
      const tests = (await readdir(join(MONITORING_DIR, 'tests'))).filter((f) =>
        f.endsWith('.yaml'),
      );
      expect(tests).to.not.be.empty;
      const covered = new Map<string, { fires: boolean; resolves: boolean }>();
      for (const f of tests) {
        const spec = parse(await readFile(join(MONITORING_DIR, 'tests', f), 'utf8')) as {
          rule_files: string[];
          tests: Array<{
            alert_rule_test?: Array<{
              alertname: string;
              eval_time: string;
              exp_alerts: unknown[];
            }>;
          }>;
        };
        expect(spec.rule_files, f).to.deep.equal(['rules.yaml']);
        for (const t of spec.tests) {
          // "Resolves": an empty expectation after a firing one, for the same alert.
          const seen = new Map<string, boolean>();
          for (const a of t.alert_rule_test ?? []) {
            const c = covered.get(a.alertname) ?? { fires: false, resolves: false };
            if (a.exp_alerts.length > 0) seen.set(a.alertname, true);
            else if (seen.get(a.alertname)) c.resolves = true;
            c.fires ||= a.exp_alerts.length > 0;
            covered.set(a.alertname, c);
          }
        }
        await copyFile(join(MONITORING_DIR, 'tests', f), join(dir, basename(f)));
        const res = await run('promtool', ['test', 'rules', join(dir, basename(f))]).catch(
          (e: { stdout?: string; stderr?: string }) => {
            throw new Error(`promtool test rules ${f}:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
          },
        );
        expect(res.stdout, f).to.contain('SUCCESS');
      }
      for (const a of ALERTS) {
        expect(covered.get(a), a).to.deep.equal({ fires: true, resolves: true });
      }
    });
  });

  describe('dashboard', () => {
    it('takes its data source from ${datasource} everywhere', async () => {
      const d = await loadDashboard();
      const ds = d.templating.list.find((v) => v.name === 'datasource');
      expect(ds).to.deep.include({ type: 'datasource', query: 'prometheus' });
      for (const p of allPanels(d).filter((p) => p.type !== 'row')) {
        expect(p.datasource?.uid, p.title).to.equal('${datasource}');
        for (const t of p.targets ?? [])
          expect(t.datasource?.uid, p.title).to.equal('${datasource}');
      }
    });

    it('reads only metrics the operator exports, and covers every required view', async () => {
      const queries = dashboardQueries(await loadDashboard());
      const read = new Set<string>();
      for (const q of queries) {
        const names = metricsIn(q.expr);
        expect(names, `${q.panel} ${q.refId}`).to.not.be.empty;
        for (const n of names) {
          expect(exported.has(baseName(n)), `${q.panel}: ${n}`).to.equal(true);
          read.add(n);
        }
      }
      expect([...read]).to.include.members([
        'maaslab_hypervisor_up',
        'maaslab_hypervisor_capacity_cpus',
        'maaslab_hypervisor_allocated_cpus',
        'maaslab_hypervisor_capacity_memory_bytes',
        'maaslab_hypervisor_allocated_memory_bytes',
        'maaslab_nodes',
        'maaslab_lab_nodes_ready',
        'maaslab_lab_nodes_total',
        'controller_runtime_reconcile_total',
        'controller_runtime_reconcile_errors_total',
        'controller_runtime_reconcile_time_seconds_bucket',
        'workqueue_depth',
        'workqueue_queue_duration_seconds_bucket',
        'maaslab_libvirt_call_duration_seconds_bucket',
      ]);
      const exprs = queries.map((q) => q.expr);
      expect(
        exprs.some((e) =>
          /histogram_quantile\(.*controller_runtime_reconcile_time_seconds_bucket/.test(e),
        ),
      ).to.equal(true);
      expect(
        exprs.some((e) => /by \(op, le\).*maaslab_libvirt_call_duration_seconds_bucket/.test(e)),
      ).to.equal(true);
    });

    it('every query, variables substituted, parses (promtool check rules on recording rules)', async () => {
      const d = await loadDashboard();
      const values = variableValues(d, '1m');
      const rules = dashboardQueries(d).map((q, i) => ({
        record: `dashboard:query_${i}`,
        expr: substitute(q.expr, values),
      }));
      const dir = await mkdtemp(join(tmpdir(), 'maaslab-dashboard-'));
      try {
        await writeFile(join(dir, 'rules.yaml'), ruleFile([{ name: 'dashboard', rules }]));
        const { stdout } = await run('promtool', ['check', 'rules', join(dir, 'rules.yaml')]).catch(
          (e: { stdout?: string; stderr?: string }) => {
            throw new Error(`${e.stdout ?? ''}${e.stderr ?? ''}`);
          },
        );
        expect(stdout).to.contain(`SUCCESS: ${rules.length} rules found`);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('substitute() knows every variable and refuses unknown ones', () => {
      const values = new Map([
        ['job', 'maaslab-operator'],
        ['__rate_interval', '1m'],
      ]);
      expect(substitute('rate(x{job=~"$job"}[$__rate_interval])', values)).to.equal(
        'rate(x{job=~"maaslab-operator"}[1m])',
      );
      expect(substitute('x{job="${job}"}', values)).to.equal('x{job="maaslab-operator"}');
      expect(() => substitute('x{a="$nope"}', values)).to.throw(
        /unknown dashboard variable \$nope/,
      );
    });
  });
});
