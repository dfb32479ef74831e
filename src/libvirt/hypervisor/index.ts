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
// The folder, one concern a file:
//   interface.ts           the Hypervisor interface
//   types.ts               the shapes its verbs take and return
//   errors.ts              its named failures (HypervisorUnreachableError is in ../errors.ts)
//   libvirt-hypervisor.ts  createLibvirtHypervisor: the implementation, composed of
//     calls.ts             the instrumented helper every libvirt call goes through
//     domains.ts           domain verbs        networks.ts  network verbs
//     domain-lookups.ts    one pass's lookups, shared by the domain verbs it calls
//     storage.ts           storage verbs       inventory.ts hostInfo and its caches
//     events.ts            lifecycle event subscriptions
export { HypervisorUnreachableError, isUnreachableError, sshHostKeyRejection } from '../errors.js';
export { createPassLookups, type PassLookups } from './domains.js';
export { OBSERVE_DOMAIN_LIVE_OP, OBSERVE_DOMAIN_OP } from './domain-observation.js';
export { DomainLookups, type FreeableHandle, type KnownDomain } from './domain-lookups.js';
export {
  BridgeNotFoundError,
  ChecksumMismatchError,
  NameConflictError,
  PoolNotFoundError,
  UploadSizeMismatchError,
} from './errors.js';
export type { Hypervisor } from './interface.js';
export { InjectedFaultError, withInjectedFaults } from './faults.js';
export { DEFAULT_DOMAIN_FACTS_TTL_MS } from './inventory.js';
export {
  createLibvirtHypervisor,
  type LibvirtHypervisor,
  type LibvirtHypervisorOptions,
} from './libvirt-hypervisor.js';
export type {
  Change,
  JobOptions,
  JobProgress,
  DomainEvent,
  DomainPowerState,
  DomainStateName,
  DomainSummary,
  EnsureNetworkOptions,
  EnsureVolumesOptions,
  EnsuredVolumes,
  HostInfo,
  NetworkChange,
  NetworkChangeResult,
  NetworkEvent,
  ObservedDomain,
  ObservedNetwork,
  OwnedDomainDescription,
  OwnedNetworkDescription,
  PoolSpec,
  RebootMode,
  ReplugResult,
  Unsubscribe,
  VolumeRef,
  VolumeSpec,
  VolumeUpload,
} from './types.js';
