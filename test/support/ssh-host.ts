// A real OpenSSH server in front of a private libvirtd, for tests of the qemu+ssh transport
// (central mode: deploy/overlays/central). Debian's /usr/sbin/sshd runs with a config file and
// a host key of the test's own, inside the private libvirtd's network namespace, listening only
// on addresses there, which this namespace reaches through a veth pair created here:
//
//   operator ──ssh──▶ veth (a /29) ──▶ [libvirtd's netns: sshd on ADDRESS:22]
//                                         └─ session: virt-ssh-helper qemu:///system
//                                              └─ /run/libvirt/libvirt-sock (the private one)
//
// libvirt 9.0's ssh transport (proxy=auto) runs `virt-ssh-helper qemu:///system` on the remote
// side when it is installed (nc -U <socket> otherwise), and virt-ssh-helper ignores the URI's
// `socket=`: it finds the system daemon where a host has it, /run/libvirt/libvirt-sock. So
// sshd gets a mount namespace of its own in which a tmpfs hides the host's /run and the private
// daemon's socket folder is bound at /run/libvirt: URIs are exactly what a user writes
// (qemu+ssh://root@ADDRESS/system), and the host's /run (its /run/sshd, any real libvirtd) is
// never touched. Deleting the veth's host end removes both ends and the route.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { appendFile, chmod, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot } from './controlplane.js';
import { type PrivateLibvirtd, run } from './libvirtd.js';
import { waitFor } from './wait.js';

/** A key pair made by ssh-keygen. */
export interface KeyPair {
  /** The private key's path. */
  readonly path: string;
  /** The public key as `type base64` (no comment). */
  readonly publicKey: string;
}

/** Makes an ed25519 key pair at `path` (and `path`.pub). */
export async function sshKeygen(path: string, comment: string): Promise<KeyPair> {
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path]);
  const pub = (await readFile(`${path}.pub`, 'utf8')).trim().split(/\s+/);
  return { path, publicKey: `${pub[0]} ${pub[1]}` };
}

/** A running sshd in a private libvirtd's network namespace. */
export interface SshHost {
  /** The address sshd listens on (port 22), reachable from this namespace. */
  readonly address: string;
  /** A second address of the same sshd (same host key), for a known_hosts that disagrees. */
  readonly otherAddress: string;
  /** sshd's host key. */
  readonly hostKey: KeyPair;
  /** The key root may log in with (its public half is the only authorized key). */
  readonly clientKey: KeyPair;
  /** The listening sshd's PID. */
  readonly pid: number;
  /** Lets root log in with one more key too (`type base64`, e.g. a Secret's public key). */
  authorize(publicKey: string, comment: string): Promise<void>;
  /** sshd's log (-e: what it would send to syslog). */
  readonly logFile: string;
  /**
   * The per-connection sshd processes (children of the listener), each with the commands its
   * session runs, e.g. `virt-ssh-helper qemu:///system`.
   */
  sessions(): Promise<Array<{ readonly pid: number; readonly commands: readonly string[] }>>;
  /** Stops sshd (its sessions go with it) and removes the veth pair. Idempotent. */
  stop(): Promise<void>;
}

/** A process's parent PID and command line, from /proc. */
async function procInfo(pid: number): Promise<{ ppid: number; cmdline: string } | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // comm may hold spaces and parentheses: the fields after the last ')' are fixed.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').join(' ').trim();
    return { ppid, cmdline };
  } catch {
    return undefined;
  }
}

/** Every live process as pid → {ppid, cmdline}. */
async function processTable(): Promise<Map<number, { ppid: number; cmdline: string }>> {
  const table = new Map<number, { ppid: number; cmdline: string }>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const info = await procInfo(Number(name));
    if (info) table.set(Number(name), info);
  }
  return table;
}

/**
 * Starts sshd in `lv`'s network namespace (root needed): host and client keys made here under
 * `dir`, root's login by that client key only, no passwords, no PAM.
 */
export async function startSshHost(lv: PrivateLibvirtd, dir: string): Promise<SshHost> {
  await mkdir(dir, { recursive: true });
  const tag = randomInt(0x10000).toString(16).padStart(4, '0');
  const outer = `mlssh${tag}o`;
  const inner = `mlssh${tag}i`;
  const third = randomInt(256);
  // A /29: the host side, sshd's address and a second one, none the broadcast address.
  const fourth = randomInt(32) * 8;
  const hostSide = `10.251.${third}.${fourth + 1}`;
  const address = `10.251.${third}.${fourth + 2}`;
  const otherAddress = `10.251.${third}.${fourth + 3}`;
  const hostKey = await sshKeygen(join(dir, 'ssh_host_ed25519_key'), 'maaslab-test-host');
  const clientKey = await sshKeygen(join(dir, 'id_ed25519'), 'maaslab-test-operator');
  const authorized = join(dir, 'authorized_keys');
  await writeFile(authorized, `${clientKey.publicKey} maaslab-test-operator\n`, { mode: 0o600 });
  const config = join(dir, 'sshd_config');
  await writeFile(
    config,
    [
      '# Written by test/support/ssh-host.ts; sshd reads nothing else (-f).',
      `ListenAddress ${address}:22`,
      `ListenAddress ${otherAddress}:22`,
      `HostKey ${hostKey.path}`,
      `AuthorizedKeysFile ${authorized}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      'PermitRootLogin prohibit-password',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      // The keys live in the test's scratch folder under /tmp (mode 1777), which StrictModes
      // would refuse; nobody else can write them (0600, a 0700 folder).
      'StrictModes no',
      'AllowUsers root',
      'LogLevel VERBOSE',
      '',
    ].join('\n'),
  );
  await chmod(dir, 0o700);

  const logFile = join(dir, 'sshd.log');
  let child: ChildProcess | undefined;
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child?.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    await run('ip', ['link', 'del', outer]).catch(() => undefined);
  };
  try {
    await run('ip', [
      'link',
      'add',
      outer,
      'type',
      'veth',
      'peer',
      'name',
      inner,
      'netns',
      lv.netns,
    ]);
    await run('ip', ['addr', 'add', `${hostSide}/29`, 'dev', outer]);
    await run('ip', ['link', 'set', outer, 'up']);
    await lv.netnsExec(['ip', 'addr', 'add', `${address}/29`, 'dev', inner]);
    await lv.netnsExec(['ip', 'addr', 'add', `${otherAddress}/32`, 'dev', inner]);
    await lv.netnsExec(['ip', 'link', 'set', inner, 'up']);

    // ip netns exec, unshare and sh each exec the next: the child's PID is sshd's.
    const script = [
      'set -e',
      'mount -t tmpfs -o mode=0755,size=1m maaslab-sshd-run /run',
      'mkdir -p /run/sshd /run/libvirt',
      'mount --bind "$0" /run/libvirt',
      '/usr/sbin/sshd -t -f "$1"',
      'exec /usr/sbin/sshd -D -e -f "$1"',
    ].join('\n');
    const log = createWriteStream(logFile, { flags: 'a' });
    const started = spawn(
      'ip',
      [
        ...['netns', 'exec', lv.netns, 'unshare', '--mount', '--propagation', 'private', '--'],
        ...['sh', '-c', script, join(lv.dir, 'sock'), config],
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], cwd: repoRoot },
    );
    child = started;
    started.stdout.pipe(log, { end: false });
    started.stderr.pipe(log, { end: false });
    const killOnExit = (): void => void started.kill('SIGKILL');
    process.once('exit', killOnExit);
    started.once('exit', () => process.off('exit', killOnExit));
    await waitFor(
      async () => {
        if (started.exitCode !== null) {
          throw new Error(`sshd exited: ${await readFile(logFile, 'utf8')}`);
        }
        return (await readFile(logFile, 'utf8').catch(() => '')).includes(
          `Server listening on ${otherAddress} port 22`,
        );
      },
      { timeoutMs: 20_000, intervalMs: 100, description: `sshd listening (log: ${logFile})` },
    );
  } catch (err) {
    await stop();
    throw err;
  }
  const pid = child.pid ?? 0;
  return {
    address,
    otherAddress,
    hostKey,
    clientKey,
    pid,
    logFile,
    async authorize(publicKey, comment) {
      // sshd reads the file at each login: no restart.
      await appendFile(authorized, `${publicKey} ${comment}\n`);
    },
    async sessions() {
      const table = await processTable();
      const descendants = (root: number): string[] =>
        [...table]
          .filter(([, p]) => p.ppid === root)
          .flatMap(([child, p]) => [p.cmdline, ...descendants(child)]);
      return [...table]
        .filter(([, p]) => p.ppid === pid)
        .map(([session]) => ({ pid: session, commands: descendants(session) }));
    },
    stop,
  };
}

/**
 * The operator's ~/.ssh as deploy/overlays/central gives it to the pod: `id_ed25519` and
 * `known_hosts` (Secret maaslab-ssh), `config` (deploy/overlays/central/ssh_config, read from
 * the repository as is). Mode 0400: the operator runs as root here and owns the files, and ssh
 * refuses a private key its owner's group may read (in the pod, root owns them and the
 * operator's user reads them through its group, which ssh accepts).
 */
export async function writeSshHome(
  home: string,
  files: { readonly key: string; readonly knownHosts: string },
): Promise<void> {
  const ssh = join(home, '.ssh');
  await mkdir(ssh, { recursive: true, mode: 0o700 });
  const config = await readFile(join(repoRoot, 'deploy/overlays/central/ssh_config'), 'utf8');
  for (const [name, text] of [
    ['id_ed25519', files.key],
    ['known_hosts', files.knownHosts],
    ['config', config],
  ] as const) {
    await writeFile(join(ssh, name), text, { mode: 0o400 });
    await chmod(join(ssh, name), 0o400);
  }
}

/**
 * A command for OperatorProcessOptions.wrap: the operator runs in a mount namespace of its
 * own in which /etc/passwd gives root the home folder `home`. ssh reads ~/.ssh/config and
 * expands ~ from the passwd entry, not $HOME, as the image's user (65532, /home/maaslab) gets
 * its ~/.ssh in the pod; the host's /root is never read or written.
 */
export async function operatorSshWrap(home: string, dir: string): Promise<string[]> {
  const passwd = (await readFile('/etc/passwd', 'utf8'))
    .split('\n')
    .map((line) => {
      const f = line.split(':');
      if (f[0] !== 'root' || f.length < 7) return line;
      f[5] = home;
      return f.join(':');
    })
    .join('\n');
  const copy = join(dir, 'passwd');
  await writeFile(copy, passwd, { mode: 0o644 });
  return [
    ...['unshare', '--mount', '--propagation', 'private', '--'],
    ...['sh', '-c', 'mount --bind "$0" /etc/passwd && exec "$@"', copy],
  ];
}

/** A veth pair between another network namespace and the sshd's (see {@link linkToSshHost}). */
export interface SshLink {
  /** The other namespace's end, as sshd sees it (pod traffic is masqueraded to it). */
  readonly peerAddress: string;
  /** Deletes the veth pair (both ends, and the routes through it). Idempotent. */
  stop(): Promise<void>;
}

/**
 * Links network namespace `netns` (e.g. a cluster node's, whose pods' traffic leaves
 * masqueraded) to the sshd's, the libvirtd's: a veth pair with a /30 of 10.246.0.0/16, a
 * route in `netns` to each of sshd's addresses, and one back to `returnVia` (e.g. the pod
 * network, should a packet arrive unmasqueraded). Nothing on the host changes.
 */
export async function linkToSshHost(
  ssh: Pick<SshHost, 'address' | 'otherAddress'>,
  lv: Pick<PrivateLibvirtd, 'netns' | 'netnsExec'>,
  netns: string,
  returnVia: readonly string[] = [],
): Promise<SshLink> {
  const tag = randomInt(0x10000).toString(16).padStart(4, '0');
  const near = `mllnk${tag}n`;
  const far = `mllnk${tag}s`;
  const third = randomInt(256);
  const fourth = randomInt(64) * 4;
  const peerAddress = `10.246.${third}.${fourth + 1}`;
  const sshSide = `10.246.${third}.${fourth + 2}`;
  const inNetns = (args: readonly string[]) => run('ip', ['-n', netns, ...args]);
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await inNetns(['link', 'del', near]).catch(() => undefined);
  };
  try {
    await inNetns(['link', 'add', near, 'type', 'veth', 'peer', 'name', far, 'netns', lv.netns]);
    await inNetns(['addr', 'add', `${peerAddress}/30`, 'dev', near]);
    await inNetns(['link', 'set', near, 'up']);
    await lv.netnsExec(['ip', 'addr', 'add', `${sshSide}/30`, 'dev', far]);
    await lv.netnsExec(['ip', 'link', 'set', far, 'up']);
    for (const to of [ssh.address, ssh.otherAddress])
      await inNetns(['route', 'add', `${to}/32`, 'via', sshSide, 'dev', near]);
    for (const from of returnVia)
      await lv.netnsExec(['ip', 'route', 'add', from, 'via', peerAddress, 'dev', far]);
  } catch (err) {
    await stop();
    throw err;
  }
  return { peerAddress, stop };
}
