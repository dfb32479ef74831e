// Domain XML: one typed description in, libvirt's <domain> document out (its parser, for the
// fields the MaasNode controller compares, is domain-parse.ts).
// Format reference: https://libvirt.org/formatdomain.html
import { attrs, buildXml, textElement, type XmlElement } from './codec.js';
import { ownerMetadataElement, type OwnerMetadata } from './metadata.js';
import { bytesToKiB } from './units.js';

/** Guest CPU architectures we build labs for. */
export type Arch = 'x86_64' | 'aarch64';

/** libvirt domain type: `qemu` is TCG emulation (no /dev/kvm needed), `kvm` is hardware. */
export type DomainType = 'qemu' | 'kvm';

/** Guest firmware. UEFI uses libvirt's firmware autoselection (`<os firmware='efi'>`). */
export type Firmware = 'bios' | 'uefi';

/**
 * Devices a domain can boot from, in the order given by {@link DomainDescription.bootOrder}:
 * the first NIC, the first disk, the first CD-ROM drive.
 */
export type BootDevice = 'network' | 'disk' | 'cdrom';

/** Boot devices as read back; other tools may boot a domain from a floppy. */
export type ParsedBootDevice = BootDevice | 'floppy';

/** Disk buses; each picks the guest device name prefix (`vd` for virtio, `sd` otherwise). */
export type DiskBus = 'virtio' | 'sata' | 'scsi';

/** Disk image formats, matching storage volume formats. */
export type DiskFormat = 'qcow2' | 'raw';

/** Emulated NIC models. */
export type NicModel = 'virtio' | 'e1000' | 'e1000e' | 'rtl8139';

/** A disk backed by a storage pool volume. */
export interface DomainDisk {
  /** Name of the storage pool holding the volume. */
  readonly pool: string;
  /** Name of the volume within the pool. */
  readonly volume: string;
  /** Image format; must match the volume's format or the guest sees garbage. */
  readonly format: DiskFormat;
  /** Bus the disk is attached to. */
  readonly bus: DiskBus;
}

/**
 * A read-only CD-ROM drive: with a pool volume in it (a raw ISO image), or empty, as the
 * optical drive of a server with no disc in the tray (its firmware skips it when booting).
 */
export interface DomainCdrom {
  /** The disc: a raw ISO volume; absent leaves the tray empty. */
  readonly source?: { readonly pool: string; readonly volume: string };
  /** SCSI (virtio-scsi, on every architecture and both firmwares) or SATA. */
  readonly bus: 'scsi' | 'sata';
}

/**
 * A UEFI domain's NVRAM (its variable store) as a file in a storage pool's directory, so that
 * it is a volume the storage API can copy and delete like a disk. libvirt 9.0 names NVRAM by
 * path only (`<os><nvram>`, no volume form), so defining the domain resolves the pool's
 * directory; the file itself is made by libvirt from the firmware's vars template at the
 * first start (never by us: an empty or foreign file there is what the guest would boot).
 */
export interface DomainNvram {
  /** The storage pool whose directory holds the file (a dir pool). */
  readonly pool: string;
  /** The volume (file) name in it. */
  readonly volume: string;
}

/** A NIC on a libvirt virtual network. */
export interface DomainInterface {
  /** MAC address, `xx:xx:xx:xx:xx:xx`; written in lower case as libvirt does. */
  readonly mac: string;
  /** Name of the libvirt network. */
  readonly network: string;
  /** Emulated NIC model. */
  readonly model: NicModel;
}

/** VNC console. */
export interface VncGraphics {
  /** Address the VNC server listens on, e.g. `127.0.0.1`. */
  readonly listen: string;
  /** Fixed TCP port; absent means libvirt picks one from 5900 up (autoport). */
  readonly port?: number;
}

/** Everything {@link buildDomainXml} needs. Sizes are in bytes so units never get mixed up. */
export interface DomainDescription {
  /** Domain name, unique per hypervisor. */
  readonly name: string;
  /** UUID; absent lets libvirt generate one. */
  readonly uuid?: string;
  /** One-line title shown by `virsh list --title`. */
  readonly title?: string;
  /** Free-form description. */
  readonly description?: string;
  /** libvirt domain type. */
  readonly type: DomainType;
  /** Maximum memory in bytes; must be a whole number of KiB. */
  readonly memoryBytes: number;
  /** Memory at boot in bytes; defaults to {@link memoryBytes}. */
  readonly currentMemoryBytes?: number;
  /** Number of virtual CPUs. */
  readonly vcpus: number;
  /** Guest architecture. */
  readonly arch: Arch;
  /** QEMU machine type such as `pc`, `q35` or `virt`; absent uses the hypervisor's default. */
  readonly machine?: string;
  /** Guest firmware. */
  readonly firmware: Firmware;
  /**
   * UEFI only: where the NVRAM lives. Absent leaves it to libvirt, which keeps it at
   * /var/lib/libvirt/qemu/nvram/<name>_VARS.fd, outside any pool.
   */
  readonly nvram?: DomainNvram;
  /**
   * Boot order: `network` boots the first NIC, `disk` the first disk. Written as per-device
   * `<boot order='N'/>`, which libvirt does not allow to be mixed with `<os><boot dev>`.
   */
  readonly bootOrder: readonly BootDevice[];
  /** Disks, in guest device order. */
  readonly disks: readonly DomainDisk[];
  /** CD-ROM drives, after the disks; none when absent. */
  readonly cdroms?: readonly DomainCdrom[];
  /** NICs, in guest device order. */
  readonly interfaces: readonly DomainInterface[];
  /** VNC console; absent means no graphics. */
  readonly vnc?: VncGraphics;
  /**
   * A file on the hypervisor the serial console's output is also written to (`<log>`, kept
   * across restarts: append). What a guest prints at boot (cloud-init's progress) can then be
   * read after the fact, without a console client attached at the right moment.
   */
  readonly serialLogFile?: string;
  /**
   * SeaBIOS prints to the serial console too (`<os><bios useserial='yes'/>`), so a console
   * attached from power-on shows the BIOS and iPXE, not only what the OS prints later. x86
   * with BIOS firmware only (UEFI's own console already reaches the serial port).
   */
  readonly serialBios?: boolean;
  /** Ownership stamp written into `<metadata>`. */
  readonly owner?: OwnerMetadata;
}

/** A disk as read back from domain XML. */
export interface ParsedDisk {
  /** `disk`, `cdrom`, `floppy` or `lun`. */
  readonly device: string;
  /** Source type: `volume`, `file`, `block`, `network`… */
  readonly sourceType: string;
  /** Pool name, for volume disks. */
  readonly pool?: string;
  /** Volume name, for volume disks. */
  readonly volume?: string;
  /** Host path: `file` or `dev` of the source, or the resolved path libvirt reports live. */
  readonly path?: string;
  /** Image format from `<driver type>`. */
  readonly format?: string;
  /** Guest device name, e.g. `vda`. */
  readonly target?: string;
  /** Bus from `<target bus>`. */
  readonly bus?: string;
  /** Per-device boot order, if any. */
  readonly bootOrder?: number;
}

/** A NIC as read back from domain XML. */
export interface ParsedInterface {
  /** Interface type: `network`, `bridge`, `user`… */
  readonly type: string;
  /** MAC address in lower case. */
  readonly mac?: string;
  /** Source network name. */
  readonly network?: string;
  /** Host bridge: the source of a bridge NIC, or the live bridge of a network NIC. */
  readonly bridge?: string;
  /** NIC model. */
  readonly model?: string;
  /** Host tap device (`vnetN`); only in live XML. */
  readonly targetDev?: string;
  /** Per-device boot order, if any. */
  readonly bootOrder?: number;
}

/** VNC graphics as read back. Live XML carries the real port. */
export interface ParsedVnc {
  /** TCP port; absent while autoport has not assigned one (inactive XML says -1). */
  readonly port?: number;
  /** Whether libvirt picks the port. */
  readonly autoport: boolean;
  /** Listen address, from `<listen type='address'>` or the `listen` attribute. */
  readonly listen?: string;
}

/** The fields of a domain the controllers compare. Sizes are in bytes. */
export interface ParsedDomain {
  /** libvirt domain type (`qemu`, `kvm`, `test`…). */
  readonly type: string;
  /** Runtime domain ID; only in live XML of a running domain. */
  readonly id?: number;
  /** Domain name. */
  readonly name: string;
  /** UUID. */
  readonly uuid?: string;
  /** Title. */
  readonly title?: string;
  /** Description. */
  readonly description?: string;
  /** Maximum memory in bytes. */
  readonly memoryBytes: number;
  /** Current memory in bytes. */
  readonly currentMemoryBytes?: number;
  /** Number of virtual CPUs (the maximum, as `<vcpu>` holds). */
  readonly vcpus: number;
  /** Guest architecture. */
  readonly arch?: string;
  /** Machine type; libvirt expands aliases in stored XML (`pc` → `pc-i440fx-7.2`). */
  readonly machine?: string;
  /** Firmware kind. */
  readonly firmware: Firmware;
  /** The NVRAM file's path (`<os><nvram>`), when the definition names one. */
  readonly nvram?: string;
  /** Boot order, from per-device `<boot order>` or else from `<os><boot dev>`. */
  readonly bootOrder: readonly ParsedBootDevice[];
  /** `<os><bios useserial='yes'/>`: the BIOS writes to the serial console (absent: no). */
  readonly serialBios?: true;
  /** Disks, CD-ROMs and other disk devices. */
  readonly disks: readonly ParsedDisk[];
  /** NICs. */
  readonly interfaces: readonly ParsedInterface[];
  /** VNC graphics, if any. */
  readonly vnc?: ParsedVnc;
  /** Our ownership stamp; undefined when absent or not in our namespace. */
  readonly owner?: OwnerMetadata;
}

/** A MAC address as libvirt takes it. */
export const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

function assertPositiveInteger(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`${what}: expected a positive integer, got ${value}`);
  }
}

/**
 * Guest device names in libvirt's scheme: a, b, … z, aa, ab, … (bijective base 26), after the
 * bus prefix. libvirt derives SATA/SCSI unit addresses from these names.
 */
export function diskTargetName(prefix: string, index: number): string {
  let n = index + 1;
  let suffix = '';
  while (n > 0) {
    const rem = (n - 1) % 26;
    suffix = String.fromCharCode(97 + rem) + suffix;
    n = Math.floor((n - 1) / 26);
  }
  return prefix + suffix;
}

/** Assigns boot orders: position in `bootOrder` + 1, on the first device of each kind. */
function bootOrders(desc: DomainDescription): Partial<Record<BootDevice, number>> {
  const seen = new Set<BootDevice>();
  const orders: Partial<Record<BootDevice, number>> = {};
  desc.bootOrder.forEach((device, i) => {
    if (seen.has(device)) throw new RangeError(`bootOrder: ${device} is listed twice`);
    seen.add(device);
    if (device === 'disk' && desc.disks.length === 0) {
      throw new RangeError('bootOrder: disk boot requested but the domain has no disks');
    }
    if (device === 'network' && desc.interfaces.length === 0) {
      throw new RangeError('bootOrder: network boot requested but the domain has no NICs');
    }
    if (device === 'cdrom' && (desc.cdroms ?? []).length === 0) {
      throw new RangeError('bootOrder: CD-ROM boot requested but the domain has no CD-ROM drive');
    }
    orders[device] = i + 1;
  });
  return orders;
}

function diskElements(
  desc: DomainDescription,
  boot: Partial<Record<BootDevice, number>>,
): XmlElement[] {
  // sata and scsi both use the sd prefix, so they share one counter to keep names unique.
  const next: Record<'vd' | 'sd', number> = { vd: 0, sd: 0 };
  const disks = desc.disks.map((disk, i): XmlElement => {
    const prefix = disk.bus === 'virtio' ? 'vd' : 'sd';
    const dev = diskTargetName(prefix, next[prefix]++);
    return {
      ...attrs({ type: 'volume', device: 'disk' }),
      driver: attrs({ name: 'qemu', type: disk.format }),
      source: attrs({ pool: disk.pool, volume: disk.volume }),
      target: attrs({ dev, bus: disk.bus }),
      boot: i === 0 && boot.disk !== undefined ? attrs({ order: boot.disk }) : undefined,
    };
  });
  const cdroms = (desc.cdroms ?? []).map((cdrom, i): XmlElement => ({
    // An empty drive has no source: libvirt's "file" type with nothing in the tray.
    ...attrs({ type: cdrom.source ? 'volume' : 'file', device: 'cdrom' }),
    driver: attrs({ name: 'qemu', type: 'raw' }),
    source: cdrom.source
      ? attrs({ pool: cdrom.source.pool, volume: cdrom.source.volume })
      : undefined,
    target: attrs({ dev: diskTargetName('sd', next.sd++), bus: cdrom.bus }),
    readonly: {},
    boot: i === 0 && boot.cdrom !== undefined ? attrs({ order: boot.cdrom }) : undefined,
  }));
  return [...disks, ...cdroms];
}

function interfaceElements(desc: DomainDescription, bootOrder: number | undefined): XmlElement[] {
  return desc.interfaces.map((nic, i) => {
    if (!MAC.test(nic.mac)) throw new RangeError(`interfaces[${i}].mac: invalid MAC ${nic.mac}`);
    return {
      ...attrs({ type: 'network' }),
      mac: attrs({ address: nic.mac.toLowerCase() }),
      source: attrs({ network: nic.network }),
      model: attrs({ type: nic.model }),
      boot: i === 0 && bootOrder !== undefined ? attrs({ order: bootOrder }) : undefined,
    };
  });
}

function vncElement(vnc: VncGraphics): XmlElement {
  if (vnc.port !== undefined && (!Number.isInteger(vnc.port) || vnc.port < 0 || vnc.port > 65535)) {
    throw new RangeError(`vnc.port: invalid TCP port ${vnc.port}`);
  }
  return {
    ...attrs({
      type: 'vnc',
      port: vnc.port ?? -1,
      autoport: vnc.port === undefined ? 'yes' : 'no',
      listen: vnc.listen,
    }),
    listen: attrs({ type: 'address', address: vnc.listen }),
  };
}

/** What buildDomainXml needs from the host beyond the description. */
export interface DomainHostFacts {
  /** The path of {@link DomainDescription.nvram}: its pool's directory and the volume name. */
  readonly nvramPath?: string;
}

/**
 * Builds domain XML for virDomainDefineXML. Throws a RangeError for descriptions libvirt would
 * reject or silently change (memory not in whole KiB, bad MAC, boot from a missing device,
 * NVRAM for BIOS or without its path…).
 */
export function buildDomainXml(desc: DomainDescription, host: DomainHostFacts = {}): string {
  const memoryKiB = bytesToKiB(desc.memoryBytes, 'memoryBytes');
  const currentKiB = bytesToKiB(desc.currentMemoryBytes ?? desc.memoryBytes, 'currentMemoryBytes');
  if (currentKiB > memoryKiB) throw new RangeError('currentMemoryBytes exceeds memoryBytes');
  assertPositiveInteger(desc.vcpus, 'vcpus');
  const boot = bootOrders(desc);
  const x86 = desc.arch === 'x86_64';
  if (desc.serialBios && (!x86 || desc.firmware !== 'bios')) {
    throw new RangeError('serialBios: only x86 guests with BIOS firmware have a SeaBIOS');
  }
  if (desc.nvram && desc.firmware !== 'uefi') {
    throw new RangeError('nvram: only UEFI firmware has an NVRAM');
  }
  if (desc.nvram && host.nvramPath === undefined) {
    throw new RangeError(`nvram: the path of ${desc.nvram.pool}/${desc.nvram.volume} is needed`);
  }
  const hasScsi = [...desc.disks, ...(desc.cdroms ?? [])].some((disk) => disk.bus === 'scsi');
  const domain: XmlElement = {
    ...attrs({ type: desc.type }),
    name: desc.name,
    uuid: desc.uuid,
    title: desc.title,
    description: desc.description,
    metadata: desc.owner ? ownerMetadataElement(desc.owner) : undefined,
    memory: textElement(memoryKiB, { unit: 'KiB' }),
    currentMemory: textElement(currentKiB, { unit: 'KiB' }),
    vcpu: textElement(desc.vcpus, { placement: 'static' }),
    os: {
      ...attrs({ firmware: desc.firmware === 'uefi' ? 'efi' : undefined }),
      type: textElement('hvm', { arch: desc.arch, machine: desc.machine }),
      // With firmware autoselection libvirt picks the loader and fills in the template; the
      // file is made from it at the first start when it does not exist.
      nvram: desc.nvram ? host.nvramPath : undefined,
      bios: desc.serialBios ? attrs({ useserial: 'yes' }) : undefined,
    },
    // ACPI lets virDomainShutdown ask the guest to power off; arm64 guests get ACPI only
    // through UEFI, so there it follows the firmware.
    features: x86 ? { acpi: {}, apic: {} } : desc.firmware === 'uefi' ? { acpi: {} } : undefined,
    clock: attrs({ offset: 'utc' }),
    on_poweroff: 'destroy',
    on_reboot: 'restart',
    on_crash: 'destroy',
    devices: {
      disk: diskElements(desc, boot),
      controller: hasScsi ? [attrs({ type: 'scsi', index: 0, model: 'virtio-scsi' })] : undefined,
      interface: interfaceElements(desc, boot.network),
      serial: {
        ...attrs({ type: 'pty' }),
        log: desc.serialLogFile ? attrs({ file: desc.serialLogFile, append: 'on' }) : undefined,
        target: attrs({ port: 0 }),
      },
      console: { ...attrs({ type: 'pty' }), target: attrs({ type: 'serial', port: 0 }) },
      graphics: desc.vnc ? vncElement(desc.vnc) : undefined,
    },
  };
  return buildXml('domain', domain);
}
