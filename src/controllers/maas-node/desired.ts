// MaasNode desired state: the domain and volumes a MaasNode asks for, how an observed domain
// differs from it, and which power action the run strategy calls for. Pure: no binding, no
// clock (time comes in as `now`), so every rule here is a unit test.
import { withSchemaDefaults } from '../../api/v1alpha1/defaults.js';
import {
  HypervisorSpecSchema,
  MaasNodeKind,
  MaasNodeSpecSchema,
  type DomainState,
  type HaltMode,
  type HypervisorSpec,
  type MaasNode,
  type RunStrategy,
} from '../../api/v1alpha1/index.js';
import type {
  BootDevice,
  DomainCdrom,
  DomainDescription,
  DomainDisk,
  DomainInterface,
  OwnerMetadata,
  OwnerRef,
  VolumeDescription,
} from '../../libvirt/xml/index.js';
import type { BootOverride } from '../../bmc/backend.js';
import { bootOrderWith } from '../../bmc/boot.js';
import { fnv1a32 } from '../common/hash.js';
import { parseQuantity } from '../common/quantity.js';
import { libvirtNetworkName } from '../virt-network/desired.js';
import { definedProps } from '../../util/defined-props.js';

// The CRD's defaults, for objects built in tests and objects read before defaulting: read from
// the schema the CRD is generated from (a node and a hypervisor with every default filled in),
// so they cannot drift from what the API server applies.
const nodeDefaults = withSchemaDefaults(MaasNodeSpecSchema, {
  hypervisor: '',
  disks: [{ name: 'd', size: '1Mi' }],
  interfaces: [{ network: 'n' }],
});
const hypervisorDefaults = withSchemaDefaults(HypervisorSpecSchema, { uri: 'test:///default' });

/** A default the schema must have; its absence is a programming error caught at load. */
function schemaDefault<T>(value: T | undefined, field: string): T {
  if (value === undefined) throw new Error(`the MaasNode schema has no default for ${field}`);
  return value;
}

/** The CRD's defaults the node controller reads (see above). */
export const DEFAULTS = {
  vcpus: schemaDefault(nodeDefaults.vcpus, 'vcpus'),
  memory: schemaDefault(nodeDefaults.memory, 'memory'),
  arch: schemaDefault(nodeDefaults.arch, 'arch'),
  firmware: schemaDefault(nodeDefaults.firmware, 'firmware'),
  bootOrder: schemaDefault(nodeDefaults.bootOrder, 'bootOrder'),
  bus: schemaDefault(nodeDefaults.disks?.[0]?.bus, 'disks[].bus'),
  format: schemaDefault(nodeDefaults.disks?.[0]?.format, 'disks[].format'),
  deletionPolicy: schemaDefault(nodeDefaults.disks?.[0]?.deletionPolicy, 'disks[].deletionPolicy'),
  model: schemaDefault(nodeDefaults.interfaces?.[0]?.model, 'interfaces[].model'),
  vncEnabled: schemaDefault(nodeDefaults.vnc?.enabled, 'vnc.enabled'),
  vncListen: schemaDefault(nodeDefaults.vnc?.listen, 'vnc.listen'),
  haltMode: schemaDefault(nodeDefaults.haltMode, 'haltMode'),
  storagePool: schemaDefault(hypervisorDefaults.storagePool, 'Hypervisor storagePool'),
};

/** The OUI QEMU and libvirt use for generated MACs; locally administered, unicast. */
export const QEMU_OUI = '52:54:00';

const KIB = 1024;

/** The libvirt domain name: `spec.domainName`, else `<namespace>.<name>`. */
export function domainNameFor(node: MaasNode): string {
  const { namespace, name } = node.metadata ?? {};
  if (node.spec.domainName) return node.spec.domainName;
  if (!namespace || !name) throw new TypeError('MaasNode needs metadata.namespace and name');
  return `${namespace}.${name}`;
}

/**
 * A MAC for NIC `index` of a node, the same in every process and release: 52:54:00 followed
 * by the low 24 bits of FNV-1a over `<namespace>/<name>/<index>`. Collisions are possible
 * (24 bits), which is why MaasLab checks the MACs of a hypervisor's labs against each other.
 */
export function defaultMac(namespace: string, name: string, index: number): string {
  const hash = fnv1a32(`${namespace}/${name}/${index}`) & 0xffffff;
  const octets = [hash >>> 16, (hash >>> 8) & 0xff, hash & 0xff];
  return [QEMU_OUI, ...octets.map((o) => o.toString(16).padStart(2, '0'))].join(':');
}

/**
 * The storage volume of one disk: `<domainName>-<diskName>.<format>`. The format is part of
 * the name so that a changed format is a new volume, never an old image read the wrong way.
 */
export function volumeNameFor(domainName: string, diskName: string, format = 'qcow2'): string {
  return `${domainName}-${diskName}.${format}`;
}

/**
 * The NVRAM volume of a UEFI node: `<domainName>-VARS.fd`, raw, in the Hypervisor's storage
 * pool. Disk volumes end in `.qcow2` or `.raw`, so no disk's volume can have this name.
 */
export function nvramVolumeName(domainName: string): string {
  return `${domainName}-VARS.fd`;
}

/**
 * The disk name the NVRAM volume goes by in a snapshot's member volumes. Not a DNS label (spec
 * disk names are), so no disk of the node can have it.
 */
export const NVRAM_DISK = 'UEFI-VARS';

/** The owner stamp a MaasNode's domain carries. Throws when metadata lacks identity. */
export function nodeOwner(node: MaasNode): OwnerRef {
  const { namespace, name, uid } = node.metadata ?? {};
  if (!namespace || !name || !uid) {
    throw new TypeError('MaasNode needs metadata.namespace, name and uid');
  }
  return { kind: MaasNodeKind, namespace, name, uid };
}

/** What desired state needs beyond the MaasNode itself. */
export interface NodeContext {
  /** The Hypervisor's spec, for the default storage pool. */
  readonly hypervisor: HypervisorSpec;
  /** The host can run KVM guests (the capabilities list a `kvm` domain type). */
  readonly kvm: boolean;
  /**
   * With `spec.cloneFrom`, the source MaasNode: its disks are what this node gets, copied
   * volume by volume.
   */
  readonly cloneSource?: MaasNode;
  /** The boot override its BMC has in force (status.bmc.bootOverride, or newer). */
  readonly bootOverride?: BootOverride;
}

/** A volume the node needs, with where it lives and how it is made. */
export interface DesiredVolume extends VolumeDescription {
  /** The storage pool. */
  readonly pool: string;
  /** The spec disk this volume backs. */
  readonly diskName: string;
  /** Delete removes the volume with the node; Retain keeps it. */
  readonly deletionPolicy: 'Delete' | 'Retain';
  /** For a clone: the volume to copy (virStorageVolCreateXMLFrom) instead of an empty one. */
  readonly cloneFrom?: { readonly pool: string; readonly volume: string };
}

/**
 * A UEFI node's NVRAM volume (see {@link nvramVolumeName}); undefined for BIOS. libvirt makes
 * the file from the firmware's vars template at the domain's first start, so this is never
 * created through the storage API, only copied (snapshots) and deleted with the node; its
 * size is the template's (capacity 0 here: "as it is"). The pool learns of the file on a
 * refresh, hence `madeOutside`.
 */
export function nvramVolume(
  node: MaasNode,
  ctx: Pick<NodeContext, 'hypervisor'>,
): NvramVolume | undefined {
  if ((node.spec.firmware ?? DEFAULTS.firmware) !== 'uefi') return undefined;
  return {
    name: nvramVolumeName(domainNameFor(node)),
    pool: ctx.hypervisor.storagePool ?? DEFAULTS.storagePool,
    capacityBytes: 0,
    format: 'raw' as const,
    diskName: NVRAM_DISK,
    deletionPolicy: 'Delete' as const,
    madeOutside: true,
  };
}

/** A node's NVRAM volume: a volume libvirt's domain code makes, outside the storage API. */
export type NvramVolume = DesiredVolume & { readonly madeOutside: true };

/** Memory in bytes, rounded up to whole KiB as libvirt would (it stores memory in KiB). */
function memoryBytes(quantity: string | number): number {
  return Math.ceil(parseQuantity(quantity) / KIB) * KIB;
}

/**
 * The volumes of the node's disks, in spec order. A clone has no disks of its own: it gets
 * one volume per disk of the source, created from the source's volume.
 */
export function desiredVolumes(node: MaasNode, ctx: NodeContext): DesiredVolume[] {
  const domainName = domainNameFor(node);
  const defaultPool = ctx.hypervisor.storagePool ?? DEFAULTS.storagePool;
  const source = node.spec.cloneFrom ? ctx.cloneSource : undefined;
  if (node.spec.cloneFrom && source === undefined) {
    throw new TypeError('desiredVolumes: spec.cloneFrom is set but no cloneSource was given');
  }
  const disks = (source ?? node).spec.disks ?? [];
  return disks.map((disk) => {
    const format = disk.format ?? DEFAULTS.format;
    const pool = disk.pool ?? defaultPool;
    return definedProps({
      name: volumeNameFor(domainName, disk.name, format),
      pool,
      capacityBytes: parseQuantity(disk.size),
      format,
      diskName: disk.name,
      deletionPolicy: disk.deletionPolicy ?? DEFAULTS.deletionPolicy,
      cloneFrom: source && {
        pool,
        volume: volumeNameFor(domainNameFor(source), disk.name, format),
      },
    });
  });
}

/**
 * The domain a MaasNode asks for, ready for buildDomainXml: CRD defaults filled in, disks as
 * pool volumes, NICs on the libvirt networks of the named VirtNetworks with the spec's or the
 * derived MAC, and our owner stamp. Boot devices the node does not have are dropped (a
 * diskless PXE node keeps `network`), because libvirt cannot boot from a missing device.
 */
/** A domain description with its owner stamp, as the Hypervisor's defineDomain takes it. */
export type OwnedDomain = DomainDescription & { readonly owner: OwnerMetadata };

export function desiredDomain(node: MaasNode, ctx: NodeContext): OwnedDomain {
  const owner = nodeOwner(node);
  const namespace = owner.namespace ?? '';
  const spec = node.spec;
  const source = spec.cloneFrom ? ctx.cloneSource : undefined;
  const disks: DomainDisk[] = desiredVolumes(node, ctx).map((volume, i) => ({
    pool: volume.pool,
    volume: volume.name,
    format: volume.format,
    bus: ((source ?? node).spec.disks ?? [])[i]?.bus ?? DEFAULTS.bus,
  }));
  const interfaces: DomainInterface[] = (spec.interfaces ?? []).map((nic, i) => ({
    mac: (nic.mac ?? defaultMac(namespace, owner.name, i)).toLowerCase(),
    network: libvirtNetworkName(namespace, nic.network),
    model: nic.model ?? DEFAULTS.model,
  }));
  const cdroms = bmcCdroms(spec);
  const present: Record<BootDevice, boolean> = {
    network: interfaces.length > 0,
    disk: disks.length > 0,
    cdrom: cdroms.length > 0,
  };
  const vnc = spec.vnc ?? {};
  const arch = spec.arch ?? DEFAULTS.arch;
  const firmware = spec.firmware ?? DEFAULTS.firmware;
  const nvram = nvramVolume(node, ctx);
  return {
    name: domainNameFor(node),
    type: ctx.kvm ? 'kvm' : 'qemu',
    memoryBytes: memoryBytes(spec.memory ?? DEFAULTS.memory),
    vcpus: spec.vcpus ?? DEFAULTS.vcpus,
    arch,
    firmware,
    ...(nvram && { nvram: { pool: nvram.pool, volume: nvram.name } }),
    bootOrder: bootOrderWith(spec.bootOrder ?? DEFAULTS.bootOrder, ctx.bootOverride).filter(
      (device) => present[device],
    ),
    disks,
    ...(cdroms.length > 0 && { cdroms }),
    interfaces,
    // `kubectl maaslab console` from power-on: SeaBIOS and iPXE on the serial port too.
    ...(arch === 'x86_64' && firmware === 'bios' && { serialBios: true }),
    ...((vnc.enabled ?? DEFAULTS.vncEnabled) && {
      vnc: { listen: vnc.listen ?? DEFAULTS.vncListen },
    }),
    owner,
  };
}

/**
 * A node with a virtual BMC has an empty CD-ROM drive, as a server has an optical drive, so
 * that the BMC's boot override to CD (Redfish `Cd`, IPMI "force boot from CD/DVD") has a
 * device to put first; with no disc in it the firmware goes on to the next device. SCSI, on
 * the virtio-scsi controller, works on x86 and arm64 with BIOS and UEFI alike.
 */
function bmcCdroms(spec: MaasNode['spec']): DomainCdrom[] {
  const type = spec.bmc?.type ?? 'none';
  return type === 'none' ? [] : [{ bus: 'scsi' }];
}

/**
 * A power operation:
 * - `start` virDomainCreate; `restore` the same call on a domain with a managed save image,
 *   which libvirt restores (the manual recipe's `virsh restore`);
 * - `shutdown` virDomainShutdown (ACPI, the guest cooperates); `destroy` virDomainDestroy;
 * - `managedSave` virDomainManagedSave (the recipe's `virsh save`); `reboot` virDomainReboot.
 */
export const PowerActions = [
  'none',
  'start',
  'restore',
  'shutdown',
  'destroy',
  'managedSave',
  'reboot',
] as const;
/** One power operation. */
export type PowerAction = (typeof PowerActions)[number];

/** How long a graceful shutdown may take before the domain is destroyed, by default. */
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 120_000;

/** What the power decision looks at. */
export interface PowerObservation {
  /** The domain state libvirt reports. */
  readonly state: DomainState;
  /** The domain has a managed save image (virDomainHasManagedSaveImage). */
  readonly hasManagedSave: boolean;
  /** For Once: the operator has already started the domain after creating it. */
  readonly startedOnce: boolean;
  /** spec.restartToken differs from status.lastRestartToken. */
  readonly restartTokenChanged: boolean;
  /** When the operator asked for an ACPI shutdown (epoch ms); undefined if it has not. */
  readonly shutdownRequestedAt?: number;
  /** Now, epoch ms, from the injected clock. */
  readonly now: number;
  /** Grace period of a Shutdown halt; {@link DEFAULT_SHUTDOWN_TIMEOUT_MS} when unset. */
  readonly shutdownTimeoutMs?: number;
}

type Rule = (o: PowerObservation) => PowerAction;

/** A running guest gets a reboot for a new restart token and is otherwise left alone. */
const rebootOnNewToken: Rule = (o) => (o.restartTokenChanged ? 'reboot' : 'none');
const leaveAlone: Rule = () => 'none';
const startOrRestore: Rule = (o) => (o.hasManagedSave ? 'restore' : 'start');

/**
 * Always: keep it running. A crashed domain (kept active by an on_crash policy) must be
 * destroyed before it can start. A paused or PM-suspended guest is left alone: someone
 * paused it on purpose, or libvirt is in the middle of a save or snapshot (KubeVirt's
 * Always does not unpause either). `shutdown` is a guest on its way off; start it once off.
 */
const keepRunning: Readonly<Record<DomainState, Rule>> = {
  nostate: leaveAlone,
  running: rebootOnNewToken,
  blocked: rebootOnNewToken,
  paused: leaveAlone,
  shutdown: leaveAlone,
  shutoff: startOrRestore,
  crashed: () => 'destroy',
  pmsuspended: leaveAlone,
};

/** Shutdown halt: ACPI first; destroy once the grace period is over, or at once if ACPI cannot work. */
const gracefulOff: Rule = (o) => {
  if (o.shutdownRequestedAt === undefined) return 'shutdown';
  return remainingShutdownMs(o) > 0 ? 'none' : 'destroy';
};

/** Halted: keep it off, the way `haltMode` says, per state. */
const keepHalted: Readonly<Record<HaltMode, Readonly<Record<DomainState, Rule>>>> = {
  Shutdown: {
    nostate: leaveAlone,
    running: gracefulOff,
    blocked: gracefulOff,
    // A guest that is already shutting down gets the same grace period.
    shutdown: gracefulOff,
    // A paused or suspended guest cannot answer ACPI.
    paused: () => 'destroy',
    pmsuspended: () => 'destroy',
    crashed: () => 'destroy',
    shutoff: leaveAlone,
  },
  Destroy: {
    nostate: leaveAlone,
    running: () => 'destroy',
    blocked: () => 'destroy',
    shutdown: () => 'destroy',
    paused: () => 'destroy',
    pmsuspended: () => 'destroy',
    crashed: () => 'destroy',
    shutoff: leaveAlone,
  },
  Save: {
    nostate: leaveAlone,
    running: () => 'managedSave',
    blocked: () => 'managedSave',
    // Saving a paused domain keeps its memory too; it comes back paused.
    paused: () => 'managedSave',
    // Mid-shutdown or suspended guests have no state worth saving (libvirt refuses PM ones).
    shutdown: () => 'destroy',
    pmsuspended: () => 'destroy',
    crashed: () => 'destroy',
    shutoff: leaveAlone,
  },
};

/** Once: start after creation, then behave like Manual. */
const startOnce: Readonly<Record<DomainState, Rule>> = {
  nostate: leaveAlone,
  running: rebootOnNewToken,
  blocked: rebootOnNewToken,
  paused: leaveAlone,
  shutdown: leaveAlone,
  shutoff: (o) => (o.startedOnce ? 'none' : startOrRestore(o)),
  crashed: leaveAlone,
  pmsuspended: leaveAlone,
};

/**
 * Manual: MAAS drives power through its virsh driver; the operator never touches it — except
 * for an explicit restartToken change on a running domain, which is a user's request.
 */
const manual: Readonly<Record<DomainState, Rule>> = {
  nostate: leaveAlone,
  running: rebootOnNewToken,
  blocked: rebootOnNewToken,
  paused: leaveAlone,
  shutdown: leaveAlone,
  shutoff: leaveAlone,
  crashed: leaveAlone,
  pmsuspended: leaveAlone,
};

/** The per-state rules of each run strategy; the Record type makes every pair explicit. */
const powerRules: Readonly<
  Record<RunStrategy, (haltMode: HaltMode) => Readonly<Record<DomainState, Rule>>>
> = {
  Always: () => keepRunning,
  Halted: (haltMode) => keepHalted[haltMode],
  Once: () => startOnce,
  Manual: () => manual,
};

/**
 * The one power operation this pass should do, from the run strategy, the halt mode and the
 * observed domain. One at a time: the reconciler acts, and the next pass (woken by the
 * domain event) decides again from what it then sees. A restartToken change is never acted
 * on while the strategy is Halted; the reconciler records the token either way.
 */
export function powerAction(
  runStrategy: RunStrategy,
  haltMode: HaltMode,
  observed: PowerObservation,
): PowerAction {
  return powerRules[runStrategy](haltMode)[observed.state](observed);
}

/**
 * Milliseconds left of a Shutdown halt's grace period (0 once over), so the reconciler can
 * requeue for exactly the moment `powerAction` will turn into `destroy`.
 */
export function remainingShutdownMs(o: PowerObservation): number {
  if (o.shutdownRequestedAt === undefined) return 0;
  const timeout = o.shutdownTimeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS;
  return Math.max(0, o.shutdownRequestedAt + timeout - o.now);
}
