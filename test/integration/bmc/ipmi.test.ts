// The IPMI BMC against the real clients MAAS and operators use: ipmitool 1.8.19 (lanplus) and
// FreeIPMI 1.6 (ipmipower, ipmi-chassis-config) run exactly as MAAS's ipmi power driver runs
// them (canonical/maas src/provisioningserver/drivers/power/ipmi.py). Loopback only; no
// Kubernetes. Each test asserts what the FakeBmcBackend recorded.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { LoginThrottle } from '../../../src/bmc/auth.js';
import { type IpmiBmc, startIpmiBmc } from '../../../src/bmc/ipmi/index.js';
import { FakeBmcBackend } from '../../fakes/bmc-backend.js';

const run = promisify(execFile);
const SYSTEM = '8d7e1f7a-4a52-4c1e-9b7e-2d1f3f6a0b11';
const USER = 'maas';
const PASSWORD = 'Ipmi-pa55word';

interface Outcome {
  readonly ok: boolean;
  readonly stdout: string;
  readonly stderr: string;
}

async function client(binary: string, args: string[]): Promise<Outcome> {
  try {
    const { stdout, stderr } = await run(binary, args, { timeout: 45_000 });
    return { ok: true, stdout, stderr };
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string };
    return { ok: false, stdout: e.stdout ?? '', stderr: e.stderr ?? String(error) };
  }
}

async function have(binary: string): Promise<boolean> {
  return (await client('sh', ['-c', `command -v ${binary}`])).ok;
}

describe('bmc/ipmi with real clients', function () {
  this.timeout(60_000);
  let backend: FakeBmcBackend;
  let bmc: IpmiBmc;
  let throttle: LoginThrottle;

  const ipmitool = (
    args: string[],
    opts: { user?: string; password?: string; iface?: string } = {},
  ) =>
    client('ipmitool', [
      '-I',
      opts.iface ?? 'lanplus',
      '-H',
      '127.0.0.1',
      '-p',
      String(bmc.port),
      '-U',
      opts.user ?? USER,
      '-P',
      opts.password ?? PASSWORD,
      // ipmitool retries 4 times by default; a refusal need not take that long.
      '-R',
      '1',
      ...args,
    ]);
  /** MAAS's common_args: workaround flags, driver type, host, user, password, cipher suite, privilege. */
  const maasArgs = (
    opts: { user?: string; password?: string; suite?: string; driver?: string } = {},
  ) => [
    '-W',
    'opensesspriv',
    '--driver-type',
    opts.driver ?? 'LAN_2_0',
    '-h',
    `127.0.0.1:${bmc.port}`,
    '-u',
    opts.user ?? USER,
    '-p',
    opts.password ?? PASSWORD,
    '-I',
    opts.suite ?? '3',
    '-l',
    'OPERATOR',
  ];
  const ipmipower = (args: string[], opts: Parameters<typeof maasArgs>[0] = {}) =>
    client('ipmipower', [...maasArgs(opts), '--session-timeout', '5000', ...args]);
  const actions = () => backend.actions.map((a) => a.action);

  before(async function () {
    const missing = [];
    for (const b of ['ipmitool', 'ipmipower', 'ipmi-chassis-config'])
      if (!(await have(b))) missing.push(b);
    if (missing.length) this.skip(); // hack/ensure-system-packages.sh installs them
  });

  beforeEach(async () => {
    backend = new FakeBmcBackend();
    backend.add(SYSTEM, 'node-1');
    throttle = new LoginThrottle({ maxFailures: 3 });
    bmc = await startIpmiBmc({
      host: '127.0.0.1',
      port: 0,
      systemId: SYSTEM,
      credentials: () => ({ username: USER, password: PASSWORD }),
      backend,
      throttle,
      limits: { handshakeTimeoutMs: 500 },
    });
  });

  afterEach(async () => {
    await bmc.close();
  });

  describe('ipmitool -I lanplus', () => {
    it('mc info, and chassis power status/on/off/cycle/reset/soft, without -C', async () => {
      const info = await ipmitool(['mc', 'info']);
      expect(info.ok, info.stderr).to.equal(true);
      expect(info.stdout).to.match(/IPMI Version\s*:\s*2\.0/);
      expect((await ipmitool(['chassis', 'power', 'status'])).stdout).to.match(
        /Chassis Power is off/,
      );
      expect((await ipmitool(['chassis', 'power', 'on'])).ok).to.equal(true);
      expect((await ipmitool(['chassis', 'power', 'status'])).stdout).to.match(
        /Chassis Power is on/,
      );
      for (const action of ['cycle', 'reset', 'soft']) {
        const r = await ipmitool(['chassis', 'power', action]);
        expect(r.ok, `${action}: ${r.stderr}`).to.equal(true);
      }
      expect((await ipmitool(['chassis', 'power', 'on'])).ok).to.equal(true);
      expect((await ipmitool(['chassis', 'power', 'off'])).ok).to.equal(true);
      expect(actions()).to.deep.equal([
        'On',
        'PowerCycle',
        'ForceRestart',
        'GracefulShutdown',
        'On',
        'ForceOff',
      ]);
      expect(backend.actions[0]!.source).to.include({ protocol: 'ipmi', user: USER });
      expect(backend.actions[0]!.source.remote).to.match(/^127\.0\.0\.1:\d+$/);
      // A reset while off is refused by the backend: ipmitool reports the failure.
      expect((await ipmitool(['chassis', 'power', 'reset'])).ok).to.equal(false);
    });

    it('chassis bootdev pxe, bootdev disk options=persistent,efiboot and bootparam get 5, also with -C 3', async () => {
      expect((await ipmitool(['chassis', 'bootdev', 'pxe'])).ok).to.equal(true);
      expect((await backend.describe(SYSTEM))!.boot).to.deep.equal({
        target: 'Pxe',
        enabled: 'Once',
        mode: 'Legacy',
      });
      const disk = await ipmitool([
        '-C',
        '3',
        'chassis',
        'bootdev',
        'disk',
        'options=persistent,efiboot',
      ]);
      expect(disk.ok, disk.stderr).to.equal(true);
      expect((await backend.describe(SYSTEM))!.boot).to.deep.equal({
        target: 'Hdd',
        enabled: 'Continuous',
        mode: 'UEFI',
      });
      const get = await ipmitool(['-C', '3', 'chassis', 'bootparam', 'get', '5']);
      expect(get.ok, get.stderr).to.equal(true);
      expect(get.stdout).to.match(/Boot parameter data: e008000000/);
      expect(get.stdout).to.match(/Options apply to all future boots/);
      expect(get.stdout).to.match(/Force Boot from default Hard-Drive/);
      expect((await ipmitool(['-C', '3', 'chassis', 'power', 'status'])).ok).to.equal(true);
    });
  });

  describe('FreeIPMI as MAAS runs it', () => {
    it('ipmi-chassis-config --commit of MAAS boot flags, then ipmipower --cycle --on-if-off, --stat, --on, --off', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'maaslab-ipmi-'));
      try {
        const config = join(dir, 'boot.conf');
        // MAAS's IPMI_CONFIG_WITH_BOOT_TYPE with power_boot_type "efi".
        await writeFile(
          config,
          'Section Chassis_Boot_Flags\n' +
            '        Boot_Flags_Persistent                         No\n' +
            '        BIOS_Boot_Type                                EFI\n' +
            '        Boot_Device                                   PXE\n' +
            'EndSection\n',
        );
        const commit = await client('ipmi-chassis-config', [
          ...maasArgs(),
          '--commit',
          '--filename',
          config,
        ]);
        expect(commit.ok, commit.stderr + commit.stdout).to.equal(true);
        expect((await backend.describe(SYSTEM))!.boot).to.deep.equal({
          target: 'Pxe',
          enabled: 'Once',
          mode: 'UEFI',
        });
        // The same key given with -e, as an operator would.
        const legacy = await client('ipmi-chassis-config', [
          ...maasArgs(),
          '--commit',
          '-e',
          'Chassis_Boot_Flags:BIOS_Boot_Type=PC-COMPATIBLE',
          '-e',
          'Chassis_Boot_Flags:Boot_Device=PXE',
        ]);
        expect(legacy.ok, legacy.stderr).to.equal(true);
        expect((await backend.describe(SYSTEM))!.boot).to.deep.equal({
          target: 'Pxe',
          enabled: 'Once',
          mode: 'Legacy',
        });
        const checkout = await client('ipmi-chassis-config', [
          ...maasArgs(),
          '--checkout',
          '-S',
          'Chassis_Boot_Flags',
        ]);
        expect(checkout.stdout).to.match(/Boot_Device\s+PXE/);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
      expect((await ipmipower(['--stat'])).stdout).to.match(/127\.0\.0\.1: off/);
      expect((await ipmipower(['--cycle', '--on-if-off'])).stdout).to.match(/: ok/);
      expect((await ipmipower(['--stat'])).stdout).to.match(/: on/);
      expect((await ipmipower(['--cycle', '--on-if-off'])).stdout).to.match(/: ok/);
      expect((await ipmipower(['--off'])).stdout).to.match(/: ok/);
      expect((await ipmipower(['--stat'])).stdout).to.match(/: off/);
      expect((await ipmipower(['--on'])).stdout).to.match(/: ok/);
      expect((await ipmipower(['--soft'])).stdout).to.match(/: ok/);
      expect(actions().filter((a) => a !== 'boot')).to.deep.equal([
        'On',
        'PowerCycle',
        'ForceOff',
        'On',
        'GracefulShutdown',
      ]);
    });
  });

  describe('refusals', () => {
    it('refuses a wrong password, an unknown user, IPMI 1.5 and cipher suites 0 and 17; then serves a good client', async () => {
      expect((await ipmitool(['chassis', 'power', 'on'], { password: 'wrong' })).ok).to.equal(
        false,
      );
      const wrong = await ipmipower(['--on'], { password: 'wrong' });
      expect(wrong.stdout).to.match(/password invalid/);
      const unknown = await ipmipower(['--on'], { user: 'root' });
      expect(unknown.stdout).to.match(/username invalid/);
      expect((await ipmitool(['chassis', 'power', 'on'], { user: 'root' })).ok).to.equal(false);
      expect(backend.actions).to.deep.equal([]);
      // Those four failed logins locked 127.0.0.1 out (limit 3): a fresh BMC with a lenient throttle.
      throttle = new LoginThrottle({ maxFailures: 100 });
      await bmc.close();
      bmc = await startIpmiBmc({
        host: '127.0.0.1',
        port: 0,
        systemId: SYSTEM,
        credentials: () => ({ username: USER, password: PASSWORD }),
        backend,
        throttle,
      });
      const lan = await ipmitool(['chassis', 'power', 'on'], { iface: 'lan' });
      expect(lan.ok).to.equal(false);
      expect(lan.stderr).to.match(
        /Authentication type NONE not supported|No supported authtypes|Unable to establish/,
      );
      expect((await ipmipower(['--on'], { driver: 'LAN' })).stdout).to.match(
        /authentication type unavailable/,
      );
      const c0 = await ipmitool(['-C', '0', 'chassis', 'power', 'on']);
      expect(c0.stderr).to.match(/no matching cipher suite/);
      expect((await ipmitool(['-C', '17', 'chassis', 'power', 'on'])).ok).to.equal(false);
      expect((await ipmipower(['--on'], { suite: '0' })).stdout).to.match(
        /cipher suite id unavailable/,
      );
      expect((await ipmipower(['--on'], { suite: '17' })).stdout).to.match(
        /cipher suite id unavailable/,
      );
      expect(backend.actions).to.deep.equal([]);
      const good = await ipmitool(['chassis', 'power', 'status']);
      expect(good.ok, good.stderr).to.equal(true);
      expect((await ipmipower(['--stat'])).stdout).to.match(/: off/);
    });

    it('survives a flood of garbage and malformed packets, then answers ipmitool', async () => {
      const socket = createSocket('udp4');
      await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
      const send = (packet: Buffer) =>
        new Promise<void>((resolve) => socket.send(packet, bmc.port, '127.0.0.1', () => resolve()));
      const { randomBytes } = await import('node:crypto');
      for (let i = 0; i < 5000; i++) {
        const packet =
          i % 3 === 0
            ? randomBytes(1 + (i % 200))
            : Buffer.concat([
                Buffer.from([0x06, 0x00, 0xff, 0x07, i % 2 ? 0x06 : 0x00]),
                randomBytes(i % 64),
              ]);
        await send(packet);
      }
      // Open Session requests with random console ids, never finished.
      for (let i = 0; i < 1000; i++) {
        const open = Buffer.alloc(32);
        randomBytes(4).copy(open, 4);
        Buffer.from([0, 0, 0, 8, 1, 0, 0, 0, 1, 0, 0, 8, 1, 0, 0, 0, 2, 0, 0, 8, 1, 0, 0, 0]).copy(
          open,
          8,
        );
        const header = Buffer.from([
          0x06, 0x00, 0xff, 0x07, 0x06, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0,
        ]);
        await send(Buffer.concat([header, open]));
      }
      socket.close();
      const status = await ipmitool(['chassis', 'power', 'status']);
      expect(status.ok, status.stderr).to.equal(true);
      expect(status.stdout).to.match(/Chassis Power is off/);
    });

    it('refuses a source the throttle locked out, and serves one it did not', async () => {
      // Three wrong passwords from 127.0.0.1 (the limit): their abandoned handshakes count.
      for (let i = 0; i < 3; i++) {
        expect((await ipmipower(['--stat'], { password: 'nope' })).stdout).to.match(
          /password invalid/,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 600)); // past handshakeTimeoutMs
      const locked = await ipmipower(['--on']);
      expect(locked.stdout).not.to.match(/: ok/);
      expect((await ipmitool(['chassis', 'power', 'on'])).ok).to.equal(false);
      expect(backend.actions).to.deep.equal([]);
      // Another source locked out does not affect this one (a fresh BMC, same throttle rules).
      await bmc.close();
      throttle = new LoginThrottle({ maxFailures: 3 });
      for (let i = 0; i < 3; i++) throttle.failed('192.0.2.77');
      bmc = await startIpmiBmc({
        host: '127.0.0.1',
        port: 0,
        systemId: SYSTEM,
        credentials: () => ({ username: USER, password: PASSWORD }),
        backend,
        throttle,
      });
      expect(throttle.check('192.0.2.77').allowed).to.equal(false);
      expect((await ipmipower(['--on'])).stdout).to.match(/: ok/);
      expect(actions()).to.deep.equal(['On']);
    });
  });
});
