// The domain XML parser: the fields the MaasNode controller compares, from inactive or live
// XML (libvirt's own, or a definition made by hand). The builder is domain.ts.
// Format reference: https://libvirt.org/formatdomain.html
import {
  attr,
  child,
  childText,
  children,
  compact,
  parseInteger,
  parseRoot,
  type XmlNode,
} from './codec.js';
import type {
  Firmware,
  ParsedBootDevice,
  ParsedDisk,
  ParsedDomain,
  ParsedInterface,
  ParsedVnc,
} from './domain.js';
import { ownerFromMetadataNode } from './metadata.js';
import { toBytes } from './units.js';

const BOOT_DEV: Readonly<Record<string, ParsedBootDevice>> = {
  network: 'network',
  hd: 'disk',
  cdrom: 'cdrom',
  fd: 'floppy',
};

const DISK_BOOT: Readonly<Record<string, ParsedBootDevice>> = {
  disk: 'disk',
  lun: 'disk',
  cdrom: 'cdrom',
  floppy: 'floppy',
};

function parseBootOrder(
  os: XmlNode | undefined,
  disks: readonly ParsedDisk[],
  nics: readonly ParsedInterface[],
): ParsedBootDevice[] {
  const perDevice: { order: number; device: ParsedBootDevice }[] = [];
  for (const disk of disks) {
    const device = DISK_BOOT[disk.device];
    if (disk.bootOrder !== undefined && device) perDevice.push({ order: disk.bootOrder, device });
  }
  for (const nic of nics) {
    if (nic.bootOrder !== undefined) perDevice.push({ order: nic.bootOrder, device: 'network' });
  }
  if (perDevice.length > 0) {
    return perDevice.sort((a, b) => a.order - b.order).map((entry) => entry.device);
  }
  return children(os, 'boot').flatMap((boot) => {
    const device = BOOT_DEV[attr(boot, 'dev') ?? ''];
    return device ? [device] : [];
  });
}

function parseDisk(node: XmlNode): ParsedDisk {
  const source = child(node, 'source');
  const target = child(node, 'target');
  const path = attr(source, 'file') ?? attr(source, 'dev') ?? attr(source, 'name');
  const fields = {
    device: attr(node, 'device') ?? 'disk',
    sourceType: attr(node, 'type') ?? 'file',
    pool: attr(source, 'pool'),
    volume: attr(source, 'volume'),
    path,
    format: attr(child(node, 'driver'), 'type'),
    target: attr(target, 'dev'),
    bus: attr(target, 'bus'),
    bootOrder: parseInteger(attr(child(node, 'boot'), 'order'), 'disk boot order'),
  };
  return compact(fields);
}

function parseInterface(node: XmlNode): ParsedInterface {
  const source = child(node, 'source');
  const fields = {
    type: attr(node, 'type') ?? 'network',
    mac: attr(child(node, 'mac'), 'address')?.toLowerCase(),
    network: attr(source, 'network'),
    bridge: attr(source, 'bridge'),
    model: attr(child(node, 'model'), 'type'),
    targetDev: attr(child(node, 'target'), 'dev'),
    bootOrder: parseInteger(attr(child(node, 'boot'), 'order'), 'interface boot order'),
  };
  return compact(fields);
}

function parseVnc(devices: XmlNode | undefined): ParsedVnc | undefined {
  const graphics = children(devices, 'graphics').find((g) => attr(g, 'type') === 'vnc');
  if (!graphics) return undefined;
  const port = parseInteger(attr(graphics, 'port'), 'vnc port');
  const listenNode = children(graphics, 'listen').find((l) => attr(l, 'type') === 'address');
  return compact({
    port: port !== undefined && port >= 0 ? port : undefined,
    autoport: attr(graphics, 'autoport') === 'yes' || port === -1,
    listen: attr(listenNode, 'address') ?? attr(graphics, 'listen'),
  });
}

/**
 * Firmware as libvirt may report it: `<os firmware='efi'>` when autoselection was requested, or
 * only a pflash `<loader>` once libvirt has expanded it or another tool defined the domain.
 */
function parseFirmware(os: XmlNode | undefined): Firmware {
  if (attr(os, 'firmware') === 'efi') return 'uefi';
  const loader = child(os, 'loader');
  return loader && attr(loader, 'type') === 'pflash' ? 'uefi' : 'bios';
}

/** Parses inactive or live domain XML into the fields controllers compare; sizes in bytes. */
export function parseDomainXml(xml: string): ParsedDomain {
  const root = parseRoot(xml, 'domain');
  const os = child(root, 'os');
  const osType = child(os, 'type');
  const devices = child(root, 'devices');
  const memory = child(root, 'memory');
  const currentMemory = child(root, 'currentMemory');
  const name = childText(root, 'name');
  if (name === undefined) throw new Error('domain XML has no <name>');
  const disks = children(devices, 'disk').map(parseDisk);
  const interfaces = children(devices, 'interface').map(parseInterface);
  const vcpus = parseInteger(childText(root, 'vcpu'), 'vcpu');
  if (!memory || vcpus === undefined) throw new Error('domain XML lacks <memory> or <vcpu>');
  return compact({
    type: attr(root, 'type') ?? '',
    id: parseInteger(attr(root, 'id'), 'domain id'),
    name,
    uuid: childText(root, 'uuid'),
    title: childText(root, 'title'),
    description: childText(root, 'description'),
    memoryBytes: toBytes(childText(root, 'memory') ?? '', attr(memory, 'unit'), 'KiB'),
    currentMemoryBytes: currentMemory
      ? toBytes(childText(root, 'currentMemory') ?? '', attr(currentMemory, 'unit'), 'KiB')
      : undefined,
    vcpus,
    arch: attr(osType, 'arch'),
    machine: attr(osType, 'machine'),
    firmware: parseFirmware(os),
    nvram: childText(os, 'nvram'),
    bootOrder: parseBootOrder(os, disks, interfaces),
    serialBios: attr(child(os, 'bios'), 'useserial') === 'yes' ? true : undefined,
    disks,
    interfaces,
    vnc: parseVnc(devices),
    owner: ownerFromMetadataNode(child(root, 'metadata'), [root]),
  });
}
