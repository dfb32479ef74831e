// The MaasNode controller end to end: a real kube-apiserver, a private real libvirtd with
// QEMU TCG in its own network namespace, and a manager in this process running the
// Hypervisor, VirtNetwork and MaasNode controllers. One node (QEMU TCG is slow on a shared
// machine) walks through the recipe: build, drift, restart token, network address change,
// managed save, Manual, a foreign domain, and deletion. The tests run in order and share it.
import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import type { Registry } from 'prom-client';
import {
  GroupVersionKinds,
  GroupVersion,
  NameConflictReason,
  type MaasNode,
  type VirtNetwork,
} from '../../../src/api/v1alpha1/index.js';
import { registerInventoryMetrics } from '../../../src/controllers/inventory-metrics.js';
import { setup as setupNode } from '../../../src/controllers/maas-node/reconciler.js';
import { setup as setupNetwork } from '../../../src/controllers/virt-network/reconciler.js';
import { buildDomainXml, parseDomainXml, parseNetworkXml } from '../../../src/libvirt/xml/index.js';
import { ContentType, type RestClient } from '../../../src/runtime/client/rest.js';
import { type ControllerEnv, startControllerEnv } from '../../support/controller-env.js';
import { conditionOf as cond } from '../../support/e2e.js';
import { kvmExpected, type PrivateLibvirtd } from '../../support/libvirtd.js';
import type { TestNamespace } from '../../support/namespace.js';
import { afterPass } from '../../support/passes.js';
import { waitFor } from '../../support/wait.js';

const NET = { apiVersion: GroupVersion, kind: 'VirtNetwork' } as const;
const NODE = { apiVersion: GroupVersion, kind: 'MaasNode' } as const;
const GiB = 1024 ** 3;
const MAC = '52:54:00:7f:04:01';
const LONG = { timeoutMs: 120_000, intervalMs: 250 };

describe('controllers/maas-node (real API server, private libvirtd, QEMU)', function () {
  this.timeout(300_000);
  let env: ControllerEnv;
  let rest: RestClient;
  let lv: PrivateLibvirtd;
  let ns: TestNamespace;
  let registry: Registry;
  const suffix = Math.random().toString(36).slice(2, 8);
  const hv = `hv-node-${suffix}`;
  let domain = '';
  let libvirtNet = '';

  const get = <T>(ref: object, name: string): Promise<T> =>
    rest.request<T>({ method: 'GET', ref: { ...ref, namespace: ns.name, name } as never });
  const node = (name = 'node1') => get<MaasNode>(NODE, name);
  const net = () => get<VirtNetwork>(NET, 'maas');
  const patch = (ref: object, name: string, body: object) =>
    rest.request({
      method: 'PATCH',
      ref: { ...ref, namespace: ns.name, name } as never,
      body,
      contentType: ContentType.MergePatch,
    });
  const domState = async (name = domain): Promise<string> =>
    (await lv.virsh(['domstate', name])).trim();
  const domId = async (): Promise<string> => (await lv.virsh(['domid', domain])).trim();
  /** Waits until the node's status says `printable` for its current generation. */
  const nodeIs = (printable: string, name = 'node1') =>
    waitFor(
      async () => {
        const n = await node(name);
        return (
          n.status?.observedGeneration === n.metadata?.generation &&
          n.status?.printableStatus === printable &&
          n
        );
      },
      { ...LONG, description: `MaasNode ${name} ${printable}` },
    );

  before(async function () {
    env = await startControllerEnv({
      namespace: 'maas-node',
      hypervisor: hv,
      setup: (m, hypervisors, metrics) => {
        setupNetwork(m, { hypervisors });
        setupNode(m, { hypervisors, shutdownTimeoutMs: 5_000 });
        registerInventoryMetrics(metrics, {
          nodes: m.cache(GroupVersionKinds.MaasNode),
          networks: m.cache(GroupVersionKinds.VirtNetwork),
        });
      },
    });
    ({ rest, lv, ns, registry } = env);
    domain = `${ns.name}.node1`;
    libvirtNet = `${ns.name}.maas`;
  });

  after(async function () {
    this.timeout(180_000);
    await env?.stop(); // undefined when it failed to start (it cleaned up after itself)
  });

  it('builds the network, then a running node with the MAC, boot order, memory, VNC and power fields', async () => {
    await env.create('VirtNetwork', 'maas', {
      hypervisor: hv,
      mode: 'isolated',
      ipv4: { address: '10.77.0.1', prefixLength: 24 },
    });
    await env.create('MaasNode', 'node1', {
      hypervisor: hv,
      memory: '1Gi',
      disks: [{ name: 'root', size: '8Gi', format: 'qcow2' }],
      interfaces: [{ network: 'maas', mac: MAC }],
      bootOrder: ['network', 'disk'],
      vnc: { listen: '127.0.0.1' },
    });
    const n = await nodeIs('Running');
    const v = await net();
    expect(cond(v, 'Ready')?.status).to.equal('True');
    expect(v.status).to.include({ libvirtName: libvirtNet, active: true });
    expect(v.status?.uuid).to.match(/^[0-9a-f-]{36}$/);
    expect(v.status?.bridge).to.be.a('string');
    const parsedNet = parseNetworkXml(await lv.virsh(['net-dumpxml', libvirtNet]));
    expect(parsedNet.ipv4?.address).to.equal('10.77.0.1');
    expect(parsedNet.ipv4?.dhcp).to.equal(undefined);

    expect(cond(n, 'Ready')?.status).to.equal('True');
    expect(n.metadata?.finalizers).to.include('maaslab.dev/cleanup');
    expect(n.status).to.include({ hypervisor: hv, domainName: domain, state: 'running' });
    expect(n.status?.interfaces?.[0]).to.include({ network: 'maas', mac: MAC });
    expect(n.status?.interfaces?.[0]?.bridge).to.equal(v.status?.bridge);
    expect(n.status?.disks?.[0]).to.include({
      name: 'root',
      volume: `${domain}-root.qcow2`,
      capacity: '8Gi',
    });
    expect(n.status?.vnc?.host).to.equal('127.0.0.1');
    expect(n.status?.vnc?.port).to.be.a('number').and.at.least(5900);
    expect(n.status?.power).to.deep.equal({
      type: 'virsh',
      address: lv.uri.slice(0, lv.uri.indexOf('?')),
      id: domain,
    });

    const xml = parseDomainXml(await lv.virsh(['dumpxml', domain]));
    expect(xml.memoryBytes).to.equal(GiB);
    // KVM where the host offers it (a machine with a usable /dev/kvm), TCG emulation otherwise.
    expect(xml.type).to.equal((await kvmExpected()) ? 'kvm' : 'qemu');
    expect(xml.bootOrder).to.deep.equal(['network', 'disk']);
    expect(xml.interfaces[0]?.mac).to.equal(MAC);
    expect(xml.owner).to.include({ kind: 'MaasNode', namespace: ns.name, name: 'node1' });
    const vol = await lv.virsh(['vol-info', '--pool', 'maaslab', `${domain}-root.qcow2`]);
    expect(vol).to.match(/Capacity:\s+8\.00 GiB/);

    const text = await registry.metrics();
    expect(text).to.contain(`maaslab_nodes{hypervisor="${hv}",status="Running"} 1`);
    expect(text).to.contain(`maaslab_networks{hypervisor="${hv}",active="true"} 1`);
  });

  it('starts a domain destroyed by hand again (Always), at once from the domain event', async () => {
    const before = await domId();
    await lv.virsh(['destroy', domain]);
    await waitFor(async () => (await domState()) === 'running' && (await domId()) !== before, {
      ...LONG,
      description: 'the domain running again',
    });
  });

  it('updates a running domain without recreating it (RestartRequired), then a restartToken change power-cycles it', async () => {
    const before = await domId();
    const MiB = 1024 ** 2;
    await patch(NODE, 'node1', { spec: { memory: '1536Mi' } });
    const pending = await waitFor(
      async () => {
        const x = await node();
        return (
          x.status?.observedGeneration === x.metadata?.generation &&
          cond(x, 'RestartRequired')?.status === 'True' &&
          x
        );
      },
      { ...LONG, description: 'RestartRequired=True' },
    );
    expect(cond(pending, 'RestartRequired')?.message).to.contain('memory');
    expect(await domId()).to.equal(before);
    const inactive = parseDomainXml(await lv.virsh(['dumpxml', '--inactive', domain]));
    expect(inactive.memoryBytes).to.equal(1536 * MiB);
    expect(parseDomainXml(await lv.virsh(['dumpxml', domain])).memoryBytes).to.equal(GiB);

    await patch(NODE, 'node1', { spec: { restartToken: 'one' } });
    const n = await waitFor(
      async () => {
        const x = await node();
        return (
          x.status?.lastRestartToken === 'one' &&
          x.status?.observedGeneration === x.metadata?.generation &&
          cond(x, 'RestartRequired') === undefined &&
          x
        );
      },
      { ...LONG, description: 'lastRestartToken one, RestartRequired gone' },
    );
    expect(n.status?.printableStatus).to.equal('Running');
    expect(await domId()).to.not.equal(before);
    expect(await domState()).to.equal('running');
    expect(parseDomainXml(await lv.virsh(['dumpxml', domain])).memoryBytes).to.equal(1536 * MiB);
  });

  it('moves the network to a new address with the node running and its tap on the bridge', async () => {
    await patch(NET, 'maas', { spec: { ipv4: { address: '10.78.0.1', prefixLength: 24 } } });
    const v = await waitFor(
      async () => {
        const x = await net();
        return (
          x.status?.observedGeneration === x.metadata?.generation &&
          cond(x, 'Ready')?.status === 'True' &&
          x
        );
      },
      { ...LONG, description: 'VirtNetwork Ready at the new generation' },
    );
    const live = parseNetworkXml(await lv.virsh(['net-dumpxml', libvirtNet]));
    expect(live.ipv4?.address).to.equal('10.78.0.1');
    expect(await domState()).to.equal('running');
    const bridge = v.status?.bridge ?? '';
    const addr = await lv.netnsExec(['ip', '-o', '-4', 'addr', 'show', 'dev', bridge]);
    expect(addr).to.contain('10.78.0.1/24');
    const taps = await lv.netnsExec(['ip', '-o', 'link', 'show', 'master', bridge]);
    const tap = parseDomainXml(await lv.virsh(['dumpxml', domain])).interfaces[0]?.targetDev;
    expect(tap).to.be.a('string');
    expect(taps).to.contain(`${tap}:`);
    await nodeIs('Running');
  });

  it('halts with a managed save (Halted, Save) and resumes from it (Always)', async () => {
    await patch(NODE, 'node1', { spec: { runStrategy: 'Halted', haltMode: 'Save' } });
    const n = await nodeIs('Saved');
    expect(n.status?.state).to.equal('shutoff');
    expect(cond(n, 'Ready')).to.include({ status: 'True', reason: 'Halted' });
    expect(await domState()).to.equal('shut off');
    expect(await lv.virsh(['dominfo', domain])).to.match(/Managed save:\s+yes/);

    await patch(NODE, 'node1', { spec: { runStrategy: 'Always' } });
    await nodeIs('Running');
    expect(await domState()).to.equal('running');
    expect(await lv.virsh(['dominfo', domain])).to.match(/Managed save:\s+no/);
  });

  it('leaves a destroyed domain off under Manual', async () => {
    await patch(NODE, 'node1', { spec: { runStrategy: 'Manual' } });
    await waitFor(
      async () => (await node()).status?.observedGeneration === (await node()).metadata?.generation,
      LONG,
    );
    await lv.virsh(['destroy', domain]);
    const n = await nodeIs('Stopped');
    // A pass that sees the destroyed domain under Manual must leave it off: poke the node (an
    // annotation wakes it) and wait for that pass to finish, rather than sleeping.
    await afterPass(registry, 'maasnode', () =>
      patch(NODE, 'node1', { metadata: { annotations: { 'test.maaslab.dev/poke': '1' } } }),
    );
    expect(await domState()).to.equal('shut off');
    expect(n.status?.state).to.equal('shutoff');
  });

  it('never touches a foreign domain of the name it would use: Stalled NameConflict', async () => {
    const foreign = `${ns.name}.intruder`;
    // virsh reads files only: write the XML into the harness folder.
    const path = `${lv.dir}/intruder.xml`;
    await writeFile(
      path,
      buildDomainXml({
        name: foreign,
        type: 'qemu',
        memoryBytes: 128 * 1024 * 1024,
        vcpus: 1,
        arch: 'x86_64',
        firmware: 'bios',
        bootOrder: [],
        disks: [],
        interfaces: [],
      }),
    );
    await lv.virsh(['define', path]);
    const before = await lv.virsh(['dumpxml', '--inactive', foreign]);
    await env.create('MaasNode', 'intruder', { hypervisor: hv, interfaces: [{ network: 'maas' }] });
    const n = await waitFor(
      async () => {
        const x = await node('intruder');
        return cond(x, 'Stalled')?.status === 'True' && x;
      },
      { ...LONG, description: 'Stalled' },
    );
    expect(cond(n, 'Stalled')?.reason).to.equal(NameConflictReason);
    expect(n.status?.printableStatus).to.equal('Failed');
    expect(await lv.virsh(['dumpxml', '--inactive', foreign])).to.equal(before);
    expect(await domState(foreign)).to.equal('shut off');

    // Deleting the resource leaves the foreign domain in place.
    await rest.request({
      method: 'DELETE',
      ref: { ...NODE, namespace: ns.name, name: 'intruder' },
    });
    await waitFor(
      async () => {
        try {
          await node('intruder');
          return false;
        } catch {
          return true;
        }
      },
      { ...LONG, description: 'intruder gone' },
    );
    expect(await lv.virsh(['dumpxml', '--inactive', foreign])).to.equal(before);
    await lv.virsh(['undefine', foreign]);
  });

  it('refuses to delete a network in use, then deletes node and network leaving nothing behind', async () => {
    await rest.request({ method: 'DELETE', ref: { ...NET, namespace: ns.name, name: 'maas' } });
    const v = await waitFor(
      async () => {
        const x = await net();
        return cond(x, 'Ready')?.reason === 'Deleting' && x;
      },
      { ...LONG, description: 'VirtNetwork Deleting' },
    );
    expect(cond(v, 'Ready')?.message).to.contain('node1');
    expect(await lv.virsh(['net-list', '--all', '--name'])).to.contain(libvirtNet);

    await rest.request({ method: 'DELETE', ref: { ...NODE, namespace: ns.name, name: 'node1' } });
    const gone = async (ref: object, name: string): Promise<boolean> => {
      try {
        await get(ref, name);
        return false;
      } catch {
        return true;
      }
    };
    await waitFor(async () => (await gone(NODE, 'node1')) && (await gone(NET, 'maas')), {
      ...LONG,
      description: 'MaasNode and VirtNetwork gone',
    });
    expect(await lv.virsh(['list', '--all', '--name'])).to.not.contain(domain);
    expect(await lv.virsh(['net-list', '--all', '--name'])).to.not.contain(libvirtNet);
    expect((await lv.virsh(['vol-list', '--pool', 'maaslab'])).trim()).to.not.contain(domain);
  });
});
