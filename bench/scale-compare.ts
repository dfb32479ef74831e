// Before and after in the same run: the 1000-node build of bench/scale.ts with two operators,
// a baseline checkout's dist/ and this one's, in alternating order (base then head, head then
// base, …) so that a shared, noisy machine weighs on both alike. Each sample is a fresh
// control plane and a fresh operator (bench/scale.ts with BENCH_FIGURES_JSON: the build alone).
// Writes the `scale-compare` section of bench/RESULTS.md: medians, ratios head/base, raw runs.
//
//   make bench-compare BASE=<commit>      (hack/bench-base.sh builds the baseline, cached)
//   tsx bench/scale-compare.ts <baseline root> [pairs]
//
// With `--libvirt` in place of the baseline, both samples run this checkout's operator and the
// pair is where the test drivers run instead: `base` inside the operator process
// (BENCH_LIBVIRT=inprocess, how issue 16's figures were taken), `head` in one private libvirtd
// reached over its socket (BENCH_LIBVIRT=daemon, as the operator reaches a real host). Writes
// the `scale-libvirt` section (make bench-scale-libvirt; root).
//
// With `--v8-flag`, both samples run this checkout's operator in the image's environment, and
// the pair is the image's V8 flag: `base` with it (NODE_OPTIONS as the Dockerfile sets it),
// `head` without it (BENCH_IMAGE_ENV=no-v8, V8 sizing its heap itself). Writes the
// `scale-v8-flag` section (make bench-scale-v8-flag).
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../test/support/controlplane.js';
import { imageEnv } from '../test/support/image.js';
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
  { key: 'gcPauseMsPerNode', label: "… of that the collector's pauses (ms/node)", digits: 2 },
  { key: 'apiRequestsPerNode', label: 'API requests (/node)', digits: 2 },
  { key: 'libvirtCallsPerNode', label: 'libvirt calls (/node)', digits: 2 },
  { key: 'heapMb', label: 'V8 heap at all Ready (MB)', digits: 0 },
  { key: 'externalMb', label: 'external memory at all Ready (MB)', digits: 0 },
  { key: 'libvirtdCpuMsPerNode', label: 'libvirtd CPU, the test drivers (ms/node)', digits: 2 },
];

/**
 * The commit a checkout was built from: its .bench-commit (hack/bench-base.sh) or git's, with
 * `+changes` when the work tree differs from it (the operator measured is not that commit's).
 */
async function commitOf(root: string): Promise<string> {
  const stamp = join(root, '.bench-commit');
  if (existsSync(stamp)) return readFileSync(stamp, 'utf8').trim();
  const { stdout } = await run('git', ['-C', root, 'rev-parse', '--short=12', 'HEAD']);
  const { stdout: changes } = await run('git', ['-C', root, 'status', '--porcelain']);
  return stdout.trim() + (changes.trim() === '' ? '' : '+changes');
}

/** One build of bench/scale.ts with `root`'s operator; its figures. */
async function sample(
  root: string,
  out: string,
  extraEnv: Readonly<Record<string, string>>,
): Promise<BuildFigures> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    BENCH_OPERATOR_ROOT: root,
    BENCH_FIGURES_JSON: out,
    ...extraEnv,
  };
  const child = spawn(join(repoRoot, 'node_modules', '.bin', 'tsx'), ['bench/scale.ts'], {
    cwd: repoRoot,
    env,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const code = await new Promise<number | null>((done) => child.on('exit', done));
  if (code !== 0) throw new Error(`bench/scale.ts with ${root} exited ${code}`);
  return JSON.parse(readFileSync(out, 'utf8')) as BuildFigures;
}

/** What the two sides differ in: the checkout (a baseline's), or this one's run two ways. */
type Pairing = 'commits' | 'libvirt' | 'v8-flag';

/** Per pairing: its RESULTS section, and each side's environment besides the checkout. */
const PAIRINGS: Readonly<
  Record<Pairing, { section: string; env(which: 'base' | 'head'): Record<string, string> }>
> = {
  commits: { section: 'scale-compare', env: () => ({}) },
  libvirt: {
    section: 'scale-libvirt',
    env: (which) => ({ BENCH_LIBVIRT: which === 'base' ? 'inprocess' : 'daemon' }),
  },
  'v8-flag': {
    section: 'scale-v8-flag',
    env: (which): Record<string, string> => (which === 'head' ? { BENCH_IMAGE_ENV: 'no-v8' } : {}),
  },
};

async function main(): Promise<void> {
  const pairing: Pairing =
    process.argv[2] === '--libvirt'
      ? 'libvirt'
      : process.argv[2] === '--v8-flag'
        ? 'v8-flag'
        : 'commits';
  const { section, env: envOf } = PAIRINGS[pairing];
  const baseRoot = pairing === 'commits' ? resolve(process.argv[2] ?? '') : repoRoot;
  const pairs = Number(process.argv[3] ?? process.env.BENCH_PAIRS ?? 3);
  if (!process.argv[2] || !existsSync(join(baseRoot, 'dist', 'src', 'cli', 'main.js'))) {
    throw new Error(
      `usage: tsx bench/scale-compare.ts <built checkout>|--libvirt|--v8-flag [pairs] (${baseRoot})`,
    );
  }
  const [baseCommit, headCommit] = [await commitOf(baseRoot), await commitOf(repoRoot)];
  const imageV8Flags = (await imageEnv()).NODE_OPTIONS;
  const scratch = await mkdtemp(join(tmpdir(), 'maaslab-bench-compare-'));
  const runs: Record<'base' | 'head', BuildFigures[]> = { base: [], head: [] };
  const loadBefore = loadAverages();
  try {
    for (let i = 0; i < pairs; i++) {
      const order: Array<'base' | 'head'> = i % 2 === 0 ? ['base', 'head'] : ['head', 'base'];
      for (const which of order) {
        say(`pair ${i + 1}/${pairs}: ${which} (${which === 'base' ? baseCommit : headCommit})`);
        const f = await sample(
          which === 'base' ? baseRoot : repoRoot,
          join(scratch, `${i}.json`),
          envOf(which),
        );
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
  // libvirtd's CPU is measured only where the test drivers run in one (BENCH_LIBVIRT=daemon):
  // a side without it shows a dash.
  const metrics = METRICS.filter(({ key }) =>
    [...runs.base, ...runs.head].some((f) => f[key] !== undefined),
  );
  const cell = (xs: readonly number[], digits: number): string => {
    if (xs.length === 0) return '—';
    const range = minMax(xs)
      .map((x) => fmt(x, digits))
      .join('–');
    return `${fmt(median(xs), digits)} (${range})`;
  };
  const rows = metrics.map(({ key, label, digits }) => {
    // The samples of one side that measured this figure.
    const [b, h] = (['base', 'head'] as const).map((which) =>
      runs[which].flatMap((f) => (f[key] === undefined ? [] : [Number(f[key])])),
    ) as [number[], number[]];
    const ratio = b.length && h.length ? (median(h) / median(b)).toFixed(2) : '—';
    return `| ${label} | ${cell(b, digits)} | ${cell(h, digits)} | ${ratio} |`;
  });
  const raw = (which: 'base' | 'head'): string[] =>
    runs[which].map(
      (f, i) =>
        `- ${which} ${i + 1}: ${metrics.map(({ key, digits }) => (f[key] === undefined ? '—' : fmt(Number(f[key]), digits))).join(' / ')} (load ${f.load})`,
    );
  const where = (f: BuildFigures | undefined): string =>
    f?.libvirtDriver === 'daemon'
      ? 'in one private libvirtd (`BENCH_LIBVIRT=daemon`), reached over its socket as a real host is'
      : 'inside the operator process (`BENCH_LIBVIRT=inprocess`)';
  const intros: Record<Pairing, () => string[]> = {
    'v8-flag': () => [
      "## 2d. Scale: the image's V8 flag on and off, in one run",
      '',
      "`make bench-scale-v8-flag` (`tsx bench/scale-compare.ts --v8-flag`): section 2's build",
      `(apply all labs → all Ready, ${nodes} nodes) with this checkout's operator in the image's`,
      "environment, in alternating order: `base` with the image's V8 flag",
      `(\`NODE_OPTIONS=${imageV8Flags ?? '?'}\`, a young generation smaller than V8 picks, collected`,
      'more often), `head` without it (`BENCH_IMAGE_ENV=no-v8`: V8 sizes its heap for this',
      "machine's memory, no container limit). Issue 16 asks for the RSS goal without flags that",
      "trade memory for collection time: `head` is that configuration; the collector's pauses",
      'show the trade. Each sample on a fresh control plane with a fresh operator. Medians',
      '(min–max); the ratio is head / base.',
      '',
      `- operator: ${headCommit}; ${pairs} pair${pairs === 1 ? '' : 's'} of samples`,
      `- the test drivers: ${where(runs.head[0])}`,
    ],
    libvirt: () => [
      '## 2c. Scale: the test drivers in the operator or in a libvirtd, in one run',
      '',
      "`make bench-scale-libvirt` (`tsx bench/scale-compare.ts --libvirt`): section 2's build",
      `(apply all labs → all Ready, ${nodes} nodes) with this checkout's operator, in alternating`,
      'order: `base` with the test drivers inside the operator process, as section 2 and',
      "issue 16's figures have them; `head` with the same driver files served by one private",
      'libvirtd, which the operator reaches over its socket, as it reaches a real host: the',
      "operator then pays libvirt's remote protocol and no longer the drivers' own work. Each",
      'sample on a fresh control plane with a fresh operator. Medians (min–max); the ratio is',
      'head / base.',
      '',
      `- operator: ${headCommit}; ${pairs} pair${pairs === 1 ? '' : 's'} of samples`,
      `- base: the test drivers ${where(runs.base[0])}; head: ${where(runs.head[0])}`,
    ],
    commits: () => [
      '## 2b. Scale, before and after in one run',
      '',
      "`make bench-compare BASE=<commit>` (`tsx bench/scale-compare.ts`): section 2's build (apply",
      `all labs → all Ready, ${nodes} nodes), measured with two operators in alternating order, each`,
      'sample on a fresh control plane with a fresh operator; the control plane, CRDs, RBAC and',
      "labs are head's for both. Medians (min–max); the ratio is head / base (below 1: head is",
      'better).',
      '',
      `- base: ${baseCommit}; head: ${headCommit}; ${pairs} pair${pairs === 1 ? '' : 's'} of samples`,
      `- the test drivers: ${where(runs.head[0])}`,
      `- the operators' environment: ${runs.head[0]?.operatorEnv ?? '?'}`,
    ],
  };
  const intro = intros[pairing]();
  const lines = [
    ...intro,
    ...machineLines({
      'load average (1, 5, 15 min)': `${loadBefore} before; ${loadAverages()} after`,
    }),
    '',
    '| figure | base | head | head / base |',
    '| --- | --- | --- | --- |',
    ...rows,
    '',
    `Raw (${metrics.map(({ label }) => label.replace(/^… /, '')).join(' / ')}):`,
    '',
    ...raw('base'),
    ...raw('head'),
  ];
  writeSection(section, lines.join('\n'));
  say(lines.join('\n'));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
