// The libvirt layer's public surface. Every later controller talks to libvirt
// only through these exports.
//
// Naming scheme (one rule, so libvirt's docs stay the manual): a method is the C
// function's name without `vir` and without the prefix naming the type of its
// first argument, first letter lower-cased. virDomainUndefineFlags(dom, …) is
// `domain.undefineFlags(…)`; virDomainLookupByName(conn, …) is
// `connection.domainLookupByName(…)`; virConnectListAllDomains(conn, …) is
// `connection.listAllDomains(…)`. Every method carries an @see link to its C
// function. The few helpers that are not one C call (uploadFrom,
// downloadChunks, downloadTo, sendAll, recvAll, close) say so.
export * from './constants.js';
export { Connection, formatLibvirtVersion, type NodeInfo } from './connection.js';
export {
  createConnectionPool,
  ConnectTimeoutError,
  DEFAULT_KEEPALIVE,
  DEFAULT_OPEN_TIMEOUT_MS,
  PoolEvent,
  type ConnectionPool,
  type ConnectionPoolOptions,
  type DownInfo,
  type DownListener,
  type Opener,
  type PooledConnection,
  type UpListener,
} from './connection-pool.js';
export {
  Domain,
  DomainSnapshot,
  type DomainInfo,
  type DomainJobInfo,
  type DomainLiveObservation,
  type DomainObservation,
  type DomainStateReason,
} from './domain.js';
export {
  HypervisorUnreachableError,
  isLibvirtError,
  isNotFound,
  isUnreachableError,
  LibvirtError,
  NOT_FOUND_CODES,
  sshHostKeyRejection,
} from './errors.js';
export {
  BridgeNotFoundError,
  ChecksumMismatchError,
  createLibvirtHypervisor,
  createPassLookups,
  NameConflictError,
  OBSERVE_DOMAIN_LIVE_OP,
  OBSERVE_DOMAIN_OP,
  type PassLookups,
  PoolNotFoundError,
  UploadSizeMismatchError,
  type Change,
  type JobOptions,
  type JobProgress,
  type EnsuredVolumes,
  type DomainEvent,
  type DomainPowerState,
  type DomainStateName,
  type DomainSummary,
  type HostInfo,
  type Hypervisor,
  type LibvirtHypervisor,
  type LibvirtHypervisorOptions,
  type NetworkChange,
  type EnsureNetworkOptions,
  type EnsureVolumesOptions,
  type NetworkChangeResult,
  type NetworkEvent,
  type ObservedDomain,
  type ObservedNetwork,
  type OwnedDomainDescription,
  type OwnedNetworkDescription,
  type PoolSpec,
  type RebootMode,
  type ReplugResult,
  type Unsubscribe,
  type VolumeRef,
  type VolumeSpec,
  type VolumeUpload,
} from './hypervisor/index.js';
export {
  createLibvirtMetrics,
  LIBVIRT_CALL_BUCKETS,
  LibvirtMetricName,
  noopLibvirtMetrics,
  type LibvirtCallResult,
  type LibvirtMetrics,
} from './metrics.js';
export {
  Subscription,
  type CloseEvent,
  type DomainLifecycleEvent,
  type NetworkLifecycleEvent,
} from './events.js';
export { Interface } from './interface.js';
export { Network, type DHCPLease } from './network.js';
export { flagsOf, LibvirtObject, type Flags } from './object.js';
export { StoragePool, type StoragePoolInfo } from './storage-pool.js';
export { StorageVolume, type StorageVolumeInfo, type TransferRange } from './storage-volume.js';
export { Stream, STREAM_CHUNK_SIZE } from './stream.js';
export { ConsoleTakenOverError } from './console-holders.js';
export {
  openDomainConsole,
  openDomainGraphicsFD,
  PUMP_ABORT_WAIT_MS,
  PUMP_HIGH_WATER,
  StreamPump,
  type ConsoleTarget,
} from './stream-pump.js';

/** Our XML namespace for ownership metadata in domain `<metadata>`. */
export const MAASLAB_XMLNS = 'https://maaslab.dev/xmlns/v1alpha1';
