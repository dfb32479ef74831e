// A MaasNode starts when libvirt runs its network as its VirtNetwork asks, without waiting for
// the VirtNetwork's Ready status: a real kube-apiserver, a private real libvirtd with QEMU in
// its own network namespace, and a manager in this process running the Hypervisor and MaasNode
// controllers only. No VirtNetwork controller runs, so the VirtNetwork never gets a status: the
// network is made by hand in libvirt, first someone else's of the same name (the node keeps
// waiting), then one as the VirtNetwork's controller would define it (the node starts, and the
// VirtNetwork still has no status).
import { expect } from 'chai';
import { createWriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { GroupVersion, type MaasNode, type VirtNetwork } from '../../../src/api/v1alpha1/index.js';
import { setup as setupHypervisor } from '../../../src/controllers/hypervisor/reconciler.js';
import {
  MaasNodeControllerName,
  setup as setupNode,
} from '../../../src/controllers/maas-node/reconciler.js';
import { desiredNetwork } from '../../../src/controllers/virt-network/desired.js';
import {
  createHypervisorRegistry,
  type HypervisorRegistry,
} from '../../../src/controllers/common/hypervisor-registry.js';
import type { Connection } from '../../../src/libvirt/connection.js';
import { type ConnectionPool, createConnectionPool } from '../../../src/libvirt/connection-pool.js';
import { buildNetworkXml } from '../../../src/libvirt/xml/index.js';
import { createLogger } from '../../../src/runtime/log.js';
import { type Manager, createManager } from '../../../src/runtime/manager/manager.js';
import { type RestClient, createRestClient } from '../../../src/runtime/client/rest.js';
import { controlPlane } from '../../support/controlplane.js';
import { type PrivateLibvirtd, startPrivateLibvirtd } from '../../support/libvirtd.js';
import { type TestNamespace, createTestNamespace } from '../../support/namespace.js';
import { afterPass } from '../../support/passes.js';
import { waitFor } from '../../support/wait.js';

const HV = { apiVersion: GroupVersion, kind: 'Hypervisor' } as const;
const NET = { apiVersion: GroupVersion, kind: 'VirtNetwork' } as const;
const NODE = { apiVersion: GroupVersion, kind: 'MaasNode' } as const;
const LONG = { timeoutMs: 120_000, intervalMs: 250 };

type Cond = { type: string; status: string; reason?: string; message?: string };
const cond = (o: { status?: { conditions?: readonly Cond[] } }, type: string): Cond | undefined =>
  o.status?.conditions?.find((c) => c.type === type);

describe('controllers/maas-node starts on libvirt’s word that its network runs (no VirtNetwork controller)', function () {
  this.timeout(300_000);
  let rest: RestClient;
  let lv: PrivateLibvirtd;
  let ns: TestNamespace;
  let manager: Manager | undefined;
  let pool: ConnectionPool<Connection> | undefined;
  let hypervisors: HypervisorRegistry | undefined;
  let registry: Registry;
  const suffix = Math.random().toString(36).slice(2, 8);
  const hv = `hv-netword-${suffix}`;
  let domain = '';
  let libvirtNet = '';

  const get = <T>(ref: object, name: string): Promise<T> =>
    rest.request<T>({ method: 'GET', ref: { ...ref, namespace: ns.name, name } as never });
  const node = () => get<MaasNode>(NODE, 'node1');
  const domState = async (): Promise<string> => (await lv.virsh(['domstate', domain])).trim();

  /** Defines and starts the network `<ns>.maas` as `vnet` would be defined (`uid`: its stamp). */
  const startNetwork = async (vnet: VirtNetwork, uid: string): Promise<void> => {
    const stamped = { ...vnet, metadata: { ...vnet.metadata, uid } };
    const file = join(lv.dir, `net-${uid}.xml`);
    await writeFile(file, buildNetworkXml(desiredNetwork(stamped)));
    await lv.virsh(['net-define', file]);
    await lv.virsh(['net-start', libvirtNet]);
  };
  const removeNetwork = async (): Promise<void> => {
    await lv.virsh(['net-destroy', libvirtNet]).catch(() => undefined);
    await lv.virsh(['net-undefine', libvirtNet]).catch(() => undefined);
  };

  before(async function () {
    rest = createRestClient(controlPlane().restConfig('admin'));
    lv = await startPrivateLibvirtd();
    ns = await createTestNamespace(controlPlane().kubeConfig('admin'), 'maas-node-net');
    domain = `${ns.name}.node1`;
    libvirtNet = `${ns.name}.maas`;
    registry = new Registry();
    pool = createConnectionPool();
    const m = createManager({
      restConfig: controlPlane().restConfig('admin'),
      namespace: 'default',
      metricsRegistry: registry,
      metricsBindAddress: '0',
      healthProbeBindAddress: '0',
      // MAASLAB_TEST_LOG=<file> writes the manager's debug log there, for a failing run.
      ...(process.env.MAASLAB_TEST_LOG && {
        logger: createLogger({
          level: 'debug',
          format: 'text',
          stream: createWriteStream(process.env.MAASLAB_TEST_LOG),
        }),
      }),
    });
    hypervisors = createHypervisorRegistry({ connections: pool });
    setupHypervisor(m, { connections: pool, hypervisors });
    // No VirtNetwork controller: nothing ever writes the VirtNetwork's status.
    setupNode(m, { hypervisors });
    await m.start(AbortSignal.timeout(60_000));
    manager = m;
    await rest.request({
      method: 'POST',
      ref: HV,
      body: {
        ...HV,
        metadata: { name: hv },
        spec: { uri: lv.uri, storagePool: 'maaslab', storagePoolPath: `${lv.dir}/pool` },
      },
    });
  });

  after(async function () {
    this.timeout(180_000);
    // The node's finalizer goes with its controller's delete pass; then the rest by hand.
    await rest
      .request({ method: 'DELETE', ref: { ...NODE, namespace: ns.name, name: 'node1' } })
      .catch(() => undefined);
    await waitFor(
      async () => {
        try {
          await node();
          return false;
        } catch {
          return true;
        }
      },
      { ...LONG, description: 'MaasNode gone' },
    ).catch(() => undefined);
    await manager?.stop();
    await hypervisors?.close();
    await pool?.close();
    if (lv) await removeNetwork();
    await rest.request({ method: 'DELETE', ref: { ...HV, name: hv } }).catch(() => undefined);
    await ns?.delete();
    await lv?.stop();
  });

  it('waits for a network of its name that is not the VirtNetwork’s, then starts at once on one that is, with no VirtNetwork status', async () => {
    const vnet = await rest.request<VirtNetwork>({
      method: 'POST',
      ref: { ...NET, namespace: ns.name },
      body: {
        ...NET,
        metadata: { name: 'maas' },
        spec: {
          hypervisor: hv,
          mode: 'isolated',
          ipv4: { address: '10.79.0.1', prefixLength: 24 },
        },
      },
    });
    await rest.request({
      method: 'POST',
      ref: { ...NODE, namespace: ns.name },
      body: {
        ...NODE,
        metadata: { name: 'node1' },
        spec: {
          hypervisor: hv,
          memory: '512Mi',
          disks: [{ name: 'root', size: '1Gi', format: 'qcow2' }],
          interfaces: [{ network: 'maas', mac: '52:54:00:7f:05:01' }],
        },
      },
    });
    // Disks and definition while the network is missing; no start.
    await waitFor(
      async () => {
        const n = await node();
        return cond(n, 'Ready')?.reason === 'NetworkNotReady' && n.status?.state === 'shutoff';
      },
      { ...LONG, description: 'MaasNode defined, waiting for its network' },
    );

    // Someone else's network of the same name starts: its Started event wakes the node, which
    // looks, finds it is not the VirtNetwork's, and keeps waiting.
    await afterPass(registry, MaasNodeControllerName, () => startNetwork(vnet, 'someone-else'));
    expect(cond(await node(), 'Ready')?.reason).to.equal('NetworkNotReady');
    expect(await domState()).to.equal('shut off');
    await removeNetwork();

    // The network as the VirtNetwork's controller would define it: the node starts.
    await startNetwork(vnet, vnet.metadata?.uid ?? '');
    const running = await waitFor(
      async () => {
        const n = await node();
        return n.status?.printableStatus === 'Running' && n;
      },
      { ...LONG, description: 'MaasNode Running' },
    );
    expect(cond(running, 'Ready')).to.include({ status: 'True', reason: 'Reconciled' });
    expect(await domState()).to.equal('running');
    // Nothing ever said the VirtNetwork was Ready: libvirt's word was enough.
    expect((await get<VirtNetwork>(NET, 'maas')).status).to.equal(undefined);
  });
});
