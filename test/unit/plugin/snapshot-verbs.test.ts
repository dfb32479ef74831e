// `snapshot`, `restore` and `snapshots` run through the program against an in-memory API
// whose "operator" moves the objects on at every poll: what is created or patched, what
// stdout and stderr say (progress lines, then one error line on failure) and the exit code.
import { execFileSync } from 'node:child_process';
import { expect } from 'chai';
import type { MaasLab, MaasLabSnapshot } from '../../../src/api/v1alpha1/index.js';
import type { ConnectOptions, PluginApi } from '../../../src/plugin/api.js';
import { PluginError } from '../../../src/plugin/errors.js';
import { RedrawPrefix } from '../../../src/plugin/progress.js';
import { run, type PluginDeps } from '../../../src/plugin/program.js';
import { recipeLab } from './fixtures.js';

/** The fake API, a clock, and an "operator" step run on every sleep. */
function world(opts: { tty?: boolean; snapshots?: MaasLabSnapshot[] } = {}) {
  const lab: MaasLab = structuredClone(recipeLab);
  const snapshots = new Map<string, MaasLabSnapshot>(
    (opts.snapshots ?? []).map((s) => [s.metadata?.name ?? '', s]),
  );
  const created: MaasLabSnapshot[] = [];
  const labPatches: unknown[] = [];
  const connections: ConnectOptions[] = [];
  let out = '';
  let err = '';
  let clock = Date.parse('2026-12-05T16:30:00Z');
  let sleeps = 0;
  let operator: (poll: number) => void = () => undefined;
  const api: PluginApi = {
    namespace: 'lab-ns',
    getNode: async (name) => {
      throw new PluginError(`no node ${name}`);
    },
    patchNode: async () => {
      throw new Error('not here');
    },
    async getLab(name) {
      if (name !== 'recipe') {
        throw new PluginError(`maaslabs.maaslab.dev "${name}" not found in namespace "lab-ns"`);
      }
      return structuredClone(lab);
    },
    async patchLab(name, patch) {
      labPatches.push([name, patch]);
      const restoreFrom = (patch as { spec: { restoreFrom: { snapshot: string; token: string } } })
        .spec.restoreFrom;
      lab.spec.restoreFrom = restoreFrom;
      return structuredClone(lab);
    },
    labChildren: async () => ({ networks: [], nodes: [] }),
    bearerAuthorization: async () => undefined,
    operatorPod: async () => undefined,
    async getSnapshot(name) {
      const s = snapshots.get(name);
      if (!s) {
        throw new PluginError(
          `maaslabsnapshots.maaslab.dev "${name}" not found in namespace "lab-ns"`,
        );
      }
      return structuredClone(s);
    },
    labSnapshots: async (l) => [...snapshots.values()].filter((s) => s.spec.lab === l),
    async createSnapshot(s) {
      created.push(structuredClone(s));
      const stored: MaasLabSnapshot = {
        ...structuredClone(s),
        spec: { mode: 'Offline', ...s.spec },
        metadata: { ...s.metadata, creationTimestamp: new Date(clock) },
      };
      snapshots.set(s.metadata?.name ?? '', stored);
      return structuredClone(stored);
    },
  };
  const deps: PluginDeps = {
    connect: (o) => (connections.push(o), api),
    stdout: (s) => void (out += s),
    stderr: (s) => void (err += s),
    now: () => new Date(clock),
    sleep: async (ms) => {
      clock += ms;
      operator(++sleeps);
    },
    stderrTty: opts.tty ?? false,
    stderrColumns: 200,
  };
  return {
    deps,
    lab,
    snapshots,
    created,
    labPatches,
    connections,
    out: () => out,
    err: () => err,
    sleeps: () => sleeps,
    set operator(f: (poll: number) => void) {
      operator = f;
    },
  };
}

/** The snapshot controller's writes, one per poll: Holding, Capturing 0..3 of 3, Ready. */
const captureSteps: Array<MaasLabSnapshot['status']> = [
  { phase: 'Holding' },
  { phase: 'Capturing', membersCaptured: 0, membersTotal: 3 },
  { phase: 'Capturing', membersCaptured: 1, membersTotal: 3 },
  { phase: 'Capturing', membersCaptured: 2, membersTotal: 3 },
  { phase: 'Ready', readyToUse: true, membersCaptured: 3, membersTotal: 3, size: '1.5Mi' },
];

describe('plugin/snapshot-verbs', () => {
  it('snapshot LAB: creates LAB-<UTC time>, waits with a progress line per change, exit 0', async () => {
    const w = world();
    w.operator = (poll) => {
      const s = w.snapshots.get('recipe-20261205-163000')!;
      s.status = captureSteps[Math.min(poll, captureSteps.length) - 1];
    };
    expect(await run(['snapshot', 'recipe', '-n', 'lab-ns', '--context', 'c'], w.deps)).to.equal(0);
    expect(w.connections).to.deep.equal([{ namespace: 'lab-ns', context: 'c' }]);
    expect(w.created).to.deep.equal([
      {
        apiVersion: 'maaslab.dev/v1alpha1',
        kind: 'MaasLabSnapshot',
        metadata: { name: 'recipe-20261205-163000', namespace: 'lab-ns' },
        spec: { lab: 'recipe' },
      },
    ]);
    expect(w.out()).to.equal(
      'maaslabsnapshot.maaslab.dev/recipe-20261205-163000 created (lab recipe, mode Offline)\n' +
        'maaslabsnapshot.maaslab.dev/recipe-20261205-163000 ready to use (3 members, 1.5Mi)\n',
    );
    expect(w.err()).to.equal(
      [
        'maaslabsnapshot/recipe-20261205-163000: Pending (0s)',
        'maaslabsnapshot/recipe-20261205-163000: Holding (1s)',
        'maaslabsnapshot/recipe-20261205-163000: Capturing, 0/3 members (2s)',
        'maaslabsnapshot/recipe-20261205-163000: Capturing, 1/3 members (3s)',
        'maaslabsnapshot/recipe-20261205-163000: Capturing, 2/3 members (4s)',
        'maaslabsnapshot/recipe-20261205-163000: Ready, 3/3 members (5s)',
        '',
      ].join('\n'),
    );
  });

  it('on a terminal the progress is one line redrawn, closed before the result', async () => {
    const w = world({ tty: true });
    w.operator = (poll) => {
      w.snapshots.get('s1')!.status = captureSteps[Math.min(poll, captureSteps.length) - 1];
    };
    expect(await run(['snapshot', 'recipe', 's1'], w.deps)).to.equal(0);
    const frames = w.err().split(RedrawPrefix).slice(1);
    expect(frames).to.have.length(6);
    expect(frames[3]).to.match(
      /^maaslabsnapshot\/s1 {2}\[#{8}\.{16}\] {2}1\/3 members {2}Capturing {2}3s$/,
    );
    expect(frames[5]).to.match(/3\/3 members {2}Ready {2}5s\n$/);
  });

  it('--mode Suspended --no-wait: created with the mode, not waited for', async () => {
    const w = world();
    expect(
      await run(['snapshot', 'recipe', 's2', '--mode', 'Suspended', '--no-wait'], w.deps),
    ).to.equal(0);
    expect(w.created[0]?.spec).to.deep.equal({ lab: 'recipe', mode: 'Suspended' });
    expect(w.sleeps()).to.equal(0);
    expect(w.err()).to.equal('');
    expect(w.out()).to.equal(
      'maaslabsnapshot.maaslab.dev/s2 created (lab recipe, mode Suspended)\n',
    );
  });

  it('a capture that fails: progress, then one error line naming the member, exit 1', async () => {
    const w = world();
    w.operator = (poll) => {
      w.snapshots.get('s3')!.status =
        poll === 1
          ? { phase: 'Capturing', membersCaptured: 1, membersTotal: 3 }
          : {
              phase: 'Failed',
              readyToUse: false,
              failedMember: 'lab-ns.recipe-node2',
              membersCaptured: 0,
              membersTotal: 3,
              conditions: [
                {
                  type: 'Stalled',
                  status: 'True',
                  reason: 'CaptureFailed',
                  message: 'capturing lab-ns.recipe-node2 failed: injected fault',
                  lastTransitionTime: '2026-12-05T16:30:02Z',
                },
              ],
            };
    };
    expect(await run(['snapshot', 'recipe', 's3'], w.deps)).to.equal(1);
    const lines = w.err().split('\n');
    expect(lines.slice(-2)).to.deep.equal([
      'error: maaslabsnapshot "s3" failed: capturing lab-ns.recipe-node2 failed: injected fault',
      '',
    ]);
    expect(lines[1]).to.equal('maaslabsnapshot/s3: Capturing, 1/3 members (1s)');
    expect(w.out()).to.not.include('ready to use');
  });

  it('an unknown lab, a name taken, a bad mode, a timeout: exit 1 with one error line', async () => {
    const nolab = world();
    expect(await run(['snapshot', 'nope'], nolab.deps)).to.equal(1);
    expect(nolab.err()).to.equal(
      'error: maaslabs.maaslab.dev "nope" not found in namespace "lab-ns"\n',
    );
    expect(nolab.created).to.deep.equal([]);

    const mode = world();
    expect(await run(['snapshot', 'recipe', '--mode', 'Online'], mode.deps)).to.equal(1);
    expect(mode.err()).to.match(/^error: option '--mode <mode>' argument 'Online' is invalid/);
    expect(mode.created).to.deep.equal([]);

    const slow = world();
    expect(await run(['snapshot', 'recipe', 's4', '--timeout', '3s'], slow.deps)).to.equal(1);
    expect(slow.err().split('\n').slice(-2)).to.deep.equal([
      'error: timed out after 3s waiting for maaslabsnapshot "s4" to be ready to use (now: Pending)',
      '',
    ]);
  });

  it('restore LAB SNAPSHOT: a merge patch with a new token, waits until that token Completed', async () => {
    const golden: MaasLabSnapshot = {
      metadata: { name: 'golden', namespace: 'lab-ns' },
      spec: { lab: 'recipe' },
      status: { phase: 'Ready', readyToUse: true },
    };
    const w = world({ snapshots: [golden] });
    // An earlier restore, completed: not the one waited for.
    w.lab.status = {
      ...w.lab.status,
      restore: { snapshot: 'golden', token: 'old', phase: 'Completed' },
    };
    const phases = ['Holding', 'Stopping', 'Restoring', 'Starting', 'Completed'] as const;
    w.operator = (poll) => {
      const token = w.lab.spec.restoreFrom?.token ?? '';
      const phase = phases[Math.min(poll, phases.length) - 1]!;
      const restored = phase === 'Starting' || phase === 'Completed' ? 3 : 0;
      w.lab.status = {
        ...w.lab.status,
        restore: { snapshot: 'golden', token, phase, membersRestored: restored, membersTotal: 3 },
      };
    };
    expect(await run(['restore', 'recipe', 'golden'], w.deps), w.err()).to.equal(0);
    const token = '2026-12-05T163000.000Z';
    expect(w.labPatches).to.deep.equal([
      ['recipe', { spec: { restoreFrom: { snapshot: 'golden', token } } }],
    ]);
    expect(w.out()).to.equal(
      `maaslab.maaslab.dev/recipe restoring from maaslabsnapshot "golden" (token ${token})\n` +
        'maaslab.maaslab.dev/recipe restored from maaslabsnapshot "golden"\n',
    );
    expect(w.err().split('\n')).to.deep.equal([
      'maaslab/recipe restore: Pending (0s): waiting for the operator to start the restore',
      'maaslab/recipe restore: Holding, 0/3 members (1s)',
      'maaslab/recipe restore: Stopping, 0/3 members (2s)',
      'maaslab/recipe restore: Restoring, 0/3 members (3s)',
      'maaslab/recipe restore: Starting, 3/3 members (4s)',
      'maaslab/recipe restore: Completed, 3/3 members (5s)',
      '',
    ]);
  });

  it('restore: refused by the operator, a failed or missing snapshot: exit 1, one error line', async () => {
    const other: MaasLabSnapshot = {
      metadata: { name: 'small', namespace: 'lab-ns' },
      spec: { lab: 'tiny' },
      status: { phase: 'Ready', readyToUse: true },
    };
    const broken: MaasLabSnapshot = {
      metadata: { name: 'broken', namespace: 'lab-ns' },
      spec: { lab: 'recipe' },
      status: { phase: 'Failed', failedMember: 'lab-ns.recipe-node2' },
    };
    const w = world({ snapshots: [other, broken] });
    w.operator = () => {
      w.lab.status = {
        ...w.lab.status,
        restore: {
          snapshot: 'small',
          token: w.lab.spec.restoreFrom?.token ?? '',
          phase: 'Refused',
          message: 'MaasLabSnapshot small: it has 1 members, the lab 3',
        },
      };
    };
    expect(await run(['restore', 'recipe', 'small'], w.deps)).to.equal(1);
    expect(w.err().split('\n').slice(-2)).to.deep.equal([
      'error: maaslab "recipe" refused the restore from maaslabsnapshot "small": MaasLabSnapshot small: it has 1 members, the lab 3',
      '',
    ]);

    const f = world({ snapshots: [broken] });
    expect(await run(['restore', 'recipe', 'broken'], f.deps)).to.equal(1);
    expect(f.err()).to.equal(
      'error: maaslabsnapshot "broken" failed (lab-ns.recipe-node2): there is nothing to restore\n',
    );
    expect(f.labPatches).to.deep.equal([]);

    const m = world();
    expect(await run(['restore', 'recipe', 'nope'], m.deps)).to.equal(1);
    expect(m.err()).to.equal(
      'error: maaslabsnapshots.maaslab.dev "nope" not found in namespace "lab-ns"\n',
    );
    expect(await run(['restore', 'recipe'], m.deps)).to.equal(1);
    expect(m.labPatches).to.deep.equal([]);
  });

  it("snapshots LAB: the lab's own, as a table, -o wide, -o json; none says so on stderr", async () => {
    const at = (name: string, lab: string, min: number): MaasLabSnapshot => ({
      metadata: {
        name,
        namespace: 'lab-ns',
        creationTimestamp: new Date(Date.parse('2026-12-05T16:30:00Z') - min * 60_000),
      },
      spec: { lab, mode: 'Offline' },
      status: {
        phase: 'Ready',
        readyToUse: true,
        membersCaptured: 3,
        membersTotal: 3,
        size: '1.5Mi',
        hypervisor: 'hv1',
        members: [1, 2, 3].map((i) => ({
          role: 'Node' as const,
          index: i,
          domain: `d${i}`,
          volumes: [],
          sizeBytes: 0,
          consistency: 'CrashConsistent' as const,
        })),
      },
    });
    const w = world({
      snapshots: [at('b', 'recipe', 5), at('a', 'recipe', 50), at('x', 'other', 1)],
    });
    expect(await run(['snapshots', 'recipe'], w.deps)).to.equal(0);
    expect(w.out()).to.equal(
      [
        'NAME   MODE      PHASE   READY   MEMBERS   SIZE    AGE   CONSISTENCY',
        'a      Offline   Ready   true    3/3       1.5Mi   50m   CrashConsistent',
        'b      Offline   Ready   true    3/3       1.5Mi   5m    CrashConsistent',
        '',
      ].join('\n'),
    );
    const wide = world({ snapshots: [at('a', 'recipe', 50)] });
    await run(['snapshots', 'recipe', '-o', 'wide'], wide.deps);
    expect(wide.out().split('\n')[1]).to.match(/ CrashConsistent +hv1 +- +-$/);
    const json = world({ snapshots: [at('b', 'recipe', 5), at('a', 'recipe', 50)] });
    await run(['snapshots', 'recipe', '-o', 'json'], json.deps);
    const list = JSON.parse(json.out()) as { kind: string; items: MaasLabSnapshot[] };
    expect(list.kind).to.equal('List');
    expect(list.items.map((s) => s.metadata?.name)).to.deep.equal(['a', 'b']);

    const none = world();
    expect(await run(['snapshots', 'recipe'], none.deps)).to.equal(0);
    expect(none.out()).to.equal('');
    expect(none.err()).to.equal('No snapshots of maaslab "recipe" found in lab-ns namespace.\n');
    const nolab = world();
    expect(await run(['snapshots', 'nope'], nolab.deps)).to.equal(1);
    expect(nolab.err()).to.match(/^error: maaslabs\.maaslab\.dev "nope" not found/);
  });

  it('--help for each verb names its flags', async () => {
    for (const [verb, flags] of [
      ['snapshot', ['--mode', '--wait', '--no-wait', '--timeout', 'Offline']],
      ['restore', ['--wait', '--no-wait', '--timeout']],
      ['snapshots', ['--output']],
    ] as const) {
      const w = world();
      expect(await run([verb, '--help'], w.deps)).to.equal(0);
      expect(w.out()).to.match(new RegExp(`^Usage: kubectl-maaslab ${verb} `));
      for (const f of flags) expect(w.out(), `${verb} ${f}`).to.include(f);
    }
  });

  it('bash completes the verbs, --mode values, and lab then snapshot names (run in bash)', async () => {
    const w = world();
    await run(['completion', 'bash'], w.deps);
    // A kubectl stand-in on the PATH that lists names by resource.
    const fake = `kubectl() { case "$*" in *maaslabsnapshots*) echo golden; echo second ;; *maaslabs*) echo recipe ;; esac; }`;
    const complete = (...words: string[]): string =>
      execFileSync(
        'bash',
        [
          '--norc',
          '-c',
          `${w.out()}\n${fake}\nCOMP_WORDS=(${words.map((x) => `'${x}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _kubectl_maaslab; echo "\${COMPREPLY[*]}"`,
        ],
        { encoding: 'utf8', env: { PATH: '/usr/bin:/bin' }, stdio: ['ignore', 'pipe', 'pipe'] },
      ).trim();
    expect(complete('kubectl-maaslab', 'snap')).to.equal('snapshot snapshots');
    expect(complete('kubectl-maaslab', 're')).to.equal('restart restore');
    expect(complete('kubectl-maaslab', 'snapshot', 'recipe', '--mode', '')).to.equal(
      'Offline Suspended',
    );
    expect(complete('kubectl-maaslab', 'snapshot', 'recipe', '--no')).to.equal('--no-wait');
    expect(complete('kubectl-maaslab', 'restore', '')).to.equal('recipe');
    expect(complete('kubectl-maaslab', 'restore', '-n', 'x', 'recipe', '')).to.equal(
      'golden second',
    );
    expect(complete('kubectl-maaslab', 'snapshots', 'recipe', '-o', '')).to.equal('wide json yaml');
    // `get` completes one lab, not a second.
    expect(complete('kubectl-maaslab', 'get', '')).to.equal('recipe');
    expect(complete('kubectl-maaslab', 'get', 'recipe', '')).to.equal('');
  });
});
