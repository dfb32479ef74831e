// End to end, a lab with its own MAAS controller (spec.maas.controller), the operator as a
// child process (user maaslab-operator, deploy/base/ RBAC only) reaching MAAS at the
// controller's address, as it would on a real host: http://<pxe subnet>.2:5240/MAAS.
//
// The controller VM is built and booted by the operator on the private libvirtd, from a
// blank qcow2 image volume the test puts in the pool (`image: {volume}`): nothing installs
// MAAS in it (no snap store here; the boot itself is maas/controller-boot.test.ts's subject).
// What answers at its address is the MAAS API test server (test/support/maas-api-server: a
// test server written from MAAS 3.8's handlers, not MAAS), listening on a Unix socket only,
// exposed at the controller's address inside a network namespace this test creates and
// routed to from here through a veth pair (test/support/netns-endpoint.ts). The route exists
// only while the test runs; nothing else is addressed.
//
// The test plays `maas createadmin` (the seed's script would run it in the VM) with the
// admin Secret the operator generated; from then on the operator exchanges the password for
// an API key, configures DHCP and enlists both nodes through that path.
import { randomInt } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import type { MaasLab, MaasNode } from '../../../src/api/v1alpha1/index.js';
import { controlPlane } from '../../support/controlplane.js';
import {
  GROUP_VERSION,
  type E2eEnvironment,
  type MaaslabReader,
  conditionOf,
  isReadyNow,
  createUserVolume,
  envHypervisor,
  startE2eEnvironment,
} from '../../support/e2e.js';
import { run } from '../../support/libvirtd.js';
import { startMaasApiServer, type MaasApiServer } from '../../support/maas-api-server/server.js';
import { type NetnsEndpoint, exposeInNetns } from '../../support/netns-endpoint.js';
import { kubectlApply, kubectlRun } from '../../support/operator.js';
import { waitFor } from '../../support/wait.js';

const LAB = 'mc';
const MAC_PREFIX = '52:54:00:6e:02';
const POWER_ADDRESS = 'qemu+ssh://maas@10.10.0.1/system';
const BASE_VOLUME = 'mc-blank-base.qcow2';
const LONG = { timeoutMs: 300_000, intervalMs: 500 } as const;

interface Secret {
  readonly data?: Record<string, string>;
}

describe('e2e: the operator reaches the lab controller at its own address (namespaced path)', function () {
  this.timeout(900_000);

  // A /24 of the test's own: the lab's PXE network, and the controller at its .2.
  const third = randomInt(256);
  const subnet = `10.253.${third}`;
  const controllerAddress = `${subnet}.2`;
  let env: E2eEnvironment | undefined;
  let maas: MaasApiServer | undefined;
  let endpoint: NetnsEndpoint | undefined;
  let socketDir: string | undefined;
  let read: MaaslabReader;
  let ns: string;
  let hv: string;
  let logFile: string;

  const kubeconfig = (): string => controlPlane().adminKubeconfig;
  const lab = (): Promise<MaasLab> => read.get<MaasLab>('MaasLab', LAB, ns);
  const secret = (name: string): Promise<Secret> =>
    env!.admin.request<Secret>({
      method: 'GET',
      ref: { apiVersion: 'v1', kind: 'Secret', name, namespace: ns },
    });
  const decoded = (s: Secret, key: string): string =>
    Buffer.from(s.data?.[key] ?? '', 'base64').toString('utf8');
  // The lab's conditions and the operator log's tail, when a wait gives up.
  const explain = async (): Promise<string> => {
    const l = await lab().catch(() => undefined);
    const { stdout } = await run('tail', ['-n', '40', logFile]).catch(() => ({ stdout: '' }));
    return `lab status: ${JSON.stringify(l?.status)}\noperator log tail:\n${stdout}`;
  };
  const apply = async (docs: unknown[], file: string): Promise<void> =>
    kubectlApply(kubeconfig(), docs, join(env!.scratch, file));

  before(async function () {
    this.timeout(300_000);
    socketDir = await mkdtemp(join(tmpdir(), 'maaslab-mc-'));
    maas = await startMaasApiServer({
      socketPath: join(socketDir, 'maas.sock'),
      subnetCidr: `${subnet}.0/24`,
    });
    endpoint = await exposeInNetns(controllerAddress, 5240, join(socketDir, 'maas.sock'));
    env = await startE2eEnvironment('mc');
    ({ read, logFile, hv } = env);
    ns = env.labNs.name;
    await apply([envHypervisor(env, { maasPowerAddress: POWER_ADDRESS })], 'hypervisor.yaml');
    // The operator makes the pool; the image volume is the user's.
    await createUserVolume(env, BASE_VOLUME, '64M');
  });

  after(async function () {
    this.timeout(180_000);
    await env?.stop();
    await endpoint?.remove();
    await maas?.close();
    if (socketDir) await rm(socketDir, { recursive: true, force: true });
  });

  it('asks for the API key at the controller address, then configures DHCP and enlists every node there', async function () {
    await apply(
      [
        {
          apiVersion: GROUP_VERSION,
          kind: 'MaasLab',
          metadata: { name: LAB, namespace: ns },
          spec: {
            hypervisor: hv,
            networks: [
              { name: 'pxe', mode: 'isolated', ipv4: { address: `${subnet}.1`, prefixLength: 24 } },
            ],
            nodes: {
              count: 2,
              macPrefix: MAC_PREFIX,
              template: {
                memory: '128Mi',
                disks: [{ name: 'root', size: '64Mi' }],
                interfaces: [{ network: 'pxe' }],
                vnc: { enabled: false },
              },
            },
            maas: {
              controller: {
                image: { volume: BASE_VOLUME },
                vcpus: 1,
                memory: '1Gi',
                diskSize: '4Gi',
              },
            },
          },
        },
      ],
      'lab.yaml',
    );

    // The controller VM runs; its MAAS has no admin yet (403 to the password), so the
    // operator reports MaasReachable=Unknown, MaasUnauthorized, and asks again later.
    const installing = await waitFor(
      async () => {
        const l = await lab();
        return conditionOf(l, 'ControllerReady')?.status === 'True' &&
          conditionOf(l, 'MaasReachable')?.reason === 'MaasUnauthorized'
          ? l
          : undefined;
      },
      { ...LONG, description: 'ControllerReady, and MaasReachable MaasUnauthorized', explain },
    );
    expect(conditionOf(installing, 'Ready')?.status).to.equal('False');
    // The STATUS column agrees with Ready: a lab whose MAAS is not ready is not printed Ready.
    expect(installing.status?.printableStatus).to.be.oneOf(['Pending', 'Provisioning']);
    expect(installing.status?.maas?.controller?.address).to.equal(controllerAddress);
    const { stdout: domains } = await run('virsh', ['-c', env!.lv.uri, 'list', '--name']);
    expect(domains.split('\n').map((l) => l.trim())).to.include(
      installing.status?.maas?.controller?.domain,
    );
    const asked = endpoint!.connections().length;
    expect(asked, 'connections to the controller address before createadmin').to.be.greaterThan(0);

    // `maas createadmin` with the Secret the operator generated.
    const admin = await secret(installing.status!.maas!.controller!.adminSecretRef!.name);
    maas!.createAdmin(decoded(admin, 'username'), decoded(admin, 'password'));

    const ready = await waitFor(async () => ((l) => isReadyNow(l) && l)(await lab()), {
      ...LONG,
      description: 'lab Ready',
      explain,
    });
    for (const type of ['ControllerReady', 'MaasReachable', 'DhcpConfigured', 'ImagesSynced']) {
      expect(conditionOf(ready, type)?.status, type).to.equal('True');
    }
    expect(ready.status?.printableStatus).to.equal('Ready');
    expect(ready.status?.maas?.url).to.equal(`http://${controllerAddress}:5240/MAAS`);
    expect(ready.status?.maas?.rackSystemId).to.equal(maas!.rackController.systemId);

    // The key the operator stored is the one MAAS issued: the enlistment below used it.
    const keyRef = ready.status?.maas?.apiKeySecretRef;
    expect(keyRef?.name).to.be.a('string');
    const key = decoded(await secret(keyRef!.name), keyRef!.key ?? 'api-key');
    expect(key.split(':')).to.have.length(3);

    const machines = maas!.machines().filter((m) => m.createdBy === 'api');
    expect(machines.map((m) => m.macAddresses[0]).sort()).to.deep.equal([
      `${MAC_PREFIX}:01`,
      `${MAC_PREFIX}:02`,
    ]);
    for (const i of [1, 2]) {
      const n = await read.get<MaasNode>('MaasNode', `${LAB}-node${i}`, ns);
      expect(conditionOf(n, 'Enlisted')?.status, `node${i} Enlisted`).to.equal('True');
      expect(machines.map((m) => m.systemId)).to.include(n.status?.maas?.systemId);
    }
    expect(maas!.vlans()[0]?.dhcpOn).to.equal(true);
    expect(maas!.subnets()[0]?.gatewayIp).to.equal(`${subnet}.1`);

    // Every request reached the server through the namespace: the forwarder saw each
    // connection come from the host side of the veth pair, and the server has no TCP port.
    const froms = new Set(endpoint!.connections());
    expect([...froms]).to.deep.equal([endpoint!.hostSide]);
    expect(maas!.url).to.equal('http://unix/MAAS');
    expect(
      maas!.requests().filter((r) => r.method === 'POST' && r.path === 'machines/'),
    ).to.have.length.at.least(2);
  });

  it('deletes the controller VM and its machines with the lab, and keeps the image volume', async function () {
    const before = await lab();
    const domain = before.status?.maas?.controller?.domain ?? '';
    expect(domain).not.to.equal('');
    await kubectlRun(kubeconfig(), ['delete', '-n', ns, `maaslab.maaslab.dev/${LAB}`]);
    await waitFor(
      async () =>
        (await read.list<MaasNode>('MaasNode', ns)).length === 0 &&
        maas!.machines().filter((m) => m.createdBy === 'api').length === 0,
      {
        ...LONG,
        description: 'nodes and machines gone',
        explain: async () =>
          `nodes: ${JSON.stringify((await read.list<MaasNode>('MaasNode', ns)).map((n) => [n.metadata?.name, n.metadata?.finalizers, n.status?.conditions]))}\n` +
          `machines: ${JSON.stringify(maas!.machines().map((m) => m.hostname))}\n${await explain()}`,
      },
    );
    await waitFor(
      async () => {
        const { stdout } = await run('virsh', ['-c', env!.lv.uri, 'list', '--all', '--name']);
        return !stdout.split('\n').some((l) => l.trim() === domain);
      },
      { ...LONG, description: `controller domain ${domain} gone (log: ${logFile})` },
    );
    const { stdout: vols } = await run('virsh', ['-c', env!.lv.uri, 'vol-list', env!.pool]);
    expect(vols).to.include(BASE_VOLUME);
  });
});
