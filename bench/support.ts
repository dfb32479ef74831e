// What every benchmark shares: order statistics, the machine's description, Prometheus text
// parsing and histogram quantiles, and writing one section of bench/RESULTS.md at a time
// (each bench owns the text between its markers, so `make bench-recipe` leaves the others).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, hostname, loadavg, release, totalmem } from 'node:os';
import { kubectlPath } from '../test/support/kubectl.js';

/** Where every bench writes. */
export const RESULTS_FILE = new URL('./RESULTS.md', import.meta.url);

const RESULTS_HEADER = [
  '# Benchmarks',
  '',
  'Written by `make bench` (each section by its own script; `make bench-recipe` and',
  '`make bench-scale` rewrite only theirs). Every figure below was measured in the run',
  'whose date it carries; the machine is shared, so each run records its load average.',
  '',
].join('\n');

/** The median of `xs` (the mean of the middle two for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2;
}

/**
 * The q-quantile of `xs` by the nearest-rank method (the smallest value with at least q of
 * the sample at or below it): always an observed value; NaN for an empty sample.
 */
export function percentile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const rank = Math.min(s.length, Math.max(1, Math.ceil(q * s.length)));
  return s[rank - 1] ?? NaN;
}

/** Smallest and largest of `xs`. */
export function minMax(xs: readonly number[]): [number, number] {
  return [Math.min(...xs), Math.max(...xs)];
}

/** The 1-minute load average, two decimals. */
export const load1 = (): string => (loadavg()[0] ?? 0).toFixed(2);

/** `uptime`'s load averages, for the record. */
export const loadAverages = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(', ');

function versionOf(cmd: string, args: readonly string[]): string {
  try {
    return execFileSync(cmd, [...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .trim()
      .split('\n')[0]!;
  } catch {
    return 'unavailable';
  }
}

/** Machine and software lines for a results section. */
export function machineLines(extra: Readonly<Record<string, string>> = {}): string[] {
  const cpu = cpus();
  return [
    `- date: ${new Date().toISOString()}`,
    `- machine: ${hostname()}, ${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, ` +
      `${(totalmem() / 2 ** 30).toFixed(1)} GiB, Linux ${release()}`,
    `- node ${process.version}; ${versionOf('virsh', ['--version'])} (virsh); ` +
      `qemu ${versionOf('qemu-system-x86_64', ['--version']).replace(/^QEMU emulator version /, '')}; ` +
      `virt-install ${versionOf('virt-install', ['--version'])}; ` +
      `kubectl ${clientVersion()}`,
    ...Object.entries(extra).map(([k, v]) => `- ${k}: ${v}`),
  ];
}

/** The version of the kubectl the benchmarks run (bin/kubectl), or why there is none. */
function clientVersion(): string {
  let kubectl: string;
  try {
    kubectl = kubectlPath();
  } catch {
    return 'unavailable (no bin/kubectl)';
  }
  const out = versionOf(kubectl, ['version', '--client']);
  return out.replace(/^Client Version:\s*/, '');
}

/**
 * Replaces the section `name` of RESULTS.md (between `<!-- bench:name -->` and
 * `<!-- /bench:name -->`), or appends it; other sections stay as they are.
 */
export function writeSection(name: string, markdown: string): void {
  const open = `<!-- bench:${name} -->`;
  const close = `<!-- /bench:${name} -->`;
  const block = `${open}\n${markdown.trimEnd()}\n${close}\n`;
  let text = existsSync(RESULTS_FILE) ? readFileSync(RESULTS_FILE, 'utf8') : '';
  if (!text.startsWith('# Benchmarks')) text = RESULTS_HEADER;
  const start = text.indexOf(open);
  const end = text.indexOf(close);
  text =
    start >= 0 && end > start
      ? text.slice(0, start) + block + text.slice(end + close.length + 1)
      : `${text.trimEnd()}\n\n${block}`;
  writeFileSync(RESULTS_FILE, text);
}

/** One Prometheus sample: name, labels, value. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Parses Prometheus text exposition (no exemplars) into samples. */
export function parsePrometheus(text: string): Sample[] {
  const out: Sample[] = [];
  const line = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
  const label = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  for (const l of text.split('\n')) {
    if (l === '' || l.startsWith('#')) continue;
    const m = line.exec(l);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const lm of (m[2] ?? '').matchAll(label)) labels[lm[1]!] = lm[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** Sum of the samples of `name` whose labels include `match`. */
export function sum(
  samples: readonly Sample[],
  name: string,
  match: Readonly<Record<string, string>> = {},
): number {
  return samples
    .filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v))
    .reduce((a, s) => a + s.value, 0);
}

/** Per label value of `by`: the sum of `name`'s samples (matching `match`) in `after` minus `before`. */
export function deltaBy(
  before: readonly Sample[],
  after: readonly Sample[],
  name: string,
  by: string,
  match: Readonly<Record<string, string>> = {},
): Map<string, number> {
  const out = new Map<string, number>();
  const add = (samples: readonly Sample[], sign: number): void => {
    for (const s of samples) {
      if (s.name !== name) continue;
      if (!Object.entries(match).every(([k, v]) => s.labels[k] === v)) continue;
      const key = s.labels[by] ?? '';
      out.set(key, (out.get(key) ?? 0) + sign * s.value);
    }
  };
  add(after, 1);
  add(before, -1);
  for (const [k, v] of out) if (v === 0) out.delete(k);
  return out;
}

/**
 * The q-quantile of the observations a histogram gained between two scrapes (summed over the
 * series matching `match`), interpolated linearly inside the bucket as Prometheus's
 * histogram_quantile does. Returns the bucket's upper bound too, as the honest resolution.
 */
export function histogramQuantile(
  before: readonly Sample[],
  after: readonly Sample[],
  name: string,
  q: number,
  match: Readonly<Record<string, string>> = {},
): { value: number; upperBound: number; count: number } {
  const buckets = deltaBy(before, after, `${name}_bucket`, 'le', match);
  const bounds = [...buckets.keys()]
    .map((le) => ({ le: le === '+Inf' ? Infinity : Number(le), n: buckets.get(le) ?? 0 }))
    .sort((a, b) => a.le - b.le);
  const count = bounds.at(-1)?.n ?? 0;
  if (count === 0) return { value: NaN, upperBound: NaN, count: 0 };
  const rank = q * count;
  let prevLe = 0;
  let prevN = 0;
  for (const b of bounds) {
    if (b.n >= rank) {
      if (b.le === Infinity) return { value: prevLe, upperBound: Infinity, count };
      const inBucket = b.n - prevN;
      const value = inBucket > 0 ? prevLe + ((b.le - prevLe) * (rank - prevN)) / inBucket : b.le;
      return { value, upperBound: b.le, count };
    }
    prevLe = b.le;
    prevN = b.n;
  }
  return { value: NaN, upperBound: NaN, count };
}

/** Formats seconds as milliseconds with sensible precision. */
export const ms = (seconds: number): string =>
  Number.isFinite(seconds) ? `${(seconds * 1000).toFixed(seconds < 0.01 ? 2 : 1)} ms` : '—';
