// Helpers for the tests of deploy/monitoring and deploy/argocd: reading the PrometheusRule and
// the Grafana dashboard, turning dashboard queries into what Grafana would send, running the
// Argo CD health Lua under lua5.1, and a real Prometheus server on 127.0.0.1 (or in a pod's
// network namespace).
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse, stringify } from 'yaml';
import { repoRoot } from './controlplane.js';
import { freePort } from './operator.js';
import { waitFor } from './wait.js';

/** deploy/monitoring, absolute. */
export const MONITORING_DIR = join(repoRoot, 'deploy', 'monitoring');
/** The Grafana dashboard, absolute. */
export const DASHBOARD_FILE = join(MONITORING_DIR, 'dashboards', 'maaslab.json');
/** The Argo CD health script, absolute. */
export const HEALTH_LUA_FILE = join(repoRoot, 'deploy', 'argocd', 'health.lua');
const HEALTH_DRIVER = join(repoRoot, 'test', 'support', 'argocd-health-driver.lua');

/** One rule of a Prometheus rule group (alerting or recording). */
export interface PromRule {
  readonly alert?: string;
  readonly record?: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
}

/** A Prometheus rule group, as promtool reads it. */
export interface PromRuleGroup {
  readonly name: string;
  readonly rules: readonly PromRule[];
}

/** spec.groups of deploy/monitoring/prometheusrule.yaml: the one copy of the rules. */
export async function loadRuleGroups(): Promise<PromRuleGroup[]> {
  const doc = parse(await readFile(join(MONITORING_DIR, 'prometheusrule.yaml'), 'utf8')) as {
    kind: string;
    spec: { groups: PromRuleGroup[] };
  };
  if (doc.kind !== 'PrometheusRule') throw new Error(`prometheusrule.yaml holds a ${doc.kind}`);
  return doc.spec.groups;
}

/** The rule groups as a promtool rules file. */
export const ruleFile = (groups: readonly PromRuleGroup[]): string => stringify({ groups });

/** A Grafana dashboard variable, as far as the tests need it. */
interface DashboardVariable {
  readonly name: string;
  readonly type: string;
  readonly query?: unknown;
  readonly allValue?: string;
  readonly includeAll?: boolean;
  readonly current?: { readonly value?: unknown };
}

/** A Grafana panel, as far as the tests need it. */
export interface DashboardPanel {
  readonly id: number;
  readonly type: string;
  readonly title: string;
  readonly datasource?: { readonly type?: string; readonly uid?: string };
  readonly targets?: ReadonlyArray<{
    readonly expr: string;
    readonly refId: string;
    readonly datasource?: { readonly type?: string; readonly uid?: string };
  }>;
  readonly panels?: readonly DashboardPanel[];
}

/** The dashboard JSON, as far as the tests need it. */
export interface Dashboard {
  readonly title: string;
  readonly templating: { readonly list: readonly DashboardVariable[] };
  readonly panels: readonly DashboardPanel[];
}

/** Reads deploy/monitoring/dashboards/maaslab.json. */
export async function loadDashboard(): Promise<Dashboard> {
  return JSON.parse(await readFile(DASHBOARD_FILE, 'utf8')) as Dashboard;
}

/** Every panel, rows' nested panels included. */
export const allPanels = (d: Dashboard): DashboardPanel[] =>
  d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);

/** One query of one panel. */
export interface PanelQuery {
  readonly panel: string;
  readonly refId: string;
  readonly expr: string;
}

/** Every PromQL query of the dashboard, as written (variables unsubstituted). */
export const dashboardQueries = (d: Dashboard): PanelQuery[] =>
  allPanels(d).flatMap((p) =>
    (p.targets ?? []).map((t) => ({ panel: p.title, refId: t.refId, expr: t.expr })),
  );

/**
 * The value Grafana would put in for each variable of the dashboard, as Grafana's
 * `$name`/`${name}` syntax: textboxes their default, multi-value queries their "All" value
 * (or `overrides[name]`), plus Grafana's own `$__rate_interval` (`rateInterval`).
 */
export function variableValues(
  d: Dashboard,
  rateInterval: string,
  overrides: Readonly<Record<string, string>> = {},
): Map<string, string> {
  const values = new Map<string, string>([['__rate_interval', rateInterval]]);
  for (const v of d.templating.list) {
    if (v.type === 'datasource') continue;
    const override = overrides[v.name];
    if (override !== undefined) values.set(v.name, override);
    else if (v.type === 'textbox' && typeof v.query === 'string') values.set(v.name, v.query);
    else if (v.includeAll && v.allValue !== undefined) values.set(v.name, v.allValue);
    else throw new Error(`dashboard variable ${v.name} (${v.type}) has no value to test with`);
  }
  return values;
}

/** `expr` with every `$name` and `${name}` replaced; throws on a variable it does not know. */
export function substitute(expr: string, values: ReadonlyMap<string, string>): string {
  return expr.replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, braced?: string, bare?: string) => {
    const name = braced ?? bare ?? '';
    const value = values.get(name);
    if (value === undefined) throw new Error(`unknown dashboard variable ${whole} in ${expr}`);
    return value;
  });
}

/** Argo CD's verdict on one object. */
export interface ArgoHealth {
  readonly status: string;
  readonly message?: string;
}

/**
 * Runs deploy/argocd/health.lua on each object under lua5.1 (Argo CD's gopher-lua is Lua
 * 5.1), through test/support/argocd-health-driver.lua; one verdict per object, in order.
 */
export async function argoHealth(objects: readonly unknown[]): Promise<ArgoHealth[]> {
  const child = spawn('lua5.1', [HEALTH_DRIVER, HEALTH_LUA_FILE], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const exited = once(child, 'close') as Promise<[number | null]>;
  const spawned = once(child, 'spawn');
  await Promise.race([spawned, once(child, 'error').then(([e]) => Promise.reject(e as Error))]);
  child.stdin.end(JSON.stringify(objects));
  const [code] = await exited;
  if (code !== 0) throw new Error(`lua5.1 exited ${code}: ${stderr}`);
  return JSON.parse(stdout) as ArgoHealth[];
}

/** A Prometheus query result (instant vector or matrix). */
export interface PromResult {
  readonly metric: Record<string, string>;
  readonly value?: readonly [number, string];
  readonly values?: ReadonlyArray<readonly [number, string]>;
}

/** Prometheus's HTTP API answer. */
export interface PromAnswer {
  readonly status: 'success' | 'error';
  readonly errorType?: string;
  readonly error?: string;
  readonly data?: { readonly resultType: string; readonly result: readonly PromResult[] };
}

/** One active scrape target. */
export interface PromTarget {
  readonly scrapePool: string;
  readonly scrapeUrl: string;
  readonly health: 'up' | 'down' | 'unknown';
  readonly lastError: string;
}

/** A Prometheus server of this test run. */
export interface PrometheusServer {
  /** http://127.0.0.1:<port> */
  readonly url: string;
  /** GET /api/v1/query (instant, now). */
  query(expr: string): Promise<PromAnswer>;
  /** GET /api/v1/query_range over [startS, endS] with `stepS`. */
  queryRange(expr: string, startS: number, endS: number, stepS: number): Promise<PromAnswer>;
  /** GET /api/v1/label/<label>/values?match[]=<match>. */
  labelValues(label: string, match: string): Promise<string[]>;
  /** GET /api/v1/targets: the active targets, as Prometheus's status page shows them. */
  targets(): Promise<PromTarget[]>;
  /** Stops the server and removes its data. */
  stop(): Promise<void>;
}

/** Options for {@link startPrometheus}. */
export interface PrometheusOptions {
  /** Scrape job name (the ServiceMonitor's jobLabel makes it maaslab-operator in a cluster). */
  readonly job: string;
  /** The target's /metrics URL, on loopback. */
  readonly metricsUrl: string;
  /** Scrape and rule evaluation interval, e.g. "1s". */
  readonly interval: string;
  /**
   * For an `https:` target: the bearer token Prometheus sends, from a file as the
   * ServiceMonitor's bearerTokenFile (TLS verification off, as its insecureSkipVerify).
   */
  readonly bearerToken?: string;
  /** A second job scraping the same target with no token (it must be refused). */
  readonly unauthenticatedJob?: string;
}

/**
 * Starts Debian's `prometheus` on 127.0.0.1 (a free port), with a temporary data folder,
 * scraping one target. Resolves once /-/ready answers.
 */
export async function startPrometheus(opts: PrometheusOptions): Promise<PrometheusServer> {
  const target = new URL(opts.metricsUrl);
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(target.hostname)) {
    throw new Error(`refusing to scrape a non-loopback target ${opts.metricsUrl}`);
  }
  const dir = await mkdtemp(join(tmpdir(), 'maaslab-prometheus-'));
  const https = target.protocol === 'https:';
  const tokenFile = join(dir, 'token');
  if (opts.bearerToken !== undefined) await writeFile(tokenFile, opts.bearerToken, { mode: 0o600 });
  const job = (name: string, withToken: boolean) => ({
    job_name: name,
    metrics_path: target.pathname,
    scheme: https ? 'https' : 'http',
    static_configs: [{ targets: [target.host] }],
    ...(https && { tls_config: { insecure_skip_verify: true } }),
    ...(withToken &&
      opts.bearerToken !== undefined && {
        authorization: { type: 'Bearer', credentials_file: tokenFile },
      }),
  });
  const config = {
    global: { scrape_interval: opts.interval, evaluation_interval: opts.interval },
    scrape_configs: [
      job(opts.job, true),
      ...(opts.unauthenticatedJob ? [job(opts.unauthenticatedJob, false)] : []),
    ],
  };
  await writeFile(join(dir, 'prometheus.yml'), stringify(config));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const log = createWriteStream(join(dir, 'prometheus.log'));
  const child: ChildProcess = spawn(
    'prometheus',
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const exited = once(child, 'exit');
  let dead = false;
  void exited.then(() => (dead = true));
  const killOnExit = (): void => void child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const stop = async (): Promise<void> => {
    process.off('exit', killOnExit);
    if (!dead) {
      child.kill('SIGTERM');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };
  const api = async (path: string, params: Record<string, string>): Promise<PromAnswer> => {
    const res = await fetch(`${url}${path}?${new URLSearchParams(params).toString()}`);
    return (await res.json()) as PromAnswer;
  };
  try {
    await waitFor(
      async () => {
        if (dead) throw new Error(`prometheus exited early; see ${join(dir, 'prometheus.log')}`);
        return (await fetch(`${url}/-/ready`)).status === 200;
      },
      { timeoutMs: 60_000, intervalMs: 200, description: 'prometheus /-/ready' },
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    url,
    query: (expr) => api('/api/v1/query', { query: expr }),
    queryRange: (expr, startS, endS, stepS) =>
      api('/api/v1/query_range', {
        query: expr,
        start: String(startS),
        end: String(endS),
        step: String(stepS),
      }),
    async labelValues(label, match) {
      const res = await fetch(
        `${url}/api/v1/label/${encodeURIComponent(label)}/values?${new URLSearchParams({ 'match[]': match }).toString()}`,
      );
      const body = (await res.json()) as { status: string; data?: string[] };
      if (body.status !== 'success') throw new Error(`label values of ${label}: ${body.status}`);
      return body.data ?? [];
    },
    async targets() {
      const res = await fetch(`${url}/api/v1/targets?state=active`);
      const body = (await res.json()) as {
        status: string;
        data?: { activeTargets?: PromTarget[] };
      };
      if (body.status !== 'success') throw new Error(`targets: ${body.status}`);
      return body.data?.activeTargets ?? [];
    },
    stop,
  };
}

/** A Prometheus in another network namespace (see {@link startPrometheusInNetns}). */
export interface NetnsPrometheus {
  /** Its one target once scraped at least once, else undefined. */
  target(): Promise<PromTarget | undefined>;
  stop(): Promise<void>;
}

/**
 * Debian's `prometheus` as user 65534 inside network namespace `net` (a /proc/PID/ns/net or
 * /run/netns path), e.g. a pod's: its scrapes leave with that namespace's address, as a
 * Prometheus pod's do. One job scrapes `target` (host:port) /metrics over HTTPS with
 * `token` as the bearer (TLS verification off), every 2 s with a 2 s timeout.
 */
export async function startPrometheusInNetns(
  net: string,
  target: string,
  token: string,
): Promise<NetnsPrometheus> {
  const run = promisify(execFile);
  const dir = await mkdtemp(join(tmpdir(), 'maaslab-netns-prometheus-'));
  await writeFile(join(dir, 'token'), token, { mode: 0o600 });
  const config = {
    global: { scrape_interval: '2s', scrape_timeout: '2s', evaluation_interval: '2s' },
    scrape_configs: [
      {
        job_name: 'maaslab-operator',
        scheme: 'https',
        static_configs: [{ targets: [target] }],
        authorization: { credentials_file: join(dir, 'token') },
        tls_config: { insecure_skip_verify: true },
      },
    ],
  };
  await writeFile(join(dir, 'prometheus.yml'), stringify(config));
  await run('chown', ['-R', '65534:65534', dir]);
  // Its own namespace's loopback: port 9090 is free in a namespace nothing else listens in.
  const child = spawn(
    'nsenter',
    [
      `--net=${net}`,
      '--',
      'setpriv',
      '--reuid=65534',
      '--regid=65534',
      '--clear-groups',
      'prometheus',
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      '--web.listen-address=127.0.0.1:9090',
      '--log.level=warn',
    ],
    { stdio: 'ignore' },
  );
  const exited = once(child, 'exit');
  const killOnExit = (): void => void child.kill('SIGKILL');
  process.once('exit', killOnExit);
  return {
    async target() {
      const { stdout } = await run('nsenter', [
        `--net=${net}`,
        '--',
        'curl',
        '-sS',
        '--max-time',
        '5',
        'http://127.0.0.1:9090/api/v1/targets?state=active',
      ]).catch(() => ({ stdout: '' }));
      if (!stdout) return undefined;
      const { data } = JSON.parse(stdout) as { data: { activeTargets: PromTarget[] } };
      const t = data.activeTargets[0];
      return t && t.health !== 'unknown' ? t : undefined;
    },
    async stop() {
      process.off('exit', killOnExit);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
