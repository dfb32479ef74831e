// End to end, MAAS enlistment on the `external` path: the operator as a child process (user
// maaslab-operator, deploy/base/ RBAC only) against the shared kube-apiserver, a private
// libvirtd, and the MAAS API test server (test/support/maas-api-server: a test server written
// from MAAS 3.8's handlers, not MAAS) on 127.0.0.1. One lab of three small nodes: enlisted
// once each, across a SIGKILL of the operator; 503s for a while; a machine deleted by hand;
// a MAC taken by a machine made by hand; a wrong API key; and the lab's deletion, which takes
// our machines out of MAAS and leaves the hand-made one.
import { join } from 'node:path';
import { expect } from 'chai';
import type { MaasLab, MaasNode } from '../../../src/api/v1alpha1/index.js';
import { controlPlane } from '../../support/controlplane.js';
import {
  GROUP_VERSION,
  type MaaslabReader,
  conditionOf,
  isReadyNow,
  type E2eEnvironment,
  envHypervisor,
  startE2eEnvironment,
} from '../../support/e2e.js';
import { startMaasApiServer, type MaasApiServer } from '../../support/maas-api-server/server.js';
import {
  type OperatorProcess,
  kubectlApply,
  kubectlRun,
  startOperator,
} from '../../support/operator.js';
import { waitFor } from '../../support/wait.js';

const LAB = 'me';
const MAC_PREFIX = '52:54:00:6e:01';
const macOf = (i: number): string => `${MAC_PREFIX}:0${i}`;
const POWER_ADDRESS = 'qemu+ssh://maas@10.10.0.1/system';
const LONG = { timeoutMs: 240_000, intervalMs: 500 } as const;

describe('e2e: MAAS enlistment (external MAAS, the MAAS API test server)', function () {
  this.timeout(900_000);

  let env: E2eEnvironment | undefined;
  let maas: MaasApiServer | undefined;
  let restarted: OperatorProcess | undefined;
  let read: MaaslabReader;
  let ns: string;
  let hv: string;
  let logFile: string;

  const kubeconfig = (): string => controlPlane().adminKubeconfig;
  const nodeName = (i: number): string => `${LAB}-node${i}`;
  const node = (name: string): Promise<MaasNode> => read.get<MaasNode>('MaasNode', name, ns);
  const lab = (name = LAB): Promise<MaasLab> => read.get<MaasLab>('MaasLab', name, ns);
  const ours = () => maas!.machines().filter((m) => m.createdBy === 'api');
  const apply = async (docs: unknown[], file: string): Promise<void> =>
    kubectlApply(kubeconfig(), docs, join(env!.scratch, file));
  const labDoc = (count: number) => ({
    apiVersion: GROUP_VERSION,
    kind: 'MaasLab',
    metadata: { name: LAB, namespace: ns },
    spec: {
      hypervisor: hv,
      networks: [
        { name: 'pxe', mode: 'isolated', ipv4: { address: '10.10.0.1', prefixLength: 24 } },
      ],
      nodes: {
        count,
        macPrefix: MAC_PREFIX,
        template: {
          memory: '128Mi',
          disks: [{ name: 'root', size: '64Mi' }],
          interfaces: [{ network: 'pxe' }],
          vnc: { enabled: false },
        },
      },
      maas: { external: { url: maas!.url, apiKeySecretRef: { name: 'maas-key', key: 'api-key' } } },
    },
  });
  const enlisted = (name: string) =>
    waitFor(
      async () => {
        const n = await node(name);
        return conditionOf(n, 'Enlisted')?.status === 'True' && n;
      },
      { ...LONG, description: `${name} Enlisted (log: ${logFile})` },
    );
  const expectExactlyOnce = (count: number): void => {
    const machines = ours();
    expect(machines.map((m) => m.macAddresses[0]).sort()).to.deep.equal(
      Array.from({ length: count }, (_, i) => macOf(i + 1)),
    );
    for (const m of machines) {
      const i = Number(m.hostname.slice(-1));
      expect(m.hostname).to.equal(nodeName(i));
      expect(m.powerType).to.equal('virsh');
      expect(m.powerParameters).to.deep.equal({
        power_address: POWER_ADDRESS,
        power_id: `${ns}.${nodeName(i)}`,
      });
      expect(m.architecture).to.equal('amd64/generic');
      expect(m.description).to.match(new RegExp(`^maaslab: ${ns}/${nodeName(i)} uid `));
    }
  };

  before(async function () {
    this.timeout(300_000);
    maas = await startMaasApiServer();
    env = await startE2eEnvironment('me');
    ({ read, logFile, hv } = env);
    ns = env.labNs.name;
    const secret = (name: string, key: string) => ({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name, namespace: ns },
      stringData: { 'api-key': key },
    });
    await apply(
      [
        envHypervisor(env, { maasPowerAddress: POWER_ADDRESS }),
        secret('maas-key', maas.createApiKey()),
        // Well formed, unknown to MAAS.
        secret(
          'wrong-key',
          'aaaaaaaaaaaaaaaaaa:bbbbbbbbbbbbbbbbbb:cccccccccccccccccccccccccccccccc',
        ),
      ],
      'setup.yaml',
    );
  });

  after(async function () {
    this.timeout(180_000);
    await restarted?.stop();
    await env?.stop();
    await maas?.close();
  });

  it('enlists every node exactly once, across a SIGKILL of the operator mid-enlistment', async function () {
    // Slow answers stretch the enlistment so the kill lands in the middle of it.
    maas!.delayNext(40, 400);
    await apply([labDoc(3)], 'lab.yaml');
    await waitFor(async () => ours().length >= 1, { ...LONG, description: 'first machine' });
    await env!.operator.kill();
    expect(ours().length, 'machines when killed').to.be.lessThan(4);
    restarted = await startOperator({
      kubeconfig: controlPlane().operatorKubeconfig,
      namespace: env!.leaseNs.name,
      logFile,
    });
    for (const i of [1, 2, 3]) {
      const n = await enlisted(nodeName(i));
      expect(n.status?.maas?.systemId).to.be.a('string');
      expect(n.status?.maas?.statusName).to.equal('Commissioning');
      expect(n.spec.runStrategy).to.equal('Manual');
    }
    expectExactlyOnce(3);
    const posts = maas!.requests().filter((r) => r.method === 'POST' && r.path === 'machines/');
    expect(posts.filter((r) => r.status === 200).length, 'successful creates').to.equal(3);
    const ready = await waitFor(async () => ((l) => isReadyNow(l) && l)(await lab()), {
      ...LONG,
      description: `lab Ready (log: ${logFile})`,
    });
    for (const type of ['MaasReachable', 'DhcpConfigured', 'ImagesSynced']) {
      expect(conditionOf(ready, type)?.status, type).to.equal('True');
    }
    expect(ready.status?.maas?.rackSystemId).to.equal(maas!.rackController.systemId);
    expect(maas!.vlans()[0]?.dhcpOn).to.equal(true);
    expect(maas!.subnets()[0]?.gatewayIp).to.equal('10.10.0.1');
    expect(maas!.ipRanges().map((r) => [r.type, r.startIp, r.endIp])).to.deep.equal([
      ['dynamic', '10.10.0.128', '10.10.0.254'],
    ]);
  });

  it('rides out 503s, and enlists again a machine deleted in MAAS by hand', async function () {
    const first = (await node(nodeName(1))).status?.maas?.systemId ?? '';
    maas!.deleteMachineByHand(first);
    // Longer than the 30 s refresh: every node's pass meets the outage.
    maas!.failFor(35_000);
    await waitFor(
      async () =>
        (await Promise.all([1, 2, 3].map((i) => node(nodeName(i))))).some(
          (n) => conditionOf(n, 'Enlisted')?.reason === 'MaasUnreachable',
        ),
      { ...LONG, description: 'a node sees MaasUnreachable' },
    );
    const again = await waitFor(
      async () => {
        const n = await node(nodeName(1));
        const id = n.status?.maas?.systemId;
        return conditionOf(n, 'Enlisted')?.status === 'True' && id !== first && n;
      },
      { ...LONG, description: `${nodeName(1)} enlisted again (log: ${logFile})` },
    );
    expect(again.status?.maas?.systemId).not.to.equal(first);
    for (const i of [2, 3]) await enlisted(nodeName(i));
    expectExactlyOnce(3);
    expect(maas!.requests().some((r) => r.status === 503)).to.equal(true);
  });

  it('leaves a machine made by hand with a node MAC alone: MacInUse', async function () {
    const byHand = maas!.createMachineByHand({ hostname: 'by-hand', macAddresses: [macOf(4)] });
    await apply([labDoc(4)], 'lab4.yaml');
    const n = await waitFor(
      async () =>
        ((x) => conditionOf(x, 'Enlisted')?.reason === 'MacInUse' && x)(await node(nodeName(4))),
      { ...LONG, description: `${nodeName(4)} MacInUse (log: ${logFile})` },
    );
    expect(conditionOf(n, 'Enlisted')?.message).to.include(byHand);
    const machine = maas!.machines().find((m) => m.systemId === byHand);
    expect(machine?.hostname).to.equal('by-hand');
    expect(machine?.description).to.equal('');
    expectExactlyOnce(3);
    const l = await lab();
    expect(conditionOf(l, 'Ready')?.status).to.equal('False');
  });

  it('reports a wrong API key as Stalled MaasUnauthorized, without a retry storm', async function () {
    await apply(
      [
        {
          apiVersion: GROUP_VERSION,
          kind: 'MaasLab',
          metadata: { name: 'wrongkey', namespace: ns },
          spec: {
            hypervisor: hv,
            networks: [
              { name: 'pxe', mode: 'isolated', ipv4: { address: '10.20.0.1', prefixLength: 24 } },
            ],
            nodes: { count: 0, template: { interfaces: [{ network: 'pxe' }] } },
            maas: { external: { url: maas!.url, apiKeySecretRef: { name: 'wrong-key' } } },
          },
        },
      ],
      'wrongkey.yaml',
    );
    const l = await waitFor(
      async () =>
        ((x) => conditionOf(x, 'Stalled')?.reason === 'MaasUnauthorized' && x)(
          await lab('wrongkey'),
        ),
      { ...LONG, description: `wrongkey Stalled (log: ${logFile})` },
    );
    expect(conditionOf(l, 'MaasReachable')?.reason).to.equal('MaasUnauthorized');
    const count401 = () => maas!.requests().filter((r) => r.status === 401).length;
    const before = count401();
    await new Promise((resolve) => setTimeout(resolve, 10_000));
    expect(count401() - before, '401s in 10 s').to.be.at.most(1);
    await kubectlRun(kubeconfig(), ['delete', '-n', ns, 'maaslab.maaslab.dev/wrongkey']);
  });

  it('deletes every machine it made when the lab goes, and keeps the one made by hand', async function () {
    const byHand = maas!.machines().filter((m) => m.createdBy === 'hand');
    expect(byHand).to.have.length(1);
    await kubectlRun(kubeconfig(), ['delete', '-n', ns, `maaslab.maaslab.dev/${LAB}`]);
    await waitFor(
      async () => (await read.list<MaasNode>('MaasNode', ns)).length === 0 && ours().length === 0,
      { ...LONG, description: `nodes and machines gone (log: ${logFile})` },
    );
    expect(maas!.machines().map((m) => m.systemId)).to.deep.equal(byHand.map((m) => m.systemId));
  });
});
