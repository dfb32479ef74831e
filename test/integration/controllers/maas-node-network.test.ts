// A MaasNode starts when libvirt runs its network as its VirtNetwork asks, without waiting for
// the VirtNetwork's Ready status: a real kube-apiserver, a private real libvirtd with QEMU in
// its own network namespace, and a manager in this process running the Hypervisor and MaasNode
// controllers only. No VirtNetwork controller runs, so the VirtNetwork never gets a status: the
// network is made by hand in libvirt, first someone else's of the same name (the node keeps
// waiting), then one as the VirtNetwork's controller would define it (the node starts, and the
// VirtNetwork still has no status).
import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Registry } from 'prom-client';
import { GroupVersion, type MaasNode, type VirtNetwork } from '../../../src/api/v1alpha1/index.js';
import {
  MaasNodeControllerName,
  setup as setupNode,
} from '../../../src/controllers/maas-node/reconciler.js';
import { desiredNetwork } from '../../../src/controllers/virt-network/desired.js';
import { buildNetworkXml } from '../../../src/libvirt/xml/index.js';
import type { RestClient } from '../../../src/runtime/client/rest.js';
import { type ControllerEnv, startControllerEnv } from '../../support/controller-env.js';
import { conditionOf as cond } from '../../support/e2e.js';
import type { PrivateLibvirtd } from '../../support/libvirtd.js';
import type { TestNamespace } from '../../support/namespace.js';
import { afterPass } from '../../support/passes.js';
import { waitFor } from '../../support/wait.js';

const NODE = { apiVersion: GroupVersion, kind: 'MaasNode' } as const;
const LONG = { timeoutMs: 120_000, intervalMs: 250 };

describe('controllers/maas-node starts on libvirt’s word that its network runs (no VirtNetwork controller)', function () {
  this.timeout(300_000);
  let env: ControllerEnv;
  let rest: RestClient;
  let lv: PrivateLibvirtd;
  let ns: TestNamespace;
  let registry: Registry;
  const suffix = Math.random().toString(36).slice(2, 8);
  const hv = `hv-netword-${suffix}`;
  let domain = '';
  let libvirtNet = '';

  const node = () => env.get<MaasNode>('MaasNode', 'node1');
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
    env = await startControllerEnv({
      namespace: 'maas-node-net',
      hypervisor: hv,
      // No VirtNetwork controller: nothing ever writes the VirtNetwork's status.
      setup: (m, hypervisors) => setupNode(m, { hypervisors }),
    });
    ({ rest, lv, ns, registry } = env);
    domain = `${ns.name}.node1`;
    libvirtNet = `${ns.name}.maas`;
  });

  after(async function () {
    this.timeout(180_000);
    if (!env) return; // it cleaned up after itself
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
    await env.stopManager();
    await removeNetwork();
    await env.stop();
  });

  it('waits for a network of its name that is not the VirtNetwork’s, then starts at once on one that is, with no VirtNetwork status', async () => {
    const vnet = await env.create<VirtNetwork>('VirtNetwork', 'maas', {
      hypervisor: hv,
      mode: 'isolated',
      ipv4: { address: '10.79.0.1', prefixLength: 24 },
    });
    await env.create('MaasNode', 'node1', {
      hypervisor: hv,
      memory: '512Mi',
      disks: [{ name: 'root', size: '1Gi', format: 'qcow2' }],
      interfaces: [{ network: 'maas', mac: '52:54:00:7f:05:01' }],
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
    expect((await env.get<VirtNetwork>('VirtNetwork', 'maas')).status).to.equal(undefined);
  });
});
