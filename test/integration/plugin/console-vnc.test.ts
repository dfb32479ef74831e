// `kubectl maaslab console` and `vnc` end to end, run the way a user runs them: the pinned
// bin/kubectl finds the plugin through a link to hack/kubectl-maaslab and runs it with a
// kubeconfig holding a ServiceAccount's bearer token; the operator runs as a child process
// (deploy/base RBAC) with `--console-bind-address 127.0.0.1:PORT`; one MaasNode (128 MiB, an
// empty disk, a NIC on an isolated VirtNetwork) runs in QEMU TCG on a private libvirtd.
//
// - console: attached first, then the domain is reset (`virsh reset`: same QEMU, same pty), so
//   the whole boot is seen: SeaBIOS (the domain XML's <bios useserial='yes'/>), then iPXE,
//   whose shell Ctrl-B opens (its `iPXE>` prompt proves keys reach the guest). Closing stdin
//   leaves, exit 0. Typing a command into iPXE through the endpoint is checked in
//   test/integration/libvirt/console-stream.test.ts.
// - vnc: the plugin's local listener on 127.0.0.1 answers with the RFB greeting of the
//   domain's VNC server (virDomainOpenGraphicsFD behind the operator); SIGINT stops, exit 0.
// - RBAC: the same token without ClusterRole maaslab-console-user gets the endpoint's 403 for
//   console and for vnc; a token the API server rejects gets 401.
// The kubectl port-forward path (no --endpoint) needs an operator pod; it is not run here.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
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
import { collectOutput, firstBytes, vncListenerPort } from '../../support/plugin-run.js';
import { waitFor } from '../../support/wait.js';

const NODE = 'c1';
/** Reads MaasNodes, may not attach. */
const READER_ROLE = 'maaslab-test-console-reader';
const LONG = { timeoutMs: 300_000, intervalMs: 500 } as const;

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

describe('plugin: kubectl maaslab console and vnc, through the operator, against QEMU', function () {
  this.timeout(900_000);
  let env: E2eEnvironment | undefined;
  let endpoint: string;
  let bin: string;
  /** Kubeconfigs: a token bound to maaslab-console-user, one bound to nothing, a bogus one. */
  const kubeconfigs: Record<'allowed' | 'denied' | 'bogus', string> = {
    allowed: '',
    denied: '',
    bogus: '',
  };
  const cleanups: Array<() => Promise<void>> = [];
  const e = (): E2eEnvironment => env as E2eEnvironment;
  const ns = (): string => e().labNs.name;

  const pluginEnv = (who: keyof typeof kubeconfigs): NodeJS.ProcessEnv => ({
    PATH: [bin, dirname(process.execPath), '/usr/bin', '/bin'].join(':'),
    HOME: e().scratch,
    KUBECONFIG: kubeconfigs[who],
  });
  const args = (verb: string): string[] => [
    'maaslab',
    verb,
    NODE,
    '-n',
    ns(),
    '--endpoint',
    endpoint,
    '--insecure-skip-tls-verify',
  ];
  /** Starts `kubectl maaslab VERB NODE ...` as `who`, stdin a pipe. */
  const start = (verb: string, who: keyof typeof kubeconfigs): ChildProcessWithoutNullStreams =>
    spawn(kubectlPath(), args(verb), { env: pluginEnv(who), stdio: ['pipe', 'pipe', 'pipe'] });
  const runToEnd = (verb: string, who: keyof typeof kubeconfigs): Promise<Run> =>
    new Promise((resolve, reject) => {
      const child = start(verb, who);
      child.stdin.end();
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    });

  before(async function () {
    this.timeout(600_000);
    const port = await freePort();
    endpoint = `https://127.0.0.1:${port}`;
    env = await startE2eEnvironment('console', {
      args: ['--console-bind-address', `127.0.0.1:${port}`],
    });
    const cp = controlPlane();
    bin = join(e().scratch, 'bin');
    await mkdir(bin, { recursive: true });
    await symlink(join(repoRoot, 'hack', 'kubectl-maaslab'), join(bin, 'kubectl-maaslab'));

    // Kubeconfigs with bearer tokens: the admin's cluster entry, a ServiceAccount's token.
    const admin = parse(await readFile(cp.adminKubeconfig, 'utf8')) as {
      clusters: Array<{ name: string; cluster: Record<string, unknown> }>;
    };
    const cluster = admin.clusters[0];
    if (!cluster) throw new Error('the admin kubeconfig has no cluster');
    const kubeconfigWith = async (name: string, token: string): Promise<string> => {
      const file = join(e().scratch, `${name}.kubeconfig`);
      await writeFile(
        file,
        stringify({
          apiVersion: 'v1',
          kind: 'Config',
          clusters: [cluster],
          users: [{ name, user: { token } }],
          contexts: [{ name, context: { cluster: cluster.name, user: name, namespace: ns() } }],
          'current-context': name,
        }),
      );
      return file;
    };
    const allowed = await createServiceAccountWithToken(
      e().admin,
      ns(),
      'console-user',
      'maaslab-console-user',
    );
    cleanups.push(() => allowed.cleanup());
    // Bound to a role that reads MaasNodes but may not attach: the plugin gets as far as the
    // endpoint, which says 403.
    await kubectlApply(
      cp.adminKubeconfig,
      [
        {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'ClusterRole',
          metadata: { name: READER_ROLE },
          rules: [{ apiGroups: ['maaslab.dev'], resources: ['maasnodes'], verbs: ['get', 'list'] }],
        },
      ],
      join(e().scratch, 'reader.yaml'),
    );
    cleanups.push(async () => {
      await e().admin.request({
        method: 'DELETE',
        ref: { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', name: READER_ROLE },
      });
    });
    const denied = await createServiceAccountWithToken(e().admin, ns(), 'reader', READER_ROLE);
    cleanups.push(() => denied.cleanup());
    kubeconfigs.allowed = await kubeconfigWith('allowed', allowed.token);
    kubeconfigs.denied = await kubeconfigWith('denied', denied.token);
    kubeconfigs.bogus = await kubeconfigWith('bogus', 'not-a-real-token');

    await kubectlApply(
      cp.adminKubeconfig,
      [
        envHypervisor(e()),
        {
          apiVersion: GROUP_VERSION,
          kind: 'VirtNetwork',
          metadata: { name: 'pxe', namespace: ns() },
          spec: {
            hypervisor: e().hv,
            mode: 'isolated',
            ipv4: { address: '10.86.0.1', prefixLength: 24 },
          },
        },
        {
          apiVersion: GROUP_VERSION,
          kind: 'MaasNode',
          metadata: { name: NODE, namespace: ns() },
          spec: {
            hypervisor: e().hv,
            runStrategy: 'Always',
            memory: '128Mi',
            disks: [{ name: 'root', size: '64Mi' }],
            interfaces: [{ network: 'pxe' }],
          },
        },
      ],
      join(e().scratch, 'node.yaml'),
    );
    await waitFor(
      async () => {
        const n = await e().read.get<MaasNode>('MaasNode', NODE, ns());
        return (isReadyNow(n) && n.status?.printableStatus === 'Running') || undefined;
      },
      { ...LONG, description: `${NODE} Ready and Running (log: ${e().logFile})` },
    );
  });

  after(async function () {
    this.timeout(180_000);
    for (const c of cleanups) await c().catch(() => undefined);
    await env?.stop();
  });

  it('the domain has the BIOS on its serial console', async () => {
    const xml = await e().lv.virsh(['dumpxml', `${ns()}.${NODE}`]);
    expect(xml).to.match(/<bios useserial=['"]yes['"]\/>/);
  });

  it('console: SeaBIOS and iPXE from a reset on, Ctrl-B opens the iPXE shell; stdin end leaves', async () => {
    const child = start('console', 'allowed');
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('latin1')));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number>((resolve) =>
      child.on('close', (code) => resolve(code ?? -1)),
    );
    // Attached once the node's bytes flow: a newline makes whatever is on the console answer.
    // Then a reset starts the boot over on the same QEMU and pty, with us reading.
    await waitFor(
      async () =>
        (await readFile(e().logFile, 'utf8')).includes('Console session started') || undefined,
      { timeoutMs: 60_000, intervalMs: 200, description: `the session (stderr: ${err})` },
    );
    expect(child.exitCode, err).to.equal(null);
    /** Waits for `pattern` in what the console showed after `from`; says what it showed if not. */
    const until = async (pattern: RegExp, from: number, timeoutMs: number): Promise<number> => {
      try {
        await waitFor(() => pattern.test(out.slice(from)) || undefined, {
          timeoutMs,
          intervalMs: 200,
        });
      } catch {
        await writeFile(join(e().scratch, 'console.out'), out);
        throw new Error(
          `no ${pattern} on the console within ${timeoutMs} ms; since then it showed ${JSON.stringify(out.slice(from).slice(-800))} (stderr: ${err})`,
        );
      }
      return from + out.slice(from).search(pattern);
    };
    // QEMU takes a reset asynchronously: only output after the new boot's banner counts.
    // Ctrl-B goes only to iPXE's boot prompt ("for the iPXE command line"): at the option ROM's
    // earlier "Press Ctrl-B to configure iPXE" it opens the ROM's settings shell instead, whose
    // exit resets the machine. The prompt lasts about two guest seconds; a miss resets again.
    // This guest (virtio disk and NIC on an isolated network, VNC) was seen resetting itself at
    // that prompt and again at the shell, so the shell's prompt is the proof that keys reach the
    // guest; typing a command into it is checked in console-stream.test.ts, on a guest without
    // those resets.
    let booted = 0;
    let prompt = -1;
    for (let attempt = 1; attempt <= 5 && prompt < 0; attempt++) {
      const mark = out.length;
      await e().lv.virsh(['reset', `${ns()}.${NODE}`]);
      booted = await until(/SeaBIOS/, mark, 120_000);
      const asked = await until(/Press Ctrl-B for the iPXE command line/, booted, 180_000);
      const ctrlB = setInterval(() => child.stdin.write('\x02'), 100);
      try {
        prompt = await until(/iPXE>/, asked, 15_000);
      } catch {
        prompt = -1;
      } finally {
        clearInterval(ctrlB);
      }
    }
    if (prompt < 0)
      throw new Error(`no iPXE shell after 5 resets (see ${e().scratch}/console.out)`);
    expect(out.slice(booted, prompt)).to.match(/iPXE \d/);
    child.stdin.end();
    expect(await exited, err).to.equal(0);
  });

  it('vnc: a local listener whose connections reach the VNC server (RFB 003.008); SIGINT stops', async () => {
    const child = start('vnc', 'allowed');
    const output = collectOutput(child);
    const port = await vncListenerPort(output);
    const greeting = await firstBytes(port);
    expect(greeting).to.equal('RFB 003.008\n');
    child.kill('SIGINT');
    expect(await output.exited, output.err()).to.equal(0);
  });

  it('a token without maaslab-console-user is refused by the endpoint: 403 for console and vnc', async () => {
    const c = await runToEnd('console', 'denied');
    expect(c.code).to.equal(1);
    expect(c.stderr).to.match(
      /^error: Forbidden: user system:serviceaccount:[^:]+:reader cannot get resource "maasnodes\/console" in API group "maaslab\.dev"/,
    );
    const v = start('vnc', 'denied');
    const output = collectOutput(v);
    const port = await vncListenerPort(output);
    const closed = await new Promise<string>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      let got = '';
      socket.on('data', (d: Buffer) => (got += d.toString()));
      socket.on('close', () => resolve(got));
      socket.on('error', () => resolve(got));
    });
    expect(closed).to.equal('');
    await waitFor(() => /maasnodes\/vnc/.test(output.err()) || undefined, {
      timeoutMs: 10_000,
      intervalMs: 100,
    });
    expect(output.err()).to.match(/error: Forbidden: .*cannot get resource "maasnodes\/vnc"/);
    v.kill('SIGINT');
    await output.exited;
  });

  it('a token the API server rejects: the plugin stops at the API server, the endpoint says 401', async () => {
    const r = await runToEnd('console', 'bogus');
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/^error: /);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = tlsConnect(
        { host: '127.0.0.1', port: Number(new URL(endpoint).port), rejectUnauthorized: false },
        () =>
          socket.write(
            `GET /apis/maaslab.dev/v1alpha1/namespaces/${ns()}/maasnodes/${NODE}/console HTTP/1.1\r\n` +
              'Host: x\r\nConnection: Upgrade\r\nUpgrade: maaslab-stream\r\n' +
              'Authorization: Bearer not-a-real-token\r\n\r\n',
          ),
      );
      let got = '';
      socket.on('data', (d: Buffer) => (got += d.toString()));
      socket.on('close', () => resolve(got));
      socket.on('error', reject);
    });
    expect(answer).to.match(/^HTTP\/1\.1 401 Unauthorized\r\n/);
  });
});
