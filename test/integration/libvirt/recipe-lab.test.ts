// The manual recipe's lab (three virt-install'ed PXE nodes on one network), built by hand through the binding on a private libvirtd with QEMU TCG: an isolated network
// without DHCP, a dir pool, three 8 GiB qcow2 volumes and three 1 GiB domains that boot from
// the network, then the disk. Then the recipe's day-2 verbs: snapshot, save/restore, reboot,
// destroy and undefine, and what happens when the daemon dies under an open connection.
import { expect } from 'chai';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import {
  type CloseEvent,
  Connection,
  ConnectCloseReason,
  type Domain,
  DomainDefineFlags,
  DomainSnapshotRevertFlags,
  DomainState,
  DomainUndefineFlags,
  ErrorNumber,
  isLibvirtError,
  type Network,
  type StoragePool,
  formatLibvirtVersion,
} from '../../../src/libvirt/index.js';
import {
  buildDomainXml,
  buildNetworkXml,
  buildPoolXml,
  buildVolumeXml,
  parseDomainXml,
  parseNetworkXml,
  parseVolumeXml,
} from '../../../src/libvirt/xml/index.js';
import { type PrivateLibvirtd, startPrivateLibvirtd } from '../../support/libvirtd.js';

const GiB = 1024 ** 3;
const NETWORK = 'maas';
const BRIDGE = 'mltbr0';
const POOL = 'maas';
const NODES = [1, 2, 3].map((i) => ({
  name: `node${i}`,
  volume: `node${i}.qcow2`,
  mac: `52:54:00:7f:04:0${i}`,
}));

/** Every "also remove" flag of virDomainUndefineFlags (the Keep* ones contradict them). */
const UNDEFINE_ALL = [
  DomainUndefineFlags.ManagedSave,
  DomainUndefineFlags.SnapshotsMetadata,
  DomainUndefineFlags.CheckpointsMetadata,
  DomainUndefineFlags.Nvram,
  DomainUndefineFlags.Tpm,
];

async function pollUntil(what: string, ok: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await delay(100);
  }
}

async function stateOf(dom: Domain): Promise<DomainState> {
  return (await dom.getState()).state;
}

describe('recipe lab through the binding on a private libvirtd', function () {
  this.timeout(300_000);

  let lv: PrivateLibvirtd;
  let conn: Connection;
  let network: Network;
  let pool: StoragePool;
  const domains = new Map<string, Domain>();

  const dom = (name: string): Domain => {
    const d = domains.get(name);
    if (!d) throw new Error(`domain ${name} was not defined by an earlier test`);
    return d;
  };

  before(async () => {
    lv = await startPrivateLibvirtd();
    conn = await Connection.open(lv.uri);
  });

  after(async () => {
    // Handles pin their connection; free them so that nothing outlives the daemon.
    for (const d of domains.values()) d.free();
    network?.free();
    pool?.free();
    await conn?.close().catch(() => undefined);
    await lv?.stop();
  });

  it('connects to QEMU through the private socket', async () => {
    expect(await conn.getType()).to.equal('QEMU');
    expect(formatLibvirtVersion(await conn.getLibVersion())).to.match(/^\d+\.\d+\.\d+$/);
    expect(await conn.getURI()).to.equal(lv.uri);
  });

  it('defines and starts an isolated network without DHCP', async () => {
    const xml = buildNetworkXml({
      name: NETWORK,
      mode: 'isolated',
      bridge: { name: BRIDGE, stp: true },
      ipv4: { address: '10.77.0.1', prefix: 24 },
    });
    network = await conn.networkDefineXMLFlags(xml);
    await network.create();
    expect(await network.isActive()).to.equal(true);
    expect(await network.getBridgeName()).to.equal(BRIDGE);
    const parsed = parseNetworkXml(await network.getXMLDesc());
    expect(parsed.mode).to.equal('isolated');
    expect(parsed.ipv4?.address).to.equal('10.77.0.1');
    expect(parsed.ipv4?.dhcp).to.equal(undefined);
    expect(await lv.netnsExec(['ip', '-br', 'addr', 'show', BRIDGE])).to.include('10.77.0.1/24');
  });

  it('builds a dir pool under the harness folder with three 8 GiB qcow2 volumes', async () => {
    pool = await conn.storagePoolDefineXML(
      buildPoolXml({ name: POOL, type: 'dir', path: join(lv.dir, 'pool') }),
    );
    await pool.build();
    await pool.create();
    for (const node of NODES) {
      const vol = await pool.storageVolCreateXML(
        buildVolumeXml({ name: node.volume, capacityBytes: 8 * GiB, format: 'qcow2' }),
      );
      expect((await vol.getInfo()).capacity).to.equal(8 * GiB);
      const parsed = parseVolumeXml(await vol.getXMLDesc());
      expect(parsed.format).to.equal('qcow2');
      expect(parsed.path).to.equal(join(lv.dir, 'pool', node.volume));
    }
    const names = (await pool.listAllVolumes()).map((v) => v.getName()).sort();
    expect(names).to.deep.equal(NODES.map((n) => n.volume));
  });

  it('defines three 1 GiB domains that boot from the network, then the disk', async () => {
    for (const node of NODES) {
      const xml = buildDomainXml({
        name: node.name,
        type: 'qemu',
        memoryBytes: GiB,
        vcpus: 1,
        arch: 'x86_64',
        machine: 'pc',
        firmware: 'bios',
        bootOrder: ['network', 'disk'],
        disks: [{ pool: POOL, volume: node.volume, format: 'qcow2', bus: 'virtio' }],
        interfaces: [{ mac: node.mac, network: NETWORK, model: 'virtio' }],
        vnc: { listen: '127.0.0.1' },
      });
      const d = await conn.domainDefineXMLFlags(xml, DomainDefineFlags.Validate);
      domains.set(node.name, d);
      const parsed = parseDomainXml(await d.getXMLDesc());
      expect(parsed.type).to.equal('qemu');
      expect(parsed.memoryBytes).to.equal(GiB);
      expect(parsed.bootOrder).to.deep.equal(['network', 'disk']);
      expect(parsed.interfaces.map((i) => i.mac)).to.deep.equal([node.mac]);
      expect(parsed.disks.map((k) => k.volume)).to.deep.equal([node.volume]);
      expect(parsed.vnc?.listen).to.equal('127.0.0.1');
    }
  });

  it('starts all three and they run', async () => {
    const t0 = performance.now();
    await Promise.all(NODES.map((n) => dom(n.name).createWithFlags()));
    for (const n of NODES) expect(await stateOf(dom(n.name))).to.equal(DomainState.Running);
    console.log(`    [recipe] 3 TCG domains started in ${(performance.now() - t0).toFixed(0)} ms`);
    const running = await conn.listAllDomains();
    expect(running.map((d) => d.getName()).sort()).to.deep.equal(NODES.map((n) => n.name));
    expect(await lv.netnsExec(['ip', '-br', 'link'])).to.match(/vnet\d+/);
  });

  it('takes a snapshot and reverts to it', async () => {
    const node1 = dom('node1');
    const snap = await node1.snapshotCreateXML(
      '<domainsnapshot><name>before-commissioning</name></domainsnapshot>',
    );
    expect(snap.getName()).to.equal('before-commissioning');
    expect((await node1.listAllSnapshots()).map((s) => s.getName())).to.deep.equal([
      'before-commissioning',
    ]);
    await snap.revertToSnapshot(DomainSnapshotRevertFlags.Running);
    expect(await stateOf(node1)).to.equal(DomainState.Running);
    expect(await snap.isCurrent()).to.equal(true);
  });

  it('managed-saves and restores', async () => {
    const node2 = dom('node2');
    await node2.managedSave();
    expect(await stateOf(node2)).to.equal(DomainState.Shutoff);
    expect(await node2.hasManagedSaveImage()).to.equal(true);
    await node2.createWithFlags();
    expect(await stateOf(node2)).to.equal(DomainState.Running);
    expect(await node2.hasManagedSaveImage()).to.equal(false);
  });

  it('saves to a file and restores from it (virsh save / restore)', async () => {
    const node2 = dom('node2');
    const file = join(lv.dir, 'node2.state');
    await node2.saveFlags(file);
    expect(await stateOf(node2)).to.equal(DomainState.Shutoff);
    await conn.domainRestoreFlags(file);
    expect(await stateOf(node2)).to.equal(DomainState.Running);
  });

  it('reboots a running domain', async () => {
    const node3 = dom('node3');
    await node3.reboot();
    await pollUntil('node3 running after reboot', async () => {
      return (await stateOf(node3)) === DomainState.Running;
    });
  });

  it('refuses a plain undefine of a domain with snapshots', async () => {
    const node1 = dom('node1');
    await node1.destroyFlags();
    try {
      await node1.undefineFlags();
      expect.fail('undefine without SnapshotsMetadata succeeded');
    } catch (err) {
      expect(isLibvirtError(err, ErrorNumber.OperationInvalid), String(err)).to.equal(true);
    }
  });

  it('destroys and undefines every domain with all flags, leaving no volumes', async () => {
    // node3 keeps a managed-save image, so its undefine needs the ManagedSave flag.
    await dom('node3').managedSave();
    for (const n of NODES) {
      const d = dom(n.name);
      if (await d.isActive()) await d.destroyFlags();
      await d.undefineFlags(UNDEFINE_ALL);
    }
    expect(await conn.listAllDomains()).to.deep.equal([]);
    for (const vol of await pool.listAllVolumes()) await vol.delete();
    await pool.refresh();
    expect(await pool.listAllVolumes()).to.deep.equal([]);
    expect(await readdir(join(lv.dir, 'pool'))).to.deep.equal([]);
    await pool.destroy();
    await pool.undefine();
    await network.destroy();
    await network.undefine();
    expect(await conn.listAllNetworks()).to.deep.equal([]);
    expect(await conn.listAllStoragePools()).to.deep.equal([]);
  });

  it('fires the close callback when libvirtd dies, and reconnects once it is back', async () => {
    let onClose: (e: CloseEvent) => void = () => undefined;
    const closed = new Promise<CloseEvent>((resolve) => {
      onClose = resolve;
    });
    await conn.registerCloseCallback((e) => onClose(e));
    await lv.kill();
    const event = await Promise.race([
      closed,
      // Unref'd: a pending guard timer must not hold the test process open afterwards.
      delay(30_000, undefined, { ref: false }).then(() => {
        throw new Error('the close callback did not fire within 30 s');
      }),
    ]);
    expect([ConnectCloseReason.Eof, ConnectCloseReason.Error]).to.include(event.reason);
    expect(await conn.isAlive()).to.equal(false);
    await conn.close().catch(() => undefined);

    try {
      await Connection.open(lv.uri);
      expect.fail('opened a connection to a dead daemon');
    } catch (err) {
      expect(isLibvirtError(err), String(err)).to.equal(true);
    }

    await lv.restart();
    conn = await Connection.open(lv.uri);
    expect(await conn.getType()).to.equal('QEMU');
    expect(await conn.isAlive()).to.equal(true);
  });
});
