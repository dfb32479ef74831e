// The side-effect layer the reconcilers call: a Hypervisor interface with idempotent verbs
// (STYLE §3, house rule 5) and its implementation over the typed wrapper.
//
// Every verb "may be called multiple times": it looks first and changes only what differs,
// and reports `changed` so callers (and tests) can tell a no-op from a mutation. Ownership is
// checked inside each mutating verb, never left to the caller: a domain or network of our name
// that does not carry our owner stamp (kind, namespace, name, UID) is never modified or
// deleted; the verb throws NameConflictError instead. Volumes and pools have no <metadata> in
// libvirt: volumes are ours by their derived name (`<domainName>-<disk>.<format>`), and the
// MaasNode records the volumes it created in its status; deleteVolumes is only ever called
// with those names. ensureVolumes never changes an existing volume.
//
// Every libvirt call goes through one instrumented helper that records
// maaslab_libvirt_call_duration_seconds{hypervisor,op} and maaslab_libvirt_calls_total
// {hypervisor,op,result}, and turns connection-class failures into HypervisorUnreachableError
// (by error code and domain, never by message text), telling the connection pool.
import { XMLParser } from 'fast-xml-parser';
import type { Connection } from './connection.js';
import type { ConnectionPool } from './connection-pool.js';
import {
  ConnectListAllDomainsFlags,
  DomainDeviceModifyFlags,
  type DomainEventType,
  DomainMetadataType,
  DomainState,
  DomainUndefineFlags,
  DomainXMLFlags,
  ErrorDomain,
  ErrorLevel,
  ErrorNumber,
  type NetworkEventLifecycleType,
  NetworkUpdateCommand,
  NetworkUpdateFlags,
  NetworkUpdateSection,
  NetworkXMLFlags,
} from './constants.js';
import type { Domain } from './domain.js';
import { DomainFactsCache } from './domain-facts-cache.js';
import { isLibvirtError, isNotFound, LibvirtError } from './errors.js';
import type { Subscription } from './events.js';
import { noopLibvirtMetrics, type LibvirtCallResult, type LibvirtMetrics } from './metrics.js';
import type { Network } from './network.js';
import type { StoragePool } from './storage-pool.js';
import type { StorageVolume } from './storage-volume.js';
import {
  buildDhcpHostXml,
  buildNetworkXml,
  buildPoolXml,
  buildVolumeXml,
  isOwnedBy,
  MAASLAB_XMLNS,
  parseDomainXml,
  parseNetworkXml,
  parseOwnerMetadata,
  type DhcpHost,
  type NetworkDescription,
  type OwnerMetadata,
  type OwnerRef,
  type ParsedDomain,
  type ParsedNetwork,
  type ParsedVolume,
  type VolumeDescription,
} from './xml/index.js';

// ---------------------------------------------------------------------------------------------
// Errors

/**
 * A domain or network of the name we would use exists and is not ours (no stamp, or another
 * owner or UID). The object is left untouched; the resource reports Stalled/NameConflict.
 */
export class NameConflictError extends Error {
  override readonly name = 'NameConflictError';
  /** Builds the error; `found` is the stamp the object carries, if any. */
  constructor(
    /** `domain` or `network`. */
    readonly objectKind: 'domain' | 'network',
    /** The libvirt name. */
    readonly objectName: string,
    /** The owner stamp found on the object; undefined when it has none. */
    readonly found?: OwnerMetadata,
  ) {
    super(
      `${objectKind} ${objectName} exists and is not ours` +
        (found
          ? ` (owned by ${found.kind} ${found.namespace ?? ''}/${found.name} uid ${found.uid})`
          : ''),
    );
  }
}

/** libvirt cannot be reached: connect failed, the daemon went away, keepalive timed out. */
export class HypervisorUnreachableError extends Error {
  override readonly name = 'HypervisorUnreachableError';
  /** Builds the error; pass the libvirt error as `cause`. */
  constructor(
    /** The hypervisor URI. */
    readonly uri: string,
    options?: ErrorOptions,
  ) {
    const cause = options?.cause;
    super(
      `hypervisor ${uri} is unreachable` + (cause instanceof Error ? `: ${cause.message}` : ''),
      options,
    );
  }
}

/** The storage pool does not exist and no path was given to create it. */
export class PoolNotFoundError extends Error {
  override readonly name = 'PoolNotFoundError';
  /** Builds the error; pass the libvirt lookup error as `cause`. */
  constructor(
    /** The pool name. */
    readonly pool: string,
    options?: ErrorOptions,
  ) {
    super(`storage pool ${pool} does not exist`, options);
  }
}

/**
 * A bridge-mode network names a host bridge that does not exist. virNetworkCreate does not
 * check (libvirt 9.0), so the network would look active with nothing behind it; the network
 * is left unstarted and the resource reports Stalled/BridgeNotFound until the bridge appears.
 */
export class BridgeNotFoundError extends Error {
  override readonly name = 'BridgeNotFoundError';
  /** Builds the error; pass the libvirt lookup error as `cause`. */
  constructor(
    /** The host bridge name. */
    readonly bridge: string,
    options?: ErrorOptions,
  ) {
    super(`host bridge ${bridge} does not exist`, options);
  }
}

/** Codes that always mean the connection is unusable. */
const CONNECTION_CODES: readonly ErrorNumber[] = [
  ErrorNumber.NoConnect,
  ErrorNumber.InvalidConn,
  ErrorNumber.Rpc,
  ErrorNumber.AuthFailed,
];

/**
 * True when a libvirt error means the connection (not the operation) failed. SYSTEM_ERROR
 * counts only when raised by the RPC or remote layers (a dead socket: "Cannot write data",
 * "End of file"): the QEMU driver also uses SYSTEM_ERROR for, e.g., a missing image file.
 */
export function isUnreachableError(e: unknown): e is LibvirtError {
  if (!(e instanceof LibvirtError)) return false;
  if (CONNECTION_CODES.includes(e.code)) return true;
  return (
    e.code === ErrorNumber.SystemError &&
    (e.domain === ErrorDomain.Rpc || e.domain === ErrorDomain.Remote)
  );
}

// ---------------------------------------------------------------------------------------------
// Shapes

/** A domain state as virsh names it (virDomainState). Same union as the MaasNode API's. */
export type DomainStateName =
  'nostate' | 'running' | 'blocked' | 'paused' | 'shutdown' | 'shutoff' | 'crashed' | 'pmsuspended';

const STATE_NAMES: Readonly<Record<DomainState, DomainStateName>> = {
  [DomainState.Nostate]: 'nostate',
  [DomainState.Running]: 'running',
  [DomainState.Blocked]: 'blocked',
  [DomainState.Paused]: 'paused',
  [DomainState.Shutdown]: 'shutdown',
  [DomainState.Shutoff]: 'shutoff',
  [DomainState.Crashed]: 'crashed',
  [DomainState.Pmsuspended]: 'pmsuspended',
};

/** The outcome of an idempotent verb: false means nothing had to change. */
export interface Change {
  /** Something was created, modified, started, stopped or deleted. */
  readonly changed: boolean;
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
 * A desired network: the description with its (mandatory) owner stamp, and whether it starts
 * with the daemon (`autostart`, default true; not part of the XML).
 */
export type OwnedNetworkDescription = NetworkDescription & {
  readonly owner: OwnerMetadata;
  readonly autostart?: boolean;
};

/** What applyNetworkChange does; the VirtNetwork controller's diffNetwork result fits. */
export type NetworkChange =
  | { readonly kind: 'none' }
  | {
      readonly kind: 'dhcpHostsLive';
      readonly add: readonly DhcpHost[];
      readonly remove: readonly DhcpHost[];
      readonly modify: readonly DhcpHost[];
    }
  | { readonly kind: 'redefineAndRestart'; readonly reasons: readonly string[] };

/** A NIC that was moved back onto its network's bridge. */
export interface ReplugResult {
  /** Domain name. */
  readonly domain: string;
  /** NIC MAC. */
  readonly mac: string;
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
  /** Copy this volume (virStorageVolCreateXMLFrom) instead of creating an empty one. */
  readonly cloneFrom?: { readonly pool: string; readonly volume: string };
}

/** What ensureVolumes did and found. */
export interface EnsuredVolumes extends Change {
  /** Names of the volumes it created. */
  readonly created: readonly string[];
  /** Every volume asked for, as it is now, in the order asked. */
  readonly volumes: readonly ParsedVolume[];
}

/** A volume by pool and name. */
export interface VolumeRef {
  /** Storage pool. */
  readonly pool: string;
  /** Volume name. */
  readonly name: string;
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

/**
 * The external system behind an interface (STYLE §3). Every verb may be called multiple
 * times: it observes, changes only what differs and returns `changed`. Mutating verbs on
 * domains and networks take the expected owner and throw NameConflictError for objects that
 * are not ours. Any verb throws HypervisorUnreachableError while libvirt cannot be reached.
 */
export interface Hypervisor {
  /**
   * Host facts and every defined domain with its stamp, for the Hypervisor status. Host facts
   * are read once per connection; a domain's facts are read once and then kept until one of
   * its lifecycle events (or a 10 min time-to-live) says they may have changed, so a settled
   * host costs one virConnectListAllDomains.
   * @see https://libvirt.org/html/libvirt-libvirt-host.html#virNodeGetInfo
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virConnectListAllDomains
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainGetInfo
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainGetMetadata
   */
  hostInfo(): Promise<HostInfo>;
  /**
   * The storage pool exists and runs. A missing pool is defined, built, started and
   * autostarted as a dir pool at `path`; without a path, PoolNotFoundError.
   * @see https://libvirt.org/html/libvirt-libvirt-storage.html#virStoragePoolDefineXML
   */
  ensurePool(spec: PoolSpec): Promise<Change>;

  /**
   * The network of this name (definition, live config, stamp), or undefined.
   * @see https://libvirt.org/html/libvirt-libvirt-network.html#virNetworkGetXMLDesc
   */
  observeNetwork(name: string): Promise<ObservedNetwork | undefined>;
  /**
   * Defined (if absent) and started, with autostart set to `desc.autostart` (default true)
   * when it differs; never redefines an existing one (that is applyNetworkChange). Whenever it has to start the network, the NICs of running domains
   * on it are re-plugged. NameConflictError for a network that is not ours; BridgeNotFoundError
   * (network left unstarted) when a bridge-mode network's host bridge does not exist.
   * @see https://libvirt.org/html/libvirt-libvirt-network.html#virNetworkDefineXMLFlags
   * @see https://libvirt.org/html/libvirt-libvirt-network.html#virNetworkCreate
   * @see https://libvirt.org/html/libvirt-libvirt-network.html#virNetworkSetAutostart
   */
  ensureNetwork(desc: OwnedNetworkDescription): Promise<NetworkChangeResult>;
  /**
   * Applies a diffNetwork result: `dhcpHostsLive` through virNetworkUpdate (LIVE|CONFIG, only
   * hosts not already so); `redefineAndRestart` as net-destroy, net-define (same UUID, same
   * bridge), net-start, then re-plugs running domains' NICs. Skips what already matches.
   * BridgeNotFoundError, before anything is destroyed, when a bridge-mode network's host
   * bridge does not exist.
   * @see https://libvirt.org/html/libvirt-libvirt-network.html#virNetworkUpdate
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainUpdateDeviceFlags
   */
  applyNetworkChange(
    desc: OwnedNetworkDescription,
    change: NetworkChange,
  ): Promise<NetworkChangeResult>;
  /**
   * Destroys and undefines the network if it is ours; absent is a no-op; NameConflictError
   * for someone else's.
   * @see https://libvirt.org/html/libvirt-libvirt-network.html#virNetworkUndefine
   */
  deleteNetwork(name: string, owner: OwnerRef): Promise<Change>;

  /**
   * The domain of this name (state, reason, ID, managed save, inactive and live config), or
   * undefined.
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainGetState
   */
  observeDomain(name: string): Promise<ObservedDomain | undefined>;
  /**
   * Creates the missing volumes, empty or cloned from `cloneFrom`; never resizes or
   * overwrites an existing one. PoolNotFoundError for a missing pool. Returns what each
   * volume is now (path, capacity, allocation), in the order given, so a caller need not
   * look them up again.
   * @see https://libvirt.org/html/libvirt-libvirt-storage.html#virStorageVolCreateXML
   * @see https://libvirt.org/html/libvirt-libvirt-storage.html#virStorageVolCreateXMLFrom
   */
  ensureVolumes(volumes: readonly VolumeSpec[]): Promise<EnsuredVolumes>;
  /**
   * The named volumes of `pool` that exist (path and capacity), in the order asked; missing
   * ones, and every one of a missing pool, are left out. Read-only.
   * @see https://libvirt.org/html/libvirt-libvirt-storage.html#virStorageVolGetPath
   * @see https://libvirt.org/html/libvirt-libvirt-storage.html#virStorageVolGetInfo
   */
  observeVolumes(pool: string, names: readonly string[]): Promise<readonly ParsedVolume[]>;
  /**
   * Defines (or redefines) the domain from XML carrying our owner stamp (TypeError without
   * one). A no-op when the stored stamp has the same specHash; keeps the existing UUID.
   * NameConflictError for a domain that is not ours.
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainDefineXMLFlags
   */
  defineDomain(xml: string): Promise<Change>;
  /**
   * Starts a stopped domain; libvirt restores its managed save image if there is one. The
   * power verbs reject with NO_DOMAIN (isNotFound) when the domain is absent.
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainCreateWithFlags
   */
  start(name: string, owner: OwnerRef): Promise<Change>;
  /**
   * start(), telling whether a managed save image was restored.
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainHasManagedSaveImage
   */
  startFromManagedSave(
    name: string,
    owner: OwnerRef,
  ): Promise<Change & { readonly restored: boolean }>;
  /**
   * Asks the guest to power off (ACPI); a no-op unless running. A guest without an OS
   * ignores it: the caller destroys after its grace period.
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainShutdownFlags
   */
  shutdown(name: string, owner: OwnerRef): Promise<Change>;
  /**
   * Pulls the plug; a no-op unless active (or absent).
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainDestroyFlags
   */
  destroy(name: string, owner: OwnerRef): Promise<Change>;
  /**
   * Restarts a running domain, by default with a power cycle (see RebootMode); a no-op
   * unless active. Not idempotent by nature: the caller records the restart token after it.
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainReset
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainReboot
   */
  reboot(name: string, owner: OwnerRef, mode?: RebootMode): Promise<Change>;
  /**
   * Saves a running (or paused) domain's memory to libvirt's managed image and stops it.
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainManagedSave
   */
  managedSave(name: string, owner: OwnerRef): Promise<Change>;
  /**
   * Destroys if active, then undefines with the managed save image, snapshot metadata and
   * NVRAM; absent is a no-op; NameConflictError for someone else's.
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainUndefineFlags
   */
  deleteDomain(name: string, owner: OwnerRef): Promise<Change>;
  /**
   * Deletes the volumes that exist; missing ones (and missing pools) are skipped. Volumes
   * carry no stamp: pass only names the owner recorded as created by it.
   * @see https://libvirt.org/html/libvirt-libvirt-storage.html#virStorageVolDelete
   */
  deleteVolumes(
    volumes: readonly VolumeRef[],
  ): Promise<Change & { readonly deleted: readonly string[] }>;

  /**
   * Domain lifecycle events (defined, started, stopped, ...) of every domain on the host,
   * e.g. a `virsh destroy` by hand. Listener errors are contained.
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virConnectDomainEventRegisterAny
   */
  onDomainEvent(listener: (e: DomainEvent) => void): Unsubscribe;
  /**
   * Network lifecycle events.
   * @see https://libvirt.org/html/libvirt-libvirt-network.html#virConnectNetworkEventRegisterAny
   */
  onNetworkEvent(listener: (e: NetworkEvent) => void): Unsubscribe;
}

// ---------------------------------------------------------------------------------------------
// Implementation

/** Options of {@link createLibvirtHypervisor}. */
export interface LibvirtHypervisorOptions {
  /** The hypervisor URI. */
  readonly uri: string;
  /** The shared connections; the Hypervisor never opens its own. */
  readonly connections: Pick<ConnectionPool<Connection>, 'get' | 'on' | 'reportFailure'>;
  /** The `hypervisor` metric label (the Hypervisor resource name); defaults to the URI. */
  readonly name?: string;
  /** Call metrics; none by default. */
  readonly metrics?: LibvirtMetrics;
  /** Told about listener errors and failed event registrations nobody awaits. */
  readonly onError?: (err: unknown) => void;
  /**
   * How long hostInfo trusts what it read about a domain when no lifecycle event came
   * (default 10 min): edits without one, such as `virsh metadata`, show within this period.
   */
  readonly domainFactsTtlMs?: number;
  /** Monotonic milliseconds, for that time-to-live (default performance.now). */
  readonly now?: () => number;
}

/** hostInfo's default trust in a domain's facts without an event. */
export const DEFAULT_DOMAIN_FACTS_TTL_MS = 10 * 60_000;

/** The real Hypervisor, plus disposal of its event subscriptions. */
export interface LibvirtHypervisor extends Hypervisor {
  /** Deregisters event callbacks (the pool closes the connection itself). */
  close(): Promise<void>;
}

/**
 * virDomainUndefineFlags for deletion: managed save image, snapshot metadata and NVRAM go with
 * the domain. QEMU accepts (and ignores) NVRAM for BIOS domains.
 */
const UNDEFINE_FLAGS = [
  DomainUndefineFlags.ManagedSave,
  DomainUndefineFlags.SnapshotsMetadata,
  DomainUndefineFlags.Nvram,
] as const;

/**
 * The `op` label of Domain.observe's calls: the C functions it makes, in order, so the
 * libvirt-calls metric still says what was asked of libvirtd.
 */
export const OBSERVE_DOMAIN_OP =
  'virDomainGetState+virDomainIsPersistent+virDomainHasManagedSaveImage+virDomainGetXMLDesc';

const ACTIVE_STATES: ReadonlySet<DomainStateName> = new Set([
  'running',
  'blocked',
  'paused',
  'shutdown',
  'crashed',
  'pmsuspended',
]);

const capsParser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  isArray: (name) => name === 'guest' || name === 'domain',
});

/** Whether virConnectGetCapabilities offers a `kvm` domain type for any guest. */
function capabilitiesHaveKvm(xml: string): boolean {
  const doc = capsParser.parse(xml) as {
    capabilities?: { guest?: { arch?: { domain?: { '@_type'?: string }[] } }[] };
  };
  return (doc.capabilities?.guest ?? []).some((g) =>
    (g.arch?.domain ?? []).some((d) => d['@_type'] === 'kvm'),
  );
}

const escapeAttr = (v: string): string =>
  v.replace(/&/g, '&amp;').replace(/'/g, '&apos;').replace(/</g, '&lt;');

/**
 * `<interface>` device XML for virDomainUpdateDeviceFlags, matched by MAC. Only the fields
 * libvirt would refuse to see change live (model, boot order) are repeated; it keeps the tap
 * name, alias and PCI address of the running device when they are left out.
 */
function nicUpdateXml(
  mac: string,
  source: { network: string } | { bridge: string },
  model?: string,
  bootOrder?: number,
): string {
  const src =
    'network' in source
      ? `<source network='${escapeAttr(source.network)}'/>`
      : `<source bridge='${escapeAttr(source.bridge)}'/>`;
  const type = 'network' in source ? 'network' : 'bridge';
  return (
    `<interface type='${type}'><mac address='${escapeAttr(mac)}'/>${src}` +
    (model ? `<model type='${escapeAttr(model)}'/>` : '') +
    (bootOrder !== undefined ? `<boot order='${bootOrder}'/>` : '') +
    `</interface>`
  );
}

/** The network fields a redefinition changes, normalised the way libvirt stores them. */
function networkShape(n: ParsedNetwork): string {
  return JSON.stringify({
    mode: n.mode,
    bridge: n.bridge?.name,
    stp: n.bridge?.stp ?? (n.mode === 'bridge' ? undefined : true),
    ip: n.ipv4 && { a: n.ipv4.address, p: n.ipv4.prefix, d: n.ipv4.dhcp !== undefined },
    ranges: n.ipv4?.dhcp?.ranges.map((r) => `${r.start}-${r.end}`),
    domain: n.domain,
    mtu: n.mtu,
    owner: n.owner && `${n.owner.uid}/${n.owner.specHash ?? ''}`,
  });
}

const sameHost = (a: { mac?: string; ip?: string; name?: string }, b: DhcpHost): boolean =>
  a.mac === b.mac.toLowerCase() && a.ip === b.ip && a.name === b.name;

/**
 * The Hypervisor over the typed wrapper, on the pool's connection for `uri`. Event
 * subscriptions are registered on the first listener and again on every reconnect (`up`).
 */
export function createLibvirtHypervisor(opts: LibvirtHypervisorOptions): LibvirtHypervisor {
  return new LibvirtHypervisorImpl(opts);
}

class LibvirtHypervisorImpl implements LibvirtHypervisor {
  readonly #uri: string;
  readonly #label: string;
  readonly #pool: LibvirtHypervisorOptions['connections'];
  readonly #metrics: LibvirtMetrics;
  readonly #onError: (err: unknown) => void;
  readonly #domainListeners = new Set<(e: DomainEvent) => void>();
  readonly #networkListeners = new Set<(e: NetworkEvent) => void>();
  #subscribedTo?: Connection;
  #subscriptions: Subscription[] = [];
  #offUp?: () => void;
  #closed = false;
  #noInactiveNetworkXml = false;
  readonly #domainFactsTtlMs: number;
  readonly #now: () => number;
  #hostFactsOf?: { readonly conn: Connection; readonly facts: Omit<HostInfo, 'domains'> };
  #domainFacts?: { readonly conn: Connection; readonly cache: DomainFactsCache<DomainSummary> };

  constructor(opts: LibvirtHypervisorOptions) {
    this.#uri = opts.uri;
    this.#label = opts.name ?? opts.uri;
    this.#pool = opts.connections;
    this.#metrics = opts.metrics ?? noopLibvirtMetrics;
    this.#onError = opts.onError ?? (() => undefined);
    this.#domainFactsTtlMs = opts.domainFactsTtlMs ?? DEFAULT_DOMAIN_FACTS_TTL_MS;
    this.#now = opts.now ?? (() => performance.now());
  }

  // --- the instrumented helper -----------------------------------------------------------------

  /** The pool's connection; HypervisorUnreachableError while down. */
  async #conn(): Promise<Connection> {
    return this.#pool.get(this.#uri);
  }

  /**
   * Runs one libvirt call `op` (its C name), timing and counting it, and turns connection
   * failures into HypervisorUnreachableError (reporting them to the pool).
   */
  async #call<T>(conn: Connection, op: string, fn: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    let result: LibvirtCallResult = 'success';
    try {
      return await fn();
    } catch (err) {
      result = isNotFound(err) ? 'not_found' : 'error';
      if (isUnreachableError(err)) {
        this.#pool.reportFailure(this.#uri, conn, err);
        throw new HypervisorUnreachableError(this.#uri, { cause: err });
      }
      throw err;
    } finally {
      this.#metrics.observeCall(this.#label, op, (performance.now() - t0) / 1000, result);
    }
  }

  /** A lookup that maps "no such object" to undefined. */
  async #lookup<T>(conn: Connection, op: string, fn: () => Promise<T>): Promise<T | undefined> {
    try {
      return await this.#call(conn, op, fn);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  // --- host --------------------------------------------------------------------------------------

  async hostInfo(): Promise<HostInfo> {
    const c = await this.#conn();
    // The inventory cache is only as good as the events that invalidate it.
    this.#startEvents();
    const host = await this.#hostFacts(c);
    const cache = this.#domainFactsOf(c);
    const trusted = this.#eventsLiveOn(c);
    const all = await this.#call(c, 'virConnectListAllDomains', () => c.listAllDomains());
    const domains: DomainSummary[] = [];
    const listed = new Set<string>();
    cache.startListing();
    try {
      for (const dom of all) {
        try {
          const uuid = dom.getUUIDString();
          listed.add(uuid);
          const known = trusted ? cache.get(uuid) : undefined;
          if (known) {
            domains.push(known);
            continue;
          }
          const token = cache.readToken();
          const summary = await this.#domainSummary(c, dom);
          if (trusted) cache.store(uuid, summary, token);
          domains.push(summary);
        } catch (err) {
          // Undefined between the listing and the read: it is simply not there any more.
          if (!isNotFound(err)) throw err;
        } finally {
          dom.free();
        }
      }
    } finally {
      cache.finishListing(listed);
    }
    return { ...host, domains };
  }

  /**
   * The host facts, read once per connection: hostname, versions, CPUs, memory and KVM do not
   * change while a connection lives (a libvirtd upgrade or a host reboot drops it).
   */
  async #hostFacts(c: Connection): Promise<Omit<HostInfo, 'domains'>> {
    if (this.#hostFactsOf?.conn === c) return this.#hostFactsOf.facts;
    const hostname = await this.#call(c, 'virConnectGetHostname', () => c.getHostname());
    const libvirtVersion = await this.#call(c, 'virConnectGetLibVersion', () => c.getLibVersion());
    const hypervisorType = await this.#call(c, 'virConnectGetType', () => c.getType());
    const hypervisorVersion = await this.#call(c, 'virConnectGetVersion', () => c.getVersion());
    const node = await this.#call(c, 'virNodeGetInfo', () => c.nodeGetInfo());
    const caps = await this.#call(c, 'virConnectGetCapabilities', () => c.getCapabilities());
    const facts = {
      hostname,
      libvirtVersion,
      hypervisorType,
      hypervisorVersion,
      cpus: node.cpus,
      memoryBytes: node.memory * 1024,
      kvm: capabilitiesHaveKvm(caps),
    };
    this.#hostFactsOf = { conn: c, facts };
    return facts;
  }

  /**
   * One domain for the inventory: virDomainGetInfo (state, vCPUs, maximum memory) and our
   * stamp through virDomainGetMetadata, two small calls instead of the full definition.
   */
  async #domainSummary(c: Connection, dom: Domain): Promise<DomainSummary> {
    const info = await this.#call(c, 'virDomainGetInfo', () => dom.getInfo());
    const owner = await this.#domainOwner(c, dom);
    return {
      name: dom.getName(),
      ...(owner && { owner }),
      vcpus: info.nrVirtCpu,
      memoryBytes: info.maxMem * 1024,
      state: STATE_NAMES[info.state],
    };
  }

  /** The inventory cache of connection `c`; a new connection starts with an empty one. */
  #domainFactsOf(c: Connection): DomainFactsCache<DomainSummary> {
    if (this.#domainFacts?.conn !== c) {
      this.#domainFacts = {
        conn: c,
        cache: new DomainFactsCache({ ttlMs: this.#domainFactsTtlMs, now: this.#now }),
      };
    }
    return this.#domainFacts.cache;
  }

  /** Whether lifecycle events of connection `c` reach us now (so the cache may be trusted). */
  #eventsLiveOn(c: Connection): boolean {
    return this.#subscribedTo === c && this.#subscriptions.length > 0;
  }

  async ensurePool(spec: PoolSpec): Promise<Change> {
    const c = await this.#conn();
    const found = await this.#lookup(c, 'virStoragePoolLookupByName', () =>
      c.storagePoolLookupByName(spec.name),
    );
    if (found) {
      using pool = found;
      if (await this.#call(c, 'virStoragePoolIsActive', () => pool.isActive())) {
        return { changed: false };
      }
      await this.#call(c, 'virStoragePoolCreate', () => pool.create());
      return { changed: true };
    }
    if (spec.path === undefined) throw new PoolNotFoundError(spec.name);
    const xml = buildPoolXml({ name: spec.name, type: 'dir', path: spec.path });
    using pool = await this.#call(c, 'virStoragePoolDefineXML', () => c.storagePoolDefineXML(xml));
    // Build creates the directory (an existing one is fine for a dir pool).
    await this.#call(c, 'virStoragePoolBuild', () => pool.build());
    await this.#call(c, 'virStoragePoolCreate', () => pool.create());
    await this.#call(c, 'virStoragePoolSetAutostart', () => pool.setAutostart(true));
    return { changed: true };
  }

  // --- networks ------------------------------------------------------------------------------------

  async #observeNetwork(c: Connection, net: Network): Promise<ObservedNetwork> {
    const active = await this.#call(c, 'virNetworkIsActive', () => net.isActive());
    const autostart = await this.#call(c, 'virNetworkGetAutostart', () => net.getAutostart());
    const liveXml = active
      ? await this.#call(c, 'virNetworkGetXMLDesc', () => net.getXMLDesc())
      : undefined;
    const parsed = parseNetworkXml(await this.#inactiveNetworkXml(c, net, liveXml));
    const live = liveXml === undefined ? undefined : parseNetworkXml(liveXml);
    const bridge = live?.bridge?.name ?? parsed.bridge?.name;
    return {
      name: net.getName(),
      uuid: net.getUUIDString(),
      active,
      autostart,
      ...(parsed.owner && { owner: parsed.owner }),
      ...(bridge !== undefined && { bridge }),
      parsed,
      ...(live && { live }),
    };
  }

  /**
   * The persistent definition. The test driver rejects VIR_NETWORK_XML_INACTIVE with
   * INVALID_ARG; there the current XML is the best there is (and remembered, to skip the
   * failing call next time).
   */
  async #inactiveNetworkXml(c: Connection, net: Network, liveXml?: string): Promise<string> {
    if (!this.#noInactiveNetworkXml) {
      try {
        return await this.#call(c, 'virNetworkGetXMLDesc', () =>
          net.getXMLDesc(NetworkXMLFlags.Inactive),
        );
      } catch (err) {
        if (!isLibvirtError(err, ErrorNumber.InvalidArg)) throw err;
        this.#noInactiveNetworkXml = true;
      }
    }
    return liveXml ?? (await this.#call(c, 'virNetworkGetXMLDesc', () => net.getXMLDesc()));
  }

  async observeNetwork(name: string): Promise<ObservedNetwork | undefined> {
    const c = await this.#conn();
    const net = await this.#lookup(c, 'virNetworkLookupByName', () => c.networkLookupByName(name));
    if (!net) return undefined;
    using n = net;
    try {
      return await this.#observeNetwork(c, n);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Looks the network up and checks it is ours; undefined when absent. */
  async #ownedNetwork(
    c: Connection,
    name: string,
    owner: OwnerRef,
  ): Promise<{ net: Network; observed: ObservedNetwork } | undefined> {
    const net = await this.#lookup(c, 'virNetworkLookupByName', () => c.networkLookupByName(name));
    if (!net) return undefined;
    try {
      const observed = await this.#observeNetwork(c, net);
      if (!isOwnedBy(observed.owner, owner)) {
        throw new NameConflictError('network', name, observed.owner);
      }
      return { net, observed };
    } catch (err) {
      net.free();
      throw err;
    }
  }

  async ensureNetwork(desc: OwnedNetworkDescription): Promise<NetworkChangeResult> {
    const c = await this.#conn();
    const autostart = desc.autostart ?? true;
    const found = await this.#ownedNetwork(c, desc.name, desc.owner);
    if (!found) {
      using net = await this.#call(c, 'virNetworkDefineXML', () =>
        c.networkDefineXMLFlags(buildNetworkXml(desc)),
      );
      // A freshly defined network does not autostart.
      if (autostart) {
        await this.#call(c, 'virNetworkSetAutostart', () => net.setAutostart(true));
      }
      await this.#checkBridge(c, desc);
      return { changed: true, replugged: await this.#startAndReplug(c, net, desc.name) };
    }
    using net = found.net;
    let changed = false;
    let replugged: ReplugResult[] = [];
    if (!found.observed.active) {
      await this.#checkBridge(c, desc);
      replugged = await this.#startAndReplug(c, net, desc.name);
      changed = true;
    }
    if (found.observed.autostart !== autostart) {
      await this.#call(c, 'virNetworkSetAutostart', () => net.setAutostart(autostart));
      changed = true;
    }
    return { changed, replugged };
  }

  /**
   * A bridge-mode network's host bridge must exist before virNetworkCreate, which does not
   * check it: NO_INTERFACE gives BridgeNotFoundError. A connection without an interface driver
   * (NO_SUPPORT) cannot tell, so the network is started unchecked, as before.
   * @see https://libvirt.org/html/libvirt-libvirt-interface.html#virInterfaceLookupByName
   */
  async #checkBridge(c: Connection, desc: OwnedNetworkDescription): Promise<void> {
    const bridge = desc.mode === 'bridge' ? desc.bridge?.name : undefined;
    if (bridge === undefined) return;
    try {
      const iface = await this.#call(c, 'virInterfaceLookupByName', () =>
        c.interfaceLookupByName(bridge),
      );
      iface.free();
    } catch (err) {
      if (isLibvirtError(err, ErrorNumber.NoInterface)) {
        throw new BridgeNotFoundError(bridge, { cause: err });
      }
      if (!isLibvirtError(err, ErrorNumber.NoSupport)) throw err;
    }
  }

  /**
   * virNetworkCreate, then moves the taps of running domains' NICs on this network onto its
   * (new) bridge. A destroyed network takes its bridge with it, and the taps of running
   * domains stay detached when it comes back; libvirt does not re-plug them.
   *
   * How, without a guest OS: a live detach + attach needs the guest to eject the device (ACPI
   * hot-plug), and an update with the unchanged `<source network>` is a no-op for the tap in
   * libvirt 9.0. But qemuDomainChangeNet moves the tap to a new bridge whenever the NIC's type
   * changes between `network` and `bridge` (both are taps on a host bridge): so we update the
   * NIC to `type='bridge'` on the network's bridge, which re-enslaves the tap, then back to
   * `type='network'` (so the live XML, and libvirt's port accounting, name the network
   * again). Both are host-side changes; the guest sees no unplug.
   */
  async #startAndReplug(c: Connection, net: Network, name: string): Promise<ReplugResult[]> {
    await this.#call(c, 'virNetworkCreate', () => net.create());
    const bridge = await this.#call(c, 'virNetworkGetBridgeName', () => net.getBridgeName());
    return this.#replug(c, name, bridge);
  }

  async #replug(c: Connection, network: string, bridge: string): Promise<ReplugResult[]> {
    const replugged: ReplugResult[] = [];
    // Only running domains have taps; defined-but-off domains pick the bridge up at start.
    const doms = await this.#call(c, 'virConnectListAllDomains', () =>
      c.listAllDomains(ConnectListAllDomainsFlags.Active),
    );
    for (const dom of doms) {
      try {
        const live = parseDomainXml(
          await this.#call(c, 'virDomainGetXMLDesc', () => dom.getXMLDesc()),
        );
        for (const nic of live.interfaces) {
          if (nic.type !== 'network' || nic.network !== network || !nic.mac) continue;
          const mac = nic.mac;
          await this.#call(c, 'virDomainUpdateDeviceFlags', () =>
            dom.updateDeviceFlags(
              nicUpdateXml(mac, { bridge }, nic.model, nic.bootOrder),
              DomainDeviceModifyFlags.Live,
            ),
          );
          await this.#call(c, 'virDomainUpdateDeviceFlags', () =>
            dom.updateDeviceFlags(
              nicUpdateXml(mac, { network }, nic.model, nic.bootOrder),
              DomainDeviceModifyFlags.Live,
            ),
          );
          replugged.push({ domain: live.name, mac });
        }
      } catch (err) {
        // A domain that stopped (or vanished) meanwhile has no tap left to re-plug.
        const gone =
          isNotFound(err) ||
          (isLibvirtError(err, ErrorNumber.OperationInvalid) &&
            !(await this.#call(c, 'virDomainIsActive', () => dom.isActive()).catch(() => false)));
        if (!gone) throw err;
      } finally {
        dom.free();
      }
    }
    return replugged;
  }

  async applyNetworkChange(
    desc: OwnedNetworkDescription,
    change: NetworkChange,
  ): Promise<NetworkChangeResult> {
    if (change.kind === 'none') return { changed: false, replugged: [] };
    const c = await this.#conn();
    const found = await this.#ownedNetwork(c, desc.name, desc.owner);
    // Nothing to change yet: create it as desired.
    if (!found) return this.ensureNetwork(desc);
    using net = found.net;
    const observed = found.observed;
    if (change.kind === 'dhcpHostsLive') {
      return { changed: await this.#updateDhcpHosts(c, net, observed, change), replugged: [] };
    }
    // Redefine with the same UUID (libvirt refuses another UUID under the same name) and the
    // bridge libvirt picked before, unless the spec names one: a new virbrN would rename the
    // bridge MAAS and the host know.
    const keepBridge = desc.bridge ?? (observed.bridge ? { name: observed.bridge } : undefined);
    const xml = buildNetworkXml({
      ...desc,
      uuid: observed.uuid,
      ...(keepBridge && { bridge: keepBridge }),
    });
    const want = networkShape(parseNetworkXml(xml));
    const redefine = networkShape(observed.parsed) !== want;
    const restart =
      observed.active && (redefine || (observed.live && networkShape(observed.live) !== want));
    // Also finishes a restart that failed half-way (destroyed, not started) on an earlier pass.
    const start = restart || !observed.active;
    // Checked before anything is torn down: a missing bridge leaves the network as it is.
    if (start) await this.#checkBridge(c, desc);
    // The manual recipe's order: net-destroy, net-define, net-start. Defining first would
    // leave the change pending until the restart, and the test driver drops a pending one.
    if (restart) await this.#call(c, 'virNetworkDestroy', () => net.destroy());
    if (redefine) {
      const redefined = await this.#call(c, 'virNetworkDefineXML', () =>
        c.networkDefineXMLFlags(xml),
      );
      redefined.free();
    }
    const replugged = start ? await this.#startAndReplug(c, net, desc.name) : [];
    const changed = redefine || start;
    return { changed, replugged };
  }

  /** virNetworkUpdate per host, skipping what the definition already says. */
  async #updateDhcpHosts(
    c: Connection,
    net: Network,
    observed: ObservedNetwork,
    change: Extract<NetworkChange, { kind: 'dhcpHostsLive' }>,
  ): Promise<boolean> {
    const held = observed.parsed.ipv4?.dhcp?.hosts ?? [];
    const flags = observed.active
      ? [NetworkUpdateFlags.Live, NetworkUpdateFlags.Config]
      : NetworkUpdateFlags.Config;
    const update = (cmd: NetworkUpdateCommand, host: DhcpHost): Promise<void> =>
      this.#call(c, 'virNetworkUpdate', () =>
        net.update(cmd, NetworkUpdateSection.IpDhcpHost, -1, buildDhcpHostXml(host), flags),
      );
    let changed = false;
    for (const host of change.remove) {
      if (!held.some((h) => h.mac === host.mac.toLowerCase())) continue;
      await update(NetworkUpdateCommand.Delete, host);
      changed = true;
    }
    for (const host of change.modify) {
      const current = held.find((h) => h.mac === host.mac.toLowerCase());
      if (current && sameHost(current, host)) continue;
      await update(current ? NetworkUpdateCommand.Modify : NetworkUpdateCommand.AddLast, host);
      changed = true;
    }
    for (const host of change.add) {
      const current = held.find((h) => h.mac === host.mac.toLowerCase());
      if (current && sameHost(current, host)) continue;
      await update(current ? NetworkUpdateCommand.Modify : NetworkUpdateCommand.AddLast, host);
      changed = true;
    }
    return changed;
  }

  async deleteNetwork(name: string, owner: OwnerRef): Promise<Change> {
    const c = await this.#conn();
    const found = await this.#ownedNetwork(c, name, owner);
    if (!found) return { changed: false };
    using net = found.net;
    if (found.observed.active) await this.#call(c, 'virNetworkDestroy', () => net.destroy());
    await this.#call(c, 'virNetworkUndefine', () => net.undefine());
    return { changed: true };
  }

  // --- domains --------------------------------------------------------------------------------------

  async observeDomain(name: string): Promise<ObservedDomain | undefined> {
    const c = await this.#conn();
    const found = await this.#lookup(c, 'virDomainLookupByName', () => c.domainLookupByName(name));
    if (!found) return undefined;
    using dom = found;
    try {
      // One worker hop for the five reads (see Domain.observe); its metric is named after them.
      const seen = await this.#call(c, OBSERVE_DOMAIN_OP, () => dom.observe());
      const { state, reason, persistent, hasManagedSave } = seen;
      const inactive = parseDomainXml(seen.inactiveXml);
      const stateName = STATE_NAMES[state];
      const live =
        ACTIVE_STATES.has(stateName) && seen.liveXml !== null
          ? parseDomainXml(seen.liveXml)
          : undefined;
      return {
        name: dom.getName(),
        uuid: dom.getUUIDString(),
        id: dom.getID(),
        ...(inactive.owner && { owner: inactive.owner }),
        state: stateName,
        reason,
        hasManagedSave,
        persistent,
        inactive,
        ...(live && { live }),
      };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** The stamp virDomainGetMetadata returns for our namespace; undefined when none. */
  async #domainOwner(c: Connection, dom: Domain): Promise<OwnerMetadata | undefined> {
    try {
      const xml = await this.#call(c, 'virDomainGetMetadata', () =>
        dom.getMetadata(DomainMetadataType.Element, MAASLAB_XMLNS),
      );
      return parseOwnerMetadata(xml);
    } catch (err) {
      if (isLibvirtError(err, ErrorNumber.NoDomainMetadata)) return undefined;
      throw err;
    }
  }

  /** Looks the domain up and checks it is ours; undefined when absent. */
  async #ownedDomain(c: Connection, name: string, owner: OwnerRef): Promise<Domain | undefined> {
    const dom = await this.#lookup(c, 'virDomainLookupByName', () => c.domainLookupByName(name));
    if (!dom) return undefined;
    try {
      const found = await this.#domainOwner(c, dom);
      if (!isOwnedBy(found, owner)) throw new NameConflictError('domain', name, found);
      return dom;
    } catch (err) {
      dom.free();
      throw err;
    }
  }

  async #stateOf(c: Connection, dom: Domain): Promise<DomainStateName> {
    const { state } = await this.#call(c, 'virDomainGetState', () => dom.getState());
    return STATE_NAMES[state];
  }

  async ensureVolumes(volumes: readonly VolumeSpec[]): Promise<EnsuredVolumes> {
    const c = await this.#conn();
    const created: string[] = [];
    const seen: ParsedVolume[] = [];
    // One lookup per pool, not per volume.
    const pools = new Map<string, StoragePool>();
    const poolOf = async (name: string): Promise<StoragePool> => {
      const known = pools.get(name);
      if (known) return known;
      const found = await this.#lookup(c, 'virStoragePoolLookupByName', () =>
        c.storagePoolLookupByName(name),
      );
      if (!found) throw new PoolNotFoundError(name);
      pools.set(name, found);
      return found;
    };
    try {
      for (const v of volumes) {
        const pool = await poolOf(v.pool);
        const existing = await this.#lookup(c, 'virStorageVolLookupByName', () =>
          pool.storageVolLookupByName(v.name),
        );
        // Never resized or overwritten: an existing volume may hold an installed system.
        using vol = existing ?? (await this.#createVolume(c, pool, v, poolOf));
        if (!existing) created.push(v.name);
        seen.push(await this.#volumeFacts(c, v.name, vol));
      }
    } finally {
      for (const p of pools.values()) p.free();
    }
    return { changed: created.length > 0, created, volumes: seen };
  }

  /** Creates `v` in `pool`, empty or as a copy of v.cloneFrom. */
  async #createVolume(
    c: Connection,
    pool: StoragePool,
    v: VolumeSpec,
    poolOf: (name: string) => Promise<StoragePool>,
  ): Promise<StorageVolume> {
    const xml = buildVolumeXml(v);
    const source = v.cloneFrom;
    if (!source) {
      return this.#call(c, 'virStorageVolCreateXML', () => pool.storageVolCreateXML(xml));
    }
    const sp = await poolOf(source.pool);
    using src = await this.#call(c, 'virStorageVolLookupByName', () =>
      sp.storageVolLookupByName(source.volume),
    );
    return this.#call(c, 'virStorageVolCreateXMLFrom', () =>
      pool.storageVolCreateXMLFrom(xml, src),
    );
  }

  async observeVolumes(pool: string, names: readonly string[]): Promise<readonly ParsedVolume[]> {
    const c = await this.#conn();
    const found = await this.#lookup(c, 'virStoragePoolLookupByName', () =>
      c.storagePoolLookupByName(pool),
    );
    if (!found) return [];
    using p = found;
    const out: ParsedVolume[] = [];
    for (const name of names) {
      const vol = await this.#lookup(c, 'virStorageVolLookupByName', () =>
        p.storageVolLookupByName(name),
      );
      if (!vol) continue;
      using volume = vol;
      out.push(await this.#volumeFacts(c, name, volume));
    }
    return out;
  }

  /** A volume's path, capacity and allocation, as the pool reports them. */
  async #volumeFacts(c: Connection, name: string, vol: StorageVolume): Promise<ParsedVolume> {
    const path = await this.#call(c, 'virStorageVolGetPath', () => vol.getPath());
    const info = await this.#call(c, 'virStorageVolGetInfo', () => vol.getInfo());
    return { name, path, capacityBytes: info.capacity, allocationBytes: info.allocation };
  }

  async defineDomain(xml: string): Promise<Change> {
    const wanted = parseDomainXml(xml);
    if (!wanted.owner) throw new TypeError(`defineDomain: ${wanted.name} has no owner stamp`);
    const c = await this.#conn();
    const existing = await this.#ownedDomain(c, wanted.name, wanted.owner);
    let toDefine = xml;
    if (existing) {
      using dom = existing;
      const current = parseDomainXml(
        await this.#call(c, 'virDomainGetXMLDesc', () => dom.getXMLDesc(DomainXMLFlags.Inactive)),
      );
      // The spec hash in the stamp says what the definition was built from.
      if (
        wanted.owner.specHash !== undefined &&
        current.owner?.specHash === wanted.owner.specHash
      ) {
        return { changed: false };
      }
      // libvirt refuses a definition of the same name with another UUID, and a document
      // without <uuid> gets a fresh one: carry the existing UUID over.
      if (wanted.uuid === undefined) {
        toDefine = xml.replace(/<\/name>/, `</name><uuid>${dom.getUUIDString()}</uuid>`);
      }
    }
    const dom = await this.#call(c, 'virDomainDefineXMLFlags', () =>
      c.domainDefineXMLFlags(toDefine),
    );
    dom.free();
    return { changed: true };
  }

  async start(name: string, owner: OwnerRef): Promise<Change> {
    const c = await this.#conn();
    const found = await this.#ownedDomain(c, name, owner);
    if (!found) throw this.#missing(name);
    using dom = found;
    if (ACTIVE_STATES.has(await this.#stateOf(c, dom))) return { changed: false };
    try {
      await this.#call(c, 'virDomainCreateWithFlags', () => dom.createWithFlags());
    } catch (err) {
      // Started by someone else between the look and the call.
      if (
        isLibvirtError(err, ErrorNumber.OperationInvalid) &&
        ACTIVE_STATES.has(await this.#stateOf(c, dom))
      ) {
        return { changed: false };
      }
      throw err;
    }
    return { changed: true };
  }

  async startFromManagedSave(
    name: string,
    owner: OwnerRef,
  ): Promise<Change & { readonly restored: boolean }> {
    const c = await this.#conn();
    const found = await this.#ownedDomain(c, name, owner);
    if (!found) throw this.#missing(name);
    using dom = found;
    if (ACTIVE_STATES.has(await this.#stateOf(c, dom))) return { changed: false, restored: false };
    const restored = await this.#call(c, 'virDomainHasManagedSaveImage', () =>
      dom.hasManagedSaveImage(),
    );
    // virDomainCreate restores the managed save image when there is one (and removes it).
    await this.#call(c, 'virDomainCreateWithFlags', () => dom.createWithFlags());
    return { changed: true, restored };
  }

  async shutdown(name: string, owner: OwnerRef): Promise<Change> {
    const c = await this.#conn();
    const found = await this.#ownedDomain(c, name, owner);
    if (!found) throw this.#missing(name);
    using dom = found;
    const state = await this.#stateOf(c, dom);
    // `shutdown` is a guest already on its way down; asking again changes nothing.
    if (state !== 'running' && state !== 'blocked') return { changed: false };
    await this.#call(c, 'virDomainShutdownFlags', () => dom.shutdownFlags());
    return { changed: true };
  }

  async destroy(name: string, owner: OwnerRef): Promise<Change> {
    const c = await this.#conn();
    const found = await this.#ownedDomain(c, name, owner);
    if (!found) return { changed: false };
    using dom = found;
    return { changed: await this.#destroyIfActive(c, dom) };
  }

  async #destroyIfActive(c: Connection, dom: Domain): Promise<boolean> {
    if (!ACTIVE_STATES.has(await this.#stateOf(c, dom))) return false;
    try {
      await this.#call(c, 'virDomainDestroyFlags', () => dom.destroyFlags());
    } catch (err) {
      // Stopped meanwhile (the guest powered off, or someone ran virsh destroy).
      if (
        isLibvirtError(err, ErrorNumber.OperationInvalid) &&
        !ACTIVE_STATES.has(await this.#stateOf(c, dom))
      ) {
        return false;
      }
      throw err;
    }
    return true;
  }

  async reboot(name: string, owner: OwnerRef, mode: RebootMode = 'powerCycle'): Promise<Change> {
    const c = await this.#conn();
    const found = await this.#ownedDomain(c, name, owner);
    if (!found) throw this.#missing(name);
    using dom = found;
    if (!ACTIVE_STATES.has(await this.#stateOf(c, dom))) return { changed: false };
    if (mode === 'reset') {
      await this.#call(c, 'virDomainReset', () => dom.reset());
    } else if (mode === 'acpi') {
      await this.#call(c, 'virDomainReboot', () => dom.reboot());
    } else {
      await this.#call(c, 'virDomainDestroyFlags', () => dom.destroyFlags());
      await this.#call(c, 'virDomainCreateWithFlags', () => dom.createWithFlags());
    }
    return { changed: true };
  }

  async managedSave(name: string, owner: OwnerRef): Promise<Change> {
    const c = await this.#conn();
    const found = await this.#ownedDomain(c, name, owner);
    if (!found) throw this.#missing(name);
    using dom = found;
    const state = await this.#stateOf(c, dom);
    if (state !== 'running' && state !== 'blocked' && state !== 'paused') {
      return { changed: false };
    }
    await this.#call(c, 'virDomainManagedSave', () => dom.managedSave());
    return { changed: true };
  }

  async deleteDomain(name: string, owner: OwnerRef): Promise<Change> {
    const c = await this.#conn();
    const found = await this.#ownedDomain(c, name, owner);
    if (!found) return { changed: false };
    using dom = found;
    await this.#destroyIfActive(c, dom);
    // A transient domain is gone once destroyed.
    if (!(await this.#lookup(c, 'virDomainIsPersistent', () => dom.isPersistent()))) {
      return { changed: true };
    }
    try {
      await this.#call(c, 'virDomainUndefineFlags', () => dom.undefineFlags([...UNDEFINE_FLAGS]));
    } catch (err) {
      // Drivers without NVRAM support (the test driver) reject the flag as INVALID_ARG; QEMU
      // accepts it for BIOS domains too, where there is no NVRAM file to remove.
      if (!isLibvirtError(err, ErrorNumber.InvalidArg)) throw err;
      await this.#call(c, 'virDomainUndefineFlags', () =>
        dom.undefineFlags(UNDEFINE_FLAGS.filter((f) => f !== DomainUndefineFlags.Nvram)),
      );
    }
    return { changed: true };
  }

  async deleteVolumes(
    volumes: readonly VolumeRef[],
  ): Promise<Change & { readonly deleted: readonly string[] }> {
    const c = await this.#conn();
    const deleted: string[] = [];
    for (const v of volumes) {
      const pool = await this.#lookup(c, 'virStoragePoolLookupByName', () =>
        c.storagePoolLookupByName(v.pool),
      );
      if (!pool) continue;
      using p = pool;
      const vol = await this.#lookup(c, 'virStorageVolLookupByName', () =>
        p.storageVolLookupByName(v.name),
      );
      if (!vol) continue;
      using volume = vol;
      try {
        await this.#call(c, 'virStorageVolDelete', () => volume.delete());
      } catch (err) {
        if (isNotFound(err)) continue;
        throw err;
      }
      deleted.push(v.name);
    }
    return { changed: deleted.length > 0, deleted };
  }

  #missing(name: string): LibvirtError {
    return new LibvirtError(
      ErrorNumber.NoDomain,
      ErrorDomain.Domain,
      ErrorLevel.Error,
      `Domain not found: no domain with matching name '${name}'`,
    );
  }

  // --- events ---------------------------------------------------------------------------------------

  onDomainEvent(listener: (e: DomainEvent) => void): Unsubscribe {
    this.#domainListeners.add(listener);
    this.#startEvents();
    return () => void this.#domainListeners.delete(listener);
  }

  onNetworkEvent(listener: (e: NetworkEvent) => void): Unsubscribe {
    this.#networkListeners.add(listener);
    this.#startEvents();
    return () => void this.#networkListeners.delete(listener);
  }

  /** Registers callbacks now (if connected) and on every reconnect. */
  #startEvents(): void {
    if (this.#offUp || this.#closed) return;
    this.#offUp = this.#pool.on('up', (uri, conn) => {
      if (uri === this.#uri) void this.#subscribe(conn);
    });
    void this.#pool
      .get(this.#uri)
      .then((conn) => this.#subscribe(conn))
      .catch((err: unknown) => this.#onError(err));
  }

  async #subscribe(conn: Connection): Promise<void> {
    if (this.#closed || this.#subscribedTo === conn) return;
    this.#subscribedTo = conn;
    // Subscriptions of a dead connection died with it; the pool closes that connection.
    this.#subscriptions = [];
    try {
      const dom = await this.#call(conn, 'virConnectDomainEventRegisterAny', () =>
        conn.domainEventRegisterLifecycle((e) => {
          const event: DomainEvent = {
            name: e.domain.getName(),
            uuid: e.domain.getUUIDString(),
            event: e.event,
            detail: e.detail,
          };
          e.domain.free();
          if (this.#domainFacts?.conn === conn) this.#domainFacts.cache.invalidate(event.uuid);
          for (const l of this.#domainListeners) this.#deliver(l, event);
        }),
      );
      const net = await this.#call(conn, 'virConnectNetworkEventRegisterAny', () =>
        conn.networkEventRegisterLifecycle((e) => {
          const event: NetworkEvent = {
            name: e.network.getName(),
            uuid: e.network.getUUIDString(),
            event: e.event,
            detail: e.detail,
          };
          e.network.free();
          for (const l of this.#networkListeners) this.#deliver(l, event);
        }),
      );
      // Event callbacks must not keep the operator alive at shutdown.
      this.#subscriptions = [dom.unref(), net.unref()];
    } catch (err) {
      this.#subscribedTo = undefined;
      this.#onError(err);
    }
  }

  /** A listener that throws must not become an uncaught exception in a native callback. */
  #deliver<E>(listener: (e: E) => void, event: E): void {
    try {
      listener(event);
    } catch (err) {
      this.#onError(err);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#offUp?.();
    const subs = this.#subscriptions;
    this.#subscriptions = [];
    this.#domainListeners.clear();
    this.#networkListeners.clear();
    await Promise.allSettled(subs.map((s) => s.deregister()));
  }
}
