// virStoragePool. Method names are libvirt's C names without `vir` and
// `StoragePool`; volume constructors keep their `storageVol` prefix because
// libvirt names them after the object they return.
import { raw, type PoolHandle } from './binding.js';
import type { Connection } from './connection.js';
import {
  type StoragePoolBuildFlags,
  type StoragePoolCreateFlags,
  type StoragePoolDeleteFlags,
  type StoragePoolState,
  type StorageVolCreateFlags,
  type StorageVolType,
  type StorageXMLFlags,
} from './constants.js';
import { type Flags, flagsOf, LibvirtObject } from './object.js';
import { StorageVolume, type StorageVolumeFacts } from './storage-volume.js';

/** virStoragePoolInfo, sizes in bytes. */
export interface StoragePoolInfo {
  state: StoragePoolState;
  capacity: number;
  allocation: number;
  available: number;
}

/** A libvirt storage pool (virStoragePoolPtr). */
export class StoragePool extends LibvirtObject<PoolHandle> {
  /** Wraps a handle; `connection` is kept so volumes can open streams. */
  constructor(
    handle: PoolHandle,
    readonly connection: Connection,
  ) {
    super(handle);
  }

  /**
   * virStoragePoolGetName (local, no I/O).
   * @see https://libvirt.org/html/libvirt-libvirt-storage.html#virStoragePoolGetName
   */
  getName(): string {
    return raw.storagePoolGetName(this.handle);
  }

  /**
   * virStoragePoolGetUUIDString (local, no I/O).
   * @see https://libvirt.org/html/libvirt-libvirt-storage.html#virStoragePoolGetUUIDString
   */
  getUUIDString(): string {
    return raw.storagePoolGetUUIDString(this.handle);
  }

  /**
   * virStoragePoolBuild: e.g. create the directory of a dir pool.
   * @see https://libvirt.org/html/libvirt-libvirt-storage.html#virStoragePoolBuild
   */
  build(flags?: Flags<StoragePoolBuildFlags>): Promise<void> {
    return raw.storagePoolBuild(this.handle, flagsOf(flags));
  }

  /**
   * virStoragePoolCreate: start a defined pool.
   * @see https://libvirt.org/html/libvirt-libvirt-storage.html#virStoragePoolCreate
   */
  create(flags?: Flags<StoragePoolCreateFlags>): Promise<void> {
    return raw.storagePoolCreate(this.handle, flagsOf(flags));
  }

  /**
   * virStoragePoolDestroy: stop the pool (data stays).
   * @see https://libvirt.org/html/libvirt-libvirt-storage.html#virStoragePoolDestroy
   */
  destroy(): Promise<void> {
    return raw.storagePoolDestroy(this.handle);
  }

  /**
   * virStoragePoolDelete: remove the pool's underlying storage.
   * @see https://libvirt.org/html/libvirt-libvirt-storage.html#virStoragePoolDelete
   */
  delete(flags?: Flags<StoragePoolDeleteFlags>): Promise<void> {
    return raw.storagePoolDelete(this.handle, flagsOf(flags));
  }

  /**
   * virStoragePoolUndefine
   * @see https://libvirt.org/html/libvirt-libvirt-storage.html#virStoragePoolUndefine
   */
  undefine(): Promise<void> {
    return raw.storagePoolUndefine(this.handle);
  }

  /**
   * virStoragePoolRefresh. libvirt defines no flags.
   * @see https://libvirt.org/html/libvirt-libvirt-storage.html#virStoragePoolRefresh
   */
  refresh(): Promise<void> {
    return raw.storagePoolRefresh(this.handle, 0);
  }

  /**
   * virStoragePoolSetAutostart
   * @see https://libvirt.org/html/libvirt-libvirt-storage.html#virStoragePoolSetAutostart
   */
  setAutostart(autostart: boolean): Promise<void> {
    return raw.storagePoolSetAutostart(this.handle, autostart);
  }

  /**
   * virStoragePoolGetAutostart
   * @see https://libvirt.org/html/libvirt-libvirt-storage.html#virStoragePoolGetAutostart
   */
  getAutostart(): Promise<boolean> {
    return raw.storagePoolGetAutostart(this.handle);
  }

  /**
   * virStoragePoolIsActive
   * @see https://libvirt.org/html/libvirt-libvirt-storage.html#virStoragePoolIsActive
   */
  isActive(): Promise<boolean> {
    return raw.storagePoolIsActive(this.handle);
  }

  /**
   * virStoragePoolIsPersistent
   * @see https://libvirt.org/html/libvirt-libvirt-storage.html#virStoragePoolIsPersistent
   */
  isPersistent(): Promise<boolean> {
    return raw.storagePoolIsPersistent(this.handle);
  }

  /**
   * virStoragePoolGetInfo
   * @see https://libvirt.org/html/libvirt-libvirt-storage.html#virStoragePoolGetInfo
   */
  async getInfo(): Promise<StoragePoolInfo> {
    const i = await raw.storagePoolGetInfo(this.handle);
    return { ...i, state: i.state as StoragePoolState };
  }

  /**
   * virStoragePoolGetXMLDesc
   * @see https://libvirt.org/html/libvirt-libvirt-storage.html#virStoragePoolGetXMLDesc
   */
  getXMLDesc(flags?: Flags<StorageXMLFlags>): Promise<string> {
    return raw.storagePoolGetXMLDesc(this.handle, flagsOf(flags));
  }

  /**
   * virStoragePoolListAllVolumes. libvirt defines no flags.
   * @see https://libvirt.org/html/libvirt-libvirt-storage.html#virStoragePoolListAllVolumes
   */
  async listAllVolumes(): Promise<StorageVolume[]> {
    const hs = await raw.storagePoolListAllVolumes(this.handle, 0);
    return hs.map((h) => new StorageVolume(h, this.connection));
  }

  /**
   * virStorageVolLookupByName; NO_STORAGE_VOL when absent.
   * @see https://libvirt.org/html/libvirt-libvirt-storage.html#virStorageVolLookupByName
   */
  async storageVolLookupByName(name: string): Promise<StorageVolume> {
    return new StorageVolume(await raw.storageVolLookupByName(this.handle, name), this.connection);
  }

  /**
   * virStorageVolLookupByName and the volume's facts (StorageVolume.facts) in one hop;
   * NO_STORAGE_VOL when absent.
   */
  async storageVolLookupFacts(
    name: string,
  ): Promise<{ volume: StorageVolume; facts: StorageVolumeFacts }> {
    const { volume, ...f } = await raw.storageVolLookupFacts(this.handle, name);
    return {
      volume: new StorageVolume(volume, this.connection),
      facts: { ...f, type: f.type as StorageVolType },
    };
  }

  /**
   * virStorageVolCreateXML and the new volume's facts (StorageVolume.facts) in one hop. The
   * volume exists even if reading its facts failed (the error says so).
   */
  async storageVolCreateXMLFacts(
    xml: string,
    flags?: Flags<StorageVolCreateFlags>,
  ): Promise<{ volume: StorageVolume; facts: StorageVolumeFacts }> {
    const { volume, ...f } = await raw.storageVolCreateXMLFacts(this.handle, xml, flagsOf(flags));
    return {
      volume: new StorageVolume(volume, this.connection),
      facts: { ...f, type: f.type as StorageVolType },
    };
  }

  /**
   * virStorageVolCreateXML
   * @see https://libvirt.org/html/libvirt-libvirt-storage.html#virStorageVolCreateXML
   */
  async storageVolCreateXML(
    xml: string,
    flags?: Flags<StorageVolCreateFlags>,
  ): Promise<StorageVolume> {
    const h = await raw.storageVolCreateXML(this.handle, xml, flagsOf(flags));
    return new StorageVolume(h, this.connection);
  }

  /**
   * virStorageVolCreateXMLFrom: create a volume in this pool as a copy of `clone`.
   * @see https://libvirt.org/html/libvirt-libvirt-storage.html#virStorageVolCreateXMLFrom
   */
  async storageVolCreateXMLFrom(
    xml: string,
    clone: StorageVolume,
    flags?: Flags<StorageVolCreateFlags>,
  ): Promise<StorageVolume> {
    const h = await raw.storageVolCreateXMLFrom(this.handle, xml, clone.handle, flagsOf(flags));
    return new StorageVolume(h, this.connection);
  }
}
