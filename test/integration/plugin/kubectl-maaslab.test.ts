// kubectl maaslab end to end, run the way a user runs it: the pinned bin/kubectl finds
// `kubectl-maaslab` on the PATH and runs it with the user's $KUBECONFIG, against the shared
// kube-apiserver, the operator as a child process (deploy/base RBAC only) and a private
// libvirtd with QEMU TCG. Each verb is checked by its real effect: the spec the plugin
// patched, the domain libvirt reports (started, power-cycled, managed-saved, powered off),
// and the operator's own report (status.power for power-params, status for the tree).
// Two installed forms: this checkout's launcher (hack/kubectl-maaslab, reached through a
// symbolic link, as `ln -s` installs it) and the single file `make plugin` bundles, copied
// alone into an empty folder. `npm install -g` runs dist/src/plugin/main.js, the compiled
// form of the same entry point (the packaging unit test checks package.json's "bin").
//
// One small lab (two 128 MiB nodes with VNC) and a stand-alone node behind a virtual IPMI
// BMC; the tests run in order and share them.
import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { expect } from 'chai';
import { parse, stringify } from 'yaml';
import { buildPlugin } from '../../../hack/build-plugin.js';
import type { MaasLab, MaasNode, VirtNetwork } from '../../../src/api/v1alpha1/index.js';
import { controlPlane, repoRoot } from '../../support/controlplane.js';
import {
  GROUP_VERSION,
  conditionOf,
  type E2eEnvironment,
  isReadyNow,
  envHypervisor,
  startE2eEnvironment,
} from '../../support/e2e.js';
import { kubectlPath } from '../../support/kubectl.js';
import { freePort, freeUdpRange, kubectlApply } from '../../support/operator.js';
import { waitFor } from '../../support/wait.js';
import { type Run, exec } from '../../support/plugin-run.js';

const LAB = 'recipe';
/** The lab's one network, as the lab controller names its VirtNetwork. */
const NET = `${LAB}-maas`;
const SOLO = 'solo';
const LONG = { timeoutMs: 240_000, intervalMs: 500 } as const;
/** `--timeout` of every `--wait`: QEMU TCG on a busy two-core machine is slow to start. */
const WAIT = ['--wait', '--timeout', '4m'] as const;

interface EventLike {
  readonly reason?: string;
  readonly regarding?: { readonly name?: string };
}

describe('plugin: kubectl maaslab, run by kubectl, against the operator and a private libvirtd', function () {
  this.timeout(900_000);
  let env: E2eEnvironment | undefined;
  /** $HOME of every run, and the kubeconfig in it. */
  let home: string;
  let kubeconfig: string;
  /** A folder whose only entry is a symbolic link to hack/kubectl-maaslab. */
  let launcherBin: string;
  /** A folder whose only entry is the bundled single file. */
  let bundleBin: string;
  /** The kubeconfig's context that names the test namespace (its current one names none). */
  const labContext = 'lab-ctx';

  const e = (): E2eEnvironment => env as E2eEnvironment;
  const ns = (): string => e().labNs.name;
  const domainOf = (name: string): string => `${ns()}.${name}`;
  const node = (name: string): Promise<MaasNode> => e().read.get<MaasNode>('MaasNode', name, ns());
  const lab = (): Promise<MaasLab> => e().read.get<MaasLab>('MaasLab', LAB, ns());
  const domstate = async (name: string): Promise<string> =>
    (await e().lv.virsh(['domstate', domainOf(name)])).trim();
  const domid = async (name: string): Promise<string> =>
    (await e().lv.virsh(['domid', domainOf(name)])).trim();
  const managedSave = async (name: string): Promise<boolean> =>
    /Managed save:\s+yes/.test(await e().lv.virsh(['dominfo', domainOf(name)]));
  const nodeEvents = async (name: string): Promise<string[]> =>
    (
      await e().admin.request<{ items: EventLike[] }>({
        method: 'GET',
        ref: { apiVersion: 'events.k8s.io/v1', kind: 'Event', namespace: ns() },
      })
    ).items
      .filter((ev) => ev.regarding?.name === name)
      .map((ev) => ev.reason ?? '');

  /**
   * `kubectl maaslab ...args` with `bin` (and node, for the launcher) as the only folders of
   * the PATH that could hold a plugin, and $KUBECONFIG set, as in a user's shell.
   */
  const kubectl = (
    args: readonly string[],
    opts: { bin?: string; env?: NodeJS.ProcessEnv } = {},
  ): Promise<Run> =>
    exec(kubectlPath(), args, {
      PATH: [opts.bin ?? launcherBin, dirname(process.execPath), '/usr/bin', '/bin'].join(':'),
      HOME: home,
      KUBECONFIG: kubeconfig,
      ...opts.env,
    });
  const maaslab = (args: readonly string[], bin?: string): Promise<Run> =>
    kubectl(['maaslab', ...args], bin === undefined ? {} : { bin });
  /** `kubectl maaslab ...args` in the test namespace, which must exit 0; resolves to stdout. */
  const ok = async (args: readonly string[], bin?: string): Promise<string> => {
    const r = await maaslab([...args, '-n', ns()], bin);
    expect(r.code, `kubectl maaslab ${args.join(' ')}: ${r.stderr}`).to.equal(0);
    return r.stdout;
  };

  before(async function () {
    this.timeout(600_000);
    env = await startE2eEnvironment('plugin');
    const cp = controlPlane();
    home = join(e().scratch, 'home');
    launcherBin = join(e().scratch, 'launcher-bin');
    bundleBin = join(e().scratch, 'bundle-bin');
    for (const dir of [home, launcherBin, bundleBin]) await mkdir(dir, { recursive: true });
    await symlink(join(repoRoot, 'hack', 'kubectl-maaslab'), join(launcherBin, 'kubectl-maaslab'));

    // The admin's kubeconfig as $KUBECONFIG, plus a context that names the test namespace.
    const admin = parse(await readFile(cp.adminKubeconfig, 'utf8')) as {
      'current-context': string;
      contexts: Array<{ name: string; context: Record<string, string> }>;
    };
    const current = admin.contexts.find((c) => c.name === admin['current-context']);
    if (!current) throw new Error('the admin kubeconfig has no current context');
    admin.contexts.push({ name: labContext, context: { ...current.context, namespace: ns() } });
    kubeconfig = join(home, 'kubeconfig');
    await writeFile(kubeconfig, stringify(admin));

    const ipmi = await freeUdpRange(2);
    await kubectlApply(
      cp.adminKubeconfig,
      [
        envHypervisor(e(), {
          bmc: {
            listenAddress: '127.0.0.1',
            redfishPort: await freePort(),
            ipmiPortRange: `${ipmi.first}-${ipmi.last}`,
          },
        }),
        {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 'bmc-creds', namespace: ns() },
          stringData: { username: 'maas', password: 'lab-pass-1' },
        },
        {
          apiVersion: GROUP_VERSION,
          kind: 'MaasLab',
          metadata: { name: LAB, namespace: ns() },
          spec: {
            hypervisor: e().hv,
            networks: [
              { name: 'maas', mode: 'isolated', ipv4: { address: '10.78.0.1', prefixLength: 24 } },
            ],
            nodes: {
              count: 2,
              macPrefix: '52:54:00:7f:06',
              template: {
                memory: '128Mi',
                disks: [{ name: 'root', size: '64Mi' }],
                interfaces: [{ network: 'maas' }],
              },
            },
          },
        },
        {
          // On the lab's network but not of the lab; its BMC owns power (runStrategy
          // defaults to Manual), so it stays off until someone starts it.
          apiVersion: GROUP_VERSION,
          kind: 'MaasNode',
          metadata: { name: SOLO, namespace: ns() },
          spec: {
            hypervisor: e().hv,
            memory: '128Mi',
            disks: [{ name: 'root', size: '64Mi' }],
            interfaces: [{ network: NET }],
            vnc: { enabled: false },
            bmc: { type: 'ipmi', credentialsSecretRef: { name: 'bmc-creds' } },
          },
        },
      ],
      join(e().scratch, 'lab.yaml'),
    );
    await waitFor(async () => isReadyNow(await lab()) || undefined, {
      ...LONG,
      description: `lab ${LAB} Ready (log: ${e().logFile})`,
    });
    await waitFor(
      async () => {
        const n = await node(SOLO);
        return (
          (isReadyNow(n) &&
            conditionOf(n, 'BmcReady')?.status === 'True' &&
            n.status?.printableStatus === 'Stopped') ||
          undefined
        );
      },
      { ...LONG, description: `${SOLO} BmcReady, Ready and Stopped (log: ${e().logFile})` },
    );
  });

  after(async function () {
    this.timeout(180_000);
    await env?.stop();
  });

  it('kubectl finds it on the PATH through a link to the launcher; --help for every verb', async () => {
    const list = await kubectl(['plugin', 'list']);
    expect(list.code, list.stderr).to.equal(0);
    expect(list.stdout).to.include(join(launcherBin, 'kubectl-maaslab'));

    const help = await maaslab(['--help']);
    expect(help.code, help.stderr).to.equal(0);
    expect(help.stdout).to.match(/^Usage: kubectl-maaslab/);
    const verbs = ['start', 'stop', 'restart', 'halt', 'power-params', 'get', 'completion'];
    for (const verb of verbs) {
      expect(help.stdout).to.match(new RegExp(`\\n  ${verb} `));
      const one = await maaslab([verb, '--help']);
      expect(one.code, `${verb} --help: ${one.stderr}`).to.equal(0);
      expect(one.stdout).to.match(new RegExp(`^Usage: kubectl-maaslab ${verb} `));
    }
  });

  it('start: runStrategy Always by the plugin, the domain runs; --wait returns once Running', async () => {
    expect(await domstate(SOLO)).to.equal('shut off');
    const from = (await node(SOLO)).spec.runStrategy ?? '<unset>';
    const out = await ok(['start', SOLO, ...WAIT]);
    expect(out).to.equal(
      `maasnode.maaslab.dev/${SOLO} started (runStrategy: ${from} -> Always)\n` +
        `maasnode.maaslab.dev/${SOLO} condition met\n`,
    );
    expect(await domstate(SOLO)).to.equal('running');
    const n = await node(SOLO);
    expect(n.spec.runStrategy).to.equal('Always');
    expect(n.status?.printableStatus).to.equal('Running');
    // The field is the plugin's, by its field manager.
    expect(n.metadata?.managedFields?.map((f) => f.manager)).to.include('kubectl-maaslab');
    expect(await ok(['start', SOLO])).to.equal(
      `maasnode.maaslab.dev/${SOLO} unchanged (already runStrategy Always)\n`,
    );
  });

  it('restart: a new restartToken, and the domain is power-cycled (a new domain ID)', async () => {
    const before = await domid(SOLO);
    const out = await ok(['restart', SOLO, ...WAIT]);
    const n = await node(SOLO);
    const token = n.spec.restartToken ?? '';
    expect(token).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(out).to.equal(
      `maasnode.maaslab.dev/${SOLO} restarted (restartToken: <unset> -> ${token})\n` +
        `maasnode.maaslab.dev/${SOLO} condition met\n`,
    );
    expect(n.status?.lastRestartToken).to.equal(token);
    expect(await domstate(SOLO)).to.equal('running');
    expect(await domid(SOLO)).to.not.equal(before);
    expect(await nodeEvents(SOLO)).to.include('Rebooted');
  });

  it('halt --save: the memory is saved to disk (a managed save); start restores it', async () => {
    // The CRD defaults haltMode to Shutdown.
    expect((await node(SOLO)).spec.haltMode).to.equal('Shutdown');
    expect(await ok(['halt', SOLO, '--save', ...WAIT])).to.equal(
      `maasnode.maaslab.dev/${SOLO} halted (runStrategy: Always -> Halted, haltMode: Shutdown -> Save)\n` +
        `maasnode.maaslab.dev/${SOLO} condition met\n`,
    );
    expect((await node(SOLO)).status?.printableStatus).to.equal('Saved');
    expect(await domstate(SOLO)).to.equal('shut off');
    expect(await managedSave(SOLO)).to.equal(true);

    await ok(['start', SOLO, ...WAIT]);
    expect(await domstate(SOLO)).to.equal('running');
    expect(await managedSave(SOLO)).to.equal(false);
    expect(await nodeEvents(SOLO)).to.include.members(['Saved', 'Restored']);
  });

  it('stop asks the guest to shut down (ACPI); halt powers it off now', async () => {
    expect(await ok(['stop', SOLO])).to.equal(
      `maasnode.maaslab.dev/${SOLO} stopped (runStrategy: Always -> Halted, haltMode: Save -> Shutdown)\n`,
    );
    expect((await node(SOLO)).spec).to.include({ runStrategy: 'Halted', haltMode: 'Shutdown' });
    // The operator acts on it; a guest with no OS ignores ACPI until the grace period ends.
    await waitFor(async () => (await nodeEvents(SOLO)).includes('ShutdownRequested') || undefined, {
      ...LONG,
      description: `${SOLO}: a ShutdownRequested event (log: ${e().logFile})`,
    });

    expect(await ok(['halt', SOLO, ...WAIT])).to.equal(
      `maasnode.maaslab.dev/${SOLO} halted (haltMode: Shutdown -> Destroy)\n` +
        `maasnode.maaslab.dev/${SOLO} condition met\n`,
    );
    expect(await domstate(SOLO)).to.equal('shut off');
    const n = await node(SOLO);
    expect(n.status?.printableStatus).to.equal('Stopped');
    expect(conditionOf(n, 'Ready')).to.include({ status: 'True', reason: 'Halted' });
    expect(await nodeEvents(SOLO)).to.include('Destroyed');
  });

  it("refuses a lab's node (exit 1, one error line, spec and domain untouched) unless --force", async () => {
    const node1 = `${LAB}-node1`;
    const r = await maaslab(['stop', node1, '-n', ns()]);
    expect(r.code).to.equal(1);
    expect(r.stdout).to.equal('');
    expect(r.stderr).to.match(
      new RegExp(
        `^error: maasnode "${node1}" belongs to maaslab "${LAB}", whose spec\\.nodes\\.template sets its spec: [^\\n]*--force[^\\n]*\\n$`,
      ),
    );
    expect((await node(node1)).spec.runStrategy).to.equal('Always');
    expect(await domstate(node1)).to.equal('running');

    // restartToken is not the template's: a forced restart stays, and reboots the node.
    const node2 = `${LAB}-node2`;
    const before = await domid(node2);
    await ok(['restart', node2, '--force', ...WAIT]);
    expect(await domid(node2)).to.not.equal(before);
    const n = await node(node2);
    expect(n.status?.lastRestartToken).to.equal(n.spec.restartToken);
  });

  it('power-params: what status.power reports, under MAAS names, as a table, JSON and YAML', async () => {
    const solo = await node(SOLO);
    const port = solo.status?.bmc?.ipmi?.port ?? 0;
    expect(port).to.be.within(1, 65_535);
    const ipmi = JSON.parse(await ok(['power-params', SOLO, '-o', 'json'])) as unknown;
    expect(ipmi).to.deep.equal({
      name: SOLO,
      namespace: ns(),
      power_type: 'ipmi',
      power_address: `127.0.0.1:${port}`,
      power_user: 'maas',
      power_driver: 'LAN_2_0',
      cipher_suite_id: '3',
      privilege_level: 'OPERATOR',
    });
    expect(solo.status?.power).to.deep.equal({
      type: 'ipmi',
      address: `127.0.0.1:${port}`,
      user: 'maas',
      driver: 'LAN_2_0',
      cipherSuiteId: '3',
      privilegeLevel: 'OPERATOR',
    });

    // The lab's nodes use MAAS's virsh driver: the hypervisor URI and the domain name.
    const names = [1, 2].map((i) => `${LAB}-node${i}`);
    const expected = await Promise.all(
      names.map(async (name) => {
        const power = (await node(name)).status?.power;
        expect(power?.type, `${name} status.power`).to.equal('virsh');
        expect(power?.id).to.equal(domainOf(name));
        return {
          name,
          namespace: ns(),
          power_type: 'virsh',
          power_address: power?.address,
          power_id: power?.id,
        };
      }),
    );
    expect(JSON.parse(await ok(['power-params', `lab/${LAB}`, '-o', 'json']))).to.deep.equal(
      expected,
    );
    expect(parse(await ok(['power-params', '--lab', LAB, '-o', 'yaml']))).to.deep.equal(expected);
    const table = (await ok(['power-params', `lab/${LAB}`])).split('\n');
    expect(table[0]).to.match(/^NAME +POWER-TYPE +ADDRESS +ID\/NODE-ID +USER$/);
    expected.forEach((p, i) => {
      const address = (p.power_address ?? '').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
      expect(table[i + 1]).to.match(
        new RegExp(`^${p.name} +virsh +${address} +${ns()}\\.${p.name} +-$`),
      );
    });
    expect(table.slice(3)).to.deep.equal(['']);
  });

  it('get LAB: the tree with the MACs, VNC displays and bridge the operator reports', async () => {
    const names = [1, 2].map((i) => `${LAB}-node${i}`);
    const nodes = await Promise.all(names.map(node));
    const net = await e().read.get<VirtNetwork>('VirtNetwork', NET, ns());
    for (const n of nodes) {
      expect(n.status?.interfaces?.[0]?.mac, n.metadata?.name).to.match(/^52:54:00:7f:06:/);
      expect(n.status?.vnc?.display, n.metadata?.name).to.match(/^[\d.]+:\d+$/);
    }

    const lines = (await ok(['get', LAB])).split('\n');
    expect(lines[0]).to.match(/^NAME +STATUS +READY +MAC +VNC +POWER +MAAS$/);
    expect(lines[1]).to.match(new RegExp(`^maaslab/${LAB} +Ready +True +- +- +- +-$`));
    expect(lines[2]).to.match(new RegExp(`^└─ virtnetwork/${NET} +Active +True +- +- +- +-$`));
    nodes.forEach((n, i) => {
      const branch = i === nodes.length - 1 ? '└─' : '├─';
      expect(lines[3 + i]).to.match(
        new RegExp(
          `^ {3}${branch} maasnode/${names[i]} +Running +True +${n.status?.interfaces?.[0]?.mac} +` +
            `${(n.status?.vnc?.display ?? '?').replace(/\./g, '\\.')} +virsh +-$`,
        ),
      );
    });
    // The stand-alone node on the lab's network is not the lab's.
    expect(lines.slice(5)).to.deep.equal(['']);

    const wide = (await ok(['get', LAB, '-o', 'wide'])).split('\n');
    expect(wide[2]).to.include(` ${net.status?.bridge} `);
    expect(wide[3])
      .to.include(` ${domainOf(names[0] ?? '')} `)
      .and.include(' running ');

    const tree = JSON.parse(await ok(['get', LAB, '-o', 'json'])) as {
      name: string;
      status: string;
      nodesReady: string;
      networks: Array<{
        name: string;
        bridge: string;
        nodes: Array<{ name: string; mac: string }>;
      }>;
      nodes: unknown[];
    };
    expect(tree).to.include({ name: LAB, status: 'Ready', nodesReady: '2/2' });
    expect(tree.networks.map((n) => [n.name, n.bridge])).to.deep.equal([[NET, net.status?.bridge]]);
    expect(tree.networks[0]?.nodes.map((n) => [n.name, n.mac])).to.deep.equal(
      nodes.map((n) => [n.metadata?.name, n.status?.interfaces?.[0]?.mac]),
    );
    expect(tree.nodes).to.deep.equal([]);
  });

  it("kubectl's conventions: $KUBECONFIG, --kubeconfig, --context and its namespace, -n over it, exit 1 with one error line", async () => {
    // The current context names no namespace: `default`, where the lab is not.
    const missing = await maaslab(['get', LAB]);
    expect(missing.code).to.equal(1);
    expect(missing.stdout).to.equal('');
    expect(missing.stderr).to.equal(
      `error: maaslabs.maaslab.dev "${LAB}" not found in namespace "default"\n`,
    );
    // --context lab-ctx brings the test namespace.
    expect((await maaslab(['get', LAB, '--context', labContext])).stdout).to.match(
      new RegExp(`\\nmaaslab/${LAB} +Ready `),
    );
    // -n beats the context's namespace.
    const elsewhere = await maaslab(['get', LAB, '--context', labContext, '-n', 'default']);
    expect(elsewhere.code).to.equal(1);
    expect(elsewhere.stderr).to.equal(
      `error: maaslabs.maaslab.dev "${LAB}" not found in namespace "default"\n`,
    );
    // $KUBECONFIG is a list; --kubeconfig replaces it.
    const listed = await kubectl(['maaslab', 'power-params', SOLO, '--context', labContext], {
      env: { KUBECONFIG: ['/nonexistent/kubeconfig', kubeconfig].join(':') },
    });
    expect(listed.code, listed.stderr).to.equal(0);
    expect(listed.stdout).to.match(new RegExp(`\\n${SOLO} +ipmi +127\\.0\\.0\\.1:`));
    const flag = await kubectl(
      ['maaslab', 'power-params', SOLO, '--kubeconfig', kubeconfig, '-n', ns()],
      { env: { KUBECONFIG: '/nonexistent/kubeconfig' } },
    );
    expect(flag.code, flag.stderr).to.equal(0);
    // An unknown context, an unknown node, an unknown verb.
    const noCtx = await maaslab(['get', LAB, '--context', 'nope']);
    expect(noCtx.code).to.equal(1);
    expect(noCtx.stderr).to.match(/^error: [^\n]*context[^\n]*nope[^\n]*\n$/);
    const noNode = await maaslab(['start', 'nope', '-n', ns()]);
    expect(noNode.code).to.equal(1);
    expect(noNode.stdout).to.equal('');
    expect(noNode.stderr).to.equal(
      `error: maasnodes.maaslab.dev "nope" not found in namespace "${ns()}"\n`,
    );
    const noVerb = await maaslab(['frobnicate']);
    expect(noVerb.code).to.equal(1);
    expect(noVerb.stderr).to.match(/^error: unknown command 'frobnicate'/);
  });

  it('the single file of `make plugin`, alone in a folder on the PATH, does the same', async () => {
    const file = await buildPlugin(join(bundleBin, 'kubectl-maaslab'));
    expect(await readdir(bundleBin)).to.deep.equal(['kubectl-maaslab']);
    expect((await readFile(file, 'utf8')).split('\n', 1)[0]).to.equal('#!/usr/bin/env node');
    const list = await kubectl(['plugin', 'list'], { bin: bundleBin });
    expect(list.stdout).to.include(file);

    // Reads: the same text as the launcher's.
    for (const args of [
      ['get', LAB, '-o', 'wide'],
      ['power-params', `lab/${LAB}`, '-o', 'json'],
      ['completion', 'bash'],
    ]) {
      expect(await ok(args, bundleBin), args.join(' ')).to.equal(await ok(args));
    }
    // A write, waited for: the node really starts.
    await ok(['start', SOLO, ...WAIT], bundleBin);
    expect(await domstate(SOLO)).to.equal('running');
    expect((await node(SOLO)).spec.runStrategy).to.equal('Always');
  });
});
