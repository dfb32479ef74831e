import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Connection,
  type Domain,
  ConnectListAllDomainsFlags,
  DomainDefineFlags,
  DomainDestroyFlags,
  DomainDeviceModifyFlags,
  DomainMetadataType,
  DomainPausedReason,
  DomainRunningReason,
  DomainShutoffReason,
  DomainState,
  DomainUndefineFlags,
  DomainXMLFlags,
  ErrorNumber,
  isLibvirtError,
  isNotFound,
  MAASLAB_XMLNS,
} from '../../../src/libvirt/index.js';
import { domainXML, openTest, rejection, uniqueName } from './fixtures.js';

describe('libvirt Domain (test:///default)', () => {
  let conn: Connection;
  let tmp: string;
  const cleanup: Domain[] = [];

  before(() => {
    tmp = mkdtempSync(join(tmpdir(), 'maaslab-domain-'));
  });
  after(() => {
    rmSync(tmp, { recursive: true, force: true });
  });
  beforeEach(async () => {
    conn = await openTest();
  });
  afterEach(async () => {
    for (const d of cleanup.splice(0)) {
      await d.destroyFlags().catch(() => undefined);
      await d
        .undefineFlags([DomainUndefineFlags.ManagedSave, DomainUndefineFlags.SnapshotsMetadata])
        .catch(() => undefined);
      d.free();
    }
    await conn.close();
  });

  async function define(name = uniqueName('dom')): Promise<Domain> {
    const d = await conn.domainDefineXMLFlags(domainXML(name), DomainDefineFlags.Validate);
    cleanup.push(d);
    return d;
  }

  it('defines with validation, looks up by name and UUID, lists', async () => {
    const name = uniqueName('dom');
    const d = await define(name);
    expect(d.getName()).to.equal(name);
    const uuid = d.getUUIDString();
    expect(uuid).to.match(/^[0-9a-f-]{36}$/);
    using byName = await conn.domainLookupByName(name);
    using byUUID = await conn.domainLookupByUUIDString(uuid);
    expect(byName.getUUIDString()).to.equal(uuid);
    expect(byUUID.getName()).to.equal(name);
    expect(await d.isPersistent()).to.equal(true);
    expect(await d.isActive()).to.equal(false);
    expect(d.getID()).to.equal(-1);
    const inactive = await conn.listAllDomains(ConnectListAllDomainsFlags.Inactive);
    expect(inactive.map((x) => x.getName())).to.include(name);
    inactive.forEach((x) => x.free());
  });

  it('observe reads state, persistence, managed save and both definitions in one call', async () => {
    const name = uniqueName('dom');
    const d = await define(name);
    const off = await d.observe();
    expect(off).to.deep.include({
      state: DomainState.Shutoff,
      persistent: true,
      hasManagedSave: false,
      liveXml: null,
    });
    expect(off.reason).to.equal((await d.getState()).reason);
    expect(off.inactiveXml).to.equal(await d.getXMLDesc(DomainXMLFlags.Inactive));
    await d.createWithFlags();
    const on = await d.observe();
    expect(on).to.deep.include({ state: DomainState.Running, persistent: true });
    expect(on.liveXml).to.equal(await d.getXMLDesc());
    expect(on.liveXml).to.contain(`<name>${name}</name>`);
    await d.managedSave();
    expect(await d.observe()).to.deep.include({
      state: DomainState.Shutoff,
      hasManagedSave: true,
      liveXml: null,
    });
    // A domain gone under the handle: the first failing call's error.
    await d.undefineFlags([DomainUndefineFlags.ManagedSave]);
    const err = await rejection(() => d.observe());
    expect(isLibvirtError(err, ErrorNumber.NoDomain)).to.equal(true);
  });

  it('observeLive reads the state and, while active, the live definition alone', async () => {
    const name = uniqueName('dom');
    const d = await define(name);
    const off = await d.observeLive();
    expect(off).to.deep.equal({ ...(await d.getState()), liveXml: null });
    await d.createWithFlags();
    const on = await d.observeLive();
    expect(on.state).to.equal(DomainState.Running);
    expect(on.liveXml).to.equal(await d.getXMLDesc());
    expect(Object.keys(on).sort()).to.deep.equal(['liveXml', 'reason', 'state']);
    // A domain gone under the handle: the first failing call's error.
    await d.destroyFlags();
    await d.undefineFlags();
    const err = await rejection(() => d.observeLive());
    expect(isLibvirtError(err, ErrorNumber.NoDomain)).to.equal(true);
  });

  it('rejects invalid XML with the validate flag', async () => {
    const bad = domainXML(uniqueName('dom')).replace('<vcpu>1</vcpu>', '<vcpu>1</vcpu><bogus/>');
    const err = await rejection(() => conn.domainDefineXMLFlags(bad, DomainDefineFlags.Validate));
    expect(isLibvirtError(err, ErrorNumber.XmlInvalidSchema)).to.equal(true);
  });

  it('starts, suspends, resumes, reboots, resets, shuts down', async () => {
    const d = await define();
    await d.createWithFlags();
    expect(await d.getState()).to.deep.equal({
      state: DomainState.Running,
      reason: DomainRunningReason.Booted,
    });
    expect(d.getID()).to.be.greaterThan(0);
    await d.suspend();
    expect(await d.getState()).to.deep.equal({
      state: DomainState.Paused,
      reason: DomainPausedReason.User,
    });
    await d.resume();
    await d.reboot();
    await d.reset();
    expect((await d.getState()).state).to.equal(DomainState.Running);
    const info = await d.getInfo();
    expect(info.state).to.equal(DomainState.Running);
    expect(info.maxMem).to.equal(128 * 1024);
    expect(info.nrVirtCpu).to.equal(1);
    expect(typeof info.cpuTime).to.equal('bigint');
    await d.shutdownFlags();
    expect(await d.getState()).to.deep.equal({
      state: DomainState.Shutoff,
      reason: DomainShutoffReason.Shutdown,
    });
  });

  it('destroys gracefully', async () => {
    const d = await define();
    await d.createWithFlags();
    await d.destroyFlags(DomainDestroyFlags.Graceful);
    expect(await d.getState()).to.deep.equal({
      state: DomainState.Shutoff,
      reason: DomainShutoffReason.Destroyed,
    });
    const err = await rejection(() => d.destroyFlags());
    expect(isLibvirtError(err, ErrorNumber.OperationInvalid)).to.equal(true);
  });

  it('managed-saves, reports and removes the image, restarts from it', async () => {
    const d = await define();
    await d.createWithFlags();
    await d.managedSave();
    expect(await d.hasManagedSaveImage()).to.equal(true);
    expect(await d.getState()).to.deep.equal({
      state: DomainState.Shutoff,
      reason: DomainShutoffReason.Saved,
    });
    await d.createWithFlags(); // resumes from the managed image
    expect(await d.hasManagedSaveImage()).to.equal(false);
    await d.managedSave();
    await d.managedSaveRemove();
    expect(await d.hasManagedSaveImage()).to.equal(false);
  });

  it('saves to a file and restores from it', async () => {
    const d = await define();
    await d.createWithFlags();
    const file = join(tmp, `${d.getName()}.save`);
    await d.saveFlags(file);
    expect(await d.isActive()).to.equal(false);
    await conn.domainRestoreFlags(file);
    expect(await d.isActive()).to.equal(true);
  });

  it('sets and gets autostart', async () => {
    const d = await define();
    expect(await d.getAutostart()).to.equal(false);
    await d.setAutostart(true);
    expect(await d.getAutostart()).to.equal(true);
  });

  it('returns XML with inactive and secure flags', async () => {
    const name = uniqueName('dom');
    const d = await define(name);
    const xml = await d.getXMLDesc([DomainXMLFlags.Inactive, DomainXMLFlags.Secure]);
    expect(xml).to.contain(`<name>${name}</name>`);
    expect(xml).to.contain('52:54:00:7f:04:01');
  });

  it('reads and writes our ownership metadata', async () => {
    const d = await define();
    const owner = await d.getMetadata(DomainMetadataType.Element, MAASLAB_XMLNS);
    expect(owner).to.contain('kind="Machine"');
    await d.setMetadata(
      DomainMetadataType.Element,
      '<owner uid="u2" namespace="lab" name="x" kind="Machine"/>',
      'maaslab',
      MAASLAB_XMLNS,
    );
    expect(await d.getMetadata(DomainMetadataType.Element, MAASLAB_XMLNS)).to.contain('uid="u2"');
    await d.setMetadata(DomainMetadataType.Element, null, undefined, MAASLAB_XMLNS);
    const err = await rejection(() => d.getMetadata(DomainMetadataType.Element, MAASLAB_XMLNS));
    expect(isLibvirtError(err, ErrorNumber.NoDomainMetadata)).to.equal(true);
    await d.setMetadata(DomainMetadataType.Title, 'a title');
    expect(await d.getMetadata(DomainMetadataType.Title)).to.equal('a title');
  });

  it('attach/detach/update device reach libvirt (unsupported by the test driver)', async () => {
    // test:///default has no device hotplug; the integration tests cover success.
    const d = await define();
    const nic = `<interface type='network'><mac address='52:54:00:7f:04:02'/><source network='default'/></interface>`;
    for (const op of [
      () => d.attachDeviceFlags(nic, DomainDeviceModifyFlags.Config),
      () => d.detachDeviceFlags(nic, DomainDeviceModifyFlags.Config),
      () => d.updateDeviceFlags(nic, [DomainDeviceModifyFlags.Config]),
    ]) {
      const err = await rejection(op);
      expect(isLibvirtError(err, ErrorNumber.NoSupport)).to.equal(true);
    }
  });

  it('creates, lists, looks up, reverts and deletes snapshots', async () => {
    const d = await define();
    await d.createWithFlags();
    const s1 = await d.snapshotCreateXML('<domainsnapshot><name>s1</name></domainsnapshot>');
    expect(s1.getName()).to.equal('s1');
    await d.suspend();
    const s2 = await d.snapshotCreateXML('<domainsnapshot><name>s2</name></domainsnapshot>');
    expect(await s2.isCurrent()).to.equal(true);
    expect((await s2.getParent()).getName()).to.equal('s1');
    expect((await d.listAllSnapshots()).map((s) => s.getName()).sort()).to.deep.equal(['s1', 's2']);
    expect((await s1.listAllChildren()).map((s) => s.getName())).to.deep.equal(['s2']);
    expect(await d.hasCurrentSnapshot()).to.equal(true);
    expect(await s1.getXMLDesc()).to.contain('<name>s1</name>');
    using found = await d.snapshotLookupByName('s1');
    await found.revertToSnapshot();
    expect((await d.getState()).state).to.equal(DomainState.Running);
    expect((await d.snapshotCurrent()).getName()).to.equal('s1');
    await s2.delete();
    const err = await rejection(() => d.snapshotLookupByName('s2'));
    expect(isLibvirtError(err, ErrorNumber.NoDomainSnapshot)).to.equal(true);
    expect(isNotFound(err)).to.equal(true);
  });

  it('refuses to undefine a domain with snapshots unless told to drop their metadata', async () => {
    const d = await define();
    await d.snapshotCreateXML('<domainsnapshot><name>keep</name></domainsnapshot>');
    const err = await rejection(() => d.undefineFlags());
    expect(isLibvirtError(err, ErrorNumber.OperationInvalid)).to.equal(true);
    await d.undefineFlags([DomainUndefineFlags.SnapshotsMetadata, DomainUndefineFlags.ManagedSave]);
    const gone = await rejection(() => conn.domainLookupByName(d.getName()));
    expect(isLibvirtError(gone, ErrorNumber.NoDomain)).to.equal(true);
  });

  it('reports NO_DOMAIN for unknown names and UUIDs', async () => {
    const err = await rejection(() => conn.domainLookupByName('maaslab-no-such-domain'));
    expect(isLibvirtError(err, ErrorNumber.NoDomain)).to.equal(true);
    const e2 = await rejection(() =>
      conn.domainLookupByUUIDString('00000000-0000-0000-0000-000000000042'),
    );
    expect(isNotFound(e2)).to.equal(true);
  });

  it('refuses calls on a freed handle without crashing', async () => {
    const d = await define();
    using again = await conn.domainLookupByName(d.getName());
    again.free();
    expect(again.freed).to.equal(true);
    expect(() => again.getName()).to.throw(/already freed/);
  });
});
