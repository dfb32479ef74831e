// virConnect. Methods whose C function takes a virConnectPtr first live here;
// their names drop `vir` and a leading `Connect` (virConnectListAllDomains →
// listAllDomains) but keep other object prefixes (virDomainLookupByName →
// domainLookupByName), so every method maps to exactly one libvirt function.
import { raw, type ConnectHandle } from './binding.js';
import {
  type ConnectCloseReason,
  type ConnectFlags,
  type ConnectListAllDomainsFlags,
  type ConnectListAllNetworksFlags,
  type ConnectListAllStoragePoolsFlags,
  type DomainCreateFlags,
  type DomainDefineFlags,
  type DomainEventType,
  type DomainSaveRestoreFlags,
  type NetworkCreateFlags,
  type NetworkDefineFlags,
  type NetworkEventLifecycleType,
  type StoragePoolCreateFlags,
  type StoragePoolDefineFlags,
  type StreamFlags,
} from './constants.js';
import { Domain } from './domain.js';
import {
  type CloseEvent,
  type DomainLifecycleEvent,
  type NetworkLifecycleEvent,
  Subscription,
} from './events.js';
import { Interface } from './interface.js';
import { Network } from './network.js';
import { type Flags, flagsOf, LibvirtObject } from './object.js';
import { StoragePool } from './storage-pool.js';
import { StorageVolume } from './storage-volume.js';
import { Stream } from './stream.js';

/** virNodeInfo. `memory` is in KiB. */
export interface NodeInfo {
  model: string;
  memory: number;
  cpus: number;
  mhz: number;
  nodes: number;
  sockets: number;
  cores: number;
  threads: number;
}

/** Splits libvirt's packed version number (major * 1,000,000 + minor * 1,000 + micro). */
export function formatLibvirtVersion(v: number): string {
  return `${Math.floor(v / 1_000_000)}.${Math.floor(v / 1000) % 1000}.${v % 1000}`;
}

/** A connection to a libvirt driver (virConnectPtr). */
export class Connection extends LibvirtObject<ConnectHandle> implements AsyncDisposable {
  readonly #subscriptions = new Set<Subscription>();

  /**
   * virConnectOpenAuth with the default auth callback. `uri` null/undefined lets
   * libvirt pick its default; ConnectFlags.Ro opens read-only.
   * @see https://libvirt.org/html/libvirt-libvirt-host.html#virConnectOpenAuth
   */
  static async open(uri?: string | null, flags?: Flags<ConnectFlags>): Promise<Connection> {
    return new Connection(await raw.connectOpen(uri ?? null, flagsOf(flags)));
  }

  /**
   * Deregisters every event subscription and the close callback, then
   * virConnectClose off the JS thread. After this the process can exit.
   * @see https://libvirt.org/html/libvirt-libvirt-host.html#virConnectClose
   */
  async close(): Promise<void> {
    if (this.freed) return;
    const subs = [...this.#subscriptions];
    // Deregistration failures (e.g. the daemon is gone) must not keep us open.
    await Promise.allSettled(subs.map((s) => s.deregister()));
    await raw.connectClose(this.handle);
  }

  /**
   * Starts close() without waiting, so the sync `using` and GC-style paths never
   * block the JS thread on a remote virConnectClose. Prefer `await close()`.
   */
  override free(): void {
    void this.close().catch(() => undefined);
  }

  /** Same as close(), for `await using conn = await Connection.open(...)`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * virConnectGetHostname
   * @see https://libvirt.org/html/libvirt-libvirt-host.html#virConnectGetHostname
   */
  getHostname(): Promise<string> {
    return raw.connectGetHostname(this.handle);
  }

  /**
   * virConnectGetURI
   * @see https://libvirt.org/html/libvirt-libvirt-host.html#virConnectGetURI
   */
  getURI(): Promise<string> {
    return raw.connectGetURI(this.handle);
  }

  /**
   * virConnectGetType: the driver name, e.g. 'QEMU' or 'TEST'.
   * @see https://libvirt.org/html/libvirt-libvirt-host.html#virConnectGetType
   */
  getType(): Promise<string> {
    return raw.connectGetType(this.handle);
  }

  /**
   * virConnectGetLibVersion: libvirt's version (major * 1e6 + minor * 1e3 + micro).
   * @see https://libvirt.org/html/libvirt-libvirt-host.html#virConnectGetLibVersion
   */
  getLibVersion(): Promise<number> {
    return raw.connectGetLibVersion(this.handle);
  }

  /**
   * virConnectGetLibVersion on a worker thread of its own, not the connection's lane (whose
   * threads may all be busy): the stall nudge of hypervisor/stall-nudge.ts.
   */
  getLibVersionAside(): Promise<number> {
    return raw.connectGetLibVersionAside(this.handle);
  }

  /**
   * virConnectGetVersion: the hypervisor's version, same packing.
   * @see https://libvirt.org/html/libvirt-libvirt-host.html#virConnectGetVersion
   */
  getVersion(): Promise<number> {
    return raw.connectGetVersion(this.handle);
  }

  /**
   * virConnectGetCapabilities (XML).
   * @see https://libvirt.org/html/libvirt-libvirt-host.html#virConnectGetCapabilities
   */
  getCapabilities(): Promise<string> {
    return raw.connectGetCapabilities(this.handle);
  }

  /**
   * virConnectGetSysinfo (XML). libvirt defines no flags.
   * @see https://libvirt.org/html/libvirt-libvirt-host.html#virConnectGetSysinfo
   */
  getSysinfo(): Promise<string> {
    return raw.connectGetSysinfo(this.handle, 0);
  }

  /**
   * virConnectIsAlive
   * @see https://libvirt.org/html/libvirt-libvirt-host.html#virConnectIsAlive
   */
  isAlive(): Promise<boolean> {
    return raw.connectIsAlive(this.handle);
  }

  /**
   * virConnectSetKeepAlive: ping every `interval` s, close after `count` misses.
   * Resolves false when the remote side does not support keepalive. Local
   * drivers (test:///, qemu:/// in-process) reject with NO_SUPPORT.
   * @see https://libvirt.org/html/libvirt-libvirt-host.html#virConnectSetKeepAlive
   */
  setKeepAlive(interval: number, count: number): Promise<boolean> {
    return raw.connectSetKeepAlive(this.handle, interval, count);
  }

  /**
   * virNodeGetInfo
   * @see https://libvirt.org/html/libvirt-libvirt-host.html#virNodeGetInfo
   */
  nodeGetInfo(): Promise<NodeInfo> {
    return raw.nodeGetInfo(this.handle);
  }

  /**
   * virNodeGetFreeMemory, in bytes.
   * @see https://libvirt.org/html/libvirt-libvirt-host.html#virNodeGetFreeMemory
   */
  nodeGetFreeMemory(): Promise<number> {
    return raw.nodeGetFreeMemory(this.handle);
  }

  /**
   * virConnectListAllDomains
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virConnectListAllDomains
   */
  async listAllDomains(flags?: Flags<ConnectListAllDomainsFlags>): Promise<Domain[]> {
    const hs = await raw.connectListAllDomains(this.handle, flagsOf(flags));
    return hs.map((h) => new Domain(h));
  }

  /**
   * virDomainLookupByName; NO_DOMAIN when absent.
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainLookupByName
   */
  async domainLookupByName(name: string): Promise<Domain> {
    return new Domain(await raw.domainLookupByName(this.handle, name));
  }

  /**
   * virDomainLookupByUUIDString; NO_DOMAIN when absent.
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainLookupByUUIDString
   */
  async domainLookupByUUIDString(uuid: string): Promise<Domain> {
    return new Domain(await raw.domainLookupByUUIDString(this.handle, uuid));
  }

  /**
   * virDomainDefineXMLFlags (DomainDefineFlags.Validate checks the XML against the schema).
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainDefineXMLFlags
   */
  async domainDefineXMLFlags(xml: string, flags?: Flags<DomainDefineFlags>): Promise<Domain> {
    return new Domain(await raw.domainDefineXMLFlags(this.handle, xml, flagsOf(flags)));
  }

  /**
   * virDomainCreateXML: start a transient domain.
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainCreateXML
   */
  async domainCreateXML(xml: string, flags?: Flags<DomainCreateFlags>): Promise<Domain> {
    return new Domain(await raw.domainCreateXML(this.handle, xml, flagsOf(flags)));
  }

  /**
   * virDomainRestoreFlags: restore a domain saved with Domain.saveFlags.
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainRestoreFlags
   */
  domainRestoreFlags(
    from: string,
    dxml?: string,
    flags?: Flags<DomainSaveRestoreFlags>,
  ): Promise<void> {
    return raw.domainRestoreFlags(this.handle, from, dxml ?? null, flagsOf(flags));
  }

  /**
   * virConnectListAllNetworks
   * @see https://libvirt.org/html/libvirt-libvirt-network.html#virConnectListAllNetworks
   */
  async listAllNetworks(flags?: Flags<ConnectListAllNetworksFlags>): Promise<Network[]> {
    const hs = await raw.connectListAllNetworks(this.handle, flagsOf(flags));
    return hs.map((h) => new Network(h));
  }

  /**
   * virNetworkLookupByName; NO_NETWORK when absent.
   * @see https://libvirt.org/html/libvirt-libvirt-network.html#virNetworkLookupByName
   */
  async networkLookupByName(name: string): Promise<Network> {
    return new Network(await raw.networkLookupByName(this.handle, name));
  }

  /**
   * virNetworkLookupByUUIDString; NO_NETWORK when absent.
   * @see https://libvirt.org/html/libvirt-libvirt-network.html#virNetworkLookupByUUIDString
   */
  async networkLookupByUUIDString(uuid: string): Promise<Network> {
    return new Network(await raw.networkLookupByUUIDString(this.handle, uuid));
  }

  /**
   * virNetworkDefineXMLFlags
   * @see https://libvirt.org/html/libvirt-libvirt-network.html#virNetworkDefineXMLFlags
   */
  async networkDefineXMLFlags(xml: string, flags?: Flags<NetworkDefineFlags>): Promise<Network> {
    return new Network(await raw.networkDefineXMLFlags(this.handle, xml, flagsOf(flags)));
  }

  /**
   * virNetworkCreateXMLFlags: start a transient network.
   * @see https://libvirt.org/html/libvirt-libvirt-network.html#virNetworkCreateXMLFlags
   */
  async networkCreateXMLFlags(xml: string, flags?: Flags<NetworkCreateFlags>): Promise<Network> {
    return new Network(await raw.networkCreateXMLFlags(this.handle, xml, flagsOf(flags)));
  }

  /**
   * virInterfaceLookupByName: a host interface (e.g. a bridge); NO_INTERFACE when absent,
   * NO_SUPPORT when the connection has no interface driver.
   * @see https://libvirt.org/html/libvirt-libvirt-interface.html#virInterfaceLookupByName
   */
  async interfaceLookupByName(name: string): Promise<Interface> {
    return new Interface(await raw.interfaceLookupByName(this.handle, name));
  }

  /**
   * virConnectListAllStoragePools
   * @see https://libvirt.org/html/libvirt-libvirt-storage.html#virConnectListAllStoragePools
   */
  async listAllStoragePools(
    flags?: Flags<ConnectListAllStoragePoolsFlags>,
  ): Promise<StoragePool[]> {
    const hs = await raw.connectListAllStoragePools(this.handle, flagsOf(flags));
    return hs.map((h) => new StoragePool(h, this));
  }

  /**
   * virStoragePoolLookupByName; NO_STORAGE_POOL when absent.
   * @see https://libvirt.org/html/libvirt-libvirt-storage.html#virStoragePoolLookupByName
   */
  async storagePoolLookupByName(name: string): Promise<StoragePool> {
    return new StoragePool(await raw.storagePoolLookupByName(this.handle, name), this);
  }

  /**
   * virStoragePoolLookupByUUIDString; NO_STORAGE_POOL when absent.
   * @see https://libvirt.org/html/libvirt-libvirt-storage.html#virStoragePoolLookupByUUIDString
   */
  async storagePoolLookupByUUIDString(uuid: string): Promise<StoragePool> {
    return new StoragePool(await raw.storagePoolLookupByUUIDString(this.handle, uuid), this);
  }

  /**
   * virStoragePoolDefineXML
   * @see https://libvirt.org/html/libvirt-libvirt-storage.html#virStoragePoolDefineXML
   */
  async storagePoolDefineXML(
    xml: string,
    flags?: Flags<StoragePoolDefineFlags>,
  ): Promise<StoragePool> {
    return new StoragePool(await raw.storagePoolDefineXML(this.handle, xml, flagsOf(flags)), this);
  }

  /**
   * virStoragePoolCreateXML: start a transient pool.
   * @see https://libvirt.org/html/libvirt-libvirt-storage.html#virStoragePoolCreateXML
   */
  async storagePoolCreateXML(
    xml: string,
    flags?: Flags<StoragePoolCreateFlags>,
  ): Promise<StoragePool> {
    return new StoragePool(await raw.storagePoolCreateXML(this.handle, xml, flagsOf(flags)), this);
  }

  /**
   * virStorageVolLookupByPath; NO_STORAGE_VOL when absent.
   * @see https://libvirt.org/html/libvirt-libvirt-storage.html#virStorageVolLookupByPath
   */
  async storageVolLookupByPath(path: string): Promise<StorageVolume> {
    return new StorageVolume(await raw.storageVolLookupByPath(this.handle, path), this);
  }

  /**
   * virStorageVolLookupByKey; NO_STORAGE_VOL when absent.
   * @see https://libvirt.org/html/libvirt-libvirt-storage.html#virStorageVolLookupByKey
   */
  async storageVolLookupByKey(key: string): Promise<StorageVolume> {
    return new StorageVolume(await raw.storageVolLookupByKey(this.handle, key), this);
  }

  /**
   * virStreamNew (blocking stream; our send/recv run on worker threads).
   * @see https://libvirt.org/html/libvirt-libvirt-stream.html#virStreamNew
   */
  newStream(flags?: Flags<StreamFlags>): Stream {
    return new Stream(raw.streamNew(this.handle, flagsOf(flags)));
  }

  /**
   * virConnectDomainEventRegisterAny with VIR_DOMAIN_EVENT_ID_LIFECYCLE, for all
   * domains or just `domain`.
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virConnectDomainEventRegisterAny
   */
  async domainEventRegisterLifecycle(
    listener: (e: DomainLifecycleEvent) => void,
    domain?: Domain,
  ): Promise<Subscription> {
    const reg = await raw.domainEventRegisterLifecycle(
      this.handle,
      domain?.handle ?? null,
      (h, event, detail) =>
        listener({ domain: new Domain(h), event: event as DomainEventType, detail }),
    );
    return this.#track(
      new Subscription(this.handle, reg, raw.domainEventDeregisterAny, this.#untrack),
    );
  }

  /**
   * virConnectNetworkEventRegisterAny with VIR_NETWORK_EVENT_ID_LIFECYCLE.
   * @see https://libvirt.org/html/libvirt-libvirt-network.html#virConnectNetworkEventRegisterAny
   */
  async networkEventRegisterLifecycle(
    listener: (e: NetworkLifecycleEvent) => void,
    network?: Network,
  ): Promise<Subscription> {
    const reg = await raw.networkEventRegisterLifecycle(
      this.handle,
      network?.handle ?? null,
      (h, event, detail) =>
        listener({ network: new Network(h), event: event as NetworkEventLifecycleType, detail }),
    );
    return this.#track(
      new Subscription(this.handle, reg, raw.networkEventDeregisterAny, this.#untrack),
    );
  }

  /**
   * virConnectRegisterCloseCallback: `listener` runs when the connection drops
   * (daemon gone, keepalive timeout). One per connection, as in libvirt. This
   * subscription does not keep the process alive. Drivers without a daemon
   * (test:///) accept the registration but never fire it.
   * @see https://libvirt.org/html/libvirt-libvirt-host.html#virConnectRegisterCloseCallback
   */
  async registerCloseCallback(listener: (e: CloseEvent) => void): Promise<Subscription> {
    const reg = await raw.connectRegisterCloseCallback(this.handle, (reason) =>
      listener({ reason: reason as ConnectCloseReason }),
    );
    return this.#track(
      new Subscription(this.handle, reg, raw.connectUnregisterCloseCallback, this.#untrack),
    );
  }

  #track(s: Subscription): Subscription {
    this.#subscriptions.add(s);
    return s;
  }

  readonly #untrack = (s: Subscription): void => {
    this.#subscriptions.delete(s);
  };
}
