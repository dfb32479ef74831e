// The VirtNetwork controller end to end: a real kube-apiserver, a private real libvirtd in its
// own network namespace, and a manager in this process running the Hypervisor and VirtNetwork
// controllers. Build, live DHCP host changes, drift (net-destroy by hand), a foreign network
// of our name, a missing Hypervisor, a missing host bridge, and deletion. No domains: see maas-node.test.ts for
// the address change with a running guest.
import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import {
  BridgeNotFoundReason,
  GroupVersion,
  HypervisorNotFoundReason,
  NameConflictReason,
  type VirtNetwork,
} from '../../../src/api/v1alpha1/index.js';
import { setup as setupNetwork } from '../../../src/controllers/virt-network/reconciler.js';
import { buildNetworkXml, parseNetworkXml } from '../../../src/libvirt/xml/index.js';
import { ContentType, type ObjectList, type RestClient } from '../../../src/runtime/client/rest.js';
import { type ControllerEnv, startControllerEnv } from '../../support/controller-env.js';
import type { PrivateLibvirtd } from '../../support/libvirtd.js';
import type { TestNamespace } from '../../support/namespace.js';
import { waitFor } from '../../support/wait.js';

const NET = { apiVersion: GroupVersion, kind: 'VirtNetwork' } as const;
const LONG = { timeoutMs: 60_000, intervalMs: 200 };

type Cond = { type: string; status: string; reason?: string; message?: string };
const cond = (o: VirtNetwork, type: string): Cond | undefined =>
  o.status?.conditions?.find((c) => c.type === type);

describe('controllers/virt-network (real API server, private libvirtd)', function () {
  this.timeout(180_000);
  let env: ControllerEnv | undefined;
  let rest: RestClient;
  let lv: PrivateLibvirtd;
  let ns: TestNamespace;
  const suffix = Math.random().toString(36).slice(2, 8);
  const hv = `hv-net-${suffix}`;

  const net = (name: string) =>
    rest.request<VirtNetwork>({ method: 'GET', ref: { ...NET, namespace: ns.name, name } });
  const create = (name: string, spec: object) =>
    rest.request({
      method: 'POST',
      ref: { ...NET, namespace: ns.name },
      body: { ...NET, metadata: { name }, spec },
    });
  const gone = async (name: string): Promise<boolean> => {
    try {
      await net(name);
      return false;
    } catch {
      return true;
    }
  };
  const readyAndCurrent = (name: string) =>
    waitFor(
      async () => {
        const v = await net(name);
        return (
          v.status?.observedGeneration === v.metadata?.generation &&
          cond(v, 'Ready')?.status === 'True' &&
          v
        );
      },
      { ...LONG, description: `VirtNetwork ${name} Ready` },
    );

  before(async function () {
    env = await startControllerEnv({
      namespace: 'virt-network',
      hypervisor: hv,
      // A short look-again for a missing host bridge, so its creation is noticed quickly.
      setup: (m, hypervisors) => setupNetwork(m, { hypervisors, bridgeRecheckMs: 1_000 }),
    });
    ({ rest, lv, ns } = env);
  });

  after(async function () {
    this.timeout(120_000);
    await env?.stop(); // undefined when it failed to start (it cleaned up after itself)
  });

  it('stalls with HypervisorNotFound when the Hypervisor does not exist', async () => {
    await create('orphan', { hypervisor: `absent-${suffix}`, mode: 'isolated' });
    const v = await waitFor(
      async () => {
        const x = await net('orphan');
        return cond(x, 'Stalled')?.status === 'True' && x;
      },
      { ...LONG, description: 'Stalled' },
    );
    expect(cond(v, 'Stalled')?.reason).to.equal(HypervisorNotFoundReason);
    expect(v.metadata?.finalizers).to.deep.equal(['maaslab.dev/cleanup']);
    // Nothing to clean on a host we never had: deletion completes.
    await rest.request({ method: 'DELETE', ref: { ...NET, namespace: ns.name, name: 'orphan' } });
    await waitFor(() => gone('orphan'), { ...LONG, description: 'orphan gone' });
  });

  it('builds a DHCP network, applies host changes live, and restarts one destroyed by hand', async () => {
    const libvirtName = `${ns.name}.lab`;
    await create('lab', {
      hypervisor: hv,
      mode: 'isolated',
      ipv4: {
        address: '10.79.0.1',
        prefixLength: 24,
        dhcp: {
          ranges: [{ start: '10.79.0.100', end: '10.79.0.150' }],
          hosts: [{ mac: '52:54:00:7f:05:01', ip: '10.79.0.11' }],
        },
      },
    });
    const v = await readyAndCurrent('lab');
    expect(v.status).to.include({ libvirtName, active: true });
    expect(v.status?.bridge).to.match(/^virbr\d+$/);
    expect(v.metadata?.finalizers).to.deep.equal(['maaslab.dev/cleanup']);
    expect(await lv.virsh(['net-info', libvirtName])).to.match(/Autostart:\s+yes/);
    const uuid = v.status?.uuid;
    expect(uuid).to.match(/^[0-9a-f-]{36}$/);

    // A second fixed lease: virNetworkUpdate, no restart (same UUID, still active).
    await rest.request({
      method: 'PATCH',
      ref: { ...NET, namespace: ns.name, name: 'lab' },
      contentType: ContentType.MergePatch,
      body: {
        spec: {
          ipv4: {
            address: '10.79.0.1',
            prefixLength: 24,
            dhcp: {
              ranges: [{ start: '10.79.0.100', end: '10.79.0.150' }],
              hosts: [
                { mac: '52:54:00:7f:05:01', ip: '10.79.0.11' },
                { mac: '52:54:00:7f:05:02', ip: '10.79.0.12' },
              ],
            },
          },
        },
      },
    });
    const updated = await waitFor(
      async () => {
        const x = await net('lab');
        return x.metadata?.generation === 2 && x.status?.observedGeneration === 2 && x;
      },
      { ...LONG, description: 'generation 2 observed' },
    );
    expect(cond(updated, 'Ready')?.status).to.equal('True');
    const live = parseNetworkXml(await lv.virsh(['net-dumpxml', libvirtName]));
    expect(live.ipv4?.dhcp?.hosts.map((h) => h.ip)).to.deep.equal(['10.79.0.11', '10.79.0.12']);
    expect(updated.status?.uuid).to.equal(uuid);

    // Drift: a network event brings it back at once.
    await lv.virsh(['net-destroy', libvirtName]);
    await waitFor(async () => /Active:\s+yes/.test(await lv.virsh(['net-info', libvirtName])), {
      ...LONG,
      description: 'the network active again',
    });

    const events = await rest.request<
      ObjectList<{ reason?: string; regarding?: { name?: string } }>
    >({
      method: 'GET',
      ref: { apiVersion: 'events.k8s.io/v1', kind: 'Event', namespace: ns.name },
    });
    const reasons = events.items.filter((e) => e.regarding?.name === 'lab').map((e) => e.reason);
    expect(reasons).to.include.members(['NetworkCreated', 'NetworkUpdated']);
  });

  it('follows spec.autostart: virsh net-info Autostart flips with the spec', async () => {
    const libvirtName = `${ns.name}.auto`;
    await create('auto', {
      hypervisor: hv,
      mode: 'isolated',
      ipv4: { address: '10.78.0.1', prefixLength: 24 },
      autostart: false,
    });
    await readyAndCurrent('auto');
    expect(await lv.virsh(['net-info', libvirtName])).to.match(/Autostart:\s+no/);
    const autostart = async (value: boolean, generation: number): Promise<void> => {
      await rest.request({
        method: 'PATCH',
        ref: { ...NET, namespace: ns.name, name: 'auto' },
        contentType: ContentType.MergePatch,
        body: { spec: { autostart: value } },
      });
      await waitFor(
        async () => {
          const x = await net('auto');
          return x.status?.observedGeneration === generation && cond(x, 'Ready')?.status === 'True';
        },
        { ...LONG, description: `generation ${generation} observed` },
      );
      const info = await lv.virsh(['net-info', libvirtName]);
      expect(info).to.match(value ? /Autostart:\s+yes/ : /Autostart:\s+no/);
      expect(info).to.match(/Active:\s+yes/);
    };
    await autostart(true, 2);
    await autostart(false, 3);
    await rest.request({ method: 'DELETE', ref: { ...NET, namespace: ns.name, name: 'auto' } });
    await waitFor(() => gone('auto'), { ...LONG, description: 'auto gone' });
  });

  it('never touches a foreign network of its name: Stalled NameConflict, left on delete', async () => {
    const libvirtName = `${ns.name}.foreign`;
    const path = `${lv.dir}/foreign-net.xml`;
    await writeFile(
      path,
      buildNetworkXml({
        name: libvirtName,
        mode: 'isolated',
        ipv4: { address: '10.80.0.1', prefix: 24 },
      }),
    );
    await lv.virsh(['net-define', path]);
    const before = await lv.virsh(['net-dumpxml', '--inactive', libvirtName]);
    await create('foreign', {
      hypervisor: hv,
      mode: 'isolated',
      ipv4: { address: '10.81.0.1', prefixLength: 24 },
    });
    const v = await waitFor(
      async () => {
        const x = await net('foreign');
        return cond(x, 'Stalled')?.status === 'True' && x;
      },
      { ...LONG, description: 'Stalled' },
    );
    expect(cond(v, 'Stalled')?.reason).to.equal(NameConflictReason);
    expect(cond(v, 'Ready')?.status).to.equal('False');
    expect(await lv.virsh(['net-dumpxml', '--inactive', libvirtName])).to.equal(before);
    expect(await lv.virsh(['net-info', libvirtName])).to.match(/Active:\s+no/);

    await rest.request({ method: 'DELETE', ref: { ...NET, namespace: ns.name, name: 'foreign' } });
    await waitFor(() => gone('foreign'), { ...LONG, description: 'foreign gone' });
    expect(await lv.virsh(['net-dumpxml', '--inactive', libvirtName])).to.equal(before);
    await lv.virsh(['net-undefine', libvirtName]);
  });

  it('stalls with BridgeNotFound on a missing host bridge and starts once the admin adds it', async () => {
    const bridge = 'mlnobr0';
    const libvirtName = `${ns.name}.nobr`;
    try {
      await create('nobr', { hypervisor: hv, mode: 'bridge', bridge: { name: bridge } });
      const v = await waitFor(
        async () => {
          const x = await net('nobr');
          return cond(x, 'Stalled')?.status === 'True' && x;
        },
        { ...LONG, description: 'Stalled' },
      );
      expect(cond(v, 'Stalled')?.reason).to.equal(BridgeNotFoundReason);
      expect(cond(v, 'Stalled')?.message).to.contain(bridge);
      expect(cond(v, 'Ready')?.status).to.equal('False');
      expect(v.status?.active).to.equal(false);
      expect(await lv.virsh(['net-info', libvirtName])).to.match(/Active:\s+no/);

      // The admin creates the bridge (inside the harness's network namespace).
      await lv.netnsExec(['ip', 'link', 'add', bridge, 'type', 'bridge']);
      await lv.netnsExec(['ip', 'link', 'set', bridge, 'up']);
      const ready = await waitFor(
        async () => {
          const x = await net('nobr');
          return cond(x, 'Ready')?.status === 'True' && x;
        },
        { timeoutMs: 30_000, intervalMs: 200, description: 'Ready once the bridge exists' },
      );
      expect(ready.status).to.include({ active: true, bridge });
      expect(cond(ready, 'Stalled')).to.equal(undefined);
      expect(await lv.virsh(['net-info', libvirtName])).to.match(/Active:\s+yes/);

      const events = await rest.request<
        ObjectList<{ reason?: string; type?: string; regarding?: { name?: string } }>
      >({
        method: 'GET',
        ref: { apiVersion: 'events.k8s.io/v1', kind: 'Event', namespace: ns.name },
      });
      const warnings = events.items.filter(
        (e) => e.regarding?.name === 'nobr' && e.reason === BridgeNotFoundReason,
      );
      expect(warnings.map((e) => e.type)).to.deep.equal(['Warning']);

      await rest.request({ method: 'DELETE', ref: { ...NET, namespace: ns.name, name: 'nobr' } });
      await waitFor(() => gone('nobr'), { ...LONG, description: 'nobr gone' });
      expect(await lv.virsh(['net-list', '--all', '--name'])).to.not.contain(libvirtName);
    } finally {
      await lv.netnsExec(['ip', 'link', 'del', bridge]).catch(() => undefined);
    }
  });

  it('deletes the libvirt network with the resource; the finalizer completes', async () => {
    const libvirtName = `${ns.name}.lab`;
    await rest.request({ method: 'DELETE', ref: { ...NET, namespace: ns.name, name: 'lab' } });
    await waitFor(() => gone('lab'), { ...LONG, description: 'lab gone' });
    expect(await lv.virsh(['net-list', '--all', '--name'])).to.not.contain(libvirtName);
  });
});
