// `kubectl maaslab vnc` when the Hypervisor is remote (qemu+ssh), end to end against a real
// sshd (test/support/ssh-host.ts) in front of the private libvirtd: the operator as a child
// process with the ~/.ssh deploy/overlays/central gives the pod and its console endpoint on
// `--console-bind-address 127.0.0.1:PORT`; one node with VNC (the default) and one without,
// both in QEMU TCG on the remote libvirtd. virDomainOpenGraphicsFD cannot cross ssh, so the
// endpoint reads the VNC port from the live XML and runs `ssh -W 127.0.0.1:PORT` to the host.
//  (a) the plugin's local listener answers with the VNC server's RFB greeting; the time from
//      connecting to the greeting is printed, through the plugin and straight to the endpoint;
//      closing the session ends its ssh process (no `ssh -W` left behind);
//  (b) the node without VNC: the endpoint says 409, at once;
//  (c) the host's sshd refuses forwarding (AllowTcpForwarding no, reloaded with SIGHUP; the
//      libvirt connection is not affected): 502 with ssh's reason, within seconds, no hang.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import {
  appendFile,
  mkdir,
  mkdtemp,
  readFile,
  readdir,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { expect } from 'chai';
import { parse, stringify } from 'yaml';
import type { MaasNode } from '../../../src/api/v1alpha1/index.js';
import { controlPlane, repoRoot } from '../../support/controlplane.js';
import {
  GROUP_VERSION,
  type E2eEnvironment,
  isReadyNow,
  envHypervisor,
  startE2eEnvironment,
} from '../../support/e2e.js';
import { kubectlPath } from '../../support/kubectl.js';
import { createServiceAccountWithToken } from '../../support/metrics-auth.js';
import { freePort, kubectlApply } from '../../support/operator.js';
import {
  type SshHost,
  operatorSshWrap,
  startSshHost,
  writeSshHome,
} from '../../support/ssh-host.js';
import { collectOutput, firstBytes, vncListenerPort } from '../../support/plugin-run.js';
import { waitFor } from '../../support/wait.js';

const LONG = { timeoutMs: 300_000, intervalMs: 500 } as const;

/** The `ssh -W` processes running now (children of the operator), by PID. */
async function sshTunnels(): Promise<number[]> {
  const out: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const cmd = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    const argv = cmd.split('\0');
    if (argv[0] === 'ssh' && argv.includes('-W')) out.push(Number(name));
  }
  return out;
}

describe('e2e: kubectl maaslab vnc over qemu+ssh with a real sshd', function () {
  this.timeout(900_000);
  let env: E2eEnvironment | undefined;
  let ssh: SshHost | undefined;
  let home = '';
  let endpoint = '';
  let bin = '';
  let kubeconfig = '';
  let token = '';
  const cleanups: Array<() => Promise<void>> = [];
  const e = (): E2eEnvironment => env as E2eEnvironment;
  const host = (): SshHost => ssh as SshHost;
  const ns = (): string => e().labNs.name;

  /** Starts `kubectl maaslab vnc NODE` through the endpoint. */
  const startVnc = (node: string): ChildProcessWithoutNullStreams =>
    spawn(
      kubectlPath(),
      ['maaslab', 'vnc', node, '-n', ns(), '--endpoint', endpoint, '--insecure-skip-tls-verify'],
      {
        env: {
          PATH: [bin, dirname(process.execPath), '/usr/bin', '/bin'].join(':'),
          HOME: e().scratch,
          KUBECONFIG: kubeconfig,
        },
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );

  /**
   * The endpoint's answer to a vnc upgrade for `node`, straight over TLS: the status line and
   * whatever followed within the first bytes after it, and how long until it came.
   */
  const upgrade = (node: string): Promise<{ head: string; rest: string; ms: number }> =>
    new Promise((resolve, reject) => {
      const t0 = performance.now();
      const socket = tlsConnect(
        { host: '127.0.0.1', port: Number(new URL(endpoint).port), rejectUnauthorized: false },
        () =>
          socket.write(
            `GET /apis/maaslab.dev/v1alpha1/namespaces/${ns()}/maasnodes/${node}/vnc HTTP/1.1\r\n` +
              'Host: x\r\nConnection: Upgrade\r\nUpgrade: maaslab-stream\r\n' +
              `Authorization: Bearer ${token}\r\n\r\n`,
          ),
      );
      let got = '';
      const done = (): void => {
        const at = got.indexOf('\r\n\r\n');
        resolve({
          head: at < 0 ? got : got.slice(0, at),
          rest: at < 0 ? '' : got.slice(at + 4),
          ms: performance.now() - t0,
        });
        socket.destroy();
      };
      socket.on('data', (d: Buffer) => {
        got += d.toString('latin1');
        // A 101 is complete with the greeting after it; anything else when it closes.
        if (/^HTTP\/1\.1 101/.test(got) && /RFB \d{3}\.\d{3}\n/.test(got)) done();
      });
      socket.on('close', done);
      socket.on('error', reject);
      socket.setTimeout(60_000, () => socket.destroy(new Error('no answer within 60 s')));
    });

  before(async function () {
    this.timeout(600_000);
    home = await mkdtemp(join(tmpdir(), 'maaslab-e2e-vncssh-home-'));
    const port = await freePort();
    endpoint = `https://127.0.0.1:${port}`;
    env = await startE2eEnvironment('vncssh', {
      args: ['--console-bind-address', `127.0.0.1:${port}`],
      wrap: await operatorSshWrap(join(home, 'home'), home),
      env: { HOME: join(home, 'home') },
    });
    ssh = await startSshHost(env.lv, join(env.scratch, 'sshd'));
    await writeSshHome(join(home, 'home'), {
      key: await readFile(ssh.clientKey.path, 'utf8'),
      knownHosts: `${ssh.address} ${ssh.hostKey.publicKey}\n`,
    });

    const cp = controlPlane();
    bin = join(e().scratch, 'bin');
    await mkdir(bin, { recursive: true });
    await symlink(join(repoRoot, 'hack', 'kubectl-maaslab'), join(bin, 'kubectl-maaslab'));
    const admin = parse(await readFile(cp.adminKubeconfig, 'utf8')) as {
      clusters: Array<{ name: string; cluster: Record<string, unknown> }>;
    };
    const cluster = admin.clusters[0];
    if (!cluster) throw new Error('the admin kubeconfig has no cluster');
    const user = await createServiceAccountWithToken(
      e().admin,
      ns(),
      'vnc-user',
      'maaslab-console-user',
    );
    cleanups.push(() => user.cleanup());
    token = user.token;
    kubeconfig = join(e().scratch, 'user.kubeconfig');
    await writeFile(
      kubeconfig,
      stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [cluster],
        users: [{ name: 'u', user: { token } }],
        contexts: [{ name: 'u', context: { cluster: cluster.name, user: 'u', namespace: ns() } }],
        'current-context': 'u',
      }),
    );

    const node = (name: string, vnc: boolean): Record<string, unknown> => ({
      apiVersion: GROUP_VERSION,
      kind: 'MaasNode',
      metadata: { name, namespace: ns() },
      spec: {
        hypervisor: e().hv,
        runStrategy: 'Always',
        memory: '128Mi',
        disks: [{ name: 'root', size: '64Mi' }],
        interfaces: [{ network: 'pxe' }],
        ...(!vnc && { vnc: { enabled: false } }),
      },
    });
    await kubectlApply(
      cp.adminKubeconfig,
      [
        envHypervisor(e(), { uri: `qemu+ssh://root@${ssh.address}/system` }),
        {
          apiVersion: GROUP_VERSION,
          kind: 'VirtNetwork',
          metadata: { name: 'pxe', namespace: ns() },
          spec: {
            hypervisor: e().hv,
            mode: 'isolated',
            ipv4: { address: '10.87.0.1', prefixLength: 24 },
          },
        },
        node('v1', true),
        node('novnc', false),
      ],
      join(e().scratch, 'nodes.yaml'),
    );
    for (const name of ['v1', 'novnc']) {
      await waitFor(
        async () => {
          const n = await e().read.get<MaasNode>('MaasNode', name, ns());
          return (isReadyNow(n) && n.status?.printableStatus === 'Running') || undefined;
        },
        { ...LONG, description: `${name} Ready and Running over ssh (log: ${e().logFile})` },
      );
    }
  });

  after(async function () {
    this.timeout(180_000);
    for (const c of cleanups) await c().catch(() => undefined);
    await env?.stop();
    await ssh?.stop();
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('(a) the plugin reaches the VNC server through ssh -W: RFB greeting; the ssh process ends with the session', async () => {
    const xml = await e().lv.virsh(['dumpxml', `${ns()}.v1`]);
    expect(xml).to.match(/<graphics type=['"]vnc['"] port=['"]59\d\d['"]/);
    const child = startVnc('v1');
    const output = collectOutput(child);
    const port = await vncListenerPort(output);
    const greet = async (): Promise<{ greeting: string; ms: number }> => {
      const t0 = performance.now();
      const greeting = await firstBytes(port, () => ` (stderr: ${output.err()})`);
      return { greeting, ms: performance.now() - t0 };
    };
    const plugin: number[] = [];
    for (let i = 0; i < 3; i++) {
      const { greeting, ms } = await greet();
      expect(greeting).to.equal('RFB 003.008\n');
      plugin.push(ms);
    }
    child.kill('SIGINT');
    expect(await output.exited, output.err()).to.equal(0);
    // Straight to the endpoint, the same request the plugin makes.
    const direct: number[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await upgrade('v1');
      expect(r.head).to.match(/^HTTP\/1\.1 101 Switching Protocols/);
      expect(r.rest).to.equal('RFB 003.008\n');
      direct.push(r.ms);
    }
    // Every session's ssh ended with it.
    await waitFor(async () => (await sshTunnels()).length === 0 || undefined, {
      timeoutMs: 10_000,
      intervalMs: 100,
      description: 'no ssh -W process left',
    });
    const log = await readFile(e().logFile, 'utf8');
    expect(log).to.include('Console session started');
    // Each session was an ssh login of its own, besides libvirt's connection.
    const logins = (await readFile(host().logFile, 'utf8')).split('Accepted publickey for root');
    expect(logins.length - 1).to.be.at.least(1 + plugin.length + direct.length);
    const f = (xs: number[]): string => xs.map((x) => (x / 1000).toFixed(2)).join(', ');
    console.log(
      `      [vnc-ssh] RFB greeting through the plugin's listener in ${f(plugin)} s; ` +
        `straight to the endpoint in ${f(direct)} s`,
    );
  });

  it('(b) a node without VNC: 409 from the endpoint, at once', async () => {
    const r = await upgrade('novnc');
    expect(r.head).to.match(/^HTTP\/1\.1 409 /);
    expect(r.rest).to.include('has no VNC display');
    expect(r.ms).to.be.below(5000);
  });

  it('(c) the host refuses TCP forwarding: 502 with what ssh said, within seconds', async () => {
    const config = join(e().scratch, 'sshd', 'sshd_config');
    const listening = (await readFile(host().logFile, 'utf8')).split('Server listening').length;
    await appendFile(config, 'AllowTcpForwarding no\n');
    process.kill(host().pid, 'SIGHUP');
    await waitFor(
      async () =>
        (await readFile(host().logFile, 'utf8')).split('Server listening').length >=
          listening + 2 || undefined,
      { timeoutMs: 20_000, intervalMs: 100, description: 'sshd reloaded' },
    );
    const r = await upgrade('v1');
    expect(r.head).to.match(/^HTTP\/1\.1 502 /);
    expect(r.rest).to.match(
      /could not open the vnc of maasnodes\.maaslab\.dev "v1": ssh exited \(code 255\)/,
    );
    expect(r.rest).to.match(/administratively prohibited/);
    expect(r.ms).to.be.below(15_000);
    expect(await sshTunnels()).to.deep.equal([]);
    console.log(
      `      [vnc-ssh] forwarding refused: ${r.head.split('\r\n')[0]} in ${(r.ms / 1000).toFixed(2)} s: ${r.rest.trim()}`,
    );
  });
});
