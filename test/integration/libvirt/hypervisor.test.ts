// The real Hypervisor and connection pool on a private libvirtd with QEMU TCG: a network, a
// dir pool, volumes (one cloned) and a tiny BIOS domain with no guest OS, driven only through
// the idempotent verbs. The point of the file is the network IP change: the network is
// redefined and restarted on a new address while the domain runs, and its tap must be back on
// the bridge afterwards (`ip link show master <bridge>` in the harness's namespace). Then
// power verbs, events, deletion, and a daemon kill under the pool (`down`, then `up`).
import { expect } from 'chai';
import { join } from 'node:path';
import {
  type Connection,
  type ConnectionPool,
  createConnectionPool,
  createLibvirtHypervisor,
  type DomainEvent,
  DomainEventType,
  type LibvirtCallResult,
  type LibvirtHypervisor,
  type OwnedDomainDescription,
  type OwnedNetworkDescription,
} from '../../../src/libvirt/index.js';
import { DomainJobType, ErrorNumber } from '../../../src/libvirt/constants.js';
import { isLibvirtError } from '../../../src/libvirt/errors.js';
import type { OwnerMetadata } from '../../../src/libvirt/xml/index.js';
import { kvmExpected, type PrivateLibvirtd, startPrivateLibvirtd } from '../../support/libvirtd.js';
import { waitFor } from '../../support/wait.js';

const MiB = 1024 * 1024;
const POOL = 'hvit';
const BRIDGE = 'mlthv0';
const DOMAIN = 'lab.hv1';
const MAC = '52:54:00:7f:06:01';
const NETWORK = 'lab.hvnet';
const DHCP_NETWORK = 'lab.hvdhcp';

const netOwner: OwnerMetadata = {
  kind: 'VirtNetwork',
  namespace: 'lab',
  name: 'hvnet',
  uid: 'c0ffee00-0000-4000-8000-000000000001',
};
const nodeOwner: OwnerMetadata = {
  kind: 'MaasNode',
  namespace: 'lab',
  name: 'hv1',
  uid: 'c0ffee00-0000-4000-8000-000000000002',
};

const network = (address: string): OwnedNetworkDescription => ({
  name: NETWORK,
  mode: 'isolated',
  bridge: { name: BRIDGE },
  ipv4: { address, prefix: 24 },
  owner: netOwner,
});

const volumes = [
  { pool: POOL, name: `${DOMAIN}-root.qcow2`, capacityBytes: 16 * MiB, format: 'qcow2' },
  {
    pool: POOL,
    name: `${DOMAIN}-copy.qcow2`,
    capacityBytes: 16 * MiB,
    format: 'qcow2',
    cloneFrom: { pool: POOL, volume: `${DOMAIN}-root.qcow2` },
  },
] as const;

/** What desiredDomain() would build for a 128 MiB BIOS node: PXE first, then the disk. */
const domain: OwnedDomainDescription = {
  name: DOMAIN,
  type: 'qemu',
  memoryBytes: 128 * MiB,
  vcpus: 1,
  arch: 'x86_64',
  machine: 'pc',
  firmware: 'bios',
  bootOrder: ['network', 'disk'],
  disks: [{ pool: POOL, volume: volumes[0].name, format: 'qcow2', bus: 'virtio' }],
  interfaces: [{ mac: MAC, network: NETWORK, model: 'virtio' }],
  vnc: { listen: '127.0.0.1' },
  owner: { ...nodeOwner, specHash: 'v1' },
};

describe('Hypervisor on a private libvirtd (QEMU)', function () {
  this.timeout(300_000);
  let lv: PrivateLibvirtd;
  let pool: ConnectionPool<Connection>;
  let hv: LibvirtHypervisor;
  const calls: { op: string; result: LibvirtCallResult }[] = [];
  const poolEvents: string[] = [];
  const domainEvents: DomainEvent[] = [];

  /** The ports of our bridge, one `ip -o link` line each. */
  const bridgePorts = async (): Promise<string> =>
    lv.netnsExec(['ip', '-o', 'link', 'show', 'master', BRIDGE]);
  const tapOf = async (): Promise<string> => {
    const nic = (await hv.observeDomain(DOMAIN))?.live?.interfaces.find((i) => i.mac === MAC);
    expect(nic?.targetDev, 'the NIC has a tap').to.match(/^vnet\d+$/);
    return nic?.targetDev ?? '';
  };

  before(async () => {
    lv = await startPrivateLibvirtd();
    pool = createConnectionPool();
    pool.on('up', (uri) => poolEvents.push(`up ${uri === lv.uri}`));
    pool.on('down', (uri, info) => poolEvents.push(`down ${uri === lv.uri} ${info.why}`));
    hv = createLibvirtHypervisor({
      uri: lv.uri,
      name: 'it',
      connections: pool,
      metrics: { observeCall: (_h, op, _s, result) => void calls.push({ op, result }) },
    });
    hv.onDomainEvent((e) => domainEvents.push(e));
  });

  after(async () => {
    await hv?.close();
    await pool?.close();
    await lv?.stop();
  });

  it('reports the host: QEMU, 9.x, capacity', async () => {
    const info = await hv.hostInfo();
    expect(info.hypervisorType).to.equal('QEMU');
    expect(info.libvirtVersion).to.be.at.least(9_000_000);
    expect(info.cpus).to.be.greaterThan(0);
    expect(info.domains).to.deep.equal([]);
    // The MaasNode controller chooses the domain type from this (desiredDomain: kvm or qemu).
    expect(info.kvm, 'kvm offered exactly where /dev/kvm is usable').to.equal(await kvmExpected());
  });

  it('creates the dir pool, the network and the volumes once each', async () => {
    const path = join(lv.dir, 'pool');
    expect((await hv.ensurePool({ name: POOL, path })).changed).to.equal(true);
    expect((await hv.ensurePool({ name: POOL, path })).changed).to.equal(false);
    expect((await hv.ensureNetwork(network('10.81.0.1'))).changed).to.equal(true);
    expect((await hv.ensureNetwork(network('10.81.0.1'))).changed).to.equal(false);
    const net = await hv.observeNetwork(NETWORK);
    expect(net?.active).to.equal(true);
    expect(net?.bridge).to.equal(BRIDGE);
    expect(net?.owner?.uid).to.equal(netOwner.uid);
    const created = await hv.ensureVolumes(volumes);
    expect(created.created).to.deep.equal(volumes.map((v) => v.name));
    expect((await hv.ensureVolumes(volumes)).changed).to.equal(false);
  });

  it('defines and starts the domain; its tap is on the bridge', async () => {
    expect((await hv.defineDomain(domain)).changed).to.equal(true);
    expect((await hv.defineDomain(domain)).changed).to.equal(false);
    expect((await hv.start(DOMAIN, nodeOwner)).changed).to.equal(true);
    const seen = await hv.observeDomain(DOMAIN);
    expect(seen?.state).to.equal('running');
    expect(seen?.owner?.uid).to.equal(nodeOwner.uid);
    expect(await bridgePorts()).to.include(`${await tapOf()}:`);
  });

  it('changes the network address: restarted, domain still running, tap back on the bridge', async () => {
    const before = await hv.observeDomain(DOMAIN);
    const tap = await tapOf();
    const result = await hv.applyNetworkChange(network('10.82.0.1'), {
      kind: 'redefineAndRestart',
      reasons: ['ipv4.address: "10.81.0.1" → "10.82.0.1"'],
    });
    expect(result.changed).to.equal(true);
    expect(result.replugged).to.deep.equal([{ domain: DOMAIN, mac: MAC }]);
    const net = await hv.observeNetwork(NETWORK);
    expect(net?.live?.ipv4?.address).to.equal('10.82.0.1');
    expect(net?.parsed.ipv4?.address).to.equal('10.82.0.1');
    expect(await lv.netnsExec(['ip', '-o', '-4', 'addr', 'show', BRIDGE])).to.include(
      '10.82.0.1/24',
    );
    const after = await hv.observeDomain(DOMAIN);
    expect(after?.state).to.equal('running');
    expect(after?.id, 'the same boot: never restarted').to.equal(before?.id);
    const nic = after?.live?.interfaces.find((i) => i.mac === MAC);
    expect(nic?.type).to.equal('network');
    expect(nic?.network).to.equal(NETWORK);
    expect(nic?.targetDev).to.equal(tap);
    expect(await bridgePorts()).to.include(`${tap}:`);
    // Idempotent: the same change again is a no-op.
    const again = await hv.applyNetworkChange(network('10.82.0.1'), {
      kind: 'redefineAndRestart',
      reasons: [],
    });
    expect(again).to.deep.equal({ changed: false, replugged: [] });
  });

  it('re-plugs after a net-destroy by hand when ensureNetwork starts the network again', async () => {
    const tap = await tapOf();
    await lv.virsh(['net-destroy', NETWORK]);
    await lv.virsh(['net-start', NETWORK]);
    expect(await bridgePorts(), 'libvirt leaves the tap off the new bridge').to.equal('');
    await lv.virsh(['net-destroy', NETWORK]);
    const result = await hv.ensureNetwork(network('10.82.0.1'));
    expect(result.replugged).to.deep.equal([{ domain: DOMAIN, mac: MAC }]);
    expect(await bridgePorts()).to.include(`${tap}:`);
  });

  it('updates DHCP hosts live, once', async () => {
    const desc: OwnedNetworkDescription = {
      name: DHCP_NETWORK,
      mode: 'isolated',
      bridge: { name: 'mlthv1' },
      ipv4: {
        address: '10.83.0.1',
        prefix: 24,
        dhcp: { ranges: [{ start: '10.83.0.100', end: '10.83.0.200' }], hosts: [] },
      },
      owner: { ...netOwner, name: 'hvdhcp', uid: 'c0ffee00-0000-4000-8000-000000000003' },
    };
    await hv.ensureNetwork(desc);
    const host = { mac: '52:54:00:7f:06:09', ip: '10.83.0.9', name: 'n9' };
    const change = { kind: 'dhcpHostsLive', add: [host], remove: [], modify: [] } as const;
    expect((await hv.applyNetworkChange(desc, change)).changed).to.equal(true);
    expect((await hv.applyNetworkChange(desc, change)).changed).to.equal(false);
    const net = await hv.observeNetwork(DHCP_NETWORK);
    expect(net?.live?.ipv4?.dhcp?.hosts).to.deep.include(host);
    expect(net?.parsed.ipv4?.dhcp?.hosts).to.deep.include(host);
    expect((await hv.deleteNetwork(DHCP_NETWORK, desc.owner)).changed).to.equal(true);
  });

  it('notices a virsh destroy through a Stopped event, and power-cycles on reboot', async () => {
    await lv.virsh(['destroy', DOMAIN]);
    await waitFor(
      () => domainEvents.some((e) => e.name === DOMAIN && e.event === DomainEventType.Stopped),
      { description: 'a Stopped event', timeoutMs: 10_000 },
    );
    expect((await hv.start(DOMAIN, nodeOwner)).changed).to.equal(true);
    const before = (await hv.observeDomain(DOMAIN))?.id;
    expect((await hv.reboot(DOMAIN, nodeOwner)).changed).to.equal(true);
    const after = await hv.observeDomain(DOMAIN);
    expect(after?.state).to.equal('running');
    expect(after?.id).to.not.equal(before);
  });

  it("reads a running domain's job (none) and refuses to abort a job that does not exist", async () => {
    const conn = await pool.get(lv.uri);
    using dom = await conn.domainLookupByName(DOMAIN);
    const info = await dom.getJobInfo();
    expect(info.type).to.equal(DomainJobType.None);
    expect(info.dataTotal).to.equal(0);
    let refused: unknown;
    await dom.abortJob().catch((e: unknown) => (refused = e));
    expect(isLibvirtError(refused) && refused.code, String(refused)).to.equal(
      ErrorNumber.OperationInvalid,
    );
  });

  it('a managed save asked with an already aborted signal does not happen: the domain runs on', async () => {
    const reason = new Error('the pass was cancelled');
    let err: unknown;
    await hv
      .managedSave(DOMAIN, nodeOwner, { signal: AbortSignal.abort(reason) })
      .catch((e: unknown) => (err = e));
    expect(err).to.equal(reason);
    const seen = await hv.observeDomain(DOMAIN);
    expect(seen?.state).to.equal('running');
    expect(seen?.hasManagedSave).to.equal(false);
  });

  it('saves to the managed image and restores from it', async () => {
    // Followed as the operator follows it (progress and a live signal); this guest's few
    // touched pages may be written before the first progress read, so none is required.
    const progress: number[] = [];
    const saved0 = await hv.managedSave(DOMAIN, nodeOwner, {
      signal: new AbortController().signal,
      onProgress: ({ done }) => void progress.push(done),
    });
    expect(saved0.changed).to.equal(true);
    expect(progress).to.deep.equal([...progress].sort((a, b) => a - b));
    const saved = await hv.observeDomain(DOMAIN);
    expect(saved?.state).to.equal('shutoff');
    expect(saved?.hasManagedSave).to.equal(true);
    expect(await hv.startFromManagedSave(DOMAIN, nodeOwner)).to.deep.equal({
      changed: true,
      restored: true,
    });
    expect((await hv.observeDomain(DOMAIN))?.state).to.equal('running');
  });

  it('goes down when libvirtd dies and up once it is back; the domain is still there', async () => {
    await lv.kill();
    await waitFor(() => poolEvents.includes('down true closed'), {
      description: 'the pool to emit down',
      timeoutMs: 30_000,
    });
    expect(pool.isUp(lv.uri)).to.equal(false);
    await lv.restart();
    await waitFor(() => poolEvents.includes('up true') && pool.isUp(lv.uri), {
      description: 'the pool to reconnect',
      timeoutMs: 60_000,
    });
    const seen = await hv.observeDomain(DOMAIN);
    expect(seen?.state).to.equal('running');
    expect((await hv.hostInfo()).domains.map((d) => d.name)).to.deep.equal([DOMAIN]);
    // Events are registered again on the new connection.
    const stops = (): number =>
      domainEvents.filter((e) => e.name === DOMAIN && e.event === DomainEventType.Stopped).length;
    const seenStops = stops();
    await lv.virsh(['destroy', DOMAIN]);
    await waitFor(() => stops() > seenStops, {
      description: 'a Stopped event on the new connection',
      timeoutMs: 10_000,
    });
  });

  it('deletes the running domain (NVRAM flag accepted on BIOS), the volumes and the network', async () => {
    await hv.start(DOMAIN, nodeOwner);
    expect((await hv.deleteDomain(DOMAIN, nodeOwner)).changed).to.equal(true);
    expect((await hv.deleteDomain(DOMAIN, nodeOwner)).changed).to.equal(false);
    const undefines = calls.filter((c) => c.op === 'virDomainUndefineFlags');
    expect(undefines.map((c) => c.result)).to.deep.equal(['success']);
    expect(await hv.observeDomain(DOMAIN)).to.equal(undefined);
    const deleted = await hv.deleteVolumes(volumes);
    expect(deleted.deleted).to.deep.equal(volumes.map((v) => v.name));
    expect((await hv.deleteNetwork(NETWORK, netOwner)).changed).to.equal(true);
    expect(await hv.observeNetwork(NETWORK)).to.equal(undefined);
    expect(await lv.virsh(['net-list', '--all', '--name'])).to.not.include(NETWORK);
    expect(await lv.virsh(['vol-list', POOL])).to.not.include(DOMAIN);
  });

  it('looks a pool up afresh once the pool its kept handle names was undefined', async () => {
    const name = `${POOL}-kept`;
    const path = join(lv.dir, 'pool-kept');
    const vol = (n: string) =>
      ({ pool: name, name: n, capacityBytes: 1 << 20, format: 'raw' }) as const;
    await hv.ensurePool({ name, path });
    expect((await hv.ensureVolumes([vol('kept-a.raw')])).created).to.deep.equal(['kept-a.raw']);
    // Undefined and defined again: a new UUID, so the kept handle names no pool.
    await lv.virsh(['pool-destroy', name]);
    await lv.virsh(['pool-undefine', name]);
    await hv.ensurePool({ name, path });
    calls.length = 0;
    const again = await hv.ensureVolumes([vol('kept-b.raw')]);
    expect(again.created).to.deep.equal(['kept-b.raw']);
    // NO_STORAGE_POOL through the kept handle, then one fresh lookup.
    expect(calls.filter((c) => c.op === 'virStoragePoolLookupByName')).to.have.length(1);
    await hv.deleteVolumes([
      { pool: name, name: 'kept-a.raw' },
      { pool: name, name: 'kept-b.raw' },
    ]);
    await lv.virsh(['pool-destroy', name]);
    await lv.virsh(['pool-undefine', name]);
  });
});
