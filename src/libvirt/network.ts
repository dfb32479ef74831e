// virNetwork. Method names are libvirt's C names without `vir` and `Network`.
//
// Ownership: libvirt 9.0 has no virNetworkGetMetadata/SetMetadata (added in 9.7),
// so owned networks are recognised by a recorded name + UUID (getName/getUUIDString)
// and by what the XML layer writes into the network's XML; this wrapper only
// exposes what libvirt offers.
import { raw, type NetworkHandle } from './binding.js';
import {
  type IPAddrType,
  type NetworkUpdateCommand,
  type NetworkUpdateFlags,
  type NetworkUpdateSection,
  type NetworkXMLFlags,
} from './constants.js';
import { type Flags, flagsOf, LibvirtObject } from './object.js';

/** virNetworkDHCPLease, with `type` typed and `expirytime` as a Date. */
export interface DHCPLease {
  iface: string;
  expiryTime: Date;
  type: IPAddrType;
  mac: string;
  iaid: string | null;
  ipaddr: string;
  prefix: number;
  hostname: string | null;
  clientid: string | null;
}

/** A libvirt virtual network (virNetworkPtr). */
export class Network extends LibvirtObject<NetworkHandle> {
  /**
   * virNetworkGetName (local, no I/O).
   * @see https://libvirt.org/html/libvirt-libvirt-network.html#virNetworkGetName
   */
  getName(): string {
    return raw.networkGetName(this.handle);
  }

  /**
   * virNetworkGetUUIDString (local, no I/O).
   * @see https://libvirt.org/html/libvirt-libvirt-network.html#virNetworkGetUUIDString
   */
  getUUIDString(): string {
    return raw.networkGetUUIDString(this.handle);
  }

  /**
   * virNetworkCreate: start a defined network.
   * @see https://libvirt.org/html/libvirt-libvirt-network.html#virNetworkCreate
   */
  create(): Promise<void> {
    return raw.networkCreate(this.handle);
  }

  /**
   * virNetworkDestroy: stop the network.
   * @see https://libvirt.org/html/libvirt-libvirt-network.html#virNetworkDestroy
   */
  destroy(): Promise<void> {
    return raw.networkDestroy(this.handle);
  }

  /**
   * virNetworkUndefine
   * @see https://libvirt.org/html/libvirt-libvirt-network.html#virNetworkUndefine
   */
  undefine(): Promise<void> {
    return raw.networkUndefine(this.handle);
  }

  /**
   * virNetworkSetAutostart
   * @see https://libvirt.org/html/libvirt-libvirt-network.html#virNetworkSetAutostart
   */
  setAutostart(autostart: boolean): Promise<void> {
    return raw.networkSetAutostart(this.handle, autostart);
  }

  /**
   * virNetworkGetAutostart
   * @see https://libvirt.org/html/libvirt-libvirt-network.html#virNetworkGetAutostart
   */
  getAutostart(): Promise<boolean> {
    return raw.networkGetAutostart(this.handle);
  }

  /**
   * virNetworkIsActive
   * @see https://libvirt.org/html/libvirt-libvirt-network.html#virNetworkIsActive
   */
  isActive(): Promise<boolean> {
    return raw.networkIsActive(this.handle);
  }

  /**
   * virNetworkIsPersistent
   * @see https://libvirt.org/html/libvirt-libvirt-network.html#virNetworkIsPersistent
   */
  isPersistent(): Promise<boolean> {
    return raw.networkIsPersistent(this.handle);
  }

  /**
   * virNetworkGetXMLDesc
   * @see https://libvirt.org/html/libvirt-libvirt-network.html#virNetworkGetXMLDesc
   */
  getXMLDesc(flags?: Flags<NetworkXMLFlags>): Promise<string> {
    return raw.networkGetXMLDesc(this.handle, flagsOf(flags));
  }

  /**
   * virNetworkGetBridgeName
   * @see https://libvirt.org/html/libvirt-libvirt-network.html#virNetworkGetBridgeName
   */
  getBridgeName(): Promise<string> {
    return raw.networkGetBridgeName(this.handle);
  }

  /**
   * virNetworkGetDHCPLeases, optionally for one MAC address.
   * @see https://libvirt.org/html/libvirt-libvirt-network.html#virNetworkGetDHCPLeases
   */
  async getDHCPLeases(mac?: string): Promise<DHCPLease[]> {
    const leases = await raw.networkGetDHCPLeases(this.handle, mac ?? null, 0);
    return leases.map(({ expirytime, type, ...rest }) => ({
      ...rest,
      expiryTime: new Date(expirytime * 1000),
      type: type as IPAddrType,
    }));
  }

  /**
   * virNetworkUpdate: live/config change of one section, e.g. add a DHCP host with
   * (NetworkUpdateCommand.AddLast, NetworkUpdateSection.IpDhcpHost, -1, '<host .../>').
   * @see https://libvirt.org/html/libvirt-libvirt-network.html#virNetworkUpdate
   */
  update(
    command: NetworkUpdateCommand,
    section: NetworkUpdateSection,
    parentIndex: number,
    xml: string,
    flags?: Flags<NetworkUpdateFlags>,
  ): Promise<void> {
    return raw.networkUpdate(this.handle, command, section, parentIndex, xml, flagsOf(flags));
  }
}
