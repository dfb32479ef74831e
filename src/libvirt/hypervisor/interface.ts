// The Hypervisor interface: the external system behind idempotent verbs (STYLE §3, house
// rule 5). createLibvirtHypervisor implements it over the typed wrapper; test/fakes has a fake.
import type { OwnerRef, ParsedVolume } from '../xml/index.js';
import type { PassLookups } from './domains.js';
import type {
  Change,
  DomainEvent,
  EnsureNetworkOptions,
  EnsureVolumesOptions,
  EnsuredVolumes,
  HostInfo,
  NetworkChange,
  NetworkChangeResult,
  NetworkEvent,
  DomainPowerState,
  ObservedDomain,
  ObservedNetwork,
  OwnedDomainDescription,
  OwnedNetworkDescription,
  PoolSpec,
  RebootMode,
  Unsubscribe,
  VolumeRef,
  VolumeSpec,
  VolumeUpload,
  JobOptions,
} from './types.js';

/**
 * The external system behind an interface (STYLE §3). Every verb may be called multiple
 * times: it observes, changes only what differs and returns `changed`. Mutating verbs on
 * domains and networks take the expected owner and throw NameConflictError for objects that
 * are not ours. Any verb throws HypervisorUnreachableError while libvirt cannot be reached.
 */
/**
 * `lookups`, on the domain verbs: one pass's lookups (createPassLookups, disposed when the
 * pass ends). Verbs given the same lookups look a name up once, read its owner stamp once
 * (from the definition observeDomain read, or the one defineDomain wrote) and reuse the
 * handle a definition returned. Ownership is still checked by every mutating verb, on that
 * stamp. Without lookups each verb looks for itself.
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
  ensureNetwork(
    desc: OwnedNetworkDescription,
    opts?: EnsureNetworkOptions,
  ): Promise<NetworkChangeResult>;
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
   * undefined. `since`: the caller's own read of the domain, or what its own definition left
   * (justDefined), whose definition, persistence and managed save image it knows unchanged
   * since (its own start a moment ago): then only the state and the live config are read
   * again, and the rest is taken from `since` (the UUID from the handle).
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainGetState
   */
  observeDomain(
    name: string,
    lookups?: PassLookups,
    since?: ObservedDomain,
  ): Promise<ObservedDomain | undefined>;
  /**
   * The domain's state and reason alone, or undefined when absent: two libvirt calls
   * (lookup, virDomainGetState) and no XML, for callers that need only the power (a BMC's
   * power status) rather than observeDomain's definition and live config.
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainGetState
   */
  observeDomainState(name: string): Promise<DomainPowerState | undefined>;
  /**
   * Creates the missing volumes, empty or cloned from `cloneFrom`; never resizes or
   * overwrites an existing one. PoolNotFoundError for a missing pool. Returns what each
   * volume is now (path, capacity, allocation), in the order given, so a caller need not
   * look them up again. `opts.expectAbsent`: see EnsureVolumesOptions.
   * @see https://libvirt.org/html/libvirt-libvirt-storage.html#virStorageVolCreateXML
   * @see https://libvirt.org/html/libvirt-libvirt-storage.html#virStorageVolCreateXMLFrom
   */
  ensureVolumes(
    volumes: readonly VolumeSpec[],
    opts?: EnsureVolumesOptions,
  ): Promise<EnsuredVolumes>;
  /**
   * The named volumes of `pool` that exist (path and capacity), in the order asked; missing
   * ones, and every one of a missing pool, are left out. Read-only.
   * @see https://libvirt.org/html/libvirt-libvirt-storage.html#virStorageVolGetPath
   * @see https://libvirt.org/html/libvirt-libvirt-storage.html#virStorageVolGetInfo
   */
  observeVolumes(pool: string, names: readonly string[]): Promise<readonly ParsedVolume[]>;
  /**
   * Defines (or redefines) the domain `desc` describes, stamped with its owner. A no-op when
   * the stored stamp has the same specHash; keeps the existing UUID. NameConflictError for a
   * domain that is not ours.
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainDefineXMLFlags
   */
  defineDomain(desc: OwnedDomainDescription, lookups?: PassLookups): Promise<Change>;
  /**
   * Creates a volume and fills it from `source` (a base image), checking its size and SHA-256,
   * with progress and cancellation; on any failure the volume is removed.
   */
  uploadVolume(
    upload: VolumeUpload,
    source: AsyncIterable<Uint8Array>,
    opts?: JobOptions,
  ): Promise<ParsedVolume>;
  /**
   * The SHA-256 (lowercase hex) of a volume's bytes, read back from libvirt
   * (virStorageVolDownload), with progress and cancellation; undefined when the volume or its
   * pool does not exist. Read-only: how a base image found on the host, which may have been
   * left half-written, is told apart from a whole one.
   * @see https://libvirt.org/html/libvirt-libvirt-storage.html#virStorageVolDownload
   */
  hashVolume(pool: string, name: string, opts?: JobOptions): Promise<string | undefined>;
  /**
   * Starts a stopped domain; libvirt restores its managed save image if there is one. The
   * power verbs reject with NO_DOMAIN (isNotFound) when the domain is absent.
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainCreateWithFlags
   */
  start(name: string, owner: OwnerRef, lookups?: PassLookups): Promise<Change>;
  /**
   * start(), telling whether a managed save image was restored.
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainHasManagedSaveImage
   */
  startFromManagedSave(
    name: string,
    owner: OwnerRef,
    lookups?: PassLookups,
  ): Promise<Change & { readonly restored: boolean }>;
  /**
   * Asks the guest to power off (ACPI); a no-op unless running. A guest without an OS
   * ignores it: the caller destroys after its grace period.
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainShutdownFlags
   */
  shutdown(name: string, owner: OwnerRef, lookups?: PassLookups): Promise<Change>;
  /**
   * Pulls the plug; a no-op unless active (or absent).
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainDestroyFlags
   */
  destroy(name: string, owner: OwnerRef, lookups?: PassLookups): Promise<Change>;
  /**
   * Restarts a running domain, by default with a power cycle (see RebootMode); a no-op
   * unless active. Not idempotent by nature: the caller records the restart token after it.
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainReset
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainReboot
   */
  reboot(name: string, owner: OwnerRef, mode?: RebootMode, lookups?: PassLookups): Promise<Change>;
  /**
   * Pauses a running domain (its vCPUs stop; memory and disks stay as they are); a no-op
   * unless running. NO_DOMAIN (isNotFound) when absent.
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainSuspend
   */
  suspend(name: string, owner: OwnerRef, lookups?: PassLookups): Promise<Change>;
  /**
   * Resumes a paused domain; a no-op unless paused. NO_DOMAIN (isNotFound) when absent.
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainResume
   */
  resume(name: string, owner: OwnerRef, lookups?: PassLookups): Promise<Change>;
  /**
   * Saves a running (or paused) domain's memory to libvirt's managed image and stops it,
   * reporting the bytes written (virDomainGetJobInfo) and, on `signal`, cancelling the save
   * (virDomainAbortJobFlags: the domain goes on running) and rejecting with the signal's reason.
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainManagedSave
   */
  managedSave(name: string, owner: OwnerRef, opts?: JobOptions): Promise<Change>;
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
