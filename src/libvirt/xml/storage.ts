// Storage pool and volume XML: the dir pool a hypervisor keeps node disks in, and the volumes
// themselves. Format reference: https://libvirt.org/formatstorage.html
//
// Ownership: volumes and pools have no <metadata> in libvirt, so the operator records their
// names (and a volume's key) on its own objects instead.
import {
  attr,
  attrs,
  buildXml,
  child,
  childText,
  compact,
  parseRoot,
  textElement,
  type XmlElement,
  type XmlNode,
} from './codec.js';
import { assertBytes, toBytes } from './units.js';

/** Pool types we create. A directory on the hypervisor is all a lab needs. */
export type PoolType = 'dir';

/** Volume formats; match `DiskFormat` in domain.ts. */
export type VolumeFormat = 'qcow2' | 'raw';

/** Everything {@link buildPoolXml} needs. */
export interface PoolDescription {
  /** Pool name, unique per hypervisor. */
  readonly name: string;
  /** UUID; absent lets libvirt generate one. */
  readonly uuid?: string;
  /** Pool type. */
  readonly type: PoolType;
  /** Directory on the hypervisor that holds the volumes. */
  readonly path: string;
}

/** The fields of a pool the controllers compare. Sizes in bytes (present once the pool ran). */
export interface ParsedPool {
  /** Pool type (`dir`, `logical`, …). */
  readonly type: string;
  /** Pool name. */
  readonly name: string;
  /** UUID. */
  readonly uuid?: string;
  /** Target path. */
  readonly path?: string;
  /** Total size of the backing filesystem. */
  readonly capacityBytes?: number;
  /** Space in use. */
  readonly allocationBytes?: number;
  /** Space left. */
  readonly availableBytes?: number;
}

/** Everything {@link buildVolumeXml} needs. Sizes in bytes. */
export interface VolumeDescription {
  /** Volume name, unique within its pool (becomes the file name in a dir pool). */
  readonly name: string;
  /** Virtual size the guest sees. */
  readonly capacityBytes: number;
  /** Image format. */
  readonly format: VolumeFormat;
  /** Space to preallocate; absent lets libvirt choose (sparse for qcow2). */
  readonly allocationBytes?: number;
  /**
   * A qcow2 overlay's backing file: the volume starts as a copy-on-write view of it (a cloud
   * image shared by several disks), which must never be written to again.
   */
  readonly backingStore?: { readonly path: string; readonly format: VolumeFormat };
  /**
   * The file mode libvirt gives the volume, octal (e.g. 0444 for a read-only golden copy);
   * absent lets the pool choose.
   */
  readonly mode?: string;
}

/** The fields of a volume the controllers compare. Sizes in bytes. */
export interface ParsedVolume {
  /** Volume name. */
  readonly name: string;
  /** libvirt's unique key (the path, for dir pools). */
  readonly key?: string;
  /** Path on the hypervisor. */
  readonly path?: string;
  /** Virtual size. */
  readonly capacityBytes: number;
  /** Space actually used on the host. */
  readonly allocationBytes?: number;
  /** Image format, e.g. `qcow2`. */
  readonly format?: string;
  /** The file mode, octal as libvirt writes it (e.g. 0444). */
  readonly mode?: string;
}

/** Builds pool XML for virStoragePoolDefineXML. */
export function buildPoolXml(desc: PoolDescription): string {
  const pool: XmlElement = {
    ...attrs({ type: desc.type }),
    name: desc.name,
    uuid: desc.uuid,
    target: { path: desc.path },
  };
  return buildXml('pool', pool);
}

function sizeOf(node: XmlNode, name: string): number | undefined {
  const element = child(node, name);
  const value = childText(node, name);
  return element && value !== undefined
    ? toBytes(value, attr(element, 'unit'), 'bytes')
    : undefined;
}

/** Parses pool XML; sizes come back in bytes whatever unit libvirt used. */
export function parsePoolXml(xml: string): ParsedPool {
  const root = parseRoot(xml, 'pool');
  const name = childText(root, 'name');
  if (name === undefined) throw new Error('pool XML has no <name>');
  return compact({
    type: attr(root, 'type') ?? '',
    name,
    uuid: childText(root, 'uuid'),
    path: childText(child(root, 'target'), 'path'),
    capacityBytes: sizeOf(root, 'capacity'),
    allocationBytes: sizeOf(root, 'allocation'),
    availableBytes: sizeOf(root, 'available'),
  });
}

/**
 * Builds volume XML for virStorageVolCreateXML. Sizes are written with `unit='bytes'` so the
 * document says what it means without relying on libvirt's default.
 */
export function buildVolumeXml(desc: VolumeDescription): string {
  assertBytes(desc.capacityBytes, 'capacityBytes');
  if (desc.allocationBytes !== undefined) assertBytes(desc.allocationBytes, 'allocationBytes');
  const volume: XmlElement = {
    name: desc.name,
    allocation:
      desc.allocationBytes === undefined
        ? undefined
        : textElement(desc.allocationBytes, { unit: 'bytes' }),
    capacity: textElement(desc.capacityBytes, { unit: 'bytes' }),
    target: {
      format: attrs({ type: desc.format }),
      permissions: desc.mode === undefined ? undefined : { mode: desc.mode },
    },
    backingStore: desc.backingStore
      ? { path: desc.backingStore.path, format: attrs({ type: desc.backingStore.format }) }
      : undefined,
  };
  return buildXml('volume', volume);
}

/** Parses volume XML; sizes come back in bytes whatever unit libvirt used. */
export function parseVolumeXml(xml: string): ParsedVolume {
  const root = parseRoot(xml, 'volume');
  const name = childText(root, 'name');
  const capacityBytes = sizeOf(root, 'capacity');
  if (name === undefined || capacityBytes === undefined) {
    throw new Error('volume XML lacks <name> or <capacity>');
  }
  const target = child(root, 'target');
  return compact({
    name,
    key: childText(root, 'key'),
    path: childText(target, 'path'),
    capacityBytes,
    allocationBytes: sizeOf(root, 'allocation'),
    format: attr(child(target, 'format'), 'type'),
    mode: childText(child(target, 'permissions'), 'mode'),
  });
}
