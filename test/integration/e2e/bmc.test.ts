// End to end, issue 13: virtual BMCs served by the operator (a child process) for MaasNodes on
// the private real libvirtd, driven by the clients MAAS and people use: FreeIPMI exactly as
// MAAS's ipmi driver runs it, ipmitool, and sushy (Ironic's Redfish library). After every
// action the domain's real state is read from libvirt, and the node's status from the real
// control plane: the BMC owns power (runStrategy defaults to Manual), each action is recorded,
// a boot override is applied to the domain and, when Once, spent by the boot it applied to.
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { expect } from 'chai';
import type { MaasNode } from '../../../src/api/v1alpha1/index.js';
import { parseDomainXml } from '../../../src/libvirt/xml/index.js';
import { runTool, sushy } from '../../support/bmc-clients.js';
import { controlPlane } from '../../support/controlplane.js';
import {
  GROUP_VERSION,
  conditionOf,
  type E2eEnvironment,
  envHypervisor,
  startE2eEnvironment,
} from '../../support/e2e.js';
import { parseMetrics, sample } from '../../support/metrics-text.js';
import {
  type OperatorProcess,
  freeUdpRange,
  kubectlApply,
  kubectlRun,
  startOperator,
} from '../../support/operator.js';
import { waitFor } from '../../support/wait.js';

const LONG = { timeoutMs: 240_000, intervalMs: 200 } as const;
const USER = 'maas';
const PASSWORD = 'lab-pass-1';

/** A TCP port nobody listens on right now (the kernel's pick, released at once). */
async function freeTcpPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

describe('e2e: virtual BMCs (IPMI and Redfish) driven by FreeIPMI, ipmitool and sushy', function () {
  this.timeout(900_000);
  let env: E2eEnvironment | undefined;
  let redfishPort = 0;

  const ns = (): string => env?.labNs.name ?? '';
  const kubeconfig = (): string => controlPlane().adminKubeconfig;
  const e = (): E2eEnvironment => env as E2eEnvironment;
  const node = (name: string): Promise<MaasNode> => e().read.get<MaasNode>('MaasNode', name, ns());
  const domainOf = (name: string): string => `${ns()}.${name}`;
  const domstate = async (name: string): Promise<string> =>
    (await e().lv.virsh(['domstate', domainOf(name)])).trim();
  const inactiveBootOrder = async (name: string): Promise<readonly string[]> =>
    parseDomainXml(await e().lv.virsh(['dumpxml', '--inactive', domainOf(name)])).bootOrder;
  const waitNode = (name: string, test: (n: MaasNode) => boolean, description: string) =>
    waitFor(async () => ((n) => test(n) && n)(await node(name)), {
      ...LONG,
      description: `${name}: ${description} (log: ${e().logFile})`,
      // The scratch folder goes with the run: keep what a flake needs in the error.
      explain: async () => {
        const status = JSON.stringify((await node(name)).status);
        const log = (await readFile(e().logFile, 'utf8').catch(() => ''))
          .split('\n')
          .filter((line) => line.includes(name))
          .slice(-40)
          .join('\n');
        return `status: ${status}\ndomain: ${await domstate(name)}\noperator log about ${name}:\n${log}`;
      },
    });
  const waitDomain = (name: string, state: string) =>
    waitFor(async () => (await domstate(name)) === state || undefined, {
      ...LONG,
      description: `domain ${name} ${state}`,
    });
  const applyNode = async (name: string, bmcType: 'ipmi' | 'redfish'): Promise<void> => {
    await kubectlApply(
      kubeconfig(),
      [
        {
          apiVersion: GROUP_VERSION,
          kind: 'MaasNode',
          metadata: { name, namespace: ns() },
          spec: {
            hypervisor: e().hv,
            memory: '128Mi',
            // Disk first, so that a PXE override visibly reorders the boot devices.
            bootOrder: ['disk', 'network'],
            disks: [{ name: 'root', size: '64Mi' }],
            interfaces: [{ network: 'pxe' }],
            vnc: { enabled: false },
            bmc: { type: bmcType, credentialsSecretRef: { name: 'bmc-creds' } },
          },
        },
      ],
      join(e().scratch, `${name}.yaml`),
    );
  };

  const ipmiPort = async (name: string): Promise<number> =>
    (await node(name)).status?.bmc?.ipmi?.port ?? 0;
  const ipmitool = async (name: string, args: string[], password = PASSWORD) =>
    runTool('ipmitool', [
      ...['-I', 'lanplus', '-H', '127.0.0.1', '-p', String(await ipmiPort(name))],
      ...['-U', USER, '-P', password, ...args],
    ]);
  /** FreeIPMI with the arguments MAAS's ipmi driver passes (power_driver LAN_2_0, suite 3, OPERATOR). */
  const freeipmi = async (tool: string, name: string, args: string[]) =>
    runTool(tool, [
      ...['-W', 'opensesspriv', '--driver-type', 'LAN_2_0'],
      ...['-h', `127.0.0.1:${await ipmiPort(name)}`, '-u', USER, '-p', PASSWORD],
      ...['-I', '3', '-l', 'OPERATOR', ...args],
    ]);

  before(async function () {
    this.timeout(300_000);
    // A short resync, so that the test can watch passes leave the BMC's choices alone.
    // Leases on, so that the last test can move the shard (and its BMCs) to a second replica.
    env = await startE2eEnvironment('bmc', {
      leaderElect: true,
      args: ['--resync-period', '2s'],
    });
    redfishPort = await freeTcpPort();
    const ipmi = await freeUdpRange(10);
    await kubectlApply(
      kubeconfig(),
      [
        envHypervisor(env, {
          bmc: {
            listenAddress: '127.0.0.1',
            redfishPort,
            ipmiPortRange: `${ipmi.first}-${ipmi.last}`,
          },
        }),
        {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 'bmc-creds', namespace: ns() },
          stringData: { username: USER, password: PASSWORD },
        },
        {
          apiVersion: GROUP_VERSION,
          kind: 'VirtNetwork',
          metadata: { name: 'pxe', namespace: ns() },
          spec: {
            hypervisor: env.hv,
            mode: 'isolated',
            ipv4: { address: '10.84.0.1', prefixLength: 24 },
          },
        },
      ],
      join(env.scratch, 'base.yaml'),
    );
  });

  let second: OperatorProcess | undefined;
  after(async function () {
    this.timeout(180_000);
    await second?.stop();
    await env?.stop();
  });

  it('IPMI: MAAS power-on sequence (ipmi-chassis-config PXE, ipmipower --cycle --on-if-off), ipmitool, refusals; Manual keeps what the BMC did', async function () {
    await applyNode('ipmi1', 'ipmi');
    // The BMC owns power: runStrategy defaults to Manual, so the new node stays off, Ready.
    const served = await waitNode(
      'ipmi1',
      (n) =>
        conditionOf(n, 'BmcReady')?.status === 'True' &&
        conditionOf(n, 'Ready')?.status === 'True' &&
        n.status?.printableStatus === 'Stopped',
      'BmcReady, Ready and Stopped',
    );
    expect(conditionOf(served, 'Ready'), JSON.stringify(served.status)).to.include({
      status: 'True',
      reason: 'Halted',
    });
    expect(served.status?.power).to.deep.equal({
      type: 'ipmi',
      address: `127.0.0.1:${served.status?.bmc?.ipmi?.port}`,
      user: USER,
      driver: 'LAN_2_0',
      cipherSuiteId: '3',
      privilegeLevel: 'OPERATOR',
    });
    expect(JSON.stringify(served.status)).not.to.contain(PASSWORD);
    expect(await domstate('ipmi1')).to.equal('shut off');
    expect(await inactiveBootOrder('ipmi1')).to.deep.equal(['disk', 'network']);

    // MAAS's "power on": boot device PXE (once), then cycle, powering on if off.
    const config = await freeipmi('ipmi-chassis-config', 'ipmi1', [
      '--commit',
      '-e',
      'Chassis_Boot_Flags:Boot_Device=PXE',
    ]);
    expect(config.code, config.stderr).to.equal(0);
    await waitFor(async () => (await inactiveBootOrder('ipmi1'))[0] === 'network' || undefined, {
      ...LONG,
      description: 'PXE first in the persistent definition',
    });
    const cycle = await freeipmi('ipmipower', 'ipmi1', ['--cycle', '--on-if-off']);
    expect(cycle.code, cycle.stderr).to.equal(0);
    await waitDomain('ipmi1', 'running');
    // The live domain booted PXE first; the Once override is spent and the definition restored.
    const live = parseDomainXml(await e().lv.virsh(['dumpxml', domainOf('ipmi1')]));
    expect(live.bootOrder[0]).to.equal('network');
    const spent = await waitNode(
      'ipmi1',
      (n) =>
        n.status?.bmc?.bootOverride?.enabled === 'Disabled' &&
        n.status?.printableStatus === 'Running',
      'Once override spent, Running',
    );
    expect(spent.status?.bmc?.lastAction?.source).to.match(/^ipmi maas@127\.0\.0\.1:\d+$/);
    expect(await inactiveBootOrder('ipmi1')).to.deep.equal(['disk', 'network']);

    const status = await freeipmi('ipmipower', 'ipmi1', ['--stat']);
    expect(status.stdout).to.match(/: on/);
    const mc = await ipmitool('ipmi1', ['mc', 'info']);
    expect(mc.code, mc.stderr).to.equal(0);
    expect(mc.stdout).to.match(/IPMI Version\s*:\s*2\.0/);

    // Off through ipmitool: the domain goes off and stays off (Manual), the node Ready, Stopped.
    const off = await ipmitool('ipmi1', ['chassis', 'power', 'off']);
    expect(off.code, off.stderr).to.equal(0);
    await waitDomain('ipmi1', 'shut off');
    const stopped = await waitNode(
      'ipmi1',
      (n) =>
        n.status?.printableStatus === 'Stopped' && n.status?.bmc?.lastAction?.action === 'ForceOff',
      'Stopped after the BMC turned it off',
    );
    expect(conditionOf(stopped, 'Ready')).to.include({ status: 'True', reason: 'Halted' });
    expect((await ipmitool('ipmi1', ['chassis', 'power', 'status'])).stdout).to.match(/is off/);

    // Persistent PXE through ipmitool changes the boot order the reconciler keeps.
    const bootdev = await ipmitool('ipmi1', ['chassis', 'bootdev', 'pxe', 'options=persistent']);
    expect(bootdev.code, bootdev.stderr).to.equal(0);
    await waitNode(
      'ipmi1',
      (n) => n.status?.bmc?.bootOverride?.enabled === 'Continuous',
      'Continuous PXE recorded',
    );
    expect(await inactiveBootOrder('ipmi1')).to.deep.equal(['network', 'disk']);
    // Desired state, not a fight: passes (a 2 s resync here) keep the BMC's order and power.
    const passes = async (): Promise<number> =>
      sample(
        parseMetrics(await (await fetch(e().operator.metricsUrl)).text()),
        'controller_runtime_reconcile_total',
        { controller: 'maasnode' },
      );
    const before = await passes();
    await waitFor(async () => (await passes()) >= before + 3 || undefined, {
      ...LONG,
      description: 'three more MaasNode passes',
    });
    expect(await inactiveBootOrder('ipmi1')).to.deep.equal(['network', 'disk']);
    expect(await domstate('ipmi1')).to.equal('shut off');
    expect((await node('ipmi1')).status?.bmc?.bootOverride?.enabled).to.equal('Continuous');

    // Refusals: a wrong password, IPMI 1.5, cipher suite 0; the BMC goes on serving.
    const wrong = await ipmitool('ipmi1', ['chassis', 'power', 'on'], 'not-the-password');
    expect(wrong.code).to.not.equal(0);
    const lan15 = await runTool('ipmitool', [
      ...['-I', 'lan', '-H', '127.0.0.1', '-p', String(await ipmiPort('ipmi1'))],
      ...['-U', USER, '-P', PASSWORD, '-R', '1', 'chassis', 'power', 'on'],
    ]);
    expect(lan15.code).to.not.equal(0);
    const suite0 = await ipmitool('ipmi1', ['-C', '0', 'chassis', 'power', 'on']);
    expect(suite0.code).to.not.equal(0);
    expect(await domstate('ipmi1')).to.equal('shut off');
  });

  it('a node whose credentials Secret is missing is not served: BmcReady=False CredentialsInvalid', async function () {
    await kubectlApply(
      kubeconfig(),
      [
        {
          apiVersion: GROUP_VERSION,
          kind: 'MaasNode',
          metadata: { name: 'nocreds', namespace: ns() },
          spec: {
            hypervisor: e().hv,
            memory: '128Mi',
            vnc: { enabled: false },
            bmc: { type: 'ipmi', credentialsSecretRef: { name: 'no-such-secret' } },
          },
        },
      ],
      join(e().scratch, 'nocreds.yaml'),
    );
    const n = await waitNode(
      'nocreds',
      (x) => conditionOf(x, 'BmcReady')?.reason === 'CredentialsInvalid',
      'BmcReady CredentialsInvalid',
    );
    expect(conditionOf(n, 'BmcReady')).to.include({
      status: 'False',
      message: 'Secret no-such-secret not found',
    });
    expect(n.status?.bmc?.ipmi).to.equal(undefined);
    await kubectlRun(kubeconfig(), ['delete', '-n', ns(), 'maasnodes.maaslab.dev/nocreds']);
  });

  it('Redfish: sushy resets and sets the boot override, curl sees 401 without credentials; a deleted node takes its BMC with it', async function () {
    await applyNode('rf1', 'redfish');
    const served = await waitNode(
      'rf1',
      (n) =>
        conditionOf(n, 'BmcReady')?.status === 'True' &&
        conditionOf(n, 'Ready')?.status === 'True' &&
        n.status?.printableStatus === 'Stopped',
      'BmcReady, Ready and Stopped',
    );
    const systemId = served.status?.bmc?.redfish?.systemId ?? '';
    expect(systemId).to.equal(served.status?.uuid);
    expect(served.status?.bmc?.redfish?.url).to.equal(
      `https://127.0.0.1:${redfishPort}/redfish/v1/`,
    );
    expect(served.status?.power).to.deep.include({
      type: 'redfish',
      address: `https://127.0.0.1:${redfishPort}`,
      user: USER,
      nodeId: systemId,
    });
    const base = {
      url: `https://127.0.0.1:${redfishPort}`,
      username: USER,
      password: PASSWORD,
      auth: 'session' as const,
      verify: false as const,
      system: `/redfish/v1/Systems/${systemId}`,
    };
    const listed = await sushy({ ...base, steps: [['list'], ['power']] });
    expect(listed.error, listed.message).to.equal(undefined);
    // Only the Redfish node is a System here; the IPMI node is not.
    expect(listed.results[0]).to.deep.equal([`/redfish/v1/Systems/${systemId}`]);
    expect(listed.results[1]).to.equal('Off');

    const on = await sushy({
      ...base,
      auth: 'basic',
      steps: [
        ['boot', 'Pxe', 'Continuous', null],
        ['reset', 'On'],
      ],
    });
    expect(on.error, on.message).to.equal(undefined);
    await waitDomain('rf1', 'running');
    expect(await inactiveBootOrder('rf1')).to.deep.equal(['network', 'disk']);
    await waitNode(
      'rf1',
      (n) =>
        n.status?.bmc?.bootOverride?.enabled === 'Continuous' &&
        n.status?.printableStatus === 'Running',
      'Continuous PXE recorded, Running',
    );
    const off = await sushy({ ...base, steps: [['reset', 'ForceOff'], ['power']] });
    expect(off.error, off.message).to.equal(undefined);
    await waitDomain('rf1', 'shut off');
    // Cd: the node's empty CD-ROM drive goes first, continuously, until told otherwise.
    const cd = await sushy({ ...base, steps: [['boot', 'Cd', 'Continuous', null]] });
    expect(cd.error, cd.message).to.equal(undefined);
    expect(await inactiveBootOrder('rf1')).to.deep.equal(['cdrom', 'disk', 'network']);

    const anonymous = await runTool('curl', [
      ...['-sk', '-o', '/dev/null', '-w', '%{http_code}'],
      `https://127.0.0.1:${redfishPort}/redfish/v1/Systems/${systemId}`,
    ]);
    expect(anonymous.stdout).to.equal('401');

    // The node goes, and its System with it.
    await kubectlRun(kubeconfig(), ['delete', '-n', ns(), 'maasnodes.maaslab.dev/rf1']);
    const gone = await waitFor(
      async () => {
        const r = await runTool('curl', [
          ...['-sk', '-u', `${USER}:${PASSWORD}`, '-o', '/dev/null', '-w', '%{http_code}'],
          `https://127.0.0.1:${redfishPort}/redfish/v1/Systems/${systemId}`,
        ]);
        return r.stdout === '404' || r.stdout === '000' ? r.stdout : undefined;
      },
      { ...LONG, description: 'the deleted node’s System gone' },
    );
    expect(gone).to.be.oneOf(['404', '000']);
  });

  it('moving the shard moves its BMCs: the second replica serves the same IPMI port and Redfish System after a SIGKILL', async function () {
    await applyNode('mv-ipmi', 'ipmi');
    await applyNode('mv-rf', 'redfish');
    const ready = (n: MaasNode): boolean =>
      conditionOf(n, 'BmcReady')?.status === 'True' && n.status?.printableStatus === 'Stopped';
    const ipmiBefore = (await waitNode('mv-ipmi', ready, 'BmcReady and Stopped')).status?.bmc;
    const rfBefore = (await waitNode('mv-rf', ready, 'BmcReady and Stopped')).status?.bmc;
    const systemUrl = `https://127.0.0.1:${redfishPort}/redfish/v1/Systems/${rfBefore?.redfish?.systemId ?? ''}`;
    const redfishGet = () =>
      runTool('curl', [
        ...['-sk', '-u', `${USER}:${PASSWORD}`, '-o', '/dev/null', '-w', '%{http_code}'],
        '--max-time',
        '5',
        systemUrl,
      ]);
    expect((await ipmitool('mv-ipmi', ['chassis', 'power', 'status'])).stdout).to.contain('off');
    expect((await redfishGet()).stdout).to.equal('200');

    // A second replica waits for the shard's Lease; the first dies without releasing it.
    second = await startOperator({
      kubeconfig: controlPlane().operatorKubeconfig,
      namespace: e().leaseNs.name,
      leaderElect: true,
      logFile: e().logFile,
      args: ['--resync-period', '2s'],
    });
    const lease = `maaslab-hv-${e().hv}`;
    const holds = async (op: OperatorProcess): Promise<boolean> =>
      sample(
        parseMetrics(await (await fetch(op.metricsUrl)).text()),
        'leader_election_master_status',
        {
          name: lease,
        },
      ) === 1;
    expect(await holds(e().operator)).to.equal(true);
    expect(await holds(second)).to.equal(false);
    const killedAt = Date.now();
    await e().operator.kill();
    // Nobody serves the BMCs until the Lease expires: the IPMI port does not answer (checked
    // only while the second replica has not taken the Lease yet).
    const silent = await runTool('ipmitool', [
      ...['-I', 'lanplus', '-H', '127.0.0.1', '-p', String(ipmiBefore?.ipmi?.port ?? 0)],
      ...['-U', USER, '-P', PASSWORD, '-R', '1', '-N', '1', 'chassis', 'power', 'status'],
    ]);
    if (!(await holds(second))) expect(silent.code, silent.stdout).not.to.equal(0);

    const op = second;
    await waitFor(async () => holds(op), {
      timeoutMs: 60_000,
      intervalMs: 250,
      description: 'the second replica to take the Lease',
    });
    const power = await waitFor(
      async () => {
        const r = await ipmitool('mv-ipmi', ['chassis', 'power', 'status']);
        return r.stdout.includes('Chassis Power is') ? r.stdout : undefined;
      },
      { ...LONG, description: 'the IPMI BMC answering from the second replica' },
    );
    console.log(
      `      BMCs served again ${((Date.now() - killedAt) / 1000).toFixed(1)} s after SIGKILL`,
    );
    expect(power).to.contain('off');
    await waitFor(async () => ((await redfishGet()).stdout === '200' ? true : undefined), {
      ...LONG,
      description: 'the Redfish System answering from the second replica',
    });

    // The same endpoints, and the new holder acts on them: power on through IPMI.
    expect((await node('mv-ipmi')).status?.bmc?.ipmi).to.deep.equal(ipmiBefore?.ipmi);
    expect((await node('mv-rf')).status?.bmc?.redfish).to.deep.equal(rfBefore?.redfish);
    // Boot once from the (empty) CD-ROM drive: it goes first, QEMU starts with it, the boot
    // spends the override and the spec's order returns.
    const cd = await ipmitool('mv-ipmi', ['chassis', 'bootdev', 'cdrom']);
    expect(cd.code, cd.stderr).to.equal(0);
    expect(await inactiveBootOrder('mv-ipmi')).to.deep.equal(['cdrom', 'disk', 'network']);
    await ipmitool('mv-ipmi', ['chassis', 'power', 'on']);
    await waitDomain('mv-ipmi', 'running');
    const live = parseDomainXml(await e().lv.virsh(['dumpxml', domainOf('mv-ipmi')]));
    expect(live.bootOrder[0]).to.equal('cdrom');
    const booted = await waitNode(
      'mv-ipmi',
      (n) =>
        n.status?.bmc?.lastAction?.action === 'On' &&
        n.status?.bmc?.bootOverride?.enabled === 'Disabled' &&
        n.status?.printableStatus === 'Running',
      'the On recorded by the new holder, the Cd override spent, Running',
    );
    expect(booted.status?.conditions?.find((c) => c.type === 'Ready')?.status).to.equal('True');
    expect(await inactiveBootOrder('mv-ipmi')).to.deep.equal(['disk', 'network']);
  });
});
