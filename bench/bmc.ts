// The virtual BMCs of one hypervisor with 100 nodes, on libvirt's test driver, and writes the
// `bmc` section of bench/RESULTS.md.
//
// 100 domains owned by fake MaasNodes are defined through the operator's own connection pool
// and Hypervisor verbs on test:///default, half of them started. The BMC service
// (createBmcService with the real startRedfishBmc over HTTPS with a generated certificate, and
// the real startIpmiBmc) serves 50 of them by Redfish and 50 by IPMI, all at once; its hooks
// only count. Then, over 127.0.0.1:
//
// - Redfish power status: GET /redfish/v1/Systems/{id} with basic auth over keep-alive TLS
//   connections (node:https, one Agent), sequentially (p50/p99) and 16 in flight (req/s).
// - IPMI power status: one logged-in RMCP+ session per node (cipher suite 3, the test console
//   of test/support/ipmi-console.ts over UDP), Get Chassis Status, sequentially and 16 in
//   flight across the 50 ports.
// - libvirt calls per request, from the Hypervisor's call metrics, and the number of libvirt
//   connections opened (the pool's opener is counted): one for the whole run.
//
// Each measurement runs twice per round, interleaved: with the service as it is (the power
// state from Hypervisor.observeDomainState: lookup + virDomainGetState) and as it was before
// (the state from observeDomain: lookup + state, persistence, managed save and both XMLs,
// parsed). Figures are medians over the rounds.
//
// Client and BMCs share this one process and its event loop, as in-process tests do: the
// round trip includes both sides' CPU, and the throughput is that of one core doing both.
//
//   tsx bench/bmc.ts [rounds] [requests per measurement]     (make bench-bmc; default 5 2000)
import { createServer } from 'node:net';
import { Agent, request } from 'node:https';
import { cpuUsage } from 'node:process';
import { performance } from 'node:perf_hooks';
import { NoBootOverride } from '../src/bmc/boot.js';
import { startIpmiBmc } from '../src/bmc/ipmi/index.js';
import { generateBmcCertificate, startRedfishBmc } from '../src/bmc/redfish/index.js';
import { type BmcTarget, createBmcService } from '../src/bmc/service.js';
import {
  Connection,
  createConnectionPool,
  createLibvirtHypervisor,
  type DomainPowerState,
  formatLibvirtVersion,
  type Hypervisor,
  type LibvirtMetrics,
  type OwnedDomainDescription,
} from '../src/libvirt/index.js';
import { noopLogger } from '../src/runtime/index.js';
import {
  type ConsoleSession,
  type IpmiPeer,
  ipmiRequest,
  login,
  responseOf,
  sealed,
  udpPeer,
  unseal,
} from '../test/support/ipmi-console.js';
import { loadAverages, machineLines, median, percentile, writeSection } from './support.js';

const ROUNDS = Number(process.argv[2] ?? process.env.BENCH_ROUNDS ?? 5);
const REQUESTS = Number(process.argv[3] ?? process.env.BENCH_REQUESTS ?? 2000);
const NODES = 100;
const CONCURRENCY = 16;
const WARMUP = 200;
const URI = 'test:///default';
const HOST = '127.0.0.1';
const HYPERVISOR = 'hv-bench';
const CREDENTIALS = { username: 'maas', password: 'bench-pa55word' };

const say = (line: string): void => void process.stdout.write(`${line}\n`);

/** A free TCP port on HOST (for the Redfish listener, whose URL the service derives). */
async function freeTcpPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** libvirt calls as the Hypervisor's metrics see them: per op, and in C functions. */
function countingMetrics(): LibvirtMetrics & {
  snapshot(): { calls: number; cFunctions: number; byOp: Map<string, number> };
} {
  const byOp = new Map<string, number>();
  return {
    observeCall(_hypervisor, op) {
      byOp.set(op, (byOp.get(op) ?? 0) + 1);
    },
    snapshot() {
      let calls = 0;
      let cFunctions = 0;
      for (const [op, n] of byOp) {
        calls += n;
        // A batched op is named after its C functions joined by '+' (OBSERVE_DOMAIN_OP).
        cFunctions += n * op.split('+').length;
      }
      return { calls, cFunctions, byOp: new Map(byOp) };
    },
  };
}

type Mode = 'state' | 'observe';

/**
 * The operator's Hypervisor, with observeDomainState answered either by itself (`state`, the
 * service as it is) or from observeDomain (`observe`, what describe() and the power actions
 * read before observeDomainState existed). Everything else passes through.
 */
function switchableVerbs(hv: Hypervisor, mode: () => Mode): Hypervisor {
  const legacy = async (name: string): Promise<DomainPowerState | undefined> => {
    const d = await hv.observeDomain(name);
    return d && { state: d.state, reason: d.reason };
  };
  return new Proxy(hv, {
    get(target, prop, receiver) {
      if (prop === 'observeDomainState' && mode() === 'observe') return legacy;
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === 'function'
        ? (value as (...a: unknown[]) => unknown).bind(target)
        : value;
    },
  });
}

interface Measurement {
  readonly latenciesMs: number[];
  readonly wallMs: number;
  readonly requests: number;
  readonly libvirtCalls: number;
  readonly cFunctions: number;
  readonly cpuMs: number;
}

/** Runs `one(i)` `count` times with `concurrency` in flight (worker w takes i ≡ w mod c). */
async function drive(
  count: number,
  concurrency: number,
  one: (i: number, worker: number) => Promise<void>,
  metrics: ReturnType<typeof countingMetrics>,
): Promise<Measurement> {
  const latenciesMs: number[] = [];
  const before = metrics.snapshot();
  const cpu0 = cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      for (let i = w; i < count; i += concurrency) {
        const s = performance.now();
        await one(i, w);
        latenciesMs.push(performance.now() - s);
      }
    }),
  );
  const wallMs = performance.now() - t0;
  const cpu = cpuUsage(cpu0);
  const after = metrics.snapshot();
  return {
    latenciesMs,
    wallMs,
    requests: count,
    libvirtCalls: after.calls - before.calls,
    cFunctions: after.cFunctions - before.cFunctions,
    cpuMs: (cpu.user + cpu.system) / 1000,
  };
}

async function main(): Promise<void> {
  // The operator's pool, its opener counted: every libvirt connection of the run opens here.
  let opens = 0;
  const pool = createConnectionPool({
    open: (uri) => {
      opens += 1;
      return Connection.open(uri);
    },
  });
  const metrics = countingMetrics();
  const hv = createLibvirtHypervisor({ uri: URI, connections: pool, name: HYPERVISOR, metrics });
  let mode: Mode = 'state';
  const verbs = switchableVerbs(hv, () => mode);
  const libvirtVersion = formatLibvirtVersion(await (await pool.get(URI)).getLibVersion());

  // 100 domains owned by fake MaasNodes; every other one running.
  say(`defining ${NODES} domains on ${URI}`);
  const nodes: {
    name: string;
    owner: OwnedDomainDescription['owner'];
    def: OwnedDomainDescription;
    uuid: string;
    on: boolean;
  }[] = [];
  for (let i = 0; i < NODES; i++) {
    const name = `node-${String(i).padStart(3, '0')}`;
    const owner = { kind: 'MaasNode', namespace: 'bench', name, uid: `uid-bench-${i}` };
    const def: OwnedDomainDescription = {
      name: `bench-${name}`,
      type: 'qemu',
      memoryBytes: 512 * 1024 * 1024,
      vcpus: 1,
      arch: 'x86_64',
      firmware: 'bios',
      bootOrder: [],
      disks: [],
      interfaces: [],
      owner,
    };
    await hv.defineDomain(def);
    const on = i % 2 === 1;
    if (on) await hv.start(def.name, owner);
    const uuid = (await hv.observeDomain(def.name))!.uuid;
    nodes.push({ name, owner, def, uuid, on });
  }

  // The BMC service with the real servers; hooks that count.
  const cert = await generateBmcCertificate({
    commonName: `${HYPERVISOR} virtual BMCs`,
    ipAddresses: [HOST],
    dnsNames: [],
    validDays: 1,
  });
  const hooked = { actions: 0, boots: 0 };
  const service = createBmcService({
    startRedfish: (o) => startRedfishBmc(o),
    startIpmi: (o) => startIpmiBmc(o),
    tlsFor: () => Promise.resolve({ certPem: cert.certPem, keyPem: cert.keyPem }),
    hooks: {
      actionTaken: async () => void hooked.actions++,
      bootChanged: async () => void hooked.boots++,
      bootSpent: async () => void hooked.boots++,
    },
    log: noopLogger,
  });
  const redfishPort = await freeTcpPort();
  // A range well above the default's, with room: ports another program holds are skipped.
  const ipmiBase = 40000 + Math.floor(Math.random() * 20000);
  const listen = {
    address: HOST,
    redfishPort,
    redfishScheme: 'https' as const,
    ipmiPortRange: `${ipmiBase}-${ipmiBase + 2 * NODES}`,
  };
  const redfishIds: string[] = [];
  const ipmiPorts: { port: number; on: boolean }[] = [];
  let redfishUrl = '';
  const ensureStart = performance.now();
  for (const [i, n] of nodes.entries()) {
    const target: BmcTarget = {
      key: `bench/${n.name}`,
      name: n.name,
      type: i < NODES / 2 ? 'redfish' : 'ipmi',
      systemId: n.uuid,
      hypervisor: HYPERVISOR,
      listen,
      credentials: CREDENTIALS,
      boot: NoBootOverride,
      verbs,
      definition: n.def,
      specBootOrder: ['network', 'disk'],
      domainName: n.def.name,
      owner: n.owner,
      vcpus: 1,
      memoryMiB: 512,
    };
    const at = await service.ensure(target);
    if (at.redfish) {
      redfishUrl = at.redfish.url;
      redfishIds.push(n.uuid);
    }
    if (at.ipmi) ipmiPorts.push({ port: at.ipmi.port, on: n.on });
  }
  const ensureMs = performance.now() - ensureStart;
  const redfishOn = new Map(nodes.map((n) => [n.uuid, n.on]));
  say(
    `${redfishIds.length} Redfish systems at ${redfishUrl}, ${ipmiPorts.length} IPMI ports; ensure() took ${ensureMs.toFixed(0)} ms`,
  );

  // Redfish client: keep-alive TLS, trusting the BMC's certificate.
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY, ca: cert.certPem });
  const auth = `Basic ${Buffer.from(`${CREDENTIALS.username}:${CREDENTIALS.password}`).toString('base64')}`;
  const base = new URL(redfishUrl);
  const getSystem = (id: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const req = request(
        {
          agent,
          host: base.hostname,
          port: base.port,
          path: `/redfish/v1/Systems/${id}`,
          headers: { Authorization: auth, Accept: 'application/json' },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            if (res.statusCode !== 200) return reject(new Error(`GET ${id}: ${res.statusCode}`));
            const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
              PowerState?: string;
            };
            const want = redfishOn.get(id) ? 'On' : 'Off';
            if (body.PowerState !== want)
              return reject(new Error(`${id}: PowerState ${body.PowerState}, want ${want}`));
            resolve();
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end();
    });

  // IPMI consoles: one UDP socket and one logged-in session per node.
  const consoles: {
    peer: IpmiPeer & { close(): Promise<void> };
    session: ConsoleSession;
    on: boolean;
  }[] = [];
  for (const p of ipmiPorts) {
    const peer = await udpPeer(HOST, p.port);
    const result = await login(peer, CREDENTIALS.username, CREDENTIALS.password);
    if (!result.session)
      throw new Error(`IPMI login on ${p.port} failed: ${JSON.stringify(result)}`);
    consoles.push({ peer, session: result.session, on: p.on });
  }
  const chassisStatus = async (c: (typeof consoles)[number]): Promise<void> => {
    const reply = await c.peer.handle(sealed(c.session, ipmiRequest(0x00, 0x01, [])), {
      ip: HOST,
      remote: HOST,
    });
    const { cc, data } = responseOf(unseal(c.session, reply));
    if (cc !== 0) throw new Error(`Get Chassis Status: completion code ${cc}`);
    if (((data.readUInt8(0) & 0x01) === 1) !== c.on)
      throw new Error('Get Chassis Status: wrong power state');
  };

  const opensBefore = opens;
  const loadBefore = loadAverages();

  // Warm-up: JIT, TLS sessions, the agent's sockets.
  for (let i = 0; i < WARMUP; i++) await getSystem(redfishIds[i % redfishIds.length]!);
  for (let i = 0; i < WARMUP; i++) await chassisStatus(consoles[i % consoles.length]!);
  await drive(WARMUP, CONCURRENCY, (i) => getSystem(redfishIds[i % redfishIds.length]!), metrics);

  type Key = `${'redfish' | 'ipmi'}-${'seq' | 'conc'}-${Mode}`;
  const results = new Map<Key, Measurement[]>();
  const add = (k: Key, m: Measurement): void => void results.set(k, [...(results.get(k) ?? []), m]);
  // IPMI in flight: worker w owns consoles w, w+16, …, one request at a time per session.
  const ipmiConc = (i: number, w: number): Promise<void> => {
    const mine = consoles.filter((_, k) => k % CONCURRENCY === w);
    return chassisStatus(mine[Math.floor(i / CONCURRENCY) % mine.length]!);
  };
  const steps: { key: Key; run: () => Promise<Measurement> }[] = [];
  for (const m of ['state', 'observe'] as const) {
    const withMode = (f: () => Promise<Measurement>) => async () => {
      mode = m;
      return f();
    };
    steps.push(
      {
        key: `redfish-seq-${m}`,
        run: withMode(() =>
          drive(REQUESTS, 1, (i) => getSystem(redfishIds[i % redfishIds.length]!), metrics),
        ),
      },
      {
        key: `redfish-conc-${m}`,
        run: withMode(() =>
          drive(
            REQUESTS,
            CONCURRENCY,
            (i) => getSystem(redfishIds[i % redfishIds.length]!),
            metrics,
          ),
        ),
      },
      {
        key: `ipmi-seq-${m}`,
        run: withMode(() =>
          drive(REQUESTS, 1, (i) => chassisStatus(consoles[i % consoles.length]!), metrics),
        ),
      },
      {
        key: `ipmi-conc-${m}`,
        run: withMode(() => drive(REQUESTS, CONCURRENCY, ipmiConc, metrics)),
      },
    );
  }
  for (let r = 0; r < ROUNDS; r++) {
    // Rotate the order each round, so neither variant always runs first.
    for (let k = 0; k < steps.length; k++) {
      const step = steps[(k + r * 4) % steps.length]!;
      const m = await step.run();
      add(step.key, m);
      say(
        `round ${r + 1} ${step.key}: p50 ${percentile(m.latenciesMs, 0.5).toFixed(3)} ms, ` +
          `p99 ${percentile(m.latenciesMs, 0.99).toFixed(3)} ms, ` +
          `${((m.requests / m.wallMs) * 1000).toFixed(0)} req/s, ` +
          `${(m.libvirtCalls / m.requests).toFixed(2)} libvirt calls/req`,
      );
    }
  }
  mode = 'state';
  const opensAfter = opens;
  const totalRequests = [...results.values()].flat().reduce((a, m) => a + m.requests, 0);
  const loadAfter = loadAverages();

  for (const c of consoles) await c.peer.close();
  agent.destroy();
  await service.close();
  for (const n of nodes) await hv.deleteDomain(n.def.name, n.owner);
  await hv.close();
  await pool.close();

  // Figures: medians over rounds.
  const of = (k: Key) => results.get(k) ?? [];
  const p = (k: Key, q: number): string =>
    median(of(k).map((m) => percentile(m.latenciesMs, q))).toFixed(3);
  const rps = (k: Key): number => median(of(k).map((m) => (m.requests / m.wallMs) * 1000));
  const per = (k: Key, f: (m: Measurement) => number): string =>
    median(of(k).map((m) => f(m) / m.requests)).toFixed(2);
  const row = (proto: 'redfish' | 'ipmi', m: Mode): string => {
    const seq: Key = `${proto}-seq-${m}`;
    const conc: Key = `${proto}-conc-${m}`;
    return [
      proto === 'redfish' ? 'Redfish GET System' : 'IPMI Get Chassis Status',
      m === 'state' ? 'observeDomainState (now)' : 'observeDomain (before)',
      p(seq, 0.5),
      p(seq, 0.99),
      rps(seq).toFixed(0),
      p(conc, 0.5),
      p(conc, 0.99),
      rps(conc).toFixed(0),
      per(seq, (x) => x.libvirtCalls),
      per(seq, (x) => x.cFunctions),
      median(of(seq).map((x) => x.cpuMs / x.requests)).toFixed(3),
    ].join(' | ');
  };
  const ratio = (proto: 'redfish' | 'ipmi', kind: 'seq' | 'conc'): string =>
    (rps(`${proto}-${kind}-state`) / rps(`${proto}-${kind}-observe`)).toFixed(2);
  const lines = [
    '## Virtual BMCs',
    '',
    `Written by \`make bench-bmc\` (\`tsx bench/bmc.ts ${ROUNDS} ${REQUESTS}\`). One hypervisor, ` +
      `libvirt's test driver (\`${URI}\`, in-process: no QEMU, no libvirtd), ${NODES} domains owned by ` +
      "fake MaasNodes (every other one running), defined through the operator's connection pool and " +
      'Hypervisor verbs. The BMC service (`createBmcService` with the real `startRedfishBmc` and ' +
      `\`startIpmiBmc\`, hooks that only count) serves ${redfishIds.length} nodes by Redfish over **HTTPS** ` +
      `(a generated self-signed certificate) and ${consoles.length} by IPMI (one UDP port each), all at ` +
      "once, on 127.0.0.1. One set of credentials for all (a MaasLab template's Secret).",
    '',
    `- Redfish: \`GET /redfish/v1/Systems/{id}\` with basic auth, node:https over keep-alive ` +
      `connections (one Agent), round robin over the ${redfishIds.length} systems; PowerState checked.`,
    `- IPMI: one RMCP+ session per node (cipher suite 3: RAKP-HMAC-SHA1, HMAC-SHA1-96, AES-CBC-128; ` +
      'the test console of `test/support/ipmi-console.ts` with its own crypto), `Get Chassis Status` ' +
      `round robin over the ${consoles.length} ports; the power bit checked.`,
    `- Sequential: one request in flight. Concurrent: ${CONCURRENCY} in flight (Redfish: ${CONCURRENCY} ` +
      `keep-alive connections; IPMI: ${CONCURRENCY} workers, each owning every ${CONCURRENCY}th session).`,
    `- ${REQUESTS} requests per measurement after ${WARMUP} warm-up requests per protocol; ${ROUNDS} rounds, ` +
      "the order rotated each round; each figure is the median over the rounds of that round's " +
      'percentile (nearest rank) or throughput.',
    "- Client and BMCs share one Node process and event loop: a round trip includes both sides' CPU, " +
      'and the concurrent throughput is one core doing client, TLS/crypto and server work.',
    '- "before" answers the power state as the service did before `Hypervisor.observeDomainState`: from ' +
      '`observeDomain` (lookup, then state, persistence, managed save and the inactive and live XML, ' +
      'both parsed), through the same proxy in the same run.',
    '',
    ...machineLines({
      libvirt: libvirtVersion,
      conditions:
        '2 shared cores, TCG only (no KVM; irrelevant here, the test driver runs no guest), another ' +
        "tenant's CI may run at the same time: compare the rows of this run with each other, not with " +
        'other runs',
      'load average (1, 5, 15 min)': `${loadBefore} before, ${loadAfter} after`,
    }),
    '',
    '| request | power state read by | seq p50 (ms) | seq p99 (ms) | seq req/s | ' +
      `${CONCURRENCY} in flight p50 (ms) | p99 (ms) | req/s | libvirt calls/req | C functions/req | CPU ms/req (seq) |`,
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    `| ${row('redfish', 'state')} |`,
    `| ${row('redfish', 'observe')} |`,
    `| ${row('ipmi', 'state')} |`,
    `| ${row('ipmi', 'observe')} |`,
    '',
    `Throughput now / before: Redfish ${ratio('redfish', 'seq')}× sequential, ${ratio('redfish', 'conc')}× ` +
      `with ${CONCURRENCY} in flight; IPMI ${ratio('ipmi', 'seq')}× sequential, ${ratio('ipmi', 'conc')}× ` +
      `with ${CONCURRENCY} in flight.`,
    '',
    '"libvirt calls" are the Hypervisor\'s instrumented calls (`maaslab_libvirt_calls_total`); ' +
      '"C functions" counts the libvirt functions an op names (observeDomain\'s one batched hop is named ' +
      '`virDomainGetState+virDomainIsPersistent+virDomainHasManagedSaveImage+virDomainGetXMLDesc`; a ' +
      "lower bound, as it reads a running domain's XML twice, inactive and live). A power-status " +
      'request now costs `virDomainLookupByName` and `virDomainGetState`, and no XML.',
    '',
    `**No connection per request:** the pool opened ${opensBefore} libvirt connection before the ` +
      `BMCs served anything and ${opensAfter} by the end, after ${totalRequests} measured BMC requests ` +
      `(plus warm-up); every request went through the operator's pooled connection. ` +
      `ensure() of all ${NODES} BMCs took ${ensureMs.toFixed(0)} ms; hooks called: ` +
      `${hooked.actions} actions, ${hooked.boots} boot changes (a status request records nothing).`,
    '',
    'Raw, per round (seq p50 ms / 16-in-flight req/s):',
    '',
    ...(['redfish', 'ipmi'] as const).flatMap((proto) =>
      (['state', 'observe'] as const).map(
        (m) =>
          `- ${proto} ${m}: ` +
          of(`${proto}-seq-${m}`)
            .map((x, i) => {
              const c = of(`${proto}-conc-${m}`)[i];
              return `${percentile(x.latenciesMs, 0.5).toFixed(3)} / ${c ? ((c.requests / c.wallMs) * 1000).toFixed(0) : '—'}`;
            })
            .join(', '),
      ),
    ),
    '',
  ];
  writeSection('bmc', lines.join('\n'));
  say(lines.join('\n'));
  if (opensAfter !== 1)
    throw new Error(`expected one libvirt connection, the pool opened ${opensAfter}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
