// A private libvirtd for integration tests: a thin, typed wrapper over
// test/libvirtd/libvirtd-env.sh, which runs the daemon in its own network and mount
// namespaces with all of its state under one folder. Tests connect to `uri` and never to
// the machine's default socket.
import { execFile, spawn, spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { constants as fsConstants } from 'node:fs';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The harness script; it must run as root. */
export const LIBVIRTD_ENV_SCRIPT = fileURLToPath(
  new URL('../libvirtd/libvirtd-env.sh', import.meta.url),
);

/** Options for {@link startPrivateLibvirtd}. */
export interface PrivateLibvirtdOptions {
  /** State folder; a fresh temporary one (removed by `stop`) when omitted. */
  readonly dir?: string;
  /** How long to wait for the socket to answer, per start. Defaults to 60 s. */
  readonly timeoutMs?: number;
  /**
   * Hide /dev/kvm from this daemon (MAASLAB_LIBVIRTD_NO_KVM=1), so that a KVM host can test
   * the TCG path too. Defaults to the environment's MAASLAB_LIBVIRTD_NO_KVM.
   */
  readonly noKvm?: boolean;
  /**
   * Give the read-write socket to this group, mode 0660, in a folder of mode 0755
   * (MAASLAB_LIBVIRTD_SOCK_GROUP), as Debian's libvirtd gives it to group `libvirt`, so that a
   * process of another user in the group can connect. Default: root's only (0700).
   */
  readonly socketGroup?: number;
  /**
   * A user and a group the daemon's host has (MAASLAB_LIBVIRTD_HOST_USER), in its view of
   * /etc/passwd and /etc/group only: libvirtd refuses a client whose uid or primary gid has no
   * name on its host ("Failed to find user record"), as a pod's user has none unless added.
   */
  readonly hostUser?: { readonly uid: number; readonly gid: number };
}

/** Whether MAASLAB_LIBVIRTD_NO_KVM=1 hides /dev/kvm from every private libvirtd of this run. */
export const kvmHiddenByEnv = (): boolean => process.env.MAASLAB_LIBVIRTD_NO_KVM === '1';

/**
 * Whether this machine can run KVM guests, asked the way libvirt asks: /dev/kvm opens for
 * reading and writing, and QEMU starts with `-accel kvm` (a nested VM can have the device and
 * still no working KVM). Machines of our kind have it on some days and not on others; tests
 * assert what the host really offers. Asked once per process.
 */
export function hostHasKvm(): Promise<boolean> {
  kvmProbe ??= probeKvm();
  return kvmProbe;
}
let kvmProbe: Promise<boolean> | undefined;

async function probeKvm(): Promise<boolean> {
  try {
    const handle = await open('/dev/kvm', fsConstants.O_RDWR);
    await handle.close();
  } catch {
    return false;
  }
  // An empty machine, paused before it runs: QEMU exits at once when KVM cannot initialise,
  // and otherwise waits for a monitor that never comes, until we stop it.
  const qemu = spawn(
    'qemu-system-x86_64',
    [
      '-machine',
      'none',
      '-accel',
      'kvm',
      '-nodefaults',
      '-display',
      'none',
      '-S',
      '-monitor',
      'none',
    ],
    { stdio: 'ignore' },
  );
  const exited = new Promise<boolean>((resolve) => {
    qemu.once('exit', () => resolve(false));
    qemu.once('error', () => resolve(false));
  });
  const stillUp = new Promise<boolean>((resolve) => setTimeout(() => resolve(true), 1500));
  const usable = await Promise.race([exited, stillUp]);
  if (usable) {
    qemu.kill('SIGKILL');
    await exited;
  }
  return usable;
}

/** What {@link kvmBootsLinux} saw. */
export interface KvmLinuxProbe {
  readonly boots: boolean;
  /** Why not, in a sentence, for the test's output. */
  readonly why: string;
}

/**
 * Whether KVM on this machine runs a Linux kernel, not just starts QEMU: `image` (a bootable
 * disk whose kernel logs to ttyS0) is booted with `-accel kvm`, throwaway writes, no network,
 * until the kernel's first line reaches the serial port or `timeoutMs` passes. Some nested
 * hosts of our kind pass {@link hostHasKvm} and still stop every Linux guest right after the
 * boot loader (QEMU: "KVM internal error. Suberror: 1 … emulation failure"); a test that
 * boots Linux asks this first and runs under TCG there, saying so.
 */
export function kvmBootsLinux(image: string, timeoutMs = 30_000): Promise<KvmLinuxProbe> {
  let probe = linuxProbes.get(image);
  if (probe === undefined) {
    probe = probeKvmLinux(image, timeoutMs);
    linuxProbes.set(image, probe);
  }
  return probe;
}
/** One probe per image and process: the answer does not change while a run lasts. */
const linuxProbes = new Map<string, Promise<KvmLinuxProbe>>();

async function probeKvmLinux(image: string, timeoutMs: number): Promise<KvmLinuxProbe> {
  if (!(await hostHasKvm())) return { boots: false, why: 'no usable /dev/kvm' };
  const dir = await mkdtemp(join(tmpdir(), 'maaslab-kvm-probe-'));
  const serial = join(dir, 'serial.log');
  let stderr = '';
  const qemu = spawn(
    'qemu-system-x86_64',
    [
      ...['-accel', 'kvm', '-cpu', 'host', '-m', '512', '-nodefaults', '-display', 'none'],
      ...['-drive', `file=${image},if=virtio,snapshot=on,format=qcow2`],
      ...['-serial', `file:${serial}`, '-monitor', 'none', '-nic', 'none'],
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  qemu.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => {
    qemu.once('exit', () => resolve());
    qemu.once('error', () => resolve());
  });
  let gone = false;
  void exited.then(() => (gone = true));
  const deadline = Date.now() + timeoutMs;
  let booted = false;
  while (!gone && Date.now() < deadline) {
    const text = await readFile(serial, 'utf8').catch(() => '');
    if (/Linux version/.test(text)) {
      booted = true;
      break;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  if (!gone) qemu.kill('SIGKILL');
  await exited;
  await rm(dir, { recursive: true, force: true });
  if (booted) return { boots: true, why: 'the kernel booted under KVM' };
  const error = stderr.split('\n').find((l) => /error|failure/i.test(l));
  return {
    boots: false,
    why: `no kernel output under KVM within ${timeoutMs / 1000} s${error ? ` (QEMU: ${error.trim()})` : ''}`,
  };
}

/**
 * Whether a private libvirtd started with `noKvm` (default: the environment's
 * MAASLAB_LIBVIRTD_NO_KVM) offers the `kvm` domain type.
 */
export async function kvmExpected(noKvm = kvmHiddenByEnv()): Promise<boolean> {
  return !noKvm && (await hostHasKvm());
}

/** A running private libvirtd. */
export interface PrivateLibvirtd extends AsyncDisposable {
  /** `qemu+unix:///system?socket=<dir>/sock/libvirt-sock`. */
  readonly uri: string;
  /** Folder holding the daemon's config, runtime, state, logs and socket. */
  readonly dir: string;
  /** Name of the network namespace the daemon, its QEMUs and dnsmasqs live in. */
  readonly netns: string;
  /** Milliseconds from the last (re)start to the first successful connection. */
  readonly lastStartMs: number;
  /** Runs `virsh -c uri ...args` and resolves to its stdout. */
  virsh(args: readonly string[]): Promise<string>;
  /** Runs a command inside the daemon's network namespace, e.g. `['ip', 'link']`. */
  netnsExec(cmd: readonly string[]): Promise<string>;
  /** SIGKILLs the daemon only; QEMU keeps running, the socket stops answering. */
  kill(): Promise<void>;
  /** Starts the daemon again on the same folder, socket and namespace. */
  restart(): Promise<void>;
  /** Stops the daemon and everything in its namespace, then deletes the namespace. */
  stop(): Promise<void>;
  /** The last lines of the daemon's log, for error messages. */
  logTail(lines?: number): Promise<string>;
}

interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program without a shell; rejects with its stderr in the message. */
export function run(
  file: string,
  args: readonly string[],
  opts: { readonly timeoutMs?: number; readonly env?: NodeJS.ProcessEnv } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      [...args],
      {
        encoding: 'utf8',
        maxBuffer: 16 * 1024 * 1024,
        timeout: opts.timeoutMs ?? 120_000,
        env: opts.env ?? process.env,
      },
      (error, stdout, stderr) => {
        if (error) {
          const detail = stderr.trim() || stdout.trim() || error.message;
          reject(new Error(`${file} ${args.join(' ')} failed: ${detail}`, { cause: error }));
          return;
        }
        resolve({ stdout, stderr });
      },
    );
  });
}

/** Runs `cmd` inside network namespace `netns` and resolves to its stdout. */
export async function netnsExec(netns: string, cmd: readonly string[]): Promise<string> {
  return (await run('ip', ['netns', 'exec', netns, ...cmd])).stdout;
}

async function tail(path: string, lines: number): Promise<string> {
  try {
    return (await readFile(path, 'utf8'))
      .split('\n')
      .slice(-lines - 1)
      .join('\n');
  } catch {
    return `(no ${path})`;
  }
}

/**
 * Starts a private libvirtd (as root) and resolves once `virsh version` answers on its
 * socket. On failure the error carries the tail of the daemon's log.
 */
export async function startPrivateLibvirtd(
  opts: PrivateLibvirtdOptions = {},
): Promise<PrivateLibvirtd> {
  if (process.getuid?.() !== 0) {
    throw new Error('startPrivateLibvirtd needs root: it creates network and mount namespaces');
  }
  const ownsDir = opts.dir === undefined;
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'maaslab-libvirtd-')));
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    MAASLAB_LIBVIRTD_TIMEOUT: String(Math.ceil(timeoutMs / 1000)),
  };
  if (opts.noKvm !== undefined) env.MAASLAB_LIBVIRTD_NO_KVM = opts.noKvm ? '1' : '0';
  if (opts.socketGroup !== undefined) env.MAASLAB_LIBVIRTD_SOCK_GROUP = String(opts.socketGroup);
  else delete env.MAASLAB_LIBVIRTD_SOCK_GROUP;
  if (opts.hostUser !== undefined)
    env.MAASLAB_LIBVIRTD_HOST_USER = `${opts.hostUser.uid}:${opts.hostUser.gid}`;
  else delete env.MAASLAB_LIBVIRTD_HOST_USER;
  const script = (cmd: string): Promise<RunResult> =>
    run(LIBVIRTD_ENV_SCRIPT, [cmd, dir], { timeoutMs: timeoutMs + 30_000, env });

  const logTail = async (lines = 40): Promise<string> =>
    [
      await tail(join(dir, 'log', 'libvirtd.log'), lines),
      await tail(join(dir, 'log', 'daemon.out'), 10),
    ].join('\n');

  let uri = '';
  let lastStartMs = 0;
  const virsh = async (args: readonly string[]): Promise<string> =>
    (await run('virsh', ['-q', '-c', uri, ...args])).stdout;

  const start = async (): Promise<void> => {
    const t0 = performance.now();
    try {
      uri = (await script('start')).stdout.trim();
      // `uri` needs nothing but the connection: it answers where QEMU cannot run, too.
      await virsh(['uri']);
    } catch (err) {
      throw new Error(`private libvirtd in ${dir} did not start; log tail:\n${await logTail()}`, {
        cause: err,
      });
    }
    lastStartMs = performance.now() - t0;
  };

  try {
    await start();
  } catch (err) {
    await script('stop').catch(() => undefined);
    if (ownsDir) await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const netns = (await readFile(join(dir, 'netns'), 'utf8')).trim();
  let stopped = false;

  // Last resort when a test run dies without calling stop(): 'exit' handlers must be
  // synchronous, so this one blocks on the script.
  const stopOnExit = (): void => {
    spawnSync(LIBVIRTD_ENV_SCRIPT, ['stop', dir], { stdio: 'ignore', timeout: 60_000 });
    if (ownsDir && !process.env.MAASLAB_KEEP_LIBVIRTD_DIR) {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  process.once('exit', stopOnExit);

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    process.removeListener('exit', stopOnExit);
    await script('stop');
    if (ownsDir && !process.env.MAASLAB_KEEP_LIBVIRTD_DIR) {
      await rm(dir, { recursive: true, force: true });
    }
  };

  return {
    get uri() {
      return uri;
    },
    dir,
    netns,
    get lastStartMs() {
      return lastStartMs;
    },
    virsh,
    netnsExec: (cmd) => netnsExec(netns, cmd),
    kill: async () => {
      await script('kill');
    },
    restart: start,
    stop,
    logTail,
    [Symbol.asyncDispose]: stop,
  };
}
