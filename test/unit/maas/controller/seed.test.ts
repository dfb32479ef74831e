// The controller seed checked by cloud-init itself: `cloud-init schema` for the user-data,
// cloud-init's own network-config v2 parser (22.4's schema command cannot validate
// network-config), PyYAML for how cloud-init reads our YAML, and the bootstrap script run
// against stub snap/maas/curl commands.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { parse } from 'yaml';
import {
  buildControllerSeed,
  ControllerSeedError,
  type ControllerSeedInput,
} from '../../../../src/maas/controller/seed.js';
import {
  ADMIN_PASSWORD_PATH,
  ADMIN_SSH_KEYS_PATH,
  BOOTSTRAP_ENV_PATH,
  BOOTSTRAP_SCRIPT,
  BOOTSTRAP_STEPS,
} from '../../../../src/maas/controller/bootstrap-script.js';

const CLOUD_INIT = '/usr/bin/cloud-init';
/** Debian's python3, which has cloud-init's modules (a pyenv python on PATH may not). */
const PYTHON = '/usr/bin/python3';

const MINIMAL: ControllerSeedInput = {
  instanceId: 'maaslab-lab1-controller-1',
  hostname: 'maas',
  channel: '3.7/stable',
  maasUrl: 'http://10.77.0.2:5240/MAAS',
  address: '10.77.0.2/24',
  pxeMac: '52:54:00:00:00:01',
  admin: { username: 'admin', password: 'correct horse battery staple' },
  sshAuthorizedKeys: [],
};
const WITH_UPLINK: ControllerSeedInput = {
  ...MINIMAL,
  uplinkMac: '52:54:00:00:00:02',
  gateway: '10.77.0.1',
  dns: ['10.77.0.1', '2001:db8::53'],
};
const WITH_KEYS: ControllerSeedInput = {
  ...MINIMAL,
  gateway: '10.77.0.1',
  sshAuthorizedKeys: [
    'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBq7 alice@example',
    'ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAA=',
  ],
};
const HOSTILE_PASSWORD = `'; rm -rf / "$(reboot)" \`id\` $HOME \\ #`;
const HOSTILE: ControllerSeedInput = {
  ...WITH_KEYS,
  instanceId: 'yes',
  hostname: 'on',
  channel: 'latest/edge',
  maasUrl: 'https://maas.example:5240/MAAS/',
  admin: { username: '-n+ops@x', password: HOSTILE_PASSWORD, email: 'o.brien+lab@example.com' },
  apiKeyFile: '/root/.maas-key/-n',
  kernelOpts: `console=ttyS0,115200 x='$(reboot)'; y="\`id\`"`,
};
const CASES: Record<string, ControllerSeedInput> = {
  minimal: MINIMAL,
  'with uplink': WITH_UPLINK,
  'with ssh keys': WITH_KEYS,
  'hostile-looking values': HOSTILE,
};

/** What PyYAML (cloud-init's parser, YAML 1.1) makes of `text`, as JSON. */
function pyyaml(text: string): unknown {
  const out = execFileSync(
    PYTHON,
    ['-c', 'import sys, json, yaml; print(json.dumps(yaml.safe_load(sys.stdin.read())))'],
    { input: text, encoding: 'utf8' },
  );
  return JSON.parse(out);
}

describe('maas/controller/seed', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'maaslab-seed-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  for (const [name, input] of Object.entries(CASES)) {
    describe(name, () => {
      const seed = buildControllerSeed(input);

      it('user-data passes the real `cloud-init schema`', function () {
        if (!existsSync(CLOUD_INIT)) this.skip(); // cloud-init is not installed
        const file = join(dir, 'user-data');
        writeFileSync(file, seed.userData);
        const r = spawnSync(CLOUD_INIT, ['schema', '--config-file', file], { encoding: 'utf8' });
        expect(r.status, r.stdout + r.stderr).to.equal(0);
        expect(r.stdout).to.match(/Valid cloud-config/);
      });

      it('reads the same in PyYAML (YAML 1.1) as in `yaml` (no MAC read as a number)', function () {
        if (!existsSync(PYTHON)) this.skip(); // Debian's python3 is not installed
        for (const text of [seed.userData, seed.metaData, seed.networkConfig]) {
          expect(pyyaml(text)).to.deep.equal(parse(text));
        }
      });

      it('network-config is accepted by cloud-init’s own v2 parser', function () {
        if (!existsSync(PYTHON)) this.skip(); // Debian's python3 is not installed
        const script = [
          'import sys, json, yaml',
          'from cloudinit.net import network_state as ns',
          'nsi = ns.NetworkStateInterpreter(version=2, config=yaml.safe_load(sys.stdin.read()))',
          'nsi.parse_config(skip_broken=False)',
          'print(json.dumps(list(nsi.network_state.iter_interfaces()), default=str))',
        ].join('\n');
        const r = spawnSync(PYTHON, ['-c', script], {
          input: seed.networkConfig,
          encoding: 'utf8',
        });
        if (/No module named 'cloudinit'/.test(r.stderr)) this.skip(); // cloud-init is not installed
        expect(r.status, r.stderr).to.equal(0);
        const ifaces = JSON.parse(r.stdout) as { name: string; mac_address: string }[];
        const macs = ifaces.map((i) => i.mac_address).sort();
        expect(macs).to.deep.equal(
          [input.pxeMac, ...(input.uplinkMac ? [input.uplinkMac] : [])].sort(),
        );
      });

      it('puts the password in the password file only', () => {
        const ud = parse(seed.userData) as { write_files: { path: string; content: string }[] };
        const holders = ud.write_files.filter((f) => f.content.includes(input.admin.password));
        expect(holders.map((f) => f.path)).to.deep.equal([ADMIN_PASSWORD_PATH]);
        expect(holders[0]?.content).to.equal(input.admin.password);
        expect(seed.networkConfig + seed.metaData).not.to.include(input.admin.password);
      });

      it('writes settings that bash sources back to the exact values', () => {
        const ud = parse(seed.userData) as { write_files: { path: string; content: string }[] };
        const env = ud.write_files.find((f) => f.path === BOOTSTRAP_ENV_PATH)?.content ?? '';
        const out = execFileSync(
          '/bin/bash',
          [
            '-c',
            `${env}\nprintf '%s\\0' "$MAASLAB_MAAS_URL" "$MAASLAB_ADMIN_USERNAME" "$MAASLAB_APIKEY_FILE" "$MAASLAB_KERNEL_OPTS"`,
          ],
          { encoding: 'utf8' },
        );
        expect(out.split('\0').slice(0, 4)).to.deep.equal([
          input.maasUrl,
          input.admin.username,
          input.apiKeyFile ?? '/var/lib/maaslab/admin-apikey',
          input.kernelOpts ?? 'console=ttyS0,115200',
        ]);
      });
    });
  }

  it('network-config: PXE NIC static, no DHCP; uplink DHCP; default route only without uplink', () => {
    type Eth = Record<string, Record<string, unknown>>;
    const min = parse(buildControllerSeed({ ...MINIMAL, gateway: '10.77.0.1' }).networkConfig) as {
      version: number;
      ethernets: Eth;
    };
    expect(min.version).to.equal(2);
    expect(min.ethernets).to.have.keys('pxe');
    expect(min.ethernets.pxe).to.deep.include({
      match: { macaddress: '52:54:00:00:00:01' },
      dhcp4: false,
      dhcp6: false,
      addresses: ['10.77.0.2/24'],
      routes: [{ to: '0.0.0.0/0', via: '10.77.0.1' }],
    });
    const up = parse(buildControllerSeed(WITH_UPLINK).networkConfig) as { ethernets: Eth };
    expect(up.ethernets).to.have.keys('pxe', 'uplink');
    expect(up.ethernets.pxe).not.to.have.property('routes');
    expect(up.ethernets.pxe?.nameservers).to.deep.equal({
      addresses: ['10.77.0.1', '2001:db8::53'],
    });
    expect(up.ethernets.uplink).to.deep.include({
      match: { macaddress: '52:54:00:00:00:02' },
      dhcp4: true,
    });
  });

  it('meta-data holds the instance id and host name', () => {
    expect(parse(buildControllerSeed(HOSTILE).metaData)).to.deep.equal({
      'instance-id': 'yes',
      'local-hostname': 'on',
    });
  });

  it('user-data is #cloud-config that runs the constant script in exec form', () => {
    const text = buildControllerSeed(WITH_KEYS).userData;
    expect(text.startsWith('#cloud-config\n')).to.equal(true);
    const ud = parse(text) as Record<string, unknown>;
    expect(ud.runcmd).to.deep.equal([['/usr/local/sbin/maaslab-bootstrap', 'run']]);
    expect(ud.ssh_authorized_keys).to.deep.equal(WITH_KEYS.sshAuthorizedKeys);
    expect(ud.ssh_pwauth).to.equal(false);
    const files = ud.write_files as { path: string; content: string; permissions: string }[];
    expect(files.find((f) => f.path === ADMIN_SSH_KEYS_PATH)?.content).to.equal(
      WITH_KEYS.sshAuthorizedKeys.map((k) => `${k}\n`).join(''),
    );
    for (const f of files) expect(f.permissions).to.match(/^0[67]00$|^0755$/);
  });

  it('the bootstrap script is valid bash and sleeps only inside its bounded poll', () => {
    execFileSync('/bin/bash', ['-n'], { input: BOOTSTRAP_SCRIPT });
    const sleeps = BOOTSTRAP_SCRIPT.split('\n').filter((l) => /\bsleep\b/.test(l));
    expect(sleeps.map((l) => l.trim())).to.deep.equal(['sleep 2']);
    expect(BOOTSTRAP_SCRIPT).to.include('snap wait system seed.loaded');
    expect(BOOTSTRAP_SCRIPT).not.to.match(/set -[a-z]*x/);
    for (const s of BOOTSTRAP_STEPS) expect(BOOTSTRAP_SCRIPT).to.include(s);
  });

  it('refuses invalid values with an error naming the field', () => {
    const bad: [string, Partial<ControllerSeedInput>][] = [
      ['channel', { channel: '3.7' }],
      ['channel', { channel: '3.7/stable; reboot' }],
      ['channel', { channel: '3.7/nightly' }],
      ['testDbChannel', { testDbChannel: 'x' }],
      ['hostname', { hostname: 'Maas' }],
      ['hostname', { hostname: 'maas.lab' }],
      ['hostname', { hostname: '-maas' }],
      ['hostname', { hostname: 'a'.repeat(64) }],
      ['instanceId', { instanceId: "a'b" }],
      ['maasUrl', { maasUrl: 'ftp://10.0.0.1/MAAS' }],
      ['maasUrl', { maasUrl: 'http://u:p@10.0.0.1/MAAS' }],
      ['maasUrl', { maasUrl: "http://10.0.0.1/MAAS?x='" }],
      ['maasUrl', { maasUrl: 'http://10.0.0.1/MAAS\n; reboot' }],
      ['address', { address: '10.77.0.2' }],
      ['address', { address: '10.77.0.256/24' }],
      ['address', { address: '10.77.0.2/33' }],
      ['pxeMac', { pxeMac: '52:54:00:00:00' }],
      ['pxeMac', { pxeMac: '52-54-00-00-00-01' }],
      ['uplinkMac', { uplinkMac: MINIMAL.pxeMac }],
      ['gateway', { gateway: 'router' }],
      ['dns[1]', { dns: ['1.1.1.1', '1.1.1.1; reboot'] }],
      ['admin.username', { admin: { username: 'a b', password: 'x' } }],
      ['admin.password', { admin: { username: 'a', password: '' } }],
      ['admin.password', { admin: { username: 'a', password: 'line1\nline2' } }],
      ['admin.email', { admin: { username: 'a', password: 'x', email: 'nobody' } }],
      ['sshAuthorizedKeys[0]', { sshAuthorizedKeys: ['ssh-ed25519 AAAA\nssh-rsa BBBB'] }],
      ['sshAuthorizedKeys[0]', { sshAuthorizedKeys: ['not a key'] }],
      ['apiKeyFile', { apiKeyFile: 'relative/path' }],
      ['apiKeyFile', { apiKeyFile: '/var/../etc/shadow' }],
      ['apiKeyFile', { apiKeyFile: "/tmp/a'b" }],
      ['kernelOpts', { kernelOpts: 'console=ttyS0\nreboot' }],
      ['apiTimeoutSeconds', { apiTimeoutSeconds: 0 }],
      ['snapSeedTimeoutSeconds', { snapSeedTimeoutSeconds: 1.5 }],
    ];
    for (const [field, patch] of bad) {
      const call = (): unknown => buildControllerSeed({ ...MINIMAL, ...patch });
      expect(call, JSON.stringify(patch)).to.throw(ControllerSeedError);
      try {
        call();
      } catch (e) {
        expect((e as ControllerSeedError).field, JSON.stringify(patch)).to.equal(field);
        expect((e as Error).message).not.to.include('line1');
      }
    }
  });

  it('accepts IPv6 and normalises MACs to lowercase', () => {
    const seed = buildControllerSeed({
      ...MINIMAL,
      address: '2001:db8::2/64',
      gateway: '2001:db8::1',
      pxeMac: '52:54:00:AB:CD:EF',
    });
    const nc = parse(seed.networkConfig) as { ethernets: { pxe: Record<string, unknown> } };
    expect(nc.ethernets.pxe.match).to.deep.equal({ macaddress: '52:54:00:ab:cd:ef' });
    expect(nc.ethernets.pxe.routes).to.deep.equal([{ to: '::/0', via: '2001:db8::1' }]);
  });

  describe('the bootstrap script against stub commands', () => {
    /**
     * Runs the script with /etc/maaslab, /var/lib/maaslab and the console moved into `dir`,
     * and snap, maas, curl and timeout replaced by stubs that log their arguments.
     */
    function run(
      input: ControllerSeedInput,
      failing?: string,
    ): { status: number | null; console: string; log: string; stdout: string } {
      const seed = buildControllerSeed(input);
      const ud = parse(seed.userData) as { write_files: { path: string; content: string }[] };
      const root = (p: string): string => join(dir, p);
      const relocate = (text: string): string =>
        text
          .replaceAll('/etc/maaslab/', root('etc/'))
          .replaceAll('/var/lib/maaslab/', root('var/'))
          .replaceAll('/dev/ttyS0', root('console'));
      execFileSync('mkdir', ['-p', root('etc'), root('var'), root('bin')]);
      for (const f of ud.write_files) {
        writeFileSync(relocate(f.path), relocate(f.content));
      }
      const stub = (name: string, body: string): void => {
        writeFileSync(
          root(`bin/${name}`),
          `#!/bin/bash\nprintf '%s ' ${name} "$@" >>${root('calls')}; echo >>${root('calls')}\n${body}\n`,
        );
        chmodSync(root(`bin/${name}`), 0o755);
      };
      stub('snap', failing === 'snap' ? 'exit 1' : 'exit 0');
      stub('curl', 'exit 0');
      stub('timeout', 'shift; exec "$@"');
      stub('maas', 'if [ "$1" = apikey ]; then echo "aaa:bbb:ccc"; echo "ddd:eee:fff"; fi; exit 0');
      const r = spawnSync('/bin/bash', ['-s', 'run'], {
        input: relocate(BOOTSTRAP_SCRIPT),
        encoding: 'utf8',
        env: { PATH: `${root('bin')}:/usr/bin:/bin` },
      });
      const read = (p: string): string => (existsSync(p) ? readFileSync(p, 'utf8') : '');
      return {
        status: r.status,
        console: read(root('console')),
        log: read(root('calls')),
        stdout: r.stdout + r.stderr,
      };
    }

    it('runs every step in order, prints the key between markers, and logs no password', () => {
      const r = run({ ...WITH_UPLINK, admin: { username: 'admin', password: HOSTILE_PASSWORD } });
      expect(r.status, r.stdout).to.equal(0);
      const steps = [...r.console.matchAll(/^MAASLAB-STEP (\S+) (ok|failed)/gm)].map(
        (m) => `${m[1]} ${m[2]}`,
      );
      expect(steps).to.deep.equal(BOOTSTRAP_STEPS.map((s) => `${s} ok`));
      expect(r.console).to.include('MAASLAB-APIKEY-BEGIN aaa:bbb:ccc MAASLAB-APIKEY-END');
      expect(r.stdout).not.to.include('aaa:bbb:ccc');
      expect(r.stdout + r.console).not.to.include(HOSTILE_PASSWORD);
      expect(r.log).to.include('snap install maas-test-db --channel=3.7/stable');
      expect(r.log).to.include('snap install maas --channel=3.7/stable');
      expect(r.log).to.include(
        'maas init region+rack --database-uri maas-test-db:/// --maas-url http://10.77.0.2:5240/MAAS',
      );
      expect(r.log).to.include(
        'maas maaslab maas set-config name=kernel_opts value=console=ttyS0,115200',
      );
      expect(r.log).to.include(
        'maas maaslab maas set-config name=upstream_dns value=10.77.0.1 2001:db8::53',
      );
      expect(r.log).to.include(
        `maas createadmin --username admin --password ${HOSTILE_PASSWORD} --email admin@maaslab.invalid`,
      );
    });

    it('names the failed step on the console and stops there', () => {
      const r = run(MINIMAL, 'snap');
      expect(r.status).to.equal(1);
      expect(r.console).to.match(/^MAASLAB-STEP seed-loaded failed \(exit 1\)/m);
      expect(r.console).not.to.include('install-maas');
    });
  });
});
