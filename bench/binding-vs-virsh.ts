// Times one define+start+destroy+undefine cycle through the binding versus the
// same four commands in ONE virsh process, both on test:///default, interleaved,
// and writes the `binding-vs-virsh` section of bench/RESULTS.md. `virsh -c test:///default` cannot share driver
// state across processes, so one virsh process runs all four commands.
//
//   tsx bench/binding-vs-virsh.ts [runs]     (make bench)
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, hostname, loadavg, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout } from 'node:timers/promises';
import { Connection, DomainUndefineFlags, formatLibvirtVersion } from '../src/libvirt/index.js';
import { writeSection } from './support.js';

const RUNS = Number(process.argv[2] ?? 30);
const URI = 'test:///default';
/** Pause between measurements, so one run's teardown is not billed to the next. */
const SETTLE_MS = 25;
const NAME = 'bench-dom';
const XML = `<domain type='test'>
  <name>${NAME}</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
</domain>`;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

/** The cycle on an already open connection: what the operator does. */
async function bindingCycle(conn: Connection): Promise<number> {
  const t0 = performance.now();
  using dom = await conn.domainDefineXMLFlags(XML);
  await dom.createWithFlags();
  await dom.destroyFlags();
  await dom.undefineFlags(DomainUndefineFlags.ManagedSave);
  return performance.now() - t0;
}

/** The cycle including virConnectOpen/Close, closer to what one virsh process pays. */
async function bindingCycleWithOpen(): Promise<number> {
  const t0 = performance.now();
  const conn = await Connection.open(URI);
  try {
    using dom = await conn.domainDefineXMLFlags(XML);
    await dom.createWithFlags();
    await dom.destroyFlags();
    await dom.undefineFlags(DomainUndefineFlags.ManagedSave);
  } finally {
    await conn.close();
  }
  return performance.now() - t0;
}

function virshCycle(file: string): number {
  const t0 = performance.now();
  const r = spawnSync(
    'virsh',
    ['-q', '-c', URI, `define ${file}; start ${NAME}; destroy ${NAME}; undefine ${NAME}`],
    { encoding: 'utf8' },
  );
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`virsh failed: ${r.stderr}`);
  return ms;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'maaslab-bench-'));
  const file = join(dir, 'domain.xml');
  writeFileSync(file, XML);
  // A long-lived connection keeps test:///default's state between binding cycles.
  const conn = await Connection.open(URI);
  const binding: number[] = [];
  const bindingOpen: number[] = [];
  const virsh: number[] = [];
  const libvirtVersion = formatLibvirtVersion(await conn.getLibVersion());
  // The machine is shared; the load average says how much to trust the spread.
  const loadBefore = loadavg()[0] ?? 0;
  const virshVersion = execFileSync('virsh', ['--version'], { encoding: 'utf8' }).trim();
  try {
    // Warm up both paths once (page cache, JIT, libvirt's lazy init).
    await bindingCycle(conn);
    virshCycle(file);
    // Rotate the order each round, and let the machine settle between steps:
    // the exiting virsh process otherwise slows whatever is measured next.
    const steps: Array<() => Promise<void>> = [
      async () => void binding.push(await bindingCycle(conn)),
      async () => void bindingOpen.push(await bindingCycleWithOpen()),
      async () => void virsh.push(virshCycle(file)),
    ];
    for (let i = 0; i < RUNS; i++) {
      for (let k = 0; k < steps.length; k++) {
        await steps[(i + k) % steps.length]?.();
        await setTimeout(SETTLE_MS);
      }
    }
  } finally {
    await conn.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const mb = median(binding);
  const mbo = median(bindingOpen);
  const mv = median(virsh);
  const fmt = (x: number): string => x.toFixed(3);
  const lines = [
    '## 0. The binding vs virsh',
    '',
    'One define+start+destroy+undefine cycle on `test:///default`, written by',
    '`make bench` (`tsx bench/binding-vs-virsh.ts`). Runs are interleaved; each',
    'virsh run is ONE `virsh` process executing the four commands (the test driver',
    'keeps no state across processes). "binding" reuses one open connection, as the',
    'operator does; "binding + open/close" also pays virConnectOpen/Close per cycle.',
    `Measurements are ${SETTLE_MS} ms apart so an exiting virsh does not slow the next one.`,
    '',
    `- date: ${new Date().toISOString()}`,
    `- machine: ${hostname()}, ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, Linux ${release()}`,
    `- node: ${process.version}, libvirt: ${libvirtVersion}, virsh: ${virshVersion}`,
    `- runs: ${RUNS} each; 1-min load average ${loadBefore.toFixed(2)} before, ${(loadavg()[0] ?? 0).toFixed(2)} after`,
    '',
    '| path | median (ms) |',
    '| --- | --- |',
    `| binding | ${fmt(mb)} |`,
    `| binding + open/close | ${fmt(mbo)} |`,
    `| virsh (one process) | ${fmt(mv)} |`,
    '',
    `virsh / binding = ${(mv / mb).toFixed(1)}×; virsh / (binding + open/close) = ${(mv / mbo).toFixed(1)}×.`,
    '',
    'Raw numbers (ms):',
    '',
    `- binding: ${binding.map(fmt).join(', ')}`,
    `- binding + open/close: ${bindingOpen.map(fmt).join(', ')}`,
    `- virsh: ${virsh.map(fmt).join(', ')}`,
    '',
  ];
  writeSection('binding-vs-virsh', lines.join('\n'));
  console.log(lines.slice(14, 21).join('\n'));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
