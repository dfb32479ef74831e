// The recipe lab six ways, interleaved (A B C D E F A B C D E F …), on a private libvirtd with
// QEMU, each run from a clean state, and writes the recipe-lab section of bench/RESULTS.md for
// the run's accelerator (`recipe-lab` for KVM, `recipe-lab-tcg` for TCG).
//
//   A  the manual recipe: three virt-install commands in a row (--virt-type as the run's
//      accelerator; the bench's pool and isolated network instead of `default`)
//   B  raw sequential: ONE virsh process doing vol-create-as + define + start three times
//   C  raw parallel: three such virsh processes at once (about the host's physical limit)
//   D  maaslab: `kubectl apply` of the MaasLab until it is Ready and its 3 nodes Running, with
//      the operator (a child process, as deployed: generated RBAC only) already synced
//   E  the operator's libvirt work by hand, through the binding (issue 16's baseline)
//   F  D with the apply sent by the bench process: the same server-side apply as one request,
//      no kubectl process, as E drives libvirt from the bench process without starting one
//
// B and C define exactly the domains A made (virt-install's own XML, captured in the warm-up),
// so the three raw ways differ only in how they drive libvirt. D builds its own isolated network
// (a VirtNetwork of the lab) on top; A–C use one made beforehand, as the recipe's host had.
// E defines exactly the network and domains D's operator defined (captured in D's warm-up,
// renamed, the owner stamps left out), so D and E differ only in who drives libvirt.
//
//   tsx bench/recipe-lab.ts [runs]     (make bench-recipe; default 5 runs of each way)
//   BENCH_ACCEL=tcg make bench-recipe  (TCG on a KVM host: the private libvirtd gets no /dev/kvm)
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { imageEnv } from '../test/support/image.js';
import type { Connection } from '../src/libvirt/index.js';
import { run } from '../test/support/libvirtd.js';
import { type OperatorProcess, startOperator } from '../test/support/operator.js';
import {
  type Accel,
  applyBenchHypervisor,
  benchAccel,
  cleanLab,
  labManifest,
  type LabBench,
  type LibvirtEvents,
  NODES,
  openLibvirtEvents,
  POOL,
  say,
  startLabBench,
  type TimelineEntry,
  hostCpuWorks,
  wayD,
} from './recipe-d.js';
import {
  deltaBy,
  load1,
  loadAverages,
  machineLines,
  median,
  minMax,
  parsePrometheus,
  writeSection,
  type Sample,
} from './support.js';

const RUNS = Math.max(1, Number(process.argv[2] ?? process.env.BENCH_RUNS ?? 5));
const NETWORK = 'bench-maas';

type Way = 'A' | 'B' | 'C' | 'D' | 'E' | 'F';
const WAYS: readonly Way[] = ['A', 'B', 'C', 'D', 'E', 'F'];
const TITLE: Record<Way, string> = {
  A: 'A: virt-install ×3 (the manual recipe)',
  B: 'B: raw sequential (one virsh process)',
  C: 'C: raw parallel (three virsh processes)',
  D: 'D: maaslab (kubectl apply → lab Ready, 3 nodes Running)',
  E: "E: raw libvirt, the operator's work (network included, through the binding)",
  F: "F: maaslab, D's apply sent by the bench as one request (no kubectl process)",
};
/** E's own network: made and removed by every E run, as D's lab makes and removes its own. */
const E_NETWORK = 'bench-e';
/** E's domains (and their volumes, `<name>.qcow2`), named apart from A–C's and D's. */
const E_NODES = NODES.map((n) => `e-${n.name}`);

interface Bench extends LabBench {
  /** KVM refuses `-cpu host` here: virt-install is given `--cpu qemu64,check=none` (wayA). */
  readonly cpuFallback: boolean;
  /** The domain type of the run's accelerator, as the operator chooses it. */
  readonly virtType: 'kvm' | 'qemu';
  /** E's connection, opened once (the operator, too, keeps its connection open). */
  readonly conn: Connection;
  /** E's waits for Started lifecycle events, by domain name. */
  readonly started: Map<string, () => void>;
  readonly operator: OperatorProcess;
  /** The bench's own libvirt connection and its lifecycle events. */
  readonly libvirt: LibvirtEvents;
  /** virt-install's domain XML of node1..3 (no UUID), captured in the warm-up. */
  domainXmlFiles: string[];
  /** The operator's network and domain XML as E defines them, captured in D's warm-up. */
  operatorXml?: { readonly network: string; readonly domains: readonly string[] };
}

/** `virsh -c URI "cmd; cmd; …"`: one process, several commands. */
const virshScript = (b: Bench, commands: readonly string[]): Promise<unknown> =>
  run('virsh', ['-q', '-c', b.lv.uri, commands.join('; ')], { timeoutMs: 300_000 });

// --- the raw ways ---------------------------------------------------------------------------

async function wayA(b: Bench): Promise<number> {
  const t0 = performance.now();
  for (const n of NODES) {
    // The recipe's command, adapted to this host: no KVM, the bench's pool and network, and
    // osinfo detection relaxed (a PXE install has no media to detect an OS from).
    await run(
      'virt-install',
      [
        '--connect',
        b.lv.uri,
        '-n',
        n.name,
        '-r',
        '1024',
        '--arch=x86_64',
        '--virt-type',
        b.virtType,
        `--network=network=${NETWORK},model=virtio,mac=${n.mac}`,
        `--disk=pool=${POOL},size=8,format=qcow2,bus=virtio`,
        '--boot',
        'hd,network',
        '--vnc',
        '--pxe',
        '--noautoconsole',
        '--osinfo',
        'detect=on,require=off',
        // Where KVM refuses the host's CPU, QEMU's default model, which the operator's
        // domains run with too (they name no CPU model).
        // (check=none: libvirt's model lists AMD's svm, which an Intel host lacks; QEMU drops it.)
        ...(b.cpuFallback ? ['--cpu', 'qemu64,check=none'] : []),
      ],
      { timeoutMs: 300_000 },
    );
  }
  return performance.now() - t0;
}

const rawCommands = (b: Bench, i: number): string[] => [
  `vol-create-as ${POOL} ${NODES[i]!.name}.qcow2 8G --format qcow2`,
  `define ${b.domainXmlFiles[i]!}`,
  `start ${NODES[i]!.name}`,
];

async function wayB(b: Bench): Promise<number> {
  const t0 = performance.now();
  await virshScript(
    b,
    NODES.flatMap((_, i) => rawCommands(b, i)),
  );
  return performance.now() - t0;
}

async function wayC(b: Bench): Promise<number> {
  const t0 = performance.now();
  await Promise.all(NODES.map((_, i) => virshScript(b, rawCommands(b, i))));
  return performance.now() - t0;
}

/**
 * The operator's work done by hand on the same libvirt API it uses, in-process (no virsh
 * process, no Kubernetes): the network defined and started while the three volumes are created
 * and the three domains defined, then the three domains started at once when the network is
 * active. Done when libvirt's lifecycle events say all three Started: a watch, as D's.
 */
async function wayE(b: Bench, timeline: TimelineEntry[] = []): Promise<number> {
  if (!b.operatorXml) throw new Error("E needs the operator's XML (captured in D's warm-up)");
  const { network: networkXml, domains: xmls } = b.operatorXml;
  const t0 = performance.now();
  const mark = (what: string): void => void timeline.push({ ms: performance.now() - t0, what });
  const started = E_NODES.map(
    (name) =>
      new Promise<void>(
        (resolve) =>
          void b.started.set(name, () => {
            mark(`libvirt: domain ${name} Started`);
            resolve();
          }),
      ),
  );
  const network = (async () => {
    using net = await b.conn.networkDefineXMLFlags(networkXml);
    await net.create();
    mark('virNetworkCreate returned');
  })();
  const defined = E_NODES.map(async (name, i) => {
    using pool = await b.conn.storagePoolLookupByName(POOL);
    using vol = await pool.storageVolCreateXML(
      `<volume><name>${name}.qcow2</name><capacity unit='G'>8</capacity>` +
        `<target><format type='qcow2'/></target></volume>`,
    );
    void vol;
    const dom = await b.conn.domainDefineXMLFlags(xmls[i]!);
    mark(`${name} defined`);
    return dom;
  });
  await network;
  await Promise.all(
    defined.map(async (d, i) => {
      using dom = await d;
      mark(`virDomainCreateWithFlags ${E_NODES[i]} called`);
      await dom.createWithFlags();
      mark(`virDomainCreateWithFlags ${E_NODES[i]} returned`);
    }),
  );
  await Promise.all(started);
  return performance.now() - t0;
}

/** Removes what E made: the three domains, their volumes and E's network. */
async function cleanE(b: Bench): Promise<void> {
  await virshScript(b, [
    ...E_NODES.flatMap((name) => [`destroy ${name}`, `undefine ${name} --remove-all-storage`]),
    `net-destroy ${E_NETWORK}`,
    `net-undefine ${E_NETWORK}`,
  ]);
}

/**
 * The network and domain XML D's operator defined (the lab must be up), made E's own: E's
 * names, E's bridge, no UUID, MAC or owner stamp (E's objects are nobody's). Everything else
 * (devices, boot order, firmware, the network's addressing) is the operator's, byte for byte.
 */
async function captureOperatorXml(b: Bench): Promise<void> {
  const noIdentity = (xml: string): string =>
    xml.replace(/\s*<uuid>[^<]*<\/uuid>/, '').replace(/\s*<metadata>[\s\S]*?<\/metadata>/, '');
  const networks = (await b.lv.virsh(['net-list', '--all', '--name']))
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && l !== NETWORK);
  if (networks.length !== 1) throw new Error(`expected D's one network, found: ${networks}`);
  const network = noIdentity(await b.lv.virsh(['net-dumpxml', '--inactive', networks[0]!]))
    .replace(/<name>[^<]*<\/name>/, `<name>${E_NETWORK}</name>`)
    .replace(/\s*<mac address='[^']*'\/>/, '')
    .replace(/<bridge name='[^']*'/, "<bridge name='mlbenche0'");
  const domains: string[] = [];
  for (const [i, n] of NODES.entries()) {
    const name = (await b.lv.virsh(['list', '--all', '--name']))
      .split('\n')
      .map((l) => l.trim())
      .find((l) => l.endsWith(`-${n.name}`));
    if (name === undefined) throw new Error(`D's domain of ${n.name} not found`);
    const xml = noIdentity(await b.lv.virsh(['dumpxml', '--inactive', name]))
      .replace(`<name>${name}</name>`, `<name>${E_NODES[i]!}</name>`)
      .replace(/(<source pool='[^']*' volume=')[^']*'/, `$1${E_NODES[i]!}.qcow2'`)
      .replaceAll(`network='${networks[0]!}'`, `network='${E_NETWORK}'`);
    domains.push(xml);
  }
  b.operatorXml = { network, domains };
}

/** Removes what A, B or C made: the three domains and their volumes. */
async function cleanRaw(b: Bench): Promise<void> {
  await virshScript(
    b,
    NODES.flatMap((n) => [`destroy ${n.name}`, `undefine ${n.name} --remove-all-storage`]),
  );
}

// --- setup ---------------------------------------------------------------------------------

async function setUp(scratch: string, accel: Accel): Promise<Bench> {
  const lab = await startLabBench(scratch, accel);
  const { cp, lv } = lab;
  const operator = await startOperator({
    kubeconfig: cp.operatorKubeconfig,
    namespace: lab.leaseNs,
    logFile: join(scratch, 'operator.log'),
    args: ['--log-level', 'warn'],
    // As the image runs it (the Dockerfile's V8 and malloc settings).
    env: await imageEnv(),
  });
  await applyBenchHypervisor(lab);
  // A–C's network: isolated, no DHCP, like the lab's.
  const netXml = join(scratch, 'network.xml');
  await writeFile(
    netXml,
    `<network><name>${NETWORK}</name><bridge name='mlbench0' stp='on' delay='0'/>` +
      `<ip address='10.78.0.1' prefix='24'/></network>`,
  );
  await run('virsh', ['-q', '-c', lv.uri, `net-define ${netXml}; net-start ${NETWORK}`]);
  const libvirt = await openLibvirtEvents(lv.uri);
  return {
    ...lab,
    virtType: accel === 'kvm' ? 'kvm' : 'qemu',
    cpuFallback: accel === 'kvm' && !(await hostCpuWorks()),
    libvirt,
    conn: libvirt.conn,
    started: libvirt.started,
    operator,
    domainXmlFiles: [],
  };
}

/** Saves virt-install's persistent XML of node1..3, without the UUID, for B and C. */
async function captureDomainXml(b: Bench): Promise<void> {
  b.domainXmlFiles = [];
  for (const n of NODES) {
    const xml = (await b.lv.virsh(['dumpxml', '--inactive', n.name])).replace(
      /\s*<uuid>[^<]*<\/uuid>/,
      '',
    );
    const file = join(b.scratch, `${n.name}.xml`);
    await writeFile(file, xml);
    b.domainXmlFiles.push(file);
  }
}

async function scrape(op: OperatorProcess): Promise<Sample[]> {
  return parsePrometheus(await (await fetch(op.metricsUrl)).text());
}

// --- main ----------------------------------------------------------------------------------

/** What the operator did in the last D run, from its /metrics. */
interface LastD {
  readonly libvirt: Map<string, number>;
  readonly api: Map<string, number>;
  /** Wall time of libvirt calls by C function (calls overlap: the sum is not elapsed time). */
  readonly seconds: Map<string, number>;
  /** What the watch saw, in order, with ms since the apply started. */
  readonly timeline: readonly TimelineEntry[];
}

async function main(): Promise<void> {
  const scratch = await mkdtemp(join(tmpdir(), 'maaslab-bench-recipe-'));
  const loadBefore = loadAverages();
  const accel = await benchAccel();
  const b = await setUp(scratch, accel);
  const times: Record<Way, number[]> = { A: [], B: [], C: [], D: [], E: [], F: [] };
  const roundLoad: string[] = [];
  const manifest = await labManifest(b);
  let lastD: LastD | undefined;
  let lastF: LastD | undefined;
  let lastE: TimelineEntry[] = [];
  try {
    say('Warm-up (not counted): one run of each way…');
    await wayA(b);
    await captureDomainXml(b);
    await cleanRaw(b);
    await wayD(b, manifest);
    await captureOperatorXml(b);
    await cleanLab(b);
    for (const [way, clean] of [
      [wayB, cleanRaw],
      [wayC, cleanRaw],
      [wayE, cleanE],
    ] as const) {
      await way(b);
      await clean(b);
    }

    for (let round = 1; round <= RUNS; round++) {
      roundLoad.push(load1());
      for (const way of WAYS) {
        // Let the previous teardown's processes exit before the clock starts.
        await delay(500);
        if (way === 'D' || way === 'F') {
          const before = await scrape(b.operator);
          const timeline: TimelineEntry[] = [];
          const apply = way === 'D' ? 'kubectl' : 'request';
          times[way].push(await wayD(b, manifest, timeline, b.libvirt, apply));
          const after = await scrape(b.operator);
          const last = {
            timeline,
            libvirt: deltaBy(before, after, 'maaslab_libvirt_calls_total', 'op'),
            api: deltaBy(before, after, 'rest_client_requests_total', 'method'),
            seconds: deltaBy(before, after, 'maaslab_libvirt_call_duration_seconds_sum', 'op'),
          };
          if (way === 'D') lastD = last;
          else lastF = last;
          await cleanLab(b);
        } else if (way === 'E') {
          lastE = [];
          times.E.push(await wayE(b, lastE));
          await cleanE(b);
        } else {
          times[way].push(await { A: wayA, B: wayB, C: wayC }[way](b));
          await cleanRaw(b);
        }
        say(
          `  round ${round} ${way}: ${(times[way].at(-1)! / 1000).toFixed(2)} s (load ${load1()})`,
        );
      }
    }
  } finally {
    await b.conn.close().catch(() => undefined);
    await b.operator.stop().catch(() => undefined);
    await b.lv.stop().catch(() => undefined);
    await b.cp.stop().catch(() => undefined);
    if (!process.env.MAASLAB_KEEP_BENCH) await rm(scratch, { recursive: true, force: true });
    else say(`scratch kept in ${scratch}`);
  }
  report(times, roundLoad, loadBefore, { D: lastD, F: lastF, E: lastE }, accel, b.cpuFallback);
}

function report(
  times: Record<Way, number[]>,
  roundLoad: readonly string[],
  loadBefore: string,
  last: {
    readonly D: LastD | undefined;
    readonly F: LastD | undefined;
    /** The last E run's own timeline. */
    readonly E: readonly TimelineEntry[];
  },
  accel: Accel,
  cpuFallback: boolean,
): void {
  const { D: lastD, F: lastF, E: lastE } = last;
  const virtType = accel === 'kvm' ? 'kvm' : 'qemu';
  const accelText =
    accel === 'kvm'
      ? 'KVM'
      : process.env.BENCH_ACCEL
        ? 'TCG (BENCH_ACCEL=tcg: the private libvirtd has no /dev/kvm)'
        : 'TCG (no usable /dev/kvm)';
  const s = (x: number): string => (x / 1000).toFixed(2);
  const med = Object.fromEntries(WAYS.map((w) => [w, median(times[w])])) as Record<Way, number>;
  const rows = WAYS.map((w) => {
    const [lo, hi] = minMax(times[w]);
    return `| ${TITLE[w]} | ${s(med[w])} | ${s(lo)}–${s(hi)} | ${times[w].length} |`;
  });
  const pairs: Array<[Way, Way]> = [
    ['A', 'B'],
    ['A', 'C'],
    ['A', 'D'],
    ['B', 'C'],
    ['D', 'B'],
    ['D', 'C'],
    ['D', 'E'],
    ['E', 'C'],
    ['D', 'F'],
    ['F', 'E'],
    ['A', 'F'],
  ];
  // Per round too: the ways of one round ran under the same load.
  const perRound = (x: Way, y: Way): [number, number] =>
    minMax(times[x].map((t, i) => t / times[y][i]!));
  const ratioRows = pairs.map(([x, y]) => {
    const [lo, hi] = perRound(x, y);
    return `| ${x} / ${y} | ${(med[x] / med[y]).toFixed(2)} | ${lo.toFixed(2)}–${hi.toFixed(2)} |`;
  });
  const dOverE = med.D / med.E;
  const dOverC = med.D / med.C;
  const aOverD = med.A / med.D;
  const fOverE = med.F / med.E;
  const aOverF = med.A / med.F;
  const verdict = (ok: boolean): string => (ok ? '**met**' : '**missed**');
  const list = (m: Map<string, number> | undefined): string =>
    m
      ? [...m.entries()]
          .sort((a, b) => b[1] - a[1])
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')
      : '—';
  const lines = [
    accel === 'kvm'
      ? '## 1. The recipe lab, six ways (KVM)'
      : '## 1b. The recipe lab, six ways (TCG)',
    '',
    'Three nodes, 1 GiB, an 8 GiB qcow2 disk and a PXE NIC (MACs 52:54:00:7f:04:01..03) on an',
    `isolated network without DHCP, on a private libvirtd with QEMU, accelerator **${accelText}** (domain type ${virtType}).`,
    `\`${accel === 'kvm' ? '' : 'BENCH_ACCEL=tcg '}make bench-recipe\` (\`tsx bench/recipe-lab.ts\`). Each run starts from a clean state (the`,
    "previous run's domains and volumes removed, for D through the operator's finalizers); the",
    'ways run in turn, A B C D E F A B C D E F …, after one uncounted warm-up run of A–E. B and C define',
    "virt-install's own domain XML. D includes creating the lab's isolated network (A–C use one",
    'made beforehand) and ends when a watch shows the lab Ready and all three nodes Running.',
    "E is issue 16's same-work baseline: the operator's libvirt work by hand through the binding,",
    'in one process: its own network defined and started while the volumes are created and the',
    'domains defined, the domains started together once the network is active, done when',
    "libvirt's lifecycle events have said Started three times. E defines the very network and",
    "domain XML D's operator defined in the warm-up (renamed, without UUIDs, MACs or owner",
    'stamps), so D and E differ only in who drives libvirt. F is D with the server-side apply sent',
    "as one request from the bench process instead of by a kubectl process (kubectl's own start",
    "is not the operator's, and E starts no program either); the lab, the operator and the",
    'watch are the same.',
    ...(cpuFallback
      ? [
          '',
          "This host's KVM refuses the host's own CPU (`qemu-system-x86_64 -accel kvm -cpu host`",
          "exits: a nested host's missing MSR), virt-install's default under KVM, so A runs with",
          "`--cpu qemu64,check=none`: QEMU's default model, which D's and E's domains (no CPU model",
          'named) run with too; B and C define the domains A made.',
        ]
      : []),
    '',
    ...machineLines({
      runs: `${RUNS} of each way`,
      'load average (1, 5, 15 min)': `${loadBefore} before; ${loadAverages()} after`,
      '1-min load at the start of each round': roundLoad.join(', '),
    }),
    '',
    '| way | median (s) | min–max (s) | runs |',
    '| --- | --- | --- | --- |',
    ...rows,
    '',
    '| ratio | of medians | per round, min–max |',
    '| --- | --- | --- |',
    ...ratioRows,
    '',
    `Goals: D ≤ 1.15 × E (issue 16) — measured ${dOverE.toFixed(2)} × E, ${verdict(dOverE <= 1.15)}` +
      (dOverE > 1.15 ? ` by ${((dOverE / 1.15 - 1) * 100).toFixed(0)} %` : '') +
      `; D ≤ 1.15 × C (issue 6) — measured ${dOverC.toFixed(2)} × C, ${verdict(dOverC <= 1.15)}` +
      (dOverC > 1.15 ? ` by ${((dOverC / 1.15 - 1) * 100).toFixed(0)} %` : '') +
      `; A / D ≥ 2.5 — measured ${aOverD.toFixed(2)}, ${verdict(aOverD >= 2.5)}` +
      (aOverD < 2.5 ? ` by ${((1 - aOverD / 2.5) * 100).toFixed(0)} %` : '') +
      '.',
    '',
    `Without kubectl's own process (F, the apply as one request from the bench, as E calls libvirt): ` +
      `F / E ${fOverE.toFixed(2)}, ${verdict(fOverE <= 1.15)} against 1.15` +
      (fOverE > 1.15 ? ` by ${((fOverE / 1.15 - 1) * 100).toFixed(0)} %` : '') +
      `; A / F ${aOverF.toFixed(2)}, ${verdict(aOverF >= 2.5)} against 2.5` +
      (aOverF < 2.5 ? ` by ${((1 - aOverF / 2.5) * 100).toFixed(0)} %` : '') +
      `; D − F ${((med.D - med.F) / 1000).toFixed(2)} s, what kubectl's process adds.`,
    '',
    `Operator calls in the last D run: libvirt ${list(lastD?.libvirt)}; API requests ${list(lastD?.api)}.`,
    '',
    `Their libvirt wall time by C function, summed over calls (seconds; the nodes' calls overlap): ${
      lastD
        ? [...lastD.seconds.entries()]
            .sort((a, b) => b[1] - a[1])
            .slice(0, 6)
            .map(([k, v]) => `${k} ${v.toFixed(3)}`)
            .join(', ')
        : '—'
    }.`,
    '',
    'Where the last D run went, as its watch saw it (ms after `kubectl apply` started):',
    '',
    ...(lastD?.timeline ?? []).map((e) => `- ${e.ms.toFixed(0)} ms: ${e.what}`),
    '',
    'Where the last F run went (ms after the apply request was sent):',
    '',
    ...(lastF?.timeline ?? []).map((e) => `- ${e.ms.toFixed(0)} ms: ${e.what}`),
    '',
    "Where the last E run went (ms after its first call; libvirt's events as D's watch sees them):",
    '',
    ...lastE.map((e) => `- ${e.ms.toFixed(0)} ms: ${e.what}`),
    '',
    'Raw numbers (s):',
    '',
    ...WAYS.map((w) => `- ${w}: ${times[w].map(s).join(', ')}`),
  ];
  writeSection(accel === 'kvm' ? 'recipe-lab' : 'recipe-lab-tcg', lines.join('\n'));
  say(lines.slice(lines.indexOf('| way | median (s) | min–max (s) | runs |')).join('\n'));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
