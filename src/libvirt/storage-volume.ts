// virStorageVol. Method names are libvirt's C names without `vir` and
// `StorageVol`; uploadFrom/downloadChunks/downloadTo are stream conveniences.
import { type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { raw, type VolumeHandle } from './binding.js';
import type { Connection } from './connection.js';
import {
  type StorageVolDeleteFlags,
  type StorageVolDownloadFlags,
  type StorageVolResizeFlags,
  type StorageVolType,
  type StorageVolUploadFlags,
  type StorageXMLFlags,
} from './constants.js';
import { type Flags, flagsOf, LibvirtObject } from './object.js';
import { type Stream, STREAM_CHUNK_SIZE } from './stream.js';

/** virStorageVolInfo, sizes in bytes. */
export interface StorageVolumeInfo {
  type: StorageVolType;
  capacity: number;
  allocation: number;
}

/** A volume's path and virStorageVolInfo (storageVolFacts). */
export interface StorageVolumeFacts extends StorageVolumeInfo {
  path: string;
}

/** Byte range of a transfer; length 0 means "to the end". */
export interface TransferRange {
  offset?: number;
  length?: number;
}

/** A libvirt storage volume (virStorageVolPtr). */
export class StorageVolume extends LibvirtObject<VolumeHandle> {
  /** Wraps a handle; `connection` is kept to open streams. */
  constructor(
    handle: VolumeHandle,
    readonly connection: Connection,
  ) {
    super(handle);
  }

  /**
   * virStorageVolGetName (local, no I/O).
   * @see https://libvirt.org/html/libvirt-libvirt-storage.html#virStorageVolGetName
   */
  getName(): string {
    return raw.storageVolGetName(this.handle);
  }

  /**
   * virStorageVolGetKey (local, no I/O).
   * @see https://libvirt.org/html/libvirt-libvirt-storage.html#virStorageVolGetKey
   */
  getKey(): string {
    return raw.storageVolGetKey(this.handle);
  }

  /**
   * virStorageVolGetPath
   * @see https://libvirt.org/html/libvirt-libvirt-storage.html#virStorageVolGetPath
   */
  getPath(): Promise<string> {
    return raw.storageVolGetPath(this.handle);
  }

  /**
   * virStorageVolGetInfo
   * @see https://libvirt.org/html/libvirt-libvirt-storage.html#virStorageVolGetInfo
   */
  async getInfo(): Promise<StorageVolumeInfo> {
    const i = await raw.storageVolGetInfo(this.handle);
    return { ...i, type: i.type as StorageVolType };
  }

  /**
   * virStorageVolGetPath and virStorageVolGetInfo, in one hop to the worker thread (a pass
   * reads both of every volume it checks).
   */
  async facts(): Promise<StorageVolumeFacts> {
    const f = await raw.storageVolFacts(this.handle);
    return { ...f, type: f.type as StorageVolType };
  }

  /**
   * virStorageVolGetXMLDesc
   * @see https://libvirt.org/html/libvirt-libvirt-storage.html#virStorageVolGetXMLDesc
   */
  getXMLDesc(flags?: Flags<StorageXMLFlags>): Promise<string> {
    return raw.storageVolGetXMLDesc(this.handle, flagsOf(flags));
  }

  /**
   * virStorageVolDelete
   * @see https://libvirt.org/html/libvirt-libvirt-storage.html#virStorageVolDelete
   */
  delete(flags?: Flags<StorageVolDeleteFlags>): Promise<void> {
    return raw.storageVolDelete(this.handle, flagsOf(flags));
  }

  /**
   * virStorageVolWipe (zeroes the volume); virStorageVolWipePattern is not bound.
   * @see https://libvirt.org/html/libvirt-libvirt-storage.html#virStorageVolWipe
   */
  wipe(): Promise<void> {
    return raw.storageVolWipe(this.handle, 0);
  }

  /**
   * virStorageVolResize: new capacity in bytes.
   * @see https://libvirt.org/html/libvirt-libvirt-storage.html#virStorageVolResize
   */
  resize(capacity: number | bigint, flags?: Flags<StorageVolResizeFlags>): Promise<void> {
    return raw.storageVolResize(this.handle, capacity, flagsOf(flags));
  }

  /**
   * virStorageVolUpload: attach `stream` for writing into this volume. Prefer uploadFrom.
   * @see https://libvirt.org/html/libvirt-libvirt-storage.html#virStorageVolUpload
   */
  upload(
    stream: Stream,
    offset = 0,
    length = 0,
    flags?: Flags<StorageVolUploadFlags>,
  ): Promise<void> {
    return raw.storageVolUpload(this.handle, stream.handle, offset, length, flagsOf(flags));
  }

  /**
   * virStorageVolDownload: attach `stream` for reading this volume. Prefer downloadChunks.
   * @see https://libvirt.org/html/libvirt-libvirt-storage.html#virStorageVolDownload
   */
  download(
    stream: Stream,
    offset = 0,
    length = 0,
    flags?: Flags<StorageVolDownloadFlags>,
  ): Promise<void> {
    return raw.storageVolDownload(this.handle, stream.handle, offset, length, flagsOf(flags));
  }

  /**
   * Uploads a Node Readable (or any async iterable of bytes) into the volume
   * through virStorageVolUpload + virStreamSend + virStreamFinish.
   * @see https://libvirt.org/html/libvirt-libvirt-storage.html#virStorageVolUpload
   */
  async uploadFrom(
    source: AsyncIterable<Uint8Array | string>,
    range: TransferRange = {},
  ): Promise<void> {
    using stream = this.connection.newStream();
    await this.upload(stream, range.offset ?? 0, range.length ?? 0);
    await stream.sendAll(source);
  }

  /**
   * Downloads the volume as an async iterable of chunks (virStorageVolDownload +
   * virStreamRecv). Breaking out of the loop aborts the transfer.
   * @see https://libvirt.org/html/libvirt-libvirt-storage.html#virStorageVolDownload
   */
  async *downloadChunks(
    range: TransferRange = {},
    chunkSize: number = STREAM_CHUNK_SIZE,
  ): AsyncGenerator<Buffer, void, undefined> {
    using stream = this.connection.newStream();
    await this.download(stream, range.offset ?? 0, range.length ?? 0);
    yield* stream.recvAll(chunkSize);
  }

  /** Downloads the volume into a Node Writable, honouring its backpressure. */
  downloadTo(destination: Writable, range: TransferRange = {}): Promise<void> {
    return pipeline(this.downloadChunks(range), destination);
  }
}
