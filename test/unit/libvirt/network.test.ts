import { expect } from 'chai';
import {
  type Connection,
  type Network,
  ConnectListAllNetworksFlags,
  ErrorNumber,
  isLibvirtError,
  NetworkUpdateCommand,
  NetworkUpdateFlags,
  NetworkUpdateSection,
  NetworkXMLFlags,
} from '../../../src/libvirt/index.js';
import { networkXML, openTest, rejection, uniqueName } from './fixtures.js';

describe('libvirt Network (test:///default)', () => {
  let conn: Connection;
  const cleanup: Network[] = [];
  let octet = 10;

  beforeEach(async () => {
    conn = await openTest();
  });
  afterEach(async () => {
    for (const n of cleanup.splice(0)) {
      await n.destroy().catch(() => undefined);
      await n.undefine().catch(() => undefined);
      n.free();
    }
    await conn.close();
  });

  async function define(): Promise<{ net: Network; name: string; bridge: string; octet: number }> {
    const name = uniqueName('net');
    octet += 1;
    const bridge = `mlbr${octet}`;
    const net = await conn.networkDefineXMLFlags(networkXML(name, bridge, octet));
    cleanup.push(net);
    return { net, name, bridge, octet };
  }

  it('defines, creates, destroys and undefines', async () => {
    const { net, name } = await define();
    expect(net.getName()).to.equal(name);
    expect(await net.isPersistent()).to.equal(true);
    expect(await net.isActive()).to.equal(false);
    await net.create();
    expect(await net.isActive()).to.equal(true);
    const active = await conn.listAllNetworks(ConnectListAllNetworksFlags.Active);
    expect(active.map((n) => n.getName())).to.include(name);
    await net.destroy();
    expect(await net.isActive()).to.equal(false);
    await net.undefine();
    const err = await rejection(() => conn.networkLookupByName(name));
    expect(isLibvirtError(err, ErrorNumber.NoNetwork)).to.equal(true);
  });

  it('looks up by name and UUID, reports bridge and XML, autostart', async () => {
    const { net, name, bridge } = await define();
    using byName = await conn.networkLookupByName(name);
    using byUUID = await conn.networkLookupByUUIDString(net.getUUIDString());
    expect(byName.getUUIDString()).to.equal(net.getUUIDString());
    expect(byUUID.getName()).to.equal(name);
    expect(await net.getBridgeName()).to.equal(bridge);
    expect(await net.getXMLDesc()).to.contain(`<name>${name}</name>`);
    // The test driver rejects NetworkXMLFlags.Inactive; the flag still reaches libvirt typed.
    const flagErr = await rejection(() => net.getXMLDesc(NetworkXMLFlags.Inactive));
    expect(isLibvirtError(flagErr, ErrorNumber.InvalidArg)).to.equal(true);
    expect(await net.getAutostart()).to.equal(false);
    await net.setAutostart(true);
    expect(await net.getAutostart()).to.equal(true);
  });

  it('adds a DHCP host live and in the config with virNetworkUpdate', async () => {
    const { net, octet: o } = await define();
    await net.create();
    await net.update(
      NetworkUpdateCommand.AddLast,
      NetworkUpdateSection.IpDhcpHost,
      -1,
      `<host mac='52:54:00:7f:04:01' name='node1' ip='10.77.${o}.11'/>`,
      [NetworkUpdateFlags.Live, NetworkUpdateFlags.Config],
    );
    expect(await net.getXMLDesc()).to.contain("mac='52:54:00:7f:04:01'");
    // The config copy has the host too: it shows once the network is stopped.
    await net.destroy();
    expect(await net.getXMLDesc()).to.contain(`ip='10.77.${o}.11'`);
    await net.update(
      NetworkUpdateCommand.Delete,
      NetworkUpdateSection.IpDhcpHost,
      -1,
      `<host mac='52:54:00:7f:04:01' name='node1' ip='10.77.${o}.11'/>`,
      NetworkUpdateFlags.Config,
    );
    expect(await net.getXMLDesc()).not.to.contain('52:54:00:7f:04:01');
  });

  it('DHCP leases reach libvirt (unsupported by the test driver)', async () => {
    // test:///default has no dnsmasq; the integration tests read real leases.
    const { net } = await define();
    await net.create();
    const err = await rejection(() => net.getDHCPLeases());
    expect(isLibvirtError(err, ErrorNumber.NoSupport)).to.equal(true);
  });

  it('starts a transient network', async () => {
    octet += 1;
    const name = uniqueName('tnet');
    const net = await conn.networkCreateXMLFlags(networkXML(name, `mlbr${octet}`, octet));
    cleanup.push(net);
    expect(await net.isActive()).to.equal(true);
    expect(await net.isPersistent()).to.equal(false);
  });

  it('reports NO_NETWORK and OPERATION_INVALID with their codes', async () => {
    const err = await rejection(() => conn.networkLookupByName('maaslab-no-such-net'));
    expect(isLibvirtError(err, ErrorNumber.NoNetwork)).to.equal(true);
    const { net } = await define();
    await net.create();
    const e2 = await rejection(() => net.create()); // already running
    expect(isLibvirtError(e2, ErrorNumber.OperationInvalid)).to.equal(true);
  });
});
