// Before and after in the same run: the 1000-node build of bench/scale.ts with two operators,
// a baseline checkout's dist/ and this one's, in alternating order (base then head, head then
// base, …) so that a shared, noisy machine weighs on both alike. Each sample is a fresh
// control plane and a fresh operator (bench/scale.ts with BENCH_FIGURES_JSON: the build alone).
// Writes the `scale-compare` section of bench/RESULTS.md: medians, ratios head/base, raw runs.
//
//   make bench-compare BASE=<commit>      (hack/bench-base.sh builds the baseline, cached)
//   tsx bench/scale-compare.ts <baseline root> [pairs]
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../test/support/controlplane.js';
import type { BuildFigures } from './scale.js';
import { loadAverages, machineLines, median, minMax, writeSection } from './support.js';

const run = promisify(execFile);
const say = (line: string): void => void process.stdout.write(`${line}\n`);

/** What is compared, in the order of the table. Lower is better for all of them. */
const METRICS: ReadonlyArray<{ key: keyof BuildFigures; label: string; digits: number }> = [
  { key: 'buildSeconds', label: 'time to all Ready (s)', digits: 2 },
  { key: 'peakRssMb', label: 'operator peak RSS (MB)', digits: 0 },
  { key: 'rssBeforeMb', label: '… RSS before the labs (MB)', digits: 0 },
  { key: 'cpuMsPerNode', label: 'operator CPU (ms/node)', digits: 2 },
  { key: 'mainThreadCpuMsPerNode', label: '… of it the main thread (ms/node)', digits: 2 },
  { key: 'apiRequestsPerNode', label: 'API requests (/node)', digits: 2 },
  { key: 'libvirtCallsPerNode', label: 'libvirt calls (/node)', digits: 2 },
  { key: 'heapMb', label: 'V8 heap at all Ready (MB)', digits: 0 },
  { key: 'externalMb', label: 'external memory at all Ready (MB)', digits: 0 },
];

/** The commit a checkout was built from: its .bench-commit (hack/bench-base.sh) or git's. */
async function commitOf(root: string): Promise<string> {
  const stamp = join(root, '.bench-commit');
  if (existsSync(stamp)) return readFileSync(stamp, 'utf8').trim();
  const { stdout } = await run('git', ['-C', root, 'rev-parse', '--short=12', 'HEAD']);
  return stdout.trim();
}

/** One build of bench/scale.ts with `root`'s operator; its figures. */
async function sample(root: string, out: string): Promise<BuildFigures> {
  const child = spawn(join(repoRoot, 'node_modules', '.bin', 'tsx'), ['bench/scale.ts'], {
    cwd: repoRoot,
    env: { ...process.env, BENCH_OPERATOR_ROOT: root, BENCH_FIGURES_JSON: out },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const code = await new Promise<number | null>((done) => child.on('exit', done));
  if (code !== 0) throw new Error(`bench/scale.ts with ${root} exited ${code}`);
  return JSON.parse(readFileSync(out, 'utf8')) as BuildFigures;
}

async function main(): Promise<void> {
  const baseRoot = resolve(process.argv[2] ?? '');
  const pairs = Number(process.argv[3] ?? process.env.BENCH_PAIRS ?? 3);
  if (!process.argv[2] || !existsSync(join(baseRoot, 'dist', 'src', 'cli', 'main.js'))) {
    throw new Error(`usage: tsx bench/scale-compare.ts <built checkout> [pairs] (${baseRoot})`);
  }
  const [baseCommit, headCommit] = [await commitOf(baseRoot), await commitOf(repoRoot)];
  const scratch = await mkdtemp(join(tmpdir(), 'maaslab-bench-compare-'));
  const runs: Record<'base' | 'head', BuildFigures[]> = { base: [], head: [] };
  const loadBefore = loadAverages();
  try {
    for (let i = 0; i < pairs; i++) {
      const order: Array<'base' | 'head'> = i % 2 === 0 ? ['base', 'head'] : ['head', 'base'];
      for (const which of order) {
        say(`pair ${i + 1}/${pairs}: ${which} (${which === 'base' ? baseCommit : headCommit})`);
        const f = await sample(which === 'base' ? baseRoot : repoRoot, join(scratch, `${i}.json`));
        say(`  ${JSON.stringify(f)}`);
        runs[which].push(f);
      }
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  // bench/scale.ts's sizes, which its children read from the same environment.
  const nodes =
    Number(process.env.BENCH_HYPERVISORS ?? 10) * Number(process.env.BENCH_NODES_PER_LAB ?? 100);
  const fmt = (x: number, digits: number): string => x.toFixed(digits);
  const rows = METRICS.map(({ key, label, digits }) => {
    const values = (which: 'base' | 'head'): number[] => runs[which].map((f) => Number(f[key]));
    const [b, h] = [median(values('base')), median(values('head'))];
    const range = (xs: number[]): string =>
      minMax(xs)
        .map((x) => fmt(x, digits))
        .join('–');
    return `| ${label} | ${fmt(b, digits)} (${range(values('base'))}) | ${fmt(h, digits)} (${range(values('head'))}) | ${(h / b).toFixed(2)} |`;
  });
  const raw = (which: 'base' | 'head'): string[] =>
    runs[which].map(
      (f, i) =>
        `- ${which} ${i + 1}: ${METRICS.map(({ key, digits }) => fmt(Number(f[key]), digits)).join(' / ')} (load ${f.load})`,
    );
  const lines = [
    '## 2b. Scale, before and after in one run',
    '',
    "`make bench-compare BASE=<commit>` (`tsx bench/scale-compare.ts`): section 2's build (apply",
    `all labs → all Ready, ${nodes} nodes), measured with two operators in alternating order, each`,
    'sample on a fresh control plane with a fresh operator; the control plane, CRDs, RBAC and',
    "labs are head's for both. Medians (min–max); the ratio is head / base (below 1: head is",
    'better).',
    '',
    `- base: ${baseCommit}; head: ${headCommit}; ${pairs} pair${pairs === 1 ? '' : 's'} of samples`,
    ...machineLines({
      'load average (1, 5, 15 min)': `${loadBefore} before; ${loadAverages()} after`,
    }),
    '',
    '| figure | base | head | head / base |',
    '| --- | --- | --- | --- |',
    ...rows,
    '',
    'Raw (time s / RSS MB / RSS before MB / CPU ms per node / main thread ms per node / API requests per node / libvirt calls per node / heap MB / external MB):',
    '',
    ...raw('base'),
    ...raw('head'),
  ];
  writeSection('scale-compare', lines.join('\n'));
  say(lines.join('\n'));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
