// Lab snapshots: capture and restore time of the recipe lab (3 nodes) and of a 20-node lab, on
// a private libvirtd, with the operator a child process (generated RBAC only), and writes the
// `lab-snapshot` section of bench/RESULTS.md.
//
// Each lab's nodes are defined and off (runStrategy Halted; 128 MiB each, so that 20 of them
// fit the machine) and each node's 8 GiB qcow2 disk has DATA_MIB written into it with
// qemu-io, as a deployed system would have, so a copy has something to copy. Offline capture of
// nodes already off measures the method itself: hold, copy into golden volumes, release. The
// ACPI grace period of running guests comes on top of it (the e2e test records a running lab).
// A run is: create a MaasLabSnapshot until readyToUse (capture), then a new restoreFrom token
// until status.restore is Completed (restore), then delete the snapshot until it is gone.
//
//   tsx bench/lab-snapshot.ts [runs]     (make bench-snapshot; default 3 runs per lab)
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import type { MaasLab, MaasLabSnapshot } from '../src/api/v1alpha1/index.js';
import { ContentType, type RestClient, createRestClient } from '../src/runtime/client/rest.js';
import { startControlPlane } from '../test/support/controlplane.js';
import { applyCrds } from '../test/support/crds.js';
import { GROUP_VERSION } from '../test/support/e2e.js';
import { run, startPrivateLibvirtd } from '../test/support/libvirtd.js';
import { createTestNamespace } from '../test/support/namespace.js';
import { applyOperatorRbac, kubectlApply, startOperator } from '../test/support/operator.js';
import { load1, loadAverages, machineLines, median, minMax, writeSection } from './support.js';

const RUNS = Math.max(1, Number(process.argv[2] ?? process.env.BENCH_RUNS ?? 3));
const LABS = [3, 20] as const;
const DATA_MIB = 64;
const HYPERVISOR = 'bench-snapshot';
const POOL = 'bench-snap';
const STEP_TIMEOUT_MS = 600_000;

const say = (line: string): void => void process.stdout.write(`${line}\n`);

async function until<T>(what: string, fn: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await delay(100);
  }
}

interface Run {
  readonly captureS: number;
  readonly restoreS: number;
  readonly deleteS: number;
  readonly bytes: number;
}

async function main(): Promise<void> {
  const scratch = await mkdtemp(join(tmpdir(), 'maaslab-bench-snap-'));
  say('Starting kube-testenv and a private libvirtd…');
  const [cp, lv] = await Promise.all([startControlPlane(), startPrivateLibvirtd()]);
  const admin: RestClient = createRestClient(cp.restConfig('admin'));
  const results = new Map<number, Run[]>();
  const load = { before: load1(), after: '' };
  try {
    await applyCrds(cp);
    const leaseNs = await createTestNamespace(cp.kubeConfig('admin'), 'bench-snap-op');
    const ns = (await createTestNamespace(cp.kubeConfig('admin'), 'bench-snap')).name;
    await applyOperatorRbac(cp.adminKubeconfig, leaseNs.name, scratch);
    const operator = await startOperator({
      kubeconfig: cp.operatorKubeconfig,
      namespace: leaseNs.name,
      logFile: join(scratch, 'operator.log'),
      args: ['--log-level', 'warn'],
    });
    const ref = (kind: string, name?: string) => ({
      apiVersion: GROUP_VERSION,
      kind,
      namespace: ns,
      ...(name !== undefined && { name }),
    });
    try {
      for (const count of LABS) {
        const labName = `lab${count}`;
        say(`Building ${labName} (${count} nodes, halted, ${DATA_MIB} MiB written per disk)…`);
        await kubectlApply(
          cp.adminKubeconfig,
          [
            {
              apiVersion: GROUP_VERSION,
              kind: 'Hypervisor',
              metadata: { name: HYPERVISOR },
              spec: { uri: lv.uri, storagePool: POOL, storagePoolPath: join(lv.dir, 'pool') },
            },
            {
              apiVersion: GROUP_VERSION,
              kind: 'MaasLab',
              metadata: { name: labName, namespace: ns },
              spec: {
                hypervisor: HYPERVISOR,
                networks: [
                  {
                    name: 'maas',
                    mode: 'isolated',
                    ipv4: { address: `10.79.${count}.1`, prefixLength: 24 },
                  },
                ],
                nodes: {
                  count,
                  template: {
                    memory: '128Mi',
                    runStrategy: 'Halted',
                    disks: [{ name: 'root', size: '8Gi', format: 'qcow2' }],
                    interfaces: [{ network: 'maas' }],
                  },
                },
              },
            },
          ],
          join(scratch, `${labName}.yaml`),
        );
        await until(`${labName} Ready`, async () => {
          const lab = await admin.request<MaasLab>({ method: 'GET', ref: ref('MaasLab', labName) });
          return lab.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')
            ? true
            : undefined;
        });
        for (let i = 1; i <= count; i++) {
          const file = join(lv.dir, 'pool', `${ns}.${labName}-node${i}-root.qcow2`);
          await run('qemu-io', ['-f', 'qcow2', '-c', `write -P 0xcd 0 ${DATA_MIB}M`, file]);
        }
        const runs: Run[] = [];
        for (let r = 1; r <= RUNS; r++) {
          const snap = `${labName}-s${r}`;
          let t0 = performance.now();
          await admin.request({
            method: 'POST',
            ref: ref('MaasLabSnapshot'),
            body: {
              apiVersion: GROUP_VERSION,
              kind: 'MaasLabSnapshot',
              metadata: { name: snap, namespace: ns },
              spec: { lab: labName, mode: 'Offline' },
            },
          });
          const ready = await until(`${snap} ready`, async () => {
            const s = await admin.request<MaasLabSnapshot>({
              method: 'GET',
              ref: ref('MaasLabSnapshot', snap),
            });
            if (s.status?.phase === 'Failed') throw new Error(`${snap} failed`);
            return s.status?.readyToUse === true ? s : undefined;
          });
          const captureS = (performance.now() - t0) / 1000;
          t0 = performance.now();
          await admin.request({
            method: 'PATCH',
            ref: ref('MaasLab', labName),
            body: { spec: { restoreFrom: { snapshot: snap, token: `run-${r}` } } },
            contentType: ContentType.MergePatch,
          });
          await until(`${labName} restored`, async () => {
            const lab = await admin.request<MaasLab>({
              method: 'GET',
              ref: ref('MaasLab', labName),
            });
            const x = lab.status?.restore;
            return x?.token === `run-${r}` && x.phase === 'Completed' ? true : undefined;
          });
          const restoreS = (performance.now() - t0) / 1000;
          t0 = performance.now();
          await admin.request({ method: 'DELETE', ref: ref('MaasLabSnapshot', snap) });
          await until(`${snap} deleted`, async () => {
            const list = await admin.request<{ items: unknown[] }>({
              method: 'GET',
              ref: ref('MaasLabSnapshot'),
            });
            return list.items.length === 0 ? true : undefined;
          });
          const deleteS = (performance.now() - t0) / 1000;
          const bytes = ready.status?.sizeBytes ?? 0;
          runs.push({ captureS, restoreS, deleteS, bytes });
          say(
            `  ${labName} run ${r}: capture ${captureS.toFixed(2)} s, restore ${restoreS.toFixed(2)} s, ` +
              `delete ${deleteS.toFixed(2)} s, ${(bytes / 2 ** 20).toFixed(1)} MiB (load ${load1()})`,
          );
        }
        results.set(count, runs);
      }
    } finally {
      await operator.stop().catch(() => undefined);
      await admin
        .request({
          method: 'DELETE',
          ref: { apiVersion: GROUP_VERSION, kind: 'Hypervisor', name: HYPERVISOR },
        })
        .catch(() => undefined);
    }
  } finally {
    load.after = load1();
    await lv.stop();
    await cp.stop();
    await rm(scratch, { recursive: true, force: true });
  }

  const row = (count: number): string => {
    const runs = results.get(count) ?? [];
    const cell = (xs: number[]): string => {
      const [lo, hi] = minMax(xs);
      return `${median(xs).toFixed(2)} (${lo.toFixed(2)}–${hi.toFixed(2)})`;
    };
    const mib = median(runs.map((r) => r.bytes)) / 2 ** 20;
    return (
      `| ${count} | ${cell(runs.map((r) => r.captureS))} | ${cell(runs.map((r) => r.restoreS))} | ` +
      `${cell(runs.map((r) => r.deleteS))} | ${mib.toFixed(1)} |`
    );
  };
  writeSection(
    'lab-snapshot',
    [
      '## Lab snapshots: capture and restore',
      '',
      `Written by \`make bench-snapshot\` (\`tsx bench/lab-snapshot.ts\`). A lab of N nodes (128 MiB,`,
      `an 8 GiB qcow2 disk with ${DATA_MIB} MiB written by qemu-io, runStrategy Halted) on a private`,
      'libvirtd; the operator a child process. Capture: create an Offline MaasLabSnapshot until',
      'readyToUse (hold every node, copy every disk into a golden qcow2 volume, release). Restore: a',
      'new restoreFrom token until status.restore is Completed (hold, power off, delete and re-copy',
      'every disk from its golden volume, release). Delete: until the snapshot and its golden',
      'volumes are gone. Seconds, median (min–max), end to end through the API server, including',
      "the operator's 1 s polls while holds are acknowledged.",
      '',
      ...machineLines({
        runs: `${RUNS} per lab; 1-min load average ${load.before} before, ${load.after} after (${loadAverages()})`,
      }),
      '',
      '| nodes | capture (s) | restore (s) | delete (s) | snapshot size (MiB) |',
      '| --- | --- | --- | --- | --- |',
      ...LABS.map(row),
      '',
      'Raw (capture/restore/delete s):',
      '',
      ...LABS.map(
        (c) =>
          `- ${c} nodes: ` +
          (results.get(c) ?? [])
            .map((r) => `${r.captureS.toFixed(2)}/${r.restoreS.toFixed(2)}/${r.deleteS.toFixed(2)}`)
            .join(', '),
      ),
    ].join('\n'),
  );
  say('Wrote the lab-snapshot section of bench/RESULTS.md');
}

await main();
