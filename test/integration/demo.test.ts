// `make demo`, the README's second command, run the way a user runs it: `make demo` in a
// terminal's process group, read until the lab is Ready, then Ctrl-C (SIGINT to the whole
// group). Twice: on the private libvirtd with QEMU, and on a private libvirtd whose QEMU
// cannot run (its emulators hidden in its mount namespace), where the demo must fall back
// to the libvirt test driver and say so. After each, nothing the demo started may be left.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { once } from 'node:events';
import { expect } from 'chai';
import { repoRoot } from '../support/controlplane.js';
import { kubectlPath } from '../support/kubectl.js';
import { run } from '../support/libvirtd.js';
import { waitFor } from '../support/wait.js';

const READY_LINE = /apply → lab Ready: (\d+\.\d) s/;

interface Exit {
  readonly code: number | null;
  readonly signal: string | null;
}

interface Demo {
  readonly child: ChildProcess;
  output(): string;
  /** Resolves to the first match of `re` in the output so far or to come. */
  waitForOutput(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  /** Ctrl-C: SIGINT to the demo's process group; resolves to how `make` ended. */
  interrupt(): Promise<Exit>;
}

const running = (child: ChildProcess): boolean =>
  child.exitCode === null && child.signalCode === null;

/** Sends `signal` to the process group led by `child`, if it still runs. */
function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (!running(child) || child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Gone between the check and the kill.
  }
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
  const exited = once(child, 'exit').then(([code, signal]): Exit => ({
    code: code as number | null,
    signal: signal as string | null,
  }));
  return {
    child,
    output: () => text,
    waitForOutput: (re, timeoutMs) =>
      waitFor(() => (running(child) ? text.match(re) : text.match(re) || undefined), {
        timeoutMs,
        intervalMs: 250,
        description: `demo output ${re} (output so far:\n${text.slice(-3000)})`,
      }).then((m) => {
        if (!m) throw new Error(`demo exited before printing ${re}:\n${text.slice(-3000)}`);
        return m;
      }),
    interrupt: async () => {
      signalGroup(child, 'SIGINT');
      return exited;
    },
  };
}

/** PIDs of live processes whose command line mentions `path`. */
async function processesMentioning(path: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const status = await readFile(`/proc/${entry}/status`, 'utf8').catch(() => '');
    // A zombie has exited; it only waits for its parent to collect it.
    if (status === '' || /^State:\s+Z/m.test(status)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(path)) found.push(Number(entry));
  }
  return found;
}

const netnsList = async (): Promise<string[]> =>
  (await run('ip', ['netns', 'list'])).stdout.split('\n').map((l) => l.split(' ')[0] ?? '');

/** What the demo prints of the daemons it started, read from its output. */
interface Started {
  /** kube-testenv's folder: its kubeconfigs, certificates and etcd data. */
  readonly controlPlaneDir: string;
  /** The kubectl command line it prints: the binary and the kubeconfig. */
  readonly kubectl: string;
  readonly kubeconfig: string;
  /** The private libvirtd's folder and network namespace. */
  readonly libvirtdDir: string;
  readonly netns: string;
}

function startedFrom(out: string): Started {
  const command = /^kubectl: (\S+) --kubeconfig (\S+) get/m.exec(out);
  const kubeconfig = command?.[2] ?? '';
  const libvirtd = /its state, socket and logs: (\S+); network namespace: (\S+)/.exec(out);
  expect(kubeconfig, 'the kubeconfig the demo prints').to.not.equal('');
  expect(libvirtd, 'the private libvirtd the demo prints').to.not.equal(null);
  // The kubectl it prints (and ran) is the pinned bin/kubectl, not PATH's.
  expect(command?.[1], 'the kubectl the demo prints').to.equal(kubectlPath());
  return {
    kubectl: command?.[1] ?? '',
    kubeconfig,
    controlPlaneDir: dirname(kubeconfig),
    libvirtdDir: libvirtd?.[1] ?? '',
    netns: libvirtd?.[2] ?? '',
  };
}

describe('make demo (the main job), Ctrl-C tears it all down', function () {
  this.timeout(600_000);
  let demo: Demo | undefined;

  afterEach(async function () {
    // A failed test must not leave a demo running behind the next one: Ctrl-C lets it tear
    // down its libvirtd (which lives in its own session); SIGKILL only if that hangs.
    const d = demo;
    demo = undefined;
    if (!d || !running(d.child)) return;
    const timer = setTimeout(() => signalGroup(d.child, 'SIGKILL'), 60_000);
    await d.interrupt();
    clearTimeout(timer);
  });

  /**
   * Ctrl-C, then: "Torn down.", a clean exit, and nothing left of what it started: no
   * process using its folders (kube-testenv's apiserver and controller-manager, libvirtd,
   * QEMU), the folders gone, the network namespace gone.
   */
  async function interruptAndCheck(d: Demo, started: Started): Promise<void> {
    const exit = await d.interrupt();
    expect(d.output()).to.contain('Ctrl-C: tearing down');
    expect(d.output()).to.contain('Torn down.');
    expect(d.output()).to.not.contain('demo failed');
    // The demo exits 0 once torn down; make, interrupted too, then ends itself by SIGINT as
    // interrupted programs should (so a calling shell stops as well).
    expect(exit, JSON.stringify(exit)).to.satisfy(
      (e: Exit) => e.code === 0 || (e.code === null && e.signal === 'SIGINT'),
    );
    for (const path of [started.controlPlaneDir, started.libvirtdDir]) {
      expect(await processesMentioning(path), `processes still using ${path}`).to.deep.equal([]);
      expect(existsSync(path), `${path} removed`).to.equal(false);
    }
    expect(await netnsList()).to.not.include(started.netns);
  }

  it('QEMU: the recipe lab Ready with three running nodes, their VNC consoles and the kubeconfig', async () => {
    const d = (demo = startDemo({}));
    const ready = await d.waitForOutput(READY_LINE, 300_000);
    // The table is redrawn only when it changes: wait for the one with every node Running.
    const table = await d.waitForOutput(/(recipe-node\d\s+Running\s+True[^\n]*\n?){3}/, 120_000);
    for (const i of [1, 2, 3]) expect(table[0]).to.contain(`52:54:00:7f:04:0${i}`);
    const out = d.output();
    const started = startedFrom(out);
    expect(out).to.not.contain('falling back');
    expect(out).to.contain(
      `Hypervisor local at qemu+unix:///system?socket=${started.libvirtdDir}/sock/libvirt-sock`,
    );
    expect(out).to.contain('VNC consoles');
    // The MAAS side: a MAAS column, and how to give the lab a MAAS (it has none).
    expect(table[0]).to.match(/recipe-node1\s.*\s-\s*$/m);
    expect(out).to.match(/NODE\s+STATUS\s+READY\s+MAC\s+VNC\s+POWER ID\s+MAAS/);
    expect(out).to.contain('MAAS: none. This lab has no spec.maas');
    expect(out).to.contain('patch maaslab recipe --type merge');
    for (const i of [1, 2, 3])
      expect(out).to.match(new RegExp(`recipe-node${i}: 127\\.0\\.0\\.1:\\d+`));
    expect(Number(ready[1])).to.be.above(0);

    // The kubectl command it prints works, as the README says; the domains are real.
    const labs = await run(started.kubectl, [
      '--kubeconfig',
      started.kubeconfig,
      'get',
      'maaslabs',
      '-A',
    ]);
    expect(labs.stdout).to.match(/recipe\s/);
    const socket = `qemu+unix:///system?socket=${started.libvirtdDir}/sock/libvirt-sock`;
    const domains = await run('virsh', ['-c', socket, 'list', '--name', '--state-running']);
    expect(
      domains.stdout.split('\n').filter((l) => l.startsWith('default.recipe-node')),
    ).to.have.length(3);
    expect(await processesMentioning(started.libvirtdDir)).to.not.deep.equal([]);

    await interruptAndCheck(d, started);
  });

  it('no QEMU: falls back to the libvirt test driver, says so, and still brings the lab to Ready', async () => {
    const d = (demo = startDemo({ MAASLAB_LIBVIRTD_NO_QEMU: '1' }));
    await d.waitForOutput(READY_LINE, 300_000);
    const out = d.output();
    const started = startedFrom(out);
    expect(out).to.contain(
      'QEMU cannot run here: falling back to the libvirt test driver (test:///default)',
    );
    expect(out).to.contain('Hypervisor local at test:///default');
    expect(out).to.contain('VNC: none with the test driver.');
    const nodes = await run(started.kubectl, [
      '--kubeconfig',
      started.kubeconfig,
      'get',
      'maasnodes',
      '-n',
      'default',
      '-o',
      'jsonpath={.items[*].status.printableStatus}',
    ]);
    expect(nodes.stdout.split(' ')).to.deep.equal(['Running', 'Running', 'Running']);

    // Pointed at a MAAS that does not answer (a closed port on loopback), the demo says so.
    await run(started.kubectl, [
      '--kubeconfig',
      started.kubeconfig,
      '-n',
      'default',
      'create',
      'secret',
      'generic',
      'maas-api-key',
      '--from-literal=api-key=aaaaaaaaaaaaaaaaaa:bbbbbbbbbbbbbbbbbb:cccccccccccccccccccccccccccccccc',
    ]);
    await run(started.kubectl, [
      '--kubeconfig',
      started.kubeconfig,
      '-n',
      'default',
      'patch',
      'maaslab',
      'recipe',
      '--type',
      'merge',
      '-p',
      JSON.stringify({
        spec: {
          maas: {
            external: { url: 'http://127.0.0.1:9/MAAS', apiKeySecretRef: { name: 'maas-api-key' } },
          },
        },
      }),
    ]);
    await d.waitForOutput(
      /MAAS at http:\/\/127\.0\.0\.1:9\/MAAS: not reachable \(MaasUnreachable: /,
      120_000,
    );
    await d.waitForOutput(/recipe-node1\s.*MaasUnreachable/, 120_000);
    await interruptAndCheck(d, started);
  });
});
