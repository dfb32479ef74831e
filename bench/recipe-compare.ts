// Before and after in one run: way D of the recipe-lab bench (`kubectl apply` of the recipe's
// MaasLab → lab Ready, 3 nodes Running) with two operators, a baseline checkout's dist/ and this
// one's, on one control plane and one private libvirtd. Sessions alternate (base, head, head,
// base, …) so that a shared, noisy machine weighs on both alike; each session starts its
// operator, runs one uncounted D (connections, caches and JIT warm), then BENCH_SESSION_RUNS
// counted D runs (default 1), and stops it. Writes the `recipe-compare` section of
// bench/RESULTS.md: medians, head/base, the raw runs and each side's last timeline.
//
//   make bench-recipe-compare BASE=<commit>      (hack/bench-base.sh builds the baseline)
//   tsx bench/recipe-compare.ts <baseline root> [pairs]     (BENCH_ACCEL=tcg for TCG)
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { repoRoot } from '../test/support/controlplane.js';
import { imageEnv } from '../test/support/image.js';
import { startOperator } from '../test/support/operator.js';
import {
  applyBenchHypervisor,
  benchAccel,
  cleanLab,
  labManifest,
  openLibvirtEvents,
  say,
  startLabBench,
  type TimelineEntry,
  wayD,
} from './recipe-d.js';
import { load1, loadAverages, machineLines, median, minMax, writeSection } from './support.js';

const run = promisify(execFile);
type Side = 'base' | 'head';

/** The commit a checkout was built from: its .bench-commit (hack/bench-base.sh) or git's. */
async function commitOf(root: string): Promise<string> {
  const stamp = join(root, '.bench-commit');
  if (existsSync(stamp)) return readFileSync(stamp, 'utf8').trim();
  const { stdout } = await run('git', ['-C', root, 'rev-parse', '--short=12', 'HEAD']);
  return stdout.trim();
}

async function main(): Promise<void> {
  const baseRoot = resolve(process.argv[2] ?? '');
  const pairs = Math.max(1, Number(process.argv[3] ?? process.env.BENCH_PAIRS ?? 5));
  const perSession = Math.max(1, Number(process.env.BENCH_SESSION_RUNS ?? 1));
  const mainJs = (root: string): string => join(root, 'dist', 'src', 'cli', 'main.js');
  if (!process.argv[2] || !existsSync(mainJs(baseRoot))) {
    throw new Error(`usage: tsx bench/recipe-compare.ts <built checkout> [pairs] (${baseRoot})`);
  }
  if (!existsSync(mainJs(repoRoot))) throw new Error('no dist/ here: run make build first');
  const roots: Record<Side, string> = { base: baseRoot, head: repoRoot };
  const commits: Record<Side, string> = {
    base: await commitOf(baseRoot),
    head: await commitOf(repoRoot),
  };
  const scratch = await mkdtemp(join(tmpdir(), 'maaslab-bench-recipe-compare-'));
  const loadBefore = loadAverages();
  const accel = await benchAccel();
  const b = await startLabBench(scratch, accel);
  const libvirt = await openLibvirtEvents(b.lv.uri);
  const manifest = await labManifest(b);
  const times: Record<Side, number[]> = { base: [], head: [] };
  const loads: Record<Side, string[]> = { base: [], head: [] };
  const timelines: Partial<Record<Side, TimelineEntry[]>> = {};
  let hypervisorApplied = false;
  try {
    for (let i = 0; i < pairs; i++) {
      const order: Side[] = i % 2 === 0 ? ['base', 'head'] : ['head', 'base'];
      for (const side of order) {
        const root = roots[side];
        say(`pair ${i + 1}/${pairs}: ${side} (${commits[side]})`);
        const operator = await startOperator({
          kubeconfig: b.cp.operatorKubeconfig,
          namespace: b.leaseNs,
          logFile: join(scratch, `operator-${side}-${i}.log`),
          script: mainJs(root),
          args: ['--log-level', 'warn'],
          predatesSecureMetrics: !readFileSync(
            join(root, 'dist', 'src', 'cli', 'options.js'),
            'utf8',
          ).includes('--metrics-secure'),
          // Both as the image runs them (head's Dockerfile: V8 and malloc settings).
          env: await imageEnv(),
        });
        try {
          if (!hypervisorApplied) {
            await applyBenchHypervisor(b);
            hypervisorApplied = true;
          }
          // Uncounted: the new operator's first lab (connection, informers, JIT).
          await wayD(b, manifest);
          await cleanLab(b);
          for (let r = 0; r < perSession; r++) {
            await delay(500);
            const timeline: TimelineEntry[] = [];
            loads[side].push(load1());
            times[side].push(await wayD(b, manifest, timeline, libvirt));
            timelines[side] = timeline;
            await cleanLab(b);
            say(`  ${side}: ${(times[side].at(-1)! / 1000).toFixed(2)} s (load ${load1()})`);
          }
        } finally {
          await operator.stop();
        }
      }
    }
  } finally {
    await libvirt.conn.close().catch(() => undefined);
    await b.lv.stop().catch(() => undefined);
    await b.cp.stop().catch(() => undefined);
    if (!process.env.MAASLAB_KEEP_BENCH) await rm(scratch, { recursive: true, force: true });
    else say(`scratch kept in ${scratch}`);
  }
  const s = (ms: number): string => (ms / 1000).toFixed(2);
  const [mb, mh] = [median(times.base), median(times.head)];
  const range = (xs: number[]): string => minMax(xs).map(s).join('–');
  const timelineLines = (side: Side): string[] =>
    (timelines[side] ?? []).map((e) => `- ${e.ms.toFixed(0)} ms: ${e.what}`);
  const lines = [
    accel === 'kvm'
      ? '## 1c. The recipe lab, before and after in one run (KVM)'
      : '## 1d. The recipe lab, before and after in one run (TCG)',
    '',
    '`make bench-recipe-compare BASE=<commit>` (`tsx bench/recipe-compare.ts`): way D of',
    "section 1 (`kubectl apply` → lab Ready, 3 nodes Running) with two operators, BASE's and",
    "this checkout's (both from their dist/, with head's control plane, CRDs and RBAC), on one",
    'kube-testenv and one private libvirtd. Sessions alternate (base head, head base, …); each',
    'starts its operator, runs one uncounted D, then the counted ones, and stops it.',
    '',
    `- base: ${commits.base}; head: ${commits.head}; ${pairs} pair${pairs === 1 ? '' : 's'} of sessions, ${perSession} counted run${perSession === 1 ? '' : 's'} each`,
    `- accelerator: ${accel === 'kvm' ? 'KVM' : 'TCG'}`,
    ...machineLines({
      'load average (1, 5, 15 min)': `${loadBefore} before; ${loadAverages()} after`,
    }),
    '',
    '| operator | D median (s) | min–max (s) | runs |',
    '| --- | --- | --- | --- |',
    `| base ${commits.base} | ${s(mb)} | ${range(times.base)} | ${times.base.length} |`,
    `| head ${commits.head} | ${s(mh)} | ${range(times.head)} | ${times.head.length} |`,
    '',
    `head / base: **${(mh / mb).toFixed(2)}** (below 1: head is faster).`,
    '',
    'Raw (s, with the 1-min load when the run started):',
    '',
    `- base: ${times.base.map((t, i) => `${s(t)} (${loads.base[i]})`).join(', ')}`,
    `- head: ${times.head.map((t, i) => `${s(t)} (${loads.head[i]})`).join(', ')}`,
    '',
    "Base's last counted run, as the watch and libvirt's events saw it (ms after `kubectl apply` started):",
    '',
    ...timelineLines('base'),
    '',
    "Head's last counted run:",
    '',
    ...timelineLines('head'),
  ];
  writeSection(accel === 'kvm' ? 'recipe-compare' : 'recipe-compare-tcg', lines.join('\n'));
  say(lines.join('\n'));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
