// The shapes the Hypervisor verbs take and return: what libvirt holds for a domain, network or
// volume of ours, what to have, and what a verb changed.
import type { DomainEventType, NetworkEventLifecycleType } from '../constants.js';
import type {
  DhcpHost,
  DomainDescription,
  NetworkDescription,
  OwnerMetadata,
  ParsedDomain,
  ParsedNetwork,
  ParsedVolume,
  VolumeDescription,
} from '../xml/index.js';

/** A domain state as virsh names it (virDomainState). Same union as the MaasNode API's. */
export type DomainStateName =
  'nostate' | 'running' | 'blocked' | 'paused' | 'shutdown' | 'shutoff' | 'crashed' | 'pmsuspended';

/** The outcome of an idempotent verb: false means nothing had to change. */
export interface Change {
  /** Something was created, modified, started, stopped or deleted. */
  readonly changed: boolean;
}

/** A domain's state alone (virDomainGetState): what a BMC's power status needs. */
export interface DomainPowerState {
  /** State. */
  readonly state: DomainStateName;
  /** The per-state reason, e.g. DomainShutoffReason.Destroyed. */
  readonly reason: number;
}

/**
 * One defined domain, as far as the Hypervisor status goes. vCPUs and memory come from
 * virDomainGetInfo: the running configuration while the domain is active, the definition
 * while it is not (they differ only after a live hotplug or a `--config`-only edit).
 */
export interface DomainSummary {
  /** Domain name. */
  readonly name: string;
  /** Our stamp, if any. */
  readonly owner?: OwnerMetadata;
  /** vCPUs (virDomainInfo.nrVirtCpu). */
  readonly vcpus: number;
  /** Maximum memory, bytes (virDomainInfo.maxMem is KiB). */
  readonly memoryBytes: number;
  /** Current state. */
  readonly state: DomainStateName;
}

/** What the host reports; shaped like the Hypervisor controller's HostFacts. */
export interface HostInfo {
  /** virConnectGetHostname. */
  readonly hostname: string;
  /** virConnectGetLibVersion (major * 1e6 + minor * 1e3 + micro). */
  readonly libvirtVersion: number;
  /** virConnectGetType, e.g. `QEMU`. */
  readonly hypervisorType: string;
  /** virConnectGetVersion, packed like libvirtVersion. */
  readonly hypervisorVersion: number;
  /** Logical CPUs (virNodeInfo.cpus). */
  readonly cpus: number;
  /** Host memory in bytes. */
  readonly memoryBytes: number;
  /** The capabilities offer a `kvm` domain type for some guest. */
  readonly kvm: boolean;
  /** Every defined domain (ours and others; filter on `owner`). */
  readonly domains: readonly DomainSummary[];
}

/** A storage pool to have. */
export interface PoolSpec {
  /** Pool name. */
  readonly name: string;
  /** Directory for a dir pool; when set, a missing pool is created there. */
  readonly path?: string;
}

/** What libvirt holds for a network of our name. */
export interface ObservedNetwork {
  /** Network name. */
  readonly name: string;
  /** UUID. */
  readonly uuid: string;
  /** Running. */
  readonly active: boolean;
  /** Starts with the daemon. */
  readonly autostart: boolean;
  /** The stamp in its <metadata>; undefined when none. */
  readonly owner?: OwnerMetadata;
  /** Bridge name (libvirt's choice when the definition named none). */
  readonly bridge?: string;
  /** The persistent definition. */
  readonly parsed: ParsedNetwork;
  /** The running configuration, when active. */
  readonly live?: ParsedNetwork;
}

/**
 * A desired domain: the description with its (mandatory) owner stamp. defineDomain turns it
 * into XML (src/libvirt/xml) and keeps the UUID of the domain it replaces.
 */
export type OwnedDomainDescription = DomainDescription & { readonly owner: OwnerMetadata };

/**
 * A desired network: the description with its (mandatory) owner stamp, and whether it starts
 * with the daemon (`autostart`, default true; not part of the XML).
 */
export type OwnedNetworkDescription = NetworkDescription & {
  readonly owner: OwnerMetadata;
  readonly autostart?: boolean;
};

/**
 * What has to happen to make an observed network match the desired one: the VirtNetwork
 * controller's diffNetwork computes it, applyNetworkChange does it.
 */
export type NetworkChange =
  | { readonly kind: 'none' }
  | {
      readonly kind: 'dhcpHostsLive';
      /** Leases to add (virNetworkUpdate ADD_LAST). */
      readonly add: readonly DhcpHost[];
      /** Leases to delete, exactly as libvirt holds them (DELETE). */
      readonly remove: readonly DhcpHost[];
      /** Leases whose MAC stays but whose address or name changes (MODIFY, matched by MAC). */
      readonly modify: readonly DhcpHost[];
    }
  | {
      readonly kind: 'redefineAndRestart';
      /** One line per difference, for the event and the log. */
      readonly reasons: readonly string[];
    };

/** A NIC that was moved back onto its network's bridge. */
export interface ReplugResult {
  /** Domain name. */
  readonly domain: string;
  /** NIC MAC. */
  readonly mac: string;
}

/** Options of ensureNetwork. */
export interface EnsureNetworkOptions {
  /**
   * The caller looked a moment ago and found no network of the name: it is defined without
   * a look of its own. libvirt refuses a definition whose name another network holds (a
   * fresh UUID never matches), so one that appeared meanwhile is never overwritten: the
   * define fails and the verb goes the checked way (a look, then NameConflictError or what
   * it finds).
   */
  readonly seenAbsent?: boolean;
}

/** Options of ensureVolumes. */
export interface EnsureVolumesOptions {
  /**
   * The caller expects the volumes absent: it found no domain of theirs a moment ago (a node
   * being created). Each empty volume is then created without a look first; libvirt refuses
   * to create a volume whose name the pool holds, so one that exists after all is never
   * overwritten: the refused create is followed by the look, and the volume is kept as it is.
   * Copies (cloneFrom) are looked up first as always.
   */
  readonly expectAbsent?: boolean;
}

/** The result of verbs that may (re)start a network. */
export interface NetworkChangeResult extends Change {
  /** NICs of running domains re-plugged after the network (re)started. */
  readonly replugged: readonly ReplugResult[];
}

/** What libvirt holds for a domain of our name. */
export interface ObservedDomain {
  /** Domain name. */
  readonly name: string;
  /** UUID. */
  readonly uuid: string;
  /** Hypervisor ID while running, else -1; a new ID means a new boot. */
  readonly id: number;
  /** The stamp in its <metadata>; undefined when none. */
  readonly owner?: OwnerMetadata;
  /** State. */
  readonly state: DomainStateName;
  /** The per-state reason (virDomainGetState), e.g. DomainShutoffReason.Destroyed. */
  readonly reason: number;
  /** A managed save image exists (virsh save-style halt). */
  readonly hasManagedSave: boolean;
  /** Persistent (defined) rather than transient. */
  readonly persistent: boolean;
  /** The persistent definition. */
  readonly inactive: ParsedDomain;
  /** The running configuration, when active. */
  readonly live?: ParsedDomain;
}

/** A volume to have; the MaasNode controller's DesiredVolume fits. */
export interface VolumeSpec extends VolumeDescription {
  /** Storage pool. */
  readonly pool: string;
  /**
   * Copy this volume (virStorageVolCreateXMLFrom) instead of creating an empty one. A capacity
   * of 0 takes the source's. `madeOutside`: see {@link VolumeRef.madeOutside}.
   */
  readonly cloneFrom?: {
    readonly pool: string;
    readonly volume: string;
    readonly madeOutside?: boolean;
  };
}

/** What ensureVolumes did and found. */
export interface EnsuredVolumes extends Change {
  /** Names of the volumes it created. */
  readonly created: readonly string[];
  /** Every volume asked for, as it is now, in the order asked. */
  readonly volumes: readonly ParsedVolume[];
}

/** A volume to fill with bytes from elsewhere (a base image): uploadVolume. */
export interface VolumeUpload {
  /** Storage pool. */
  readonly pool: string;
  /** Volume name. */
  readonly name: string;
  /** How many bytes come: the volume's capacity (the image file's size). */
  readonly sizeBytes: number;
  /** The SHA-256 the bytes must have, lowercase hex; the volume is removed when they do not. */
  readonly sha256?: string;
}

/** A long job's progress: bytes done of total. */
export interface JobProgress {
  readonly done: number;
  readonly total: number;
}

/** Progress reports and cancellation of a long libvirt job (a volume upload, a managed save). */
export interface JobOptions {
  /** Called as the job advances (an upload: after every chunk), with the bytes done so far. */
  readonly onProgress?: (progress: JobProgress) => void;
  /**
   * Aborts the job: an upload's stream is aborted and the volume removed; a managed save is
   * cancelled and the domain keeps running.
   */
  readonly signal?: AbortSignal;
}

/** A volume by pool and name. */
export interface VolumeRef {
  /** Storage pool. */
  readonly pool: string;
  /** Volume name. */
  readonly name: string;
  /**
   * The file may have been made beside the storage API (a UEFI domain's NVRAM, which libvirt
   * copies from the firmware's template at the first start): the pool only lists it after a
   * refresh, so a miss refreshes the pool (virStoragePoolRefresh) and looks again.
   */
  readonly madeOutside?: boolean;
}

/**
 * How reboot() restarts a running domain:
 * - `powerCycle` (default): virDomainDestroy + virDomainCreate. Works with no guest OS (a
 *   node PXE-booting or in firmware ignores ACPI), gives a new domain ID and Stopped/Started
 *   events, so a restart is observable; it is what MAAS's virsh power driver does too.
 * - `reset`: virDomainReset, a hard reset; same ID and no lifecycle event.
 * - `acpi`: virDomainReboot, a request the guest may ignore.
 */
export type RebootMode = 'powerCycle' | 'reset' | 'acpi';

/** A domain lifecycle event, with the domain already named. */
export interface DomainEvent {
  /** Domain name. */
  readonly name: string;
  /** Domain UUID. */
  readonly uuid: string;
  /** The event. */
  readonly event: DomainEventType;
  /** Per-event detail (e.g. DomainEventStoppedDetailType.Destroyed). */
  readonly detail: number;
}

/** A network lifecycle event, with the network already named. */
export interface NetworkEvent {
  /** Network name. */
  readonly name: string;
  /** Network UUID. */
  readonly uuid: string;
  /** The event. */
  readonly event: NetworkEventLifecycleType;
  /** Detail; libvirt defines none yet. */
  readonly detail: number;
}

/** Stops an event subscription. */
export type Unsubscribe = () => void;
