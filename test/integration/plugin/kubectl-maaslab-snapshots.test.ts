// kubectl maaslab's snapshot verbs end to end, run the way a user runs them: the pinned
// bin/kubectl finds `kubectl-maaslab` on the PATH (this checkout's launcher, through a
// symbolic link) with $KUBECONFIG set, against the shared kube-apiserver, the operator as a
// child process (deploy/base RBAC only) and a private libvirtd with QEMU TCG.
//
// One small running lab (two 128 MiB PXE nodes, one 64 MiB disk each). The tests run in
// order and share it:
//   1. `snapshot LAB --mode Suspended` (its default name, --wait by default) waits while the
//      operator captures, with plain progress lines on stderr (a pipe), and returns once the
//      snapshot is ready to use: its golden volumes are in the pool and its status counts
//      the members captured;
//   2. `snapshots LAB` lists it (table, -o wide, -o json);
//   3. a marker written into node1's disk after the capture (node held, powered off,
//      qemu-io) is gone after `restore LAB SNAPSHOT`, which waits until the restore of its
//      own token is Completed; the nodes run again;
//   4. a second capture, named, through a pseudo-terminal: the progress line is redrawn in
//      place;
//   5. the single file `make plugin` bundles lists the same, and `snapshot --no-wait` returns
//      at once while the operator captures;
//   6. failures: an unknown lab or snapshot, exit 1 and one error line, nothing created or
//      patched.
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { expect } from 'chai';
import { parse, stringify } from 'yaml';
import { buildPlugin } from '../../../hack/build-plugin.js';
import {
  type MaasLab,
  type MaasLabSnapshot,
  type MaasNode,
  RestorePhases,
  SnapshotPhases,
} from '../../../src/api/v1alpha1/index.js';
import { ContentType } from '../../../src/runtime/client/rest.js';
import { controlPlane, repoRoot } from '../../support/controlplane.js';
import {
  GROUP_VERSION,
  type E2eEnvironment,
  isReadyNow,
  envHypervisor,
  startE2eEnvironment,
} from '../../support/e2e.js';
import { kubectlPath } from '../../support/kubectl.js';
import { run } from '../../support/libvirtd.js';
import { kubectlApply } from '../../support/operator.js';
import { waitFor } from '../../support/wait.js';
import { type Run, exec } from '../../support/plugin-run.js';

const LAB = 'recipe';
const NODES = [1, 2];
const LONG = { timeoutMs: 300_000, intervalMs: 500 } as const;
/** `--timeout` of every wait: QEMU TCG on a busy two-core machine is slow. */
const TIMEOUT = ['--timeout', '8m'] as const;
/** Where the marker goes in node1's disk: 1 MiB in, 4 KiB of 0xab. */
const MARKER = { offset: '1M', length: '4k', pattern: '0xab' } as const;
/** A plain progress line of a snapshot's wait, e.g. `maaslabsnapshot/x: Capturing, 1/2 members (3s)`. */
const progressLine = (label: string): RegExp =>
  new RegExp(
    `^${label.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: [A-Z][a-z]+(, \\d+/\\d+ members)? \\(\\d+s\\)(: .*)?$`,
  );

/** Whether the phases of progress `lines` (`label: Phase, …`) appear in the order of `phases`. */
const inOrder = (lines: readonly string[], phases: readonly string[]): boolean => {
  const seen = lines.map((l) => phases.indexOf(/: ([A-Za-z]+)[, ]/.exec(l)?.[1] ?? ''));
  return seen.every((p, i) => p >= 0 && (i === 0 || p >= (seen[i - 1] ?? 0)));
};

describe('plugin: kubectl maaslab snapshot, snapshots and restore, against the operator and a private libvirtd', function () {
  this.timeout(900_000);
  let env: E2eEnvironment | undefined;
  let home: string;
  let kubeconfig: string;
  let launcherBin: string;
  /** The snapshot the first test makes, by its default name. */
  let golden = '';

  const e = (): E2eEnvironment => env as E2eEnvironment;
  const ns = (): string => e().labNs.name;
  const domainOf = (i: number): string => `${ns()}.${LAB}-node${i}`;
  const volumePath = (i: number): string => join(e().lv.dir, 'pool', `${domainOf(i)}-root.qcow2`);
  const lab = (): Promise<MaasLab> => e().read.get<MaasLab>('MaasLab', LAB, ns());
  const snapshot = (name: string): Promise<MaasLabSnapshot> =>
    e().read.get<MaasLabSnapshot>('MaasLabSnapshot', name, ns());
  const snapshotNames = async (): Promise<string[]> =>
    (
      await e().admin.request<{ items: MaasLabSnapshot[] }>({
        method: 'GET',
        ref: { apiVersion: GROUP_VERSION, kind: 'MaasLabSnapshot', namespace: ns() },
      })
    ).items.map((s) => s.metadata?.name ?? '');
  const domstate = async (i: number): Promise<string> =>
    (await e().lv.virsh(['domstate', domainOf(i)])).trim();
  const poolVolumes = async (): Promise<string[]> => {
    await e().lv.virsh(['pool-refresh', e().pool]);
    return (await e().lv.virsh(['vol-list', '--pool', e().pool]))
      .split('\n')
      .map((l) => l.trim().split(/\s+/)[0] ?? '')
      .filter((n) => n.includes(ns()));
  };
  const patchNode = (name: string, body: unknown): Promise<unknown> =>
    e().admin.request({
      method: 'PATCH',
      ref: { apiVersion: GROUP_VERSION, kind: 'MaasNode', name, namespace: ns() },
      body,
      contentType: ContentType.MergePatch,
    });

  const userEnv = (): NodeJS.ProcessEnv => ({
    PATH: [launcherBin, dirname(process.execPath), '/usr/bin', '/bin'].join(':'),
    HOME: home,
    KUBECONFIG: kubeconfig,
  });
  /** `kubectl maaslab ...args`, as in a user's shell, stderr a pipe. */
  const maaslab = (args: readonly string[]): Promise<Run> =>
    exec(kubectlPath(), ['maaslab', ...args], userEnv());
  /** `kubectl maaslab ...args -n NS`, which must exit 0. */
  const ok = async (args: readonly string[]): Promise<Run> => {
    const r = await maaslab([...args, '-n', ns()]);
    expect(r.code, `kubectl maaslab ${args.join(' ')}: ${r.stderr}`).to.equal(0);
    return r;
  };

  /** Whether node1's disk holds the marker (read without a lock: the guest may run). */
  async function hasMarker(i: number): Promise<boolean> {
    try {
      await run('qemu-io', [
        ...['-f', 'qcow2', '-r', '-U'],
        ...['-c', `read -P ${MARKER.pattern} ${MARKER.offset} ${MARKER.length}`],
        volumePath(i),
      ]);
      return true;
    } catch (err) {
      if (String(err).includes('Pattern verification failed')) return false;
      throw err;
    }
  }

  before(async function () {
    this.timeout(600_000);
    env = await startE2eEnvironment('plugin-snap');
    const cp = controlPlane();
    home = join(e().scratch, 'home');
    launcherBin = join(e().scratch, 'launcher-bin');
    for (const dir of [home, launcherBin]) await mkdir(dir, { recursive: true });
    await symlink(join(repoRoot, 'hack', 'kubectl-maaslab'), join(launcherBin, 'kubectl-maaslab'));
    kubeconfig = join(home, 'kubeconfig');
    await writeFile(kubeconfig, stringify(parse(await readFile(cp.adminKubeconfig, 'utf8'))));

    await kubectlApply(
      cp.adminKubeconfig,
      [
        envHypervisor(e()),
        {
          apiVersion: GROUP_VERSION,
          kind: 'MaasLab',
          metadata: { name: LAB, namespace: ns() },
          spec: {
            hypervisor: e().hv,
            networks: [
              { name: 'maas', mode: 'isolated', ipv4: { address: '10.79.0.1', prefixLength: 24 } },
            ],
            nodes: {
              count: NODES.length,
              macPrefix: '52:54:00:7f:08',
              template: {
                memory: '128Mi',
                disks: [{ name: 'root', size: '64Mi' }],
                interfaces: [{ network: 'maas' }],
                vnc: { enabled: false },
              },
            },
          },
        },
      ],
      join(e().scratch, 'lab.yaml'),
    );
    await waitFor(async () => isReadyNow(await lab()) || undefined, {
      ...LONG,
      description: `lab ${LAB} Ready (log: ${e().logFile})`,
    });
    for (const i of NODES) expect(await domstate(i), `node${i}`).to.equal('running');
  });

  after(async function () {
    this.timeout(180_000);
    await env?.stop();
  });

  it('--help for snapshot, restore and snapshots, through kubectl', async () => {
    const help = await maaslab(['--help']);
    expect(help.code, help.stderr).to.equal(0);
    for (const verb of ['snapshot', 'restore', 'snapshots']) {
      expect(help.stdout).to.match(new RegExp(`\\n  ${verb} `));
      const one = await maaslab([verb, '--help']);
      expect(one.code, `${verb} --help: ${one.stderr}`).to.equal(0);
      expect(one.stdout).to.match(new RegExp(`^Usage: kubectl-maaslab ${verb} `));
    }
  });

  it('snapshot LAB --mode Suspended: LAB-<UTC time>, waited for with progress lines, ready to use', async () => {
    const before = Date.now();
    const r = await ok(['snapshot', LAB, '--mode', 'Suspended', ...TIMEOUT]);
    const lines = r.stdout.split('\n');
    const created =
      /^maaslabsnapshot\.maaslab\.dev\/(\S+) created \(lab recipe, mode Suspended\)$/.exec(
        lines[0] ?? '',
      );
    expect(created, r.stdout).to.not.equal(null);
    golden = created?.[1] ?? '';
    expect(golden).to.match(/^recipe-\d{8}-\d{6}$/);
    // The name is the UTC time the plugin ran at, to the second.
    const stamp = golden.slice('recipe-'.length);
    const at = Date.parse(
      `${stamp.slice(0, 4)}-${stamp.slice(4, 6)}-${stamp.slice(6, 8)}T${stamp.slice(9, 11)}:${stamp.slice(11, 13)}:${stamp.slice(13, 15)}Z`,
    );
    expect(at).to.be.within(before - 1000, Date.now());
    expect(lines.slice(1)).to.deep.equal([
      `maaslabsnapshot.maaslab.dev/${golden} ready to use (2 members, ${(await snapshot(golden)).status?.size})`,
      '',
    ]);

    // stderr is a pipe: plain lines, one per change, ending at Ready with both members.
    const progress = r.stderr.split('\n').filter((l) => l !== '');
    expect(r.stderr).to.not.include('\r').and.not.include('\x1b');
    for (const l of progress) expect(l).to.match(progressLine(`maaslabsnapshot/${golden}`));
    expect(progress.at(-1)).to.match(/: Ready, 2\/2 members \(\d+s\)$/);
    // The first read finds the snapshot just created; the phases only move forward.
    expect(progress.length, r.stderr).to.be.at.least(2);
    expect(inOrder(progress, SnapshotPhases), r.stderr).to.equal(true);
    expect(new Set(progress.map((l) => l.replace(/ \(\d+s\)/, ''))).size).to.equal(progress.length);

    // What the operator made: a Ready snapshot counting its members, its golden volumes.
    const s = await snapshot(golden);
    expect(s.spec).to.deep.include({ lab: LAB, mode: 'Suspended' });
    expect(s.status).to.include({
      phase: 'Ready',
      readyToUse: true,
      membersCaptured: 2,
      membersTotal: 2,
    });
    expect(s.status?.members?.map((m) => m.domain)).to.deep.equal(NODES.map(domainOf));
    expect(s.metadata?.managedFields?.map((f) => f.manager)).to.include('kubectl-maaslab');
    const goldens = s.status?.members?.flatMap((m) => m.volumes.map((v) => v.golden)) ?? [];
    expect(goldens).to.have.length(2);
    expect(await poolVolumes()).to.include.members(goldens);
    // Suspended: the guests were paused and resumed, never stopped.
    for (const i of NODES) expect(await domstate(i), `node${i}`).to.equal('running');
  });

  it('snapshots LAB: the snapshot as a table, -o wide and -o json', async () => {
    const s = await snapshot(golden);
    const table = (await ok(['snapshots', LAB])).stdout.split('\n');
    expect(table[0]).to.match(/^NAME +MODE +PHASE +READY +MEMBERS +SIZE +AGE +CONSISTENCY$/);
    expect(table[1]).to.match(
      new RegExp(
        `^${golden} +Suspended +Ready +true +2/2 +${s.status?.size?.replace('.', '\\.')} +\\d+s +CrashConsistent$`,
      ),
    );
    expect(table.slice(2)).to.deep.equal(['']);
    const wide = (await ok(['snapshots', LAB, '-o', 'wide'])).stdout.split('\n');
    expect(wide[0]).to.match(/ CONSISTENCY +HYPERVISOR +CREATED +MESSAGE$/);
    expect(wide[1]).to.include(` ${e().hv} `).and.include(` ${s.status?.creationTime} `);
    const list = JSON.parse((await ok(['snapshots', LAB, '-o', 'json'])).stdout) as {
      kind: string;
      items: MaasLabSnapshot[];
    };
    expect(list.kind).to.equal('List');
    expect(list.items.map((i) => [i.metadata?.name, i.metadata?.uid])).to.deep.equal([
      [golden, s.metadata?.uid],
    ]);
  });

  it('restore LAB SNAPSHOT: a marker written after the capture is gone, the lab runs again', async () => {
    // Write the marker into node1's disk as a user's change would land: held, off, written.
    const node = `${LAB}-node1`;
    const holder = 'test/plugin-snapshot-marker';
    await patchNode(node, { metadata: { annotations: { 'maaslab.dev/hold': holder } } });
    await waitFor(
      async () => {
        const n = await e().read.get<MaasNode>('MaasNode', node, ns());
        const c = n.status?.conditions?.find((x) => x.type === 'Reconciling');
        return (c?.reason === 'Held' && c.message.startsWith(`held by ${holder};`)) || undefined;
      },
      { ...LONG, description: `${node} held (log: ${e().logFile})` },
    );
    await e()
      .lv.virsh(['destroy', domainOf(1)])
      .catch(() => undefined);
    await run('qemu-io', [
      ...['-f', 'qcow2'],
      ...['-c', `write -P ${MARKER.pattern} ${MARKER.offset} ${MARKER.length}`],
      volumePath(1),
    ]);
    await patchNode(node, { metadata: { annotations: { 'maaslab.dev/hold': null } } });
    expect(await hasMarker(1)).to.equal(true);

    const r = await ok(['restore', LAB, golden, ...TIMEOUT]);
    const l = await lab();
    const token = l.spec.restoreFrom?.token ?? '';
    expect(l.spec.restoreFrom?.snapshot).to.equal(golden);
    expect(token).to.match(/^\d{4}-\d\d-\d\dT\d{6}\.\d{3}Z$/);
    expect(r.stdout).to.equal(
      `maaslab.maaslab.dev/${LAB} restoring from maaslabsnapshot "${golden}" (token ${token})\n` +
        `maaslab.maaslab.dev/${LAB} restored from maaslabsnapshot "${golden}"\n`,
    );
    expect(l.status?.restore).to.include({
      snapshot: golden,
      token,
      phase: 'Completed',
      membersRestored: 2,
      membersTotal: 2,
    });
    expect(l.metadata?.managedFields?.map((f) => f.manager)).to.include('kubectl-maaslab');
    const progress = r.stderr.split('\n').filter((x) => x !== '');
    for (const p of progress) expect(p).to.match(progressLine(`maaslab/${LAB} restore`));
    expect(progress.at(-1)).to.match(/: Completed, 2\/2 members \(\d+s\)/);
    expect(progress[0]).to.match(
      /: Pending \(\d+s\): waiting for the operator to start the restore$/,
    );
    expect(inOrder(progress, RestorePhases), r.stderr).to.equal(true);

    expect(await hasMarker(1)).to.equal(false);
    await waitFor(
      async () => {
        for (const i of NODES) if ((await domstate(i)) !== 'running') return undefined;
        return isReadyNow(await lab()) || undefined;
      },
      { ...LONG, description: `both nodes running, lab Ready again (log: ${e().logFile})` },
    );
    expect((await ok(['get', LAB])).stdout).to.match(new RegExp(`\\nmaaslab/${LAB} +Ready +True `));
  });

  it('snapshot LAB NAME on a terminal: the progress line is redrawn in place', async () => {
    const name = 'by-name';
    const command = [
      kubectlPath(),
      'maaslab',
      'snapshot',
      LAB,
      name,
      '--mode',
      'Suspended',
      ...TIMEOUT,
      '-n',
      ns(),
    ]
      .map((a) => `'${a}'`)
      .join(' ');
    // util-linux script(1): the command's stdout and stderr are a pseudo-terminal.
    const r = await exec('script', ['-q', '-e', '-c', command, '/dev/null'], userEnv());
    expect(r.code, r.stdout).to.equal(0);
    const frames = r.stdout.split('\r\x1b[2K').slice(1);
    expect(frames.length, r.stdout).to.be.at.least(2);
    expect(frames.at(-1)).to.match(
      new RegExp(`^maaslabsnapshot/${name} {2}\\[#{24}\\] {2}2/2 members {2}Ready {2}\\d+s\\r?\\n`),
    );
    expect(r.stdout).to.include(`maaslabsnapshot.maaslab.dev/${name} ready to use (2 members, `);
    expect((await snapshot(name)).status).to.include({ readyToUse: true, membersCaptured: 2 });
    const names = (await ok(['snapshots', LAB])).stdout
      .split('\n')
      .slice(1, -1)
      .map((x) => x.split(/ +/)[0]);
    expect(names).to.deep.equal([golden, name]);
  });

  it('the single file of `make plugin`: the same list; --no-wait returns at once, the capture goes on', async () => {
    const bundleBin = join(e().scratch, 'bundle-bin');
    await mkdir(bundleBin, { recursive: true });
    await buildPlugin(join(bundleBin, 'kubectl-maaslab'));
    const bundled = (args: readonly string[]): Promise<Run> =>
      exec(kubectlPath(), ['maaslab', ...args, '-n', ns()], {
        ...userEnv(),
        PATH: [bundleBin, dirname(process.execPath), '/usr/bin', '/bin'].join(':'),
      });
    const list = await bundled(['snapshots', LAB, '-o', 'json']);
    expect(list.code, list.stderr).to.equal(0);
    expect(list.stdout).to.equal((await ok(['snapshots', LAB, '-o', 'json'])).stdout);

    const r = await bundled(['snapshot', LAB, 'bundled', '--mode', 'Suspended', '--no-wait']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.equal(
      'maaslabsnapshot.maaslab.dev/bundled created (lab recipe, mode Suspended)\n',
    );
    expect(r.stderr).to.equal('');
    // The operator captures it all the same.
    await waitFor(async () => (await snapshot('bundled')).status?.readyToUse || undefined, {
      ...LONG,
      description: `snapshot bundled ready to use (log: ${e().logFile})`,
    });
    expect((await snapshot('bundled')).status).to.include({ membersCaptured: 2, membersTotal: 2 });
  });

  it('an unknown lab or snapshot: exit 1, one error line, nothing created or patched', async () => {
    const before = await snapshotNames();
    const token = (await lab()).spec.restoreFrom?.token;
    const noLab = await maaslab(['snapshot', 'nope', '-n', ns()]);
    expect(noLab.code).to.equal(1);
    expect(noLab.stdout).to.equal('');
    expect(noLab.stderr).to.equal(
      `error: maaslabs.maaslab.dev "nope" not found in namespace "${ns()}"\n`,
    );
    const noSnap = await maaslab(['restore', LAB, 'nope', '-n', ns()]);
    expect(noSnap.code).to.equal(1);
    expect(noSnap.stderr).to.equal(
      `error: maaslabsnapshots.maaslab.dev "nope" not found in namespace "${ns()}"\n`,
    );
    const list = await maaslab(['snapshots', 'nope', '-n', ns()]);
    expect(list.code).to.equal(1);
    expect(list.stderr).to.equal(
      `error: maaslabs.maaslab.dev "nope" not found in namespace "${ns()}"\n`,
    );
    const taken = await maaslab(['snapshot', LAB, golden, '-n', ns()]);
    expect(taken.code).to.equal(1);
    expect(taken.stderr).to.equal(
      `error: maaslabsnapshots.maaslab.dev "${golden}" already exists in namespace "${ns()}"\n`,
    );
    const mode = await maaslab(['snapshot', LAB, '--mode', 'Online', '-n', ns()]);
    expect(mode.code).to.equal(1);
    expect(mode.stderr).to.match(/^error: option '--mode <mode>' argument 'Online' is invalid/);
    expect(await snapshotNames()).to.deep.equal(before);
    expect((await lab()).spec.restoreFrom?.token).to.equal(token);
  });
});
