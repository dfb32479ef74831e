// `make demo`, the README's second command, run the way a user runs it: `make demo` in a
// terminal's process group, read until the lab is Ready, then Ctrl-C (SIGINT to the whole
// group). Twice: on the private libvirtd with QEMU, and on a private libvirtd whose QEMU
// cannot run (its emulators hidden in its mount namespace), where the demo must fall back
// to the libvirt test driver and say so. After each, nothing the demo started may be left.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { once } from 'node:events';
import { expect } from 'chai';
import { repoRoot } from '../support/controlplane.js';
import { run } from '../support/libvirtd.js';
import { waitFor } from '../support/wait.js';

const READY_LINE = /apply → lab Ready: (\d+\.\d) s/;

interface Demo {
  readonly child: ChildProcess;
  output(): string;
  /** Resolves to the first match of `re` in the output so far or to come. */
  waitForOutput(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  /** Ctrl-C: SIGINT to the demo's process group; resolves to the exit code. */
  interrupt(): Promise<number | null>;
}

function startDemo(env: NodeJS.ProcessEnv): Demo {
  let text = '';
  const child = spawn('make', ['--no-print-directory', 'demo'], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    // Its own process group, like a job in a shell: Ctrl-C reaches make and all it started.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (b: Buffer) => (text += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (text += b.toString()));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  return {
    child,
    output: () => text,
    waitForOutput: (re, timeoutMs) =>
      waitFor(() => (child.exitCode === null ? text.match(re) : text.match(re) || undefined), {
        timeoutMs,
        intervalMs: 250,
        description: `demo output ${re} (output so far:\n${text.slice(-3000)})`,
      }).then((m) => {
        if (!m) throw new Error(`demo exited before printing ${re}:\n${text.slice(-3000)}`);
        return m;
      }),
    interrupt: async () => {
      process.kill(-(child.pid ?? 0), 'SIGINT');
      return exited;
    },
  };
}

/** PIDs of live processes whose command line mentions `path`. */
async function processesMentioning(path: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(path)) found.push(Number(entry));
  }
  return found;
}

const netnsList = async (): Promise<string[]> =>
  (await run('ip', ['netns', 'list'])).stdout
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith('maaslab-test-'));

/** The daemons a demo starts; none of them may outlive it. */
const DAEMONS = ['kube-testenv', 'libvirtd', 'qemu-system-x86', 'dnsmasq'];

/** PIDs of live processes named like one of {@link DAEMONS}. */
async function daemons(): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const status = await readFile(`/proc/${entry}/status`, 'utf8').catch(() => '');
    const comm = /^Name:\s+(\S+)/m.exec(status)?.[1] ?? '';
    // A zombie has exited; it only waits for its parent to collect it.
    const zombie = /^State:\s+Z/m.test(status);
    if (!zombie && DAEMONS.some((d) => comm.startsWith(d))) found.push(Number(entry));
  }
  return found;
}

/** What runs before a demo starts, to compare with what is left after it. */
interface Baseline {
  readonly netns: readonly string[];
  readonly daemons: readonly number[];
}
const baselineNow = async (): Promise<Baseline> => ({
  netns: await netnsList(),
  daemons: await daemons(),
});

describe('make demo (the main job), Ctrl-C tears it all down', function () {
  this.timeout(600_000);
  let demo: Demo | undefined;

  afterEach(() => {
    // A failed test must not leave a demo running behind the next one.
    if (demo && demo.child.exitCode === null) process.kill(-(demo.child.pid ?? 0), 'SIGKILL');
    demo = undefined;
  });

  /** Common checks after Ctrl-C: exit 0, "Torn down.", and no process or namespace left. */
  async function interruptAndCheck(
    d: Demo,
    baseline: Baseline,
    leftovers: readonly string[],
  ): Promise<void> {
    expect(await d.interrupt()).to.equal(0);
    expect(d.output()).to.contain('Ctrl-C: tearing down');
    expect(d.output()).to.contain('Torn down.');
    for (const path of leftovers) {
      expect(await processesMentioning(path), `processes still using ${path}`).to.deep.equal([]);
      expect(existsSync(path), `${path} removed`).to.equal(false);
    }
    // The private libvirtd's network namespace goes with it.
    expect((await netnsList()).filter((n) => !baseline.netns.includes(n))).to.deep.equal([]);
    // kube-testenv, libvirtd, QEMU and dnsmasq: nothing started by the demo is still running.
    const left = await waitFor(
      async () => {
        const extra = (await daemons()).filter((p) => !baseline.daemons.includes(p));
        return extra.length === 0 ? extra : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 250, description: 'no daemon of the demo left' },
    );
    expect(left).to.deep.equal([]);
  }

  it('QEMU: the recipe lab Ready with three running nodes, their VNC consoles and the kubeconfig', async () => {
    const baseline = await baselineNow();
    const d = (demo = startDemo({}));
    const ready = await d.waitForOutput(READY_LINE, 300_000);
    // The table is redrawn only when it changes: wait for the one with every node Running.
    const table = await d.waitForOutput(/(recipe-node\d\s+Running\s+True[^\n]*\n?){3}/, 120_000);
    for (const i of [1, 2, 3]) expect(table[0]).to.contain(`52:54:00:7f:04:0${i}`);
    const out = d.output();
    expect(out).to.not.contain('falling back');
    expect(out).to.match(/Hypervisor local at qemu\+unix:\/\/\/system\?socket=/);
    expect(out).to.contain('VNC consoles');
    for (const i of [1, 2, 3]) expect(out).to.match(new RegExp(`recipe-node${i}: (:\\d+|\\?)`));
    expect(Number(ready[1])).to.be.above(0);

    // The kubeconfig it prints works with kubectl, as the README says.
    const kubeconfig = /kubectl --kubeconfig (\S+) get/.exec(out)?.[1] ?? '';
    const labs = await run('kubectl', ['--kubeconfig', kubeconfig, 'get', 'maaslabs', '-A']);
    expect(labs.stdout).to.match(/recipe\s/);
    const socketDir = /socket=(\S+)\/sock\/libvirt-sock/.exec(out)?.[1] ?? '';
    const virsh = await run('virsh', [
      '-c',
      `qemu+unix:///system?socket=${socketDir}/sock/libvirt-sock`,
      'list',
      '--name',
    ]);
    expect(virsh.stdout).to.contain('default.recipe-node1');

    const controlPlaneDir = kubeconfig.slice(0, kubeconfig.lastIndexOf('/'));
    await interruptAndCheck(d, baseline, [socketDir, controlPlaneDir]);
  });

  it('no QEMU: falls back to the libvirt test driver, says so, and still brings the lab to Ready', async () => {
    const baseline = await baselineNow();
    const d = (demo = startDemo({ MAASLAB_LIBVIRTD_NO_QEMU: '1' }));
    await d.waitForOutput(READY_LINE, 300_000);
    const out = d.output();
    expect(out).to.contain(
      'QEMU cannot run here: falling back to the libvirt test driver (test:///default)',
    );
    expect(out).to.contain('Hypervisor local at test:///default');
    expect(out).to.contain('VNC: none with the test driver.');
    const kubeconfig = /kubectl --kubeconfig (\S+) get/.exec(out)?.[1] ?? '';
    const nodes = await run('kubectl', [
      '--kubeconfig',
      kubeconfig,
      'get',
      'maasnodes',
      '-n',
      'default',
      '-o',
      'jsonpath={.items[*].status.printableStatus}',
    ]);
    expect(nodes.stdout.split(' ')).to.deep.equal(['Running', 'Running', 'Running']);
    await interruptAndCheck(d, baseline, [kubeconfig.slice(0, kubeconfig.lastIndexOf('/'))]);
  });
});
