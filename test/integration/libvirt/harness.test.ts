// Tests of the private-libvirtd harness itself, through virsh only: it starts, runs a QEMU
// domain on an isolated network inside its own namespace, survives a daemon kill, leaves
// the host's libvirt alone, and stops without leaving a process or namespace behind.
import { expect } from 'chai';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import {
  hostHasKvm,
  type PrivateLibvirtd,
  run,
  startPrivateLibvirtd,
} from '../../support/libvirtd.js';

const DEFAULT_SOCKET = '/run/libvirt/libvirt-sock';
const BRIDGE = 'mltbr77';
const NETWORK = 'maaslab-harness';
const DOMAIN = 'maaslab-harness-tiny';

const networkXml = `<network>
  <name>${NETWORK}</name>
  <bridge name='${BRIDGE}' stp='on' delay='0'/>
  <ip address='10.77.0.1' prefix='24'/>
</network>`;

const domainXml = `<domain type='qemu'>
  <name>${DOMAIN}</name>
  <memory unit='MiB'>1024</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='network'/></os>
  <devices>
    <interface type='network'>
      <source network='${NETWORK}'/>
      <mac address='52:54:00:7f:04:99'/>
      <model type='virtio'/>
    </interface>
    <graphics type='vnc' port='-1' listen='127.0.0.1'/>
  </devices>
</domain>`;

interface ProcessInfo {
  readonly pid: number;
  readonly comm: string;
  readonly cmdline: string;
  readonly state: string;
  readonly rssKiB: number;
}

/** Reads one process from /proc; undefined once it is gone. */
async function processInfo(pid: number): Promise<ProcessInfo | undefined> {
  try {
    const [comm, cmdline, status] = await Promise.all([
      readFile(`/proc/${pid}/comm`, 'utf8'),
      readFile(`/proc/${pid}/cmdline`, 'utf8'),
      readFile(`/proc/${pid}/status`, 'utf8'),
    ]);
    const field = (name: string): string =>
      new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1] ?? '';
    return {
      pid,
      comm: comm.trim(),
      cmdline: cmdline.replaceAll('\0', ' ').trim(),
      state: field('State').charAt(0),
      rssKiB: Number.parseInt(field('VmRSS') || '0', 10),
    };
  } catch {
    return undefined;
  }
}

/** Live (non-zombie) processes; PID 1 of this VM reaps orphans only now and then. */
async function liveProcesses(): Promise<ProcessInfo[]> {
  const pids = (await readdir('/proc')).filter((e) => /^\d+$/.test(e)).map(Number);
  const infos = await Promise.all(pids.map(processInfo));
  return infos.filter((p): p is ProcessInfo => p !== undefined && p.state !== 'Z');
}

async function netnsPids(netns: string): Promise<number[]> {
  const out = (await run('ip', ['netns', 'pids', netns])).stdout;
  return out.split('\n').filter(Boolean).map(Number);
}

async function netnsNames(): Promise<string[]> {
  const out = (await run('ip', ['netns', 'list'])).stdout;
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' ')[0] ?? '');
}

/** Fingerprint of the host's default socket: absent, or its inode and mtime. */
async function defaultSocketFingerprint(): Promise<string> {
  try {
    const s = await stat(DEFAULT_SOCKET);
    return `${s.ino}:${s.mtimeMs}`;
  } catch {
    return 'absent';
  }
}

async function pollUntil(what: string, ok: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await delay(100);
  }
}

describe('private libvirtd harness', function () {
  this.timeout(180_000);

  let lv: PrivateLibvirtd;
  let socketBefore: string;
  let runLibvirtBefore: boolean;

  before(async () => {
    socketBefore = await defaultSocketFingerprint();
    runLibvirtBefore = await stat('/run/libvirt').then(
      () => true,
      () => false,
    );
    lv = await startPrivateLibvirtd();
    console.log(`    [harness] start → first connect: ${lv.lastStartMs.toFixed(0)} ms`);
  });

  after(async () => {
    await lv?.stop();
  });

  it('answers on its own socket with the QEMU driver', async () => {
    expect(lv.uri).to.equal(`qemu+unix:///system?socket=${lv.dir}/sock/libvirt-sock`);
    expect(lv.netns).to.match(/^maaslab-test-[0-9a-f]+$/);
    const version = await lv.virsh(['version']);
    expect(version).to.match(/Running hypervisor: QEMU \d+/);
    const caps = await lv.virsh(['capabilities']);
    expect(caps).to.include("<domain type='qemu'");
  });

  it('starts with no networks, domains or pools of the host', async () => {
    expect((await lv.virsh(['list', '--all', '--name'])).trim()).to.equal('');
    expect((await lv.virsh(['net-list', '--all', '--name'])).trim()).to.equal('');
    expect((await lv.virsh(['pool-list', '--all', '--name'])).trim()).to.equal('');
  });

  it('runs an isolated network without DHCP inside its namespace only', async () => {
    const file = join(lv.dir, 'net.xml');
    await writeFile(file, networkXml);
    await lv.virsh(['net-define', file]);
    await lv.virsh(['net-start', NETWORK]);
    const xml = await lv.virsh(['net-dumpxml', NETWORK]);
    expect(xml).to.not.include('<dhcp');
    expect(xml).to.not.include('<forward');
    expect(await lv.netnsExec(['ip', '-br', 'link'])).to.include(BRIDGE);
    expect(await lv.netnsExec(['ip', '-br', 'addr', 'show', BRIDGE])).to.include('10.77.0.1/24');
    expect((await run('ip', ['-br', 'link'])).stdout).to.not.include(BRIDGE);
  });

  it('runs a diskless TCG domain that boots from the network', async function () {
    const file = join(lv.dir, 'domain.xml');
    await writeFile(file, domainXml);
    await lv.virsh(['define', file]);
    const t0 = performance.now();
    await lv.virsh(['start', DOMAIN]);
    await pollUntil(
      'domain running',
      async () => (await lv.virsh(['domstate', DOMAIN])).trim() === 'running',
    );
    console.log(
      `    [harness] TCG domain start → running: ${(performance.now() - t0).toFixed(0)} ms`,
    );
    const link = await lv.netnsExec(['ip', '-br', 'link']);
    expect(link).to.match(/vnet\d+/);
    const display = (await lv.virsh(['domdisplay', DOMAIN])).trim();
    expect(display).to.match(/^vnc:\/\/127\.0\.0\.1:\d+$/);

    // Memory of one idle 1 GiB TCG guest: the RSS of its QEMU after a few seconds of PXE.
    await delay(5_000);
    const qemu = await qemuInNetns(lv.netns);
    expect(qemu, 'qemu process in the namespace').to.have.length(1);
    console.log(
      `    [harness] idle 1 GiB TCG domain RSS: ${(qemu[0]!.rssKiB / 1024).toFixed(1)} MiB`,
    );
  });

  it('keeps the domain across a daemon kill and restart on the same socket', async () => {
    const before = await qemuInNetns(lv.netns);
    await lv.kill();
    try {
      await lv.virsh(['version']);
      expect.fail('virsh connected to a killed daemon');
    } catch (err) {
      expect(String(err)).to.match(/failed to connect|No such file|Connection refused/i);
    }
    await lv.restart();
    console.log(`    [harness] restart → first connect: ${lv.lastStartMs.toFixed(0)} ms`);
    expect((await lv.virsh(['domstate', DOMAIN])).trim()).to.equal('running');
    expect((await lv.virsh(['net-list', '--name'])).trim()).to.equal(NETWORK);
    expect((await qemuInNetns(lv.netns)).map((p) => p.pid)).to.deep.equal(before.map((p) => p.pid));
  });

  it('never touches the default libvirt socket or /run/libvirt', async () => {
    expect(await defaultSocketFingerprint()).to.equal(socketBefore);
    const runLibvirtNow = await stat('/run/libvirt').then(
      () => true,
      () => false,
    );
    expect(runLibvirtNow).to.equal(runLibvirtBefore);
  });

  it('stops without leaving a process or namespace behind', async () => {
    const inNetns = await netnsPids(lv.netns);
    expect(inNetns.length, 'libvirtd, qemu and dnsmasq in the namespace').to.be.at.least(3);
    await lv.stop();
    expect(await netnsNames()).to.not.include(lv.netns);
    const left = (await liveProcesses()).filter(
      (p) => inNetns.includes(p.pid) || p.cmdline.includes(`${lv.dir}/`),
    );
    expect(left.map((p) => `${p.pid} ${p.cmdline}`)).to.deep.equal([]);
    expect(await defaultSocketFingerprint()).to.equal(socketBefore);
  });
});

describe('private libvirtd harness after a crash', function () {
  this.timeout(120_000);

  it('stop cleans up a killed daemon and the QEMU it left running', async () => {
    const lv = await startPrivateLibvirtd();
    try {
      const file = join(lv.dir, 'domain.xml');
      await writeFile(file, domainXml.replace(/<interface[\s\S]*<\/interface>/, ''));
      await lv.virsh(['create', file]);
      await lv.kill();
      const orphans = await qemuInNetns(lv.netns);
      expect(orphans).to.have.length(1);
      await lv.stop();
      expect(await netnsNames()).to.not.include(lv.netns);
      const alive = (await liveProcesses()).map((p) => p.pid);
      expect(alive).to.not.include(orphans[0]!.pid);
    } finally {
      await lv.stop();
    }
  });
});

async function qemuInNetns(netns: string): Promise<ProcessInfo[]> {
  const infos = await Promise.all((await netnsPids(netns)).map(processInfo));
  return infos.filter(
    (p): p is ProcessInfo => p !== undefined && p.comm.startsWith('qemu') && p.state !== 'Z',
  );
}

describe('private libvirtd harness with /dev/kvm hidden (noKvm, MAASLAB_LIBVIRTD_NO_KVM=1)', function () {
  this.timeout(180_000);
  let lv: PrivateLibvirtd;

  before(async () => {
    lv = await startPrivateLibvirtd({ noKvm: true });
  });

  after(async () => {
    await lv?.stop();
  });

  it('offers only TCG, so a KVM host exercises the TCG path too', async () => {
    const caps = await lv.virsh(['capabilities']);
    expect(caps).to.include("<domain type='qemu'");
    expect(caps).to.not.include("<domain type='kvm'");
    const file = join(lv.dir, 'kvm.xml');
    await writeFile(file, domainXml.replace("<domain type='qemu'>", "<domain type='kvm'>"));
    const refused = await lv.virsh(['define', file]).then(
      () => undefined,
      (err: unknown) => String(err),
    );
    expect(refused, 'a kvm domain is refused where KVM is hidden').to.match(/kvm/i);
    await writeFile(file, domainXml);
    await lv.virsh(['define', file]);
    expect((await lv.virsh(['list', '--all', '--name'])).trim()).to.equal(DOMAIN);
  });

  it('hides /dev/kvm in its own mount namespace only', async () => {
    // The bind mount of /dev/null lives in the daemon's mount namespace: the host keeps its
    // /dev/kvm (the real device, not /dev/null's numbers), and a host without one gets none.
    const [kvm, devNull] = await Promise.all([
      stat('/dev/kvm').catch(() => undefined),
      stat('/dev/null'),
    ]);
    if (kvm === undefined) {
      expect(await hostHasKvm(), 'no /dev/kvm on this host').to.equal(false);
      return;
    }
    expect(kvm.isCharacterDevice()).to.equal(true);
    expect(kvm.rdev, '/dev/kvm on the host is still the KVM device').to.not.equal(devNull.rdev);
  });
});

describe('private libvirtd harness with a socket group and a host user (socketGroup, hostUser)', function () {
  this.timeout(180_000);
  const GID = 4713;
  const USER = { uid: 65533, gid: 65533 };
  let lv: PrivateLibvirtd;
  let hostPasswd = '';

  before(async () => {
    hostPasswd = await readFile('/etc/passwd', 'utf8');
    lv = await startPrivateLibvirtd({ socketGroup: GID, hostUser: USER });
  });

  after(async () => {
    await lv?.stop();
  });

  it("gives the read-write socket to the group, 0660, in a 0755 folder, as a distribution's libvirtd does", async () => {
    const sock = await stat(join(lv.dir, 'sock', 'libvirt-sock'));
    expect(sock.isSocket()).to.equal(true);
    expect({ uid: sock.uid, gid: sock.gid, mode: sock.mode & 0o777 }).to.deep.equal({
      uid: 0,
      gid: GID,
      mode: 0o660,
    });
    expect((await stat(join(lv.dir, 'sock'))).mode & 0o777).to.equal(0o755);
    // The read-only and admin sockets stay root's.
    expect((await stat(join(lv.dir, 'sock', 'libvirt-sock-ro'))).mode & 0o777).to.equal(0o700);
  });

  it("names the user and group in the daemon's view of /etc/passwd and /etc/group only", async () => {
    const pid = (await readFile(join(lv.dir, 'libvirtd.pid'), 'utf8')).trim();
    const inDaemon = async (db: string, id: number): Promise<string> =>
      (await run('nsenter', [`--mount=/proc/${pid}/ns/mnt`, '--', 'getent', db, String(id)]))
        .stdout;
    expect(await inDaemon('passwd', USER.uid)).to.match(
      new RegExp(`^[^:]+:x:${USER.uid}:${USER.gid}:`),
    );
    expect(await inDaemon('group', USER.gid)).to.match(new RegExp(`^[^:]+:x:${USER.gid}:`));
    expect(await readFile('/etc/passwd', 'utf8'), "the machine's /etc/passwd").to.equal(hostPasswd);
    const onHost = await run('getent', ['passwd', String(USER.uid)]).then(
      (r) => r.stdout,
      () => '',
    );
    expect(onHost, `uid ${USER.uid} on the host`).to.equal('');
  });
});
