// Hypervisor status: capacity from the host, allocation from the domains maaslab owns, and
// the Ready condition. Pure: the reconciler hands in what libvirt reported.
import {
  HostKeyVerificationFailedReason,
  HypervisorUnreachableReason,
  MaasNodeKind,
  ReadyCondition,
  StoragePoolNotFoundReason,
  UnschedulableReason,
  type MaasLabSnapshot,
  type Hypervisor as HypervisorResource,
  type HypervisorStatus,
} from '../../api/v1alpha1/index.js';
import { DomainEventType } from '../../libvirt/constants.js';
import type { OwnerMetadata } from '../../libvirt/xml/index.js';
import {
  applyConditionPlan,
  planFor,
  type ConditionPlan,
  type Verdict,
  type Why,
} from '../common/conditions.js';
import { formatBinaryQuantity } from '../common/quantity.js';
import { definedProps } from '../../util/defined-props.js';

/** What virNodeGetInfo and friends reported. */
export interface HostFacts {
  /** virConnectGetHostname. */
  readonly hostname: string;
  /** virConnectGetLibVersion, encoded as major * 1,000,000 + minor * 1,000 + release. */
  readonly libvirtVersion: number;
  /** virConnectGetType, e.g. `QEMU`. */
  readonly hypervisorType: string;
  /** virConnectGetVersion, encoded like libvirtVersion. */
  readonly hypervisorVersion: number;
  /** Logical CPUs (virNodeInfo.cpus). */
  readonly cpus: number;
  /** Memory in bytes (virNodeInfo.memory is KiB: multiply by 1024 first). */
  readonly memoryBytes: number;
}

/** One defined domain on the host, as far as allocation goes. */
export interface DomainFacts {
  /** The ownership stamp, if any. */
  readonly owner?: OwnerMetadata;
  /** vCPUs of the definition. */
  readonly vcpus: number;
  /** Maximum memory of the definition, bytes. */
  readonly memoryBytes: number;
}

/** libvirt's encoded version number as `major.minor.release` (11003000 → `11.3.0`). */
export function formatLibvirtVersion(encoded: number): string {
  const major = Math.floor(encoded / 1_000_000);
  const minor = Math.floor((encoded % 1_000_000) / 1_000);
  return `${major}.${minor}.${encoded % 1_000}`;
}

/** The bytes of the ready snapshots whose golden volumes are on `hypervisor`. */
export function snapshotBytesOn(
  snapshots: ReadonlyArray<Readonly<MaasLabSnapshot>>,
  hypervisor: string,
): number {
  return snapshots
    .filter((s) => s.status?.hypervisor === hypervisor && s.status.readyToUse === true)
    .reduce((a, s) => a + (s.status?.sizeBytes ?? 0), 0);
}

/**
 * hostname, versions, capacity, allocated and domains. Allocation counts the domains whose
 * stamp says MaasNode (defined, running or not: what MaasNodes were given, not what runs),
 * so hand-made domains on the same host never show up as ours.
 */
export function hypervisorInfo(
  host: HostFacts,
  domains: readonly DomainFacts[],
  snapshotBytes = 0,
): Pick<
  HypervisorStatus,
  'hostname' | 'libvirtVersion' | 'hypervisorVersion' | 'capacity' | 'allocated' | 'domains'
> {
  const ours = domains.filter((d) => d.owner?.kind === MaasNodeKind);
  const cpus = ours.reduce((sum, d) => sum + d.vcpus, 0);
  const memory = ours.reduce((sum, d) => sum + d.memoryBytes, 0);
  return {
    hostname: host.hostname,
    libvirtVersion: formatLibvirtVersion(host.libvirtVersion),
    hypervisorVersion: `${host.hypervisorType} ${formatLibvirtVersion(host.hypervisorVersion)}`,
    capacity: { cpus: host.cpus, memory: formatBinaryQuantity(host.memoryBytes) },
    allocated: {
      cpus,
      memory: formatBinaryQuantity(memory),
      // Snapshots hold disk space on the host as long as they exist (issue 15).
      ...(snapshotBytes > 0 && { snapshotStorage: formatBinaryQuantity(snapshotBytes) }),
    },
    domains: ours.length,
  };
}

/**
 * Whether a domain lifecycle event can change `allocated` or `domains`: only a definition
 * (new, or updated with other vCPUs, memory or stamp) or an undefinition does; allocation
 * counts defined domains whatever their state.
 */
export function changesAllocation(event: DomainEventType): boolean {
  return event === DomainEventType.Defined || event === DomainEventType.Undefined;
}

/** What one pass learned about the hypervisor. */
export interface HypervisorObservation {
  /** libvirt answered (connected, keepalive alive). */
  readonly reachable: boolean;
  /** Why not, when unreachable: libvirt's error message. */
  readonly unreachableMessage?: string;
  /** When unreachable because ssh refused the host's key: ssh's words (sshHostKeyRejection). */
  readonly hostKeyRejected?: string;
  /** The storage pool exists (or was just created from storagePoolPath). */
  readonly storagePoolPresent: boolean;
  /** spec.storagePoolPath is set, so a missing pool is ours to create. */
  readonly storagePoolPathSet: boolean;
  /** The pool name, for messages. */
  readonly storagePool: string;
  /** spec.unschedulable. */
  readonly unschedulable: boolean;
  /** A libvirt call failed this pass and will be retried. */
  readonly error?: Why;
}

/**
 * Ready and its companions. Unreachable is Ready=False (not Unknown: the Hypervisor's own
 * readiness *is* reachability, and we know it failed) with Reconciling=True while we
 * reconnect; a missing pool with no path to create it, or a host key ssh refuses, needs a
 * human (Stalled).
 */
export function hypervisorConditions(o: HypervisorObservation): ConditionPlan {
  return planFor(hypervisorVerdict(o));
}

function hypervisorVerdict(o: HypervisorObservation): Verdict {
  if (!o.reachable && o.hostKeyRejected !== undefined) {
    // Not a host that is down: one that answers with a key we were told not to trust.
    return {
      kind: 'stalled',
      reason: HostKeyVerificationFailedReason,
      message:
        `ssh host key verification failed: ${o.hostKeyRejected} The host's key is not the ` +
        'one known_hosts holds (Secret maaslab-ssh); check the host, then the Secret. Retrying.',
    };
  }
  if (!o.reachable) {
    return {
      kind: 'progressing',
      reason: HypervisorUnreachableReason,
      message: o.unreachableMessage ?? 'libvirt cannot be reached; reconnecting',
    };
  }
  if (o.error) return { kind: 'progressing', ...o.error };
  if (!o.storagePoolPresent) {
    return o.storagePoolPathSet
      ? {
          kind: 'progressing',
          reason: StoragePoolNotFoundReason,
          message: `creating storage pool ${o.storagePool}`,
        }
      : {
          kind: 'stalled',
          reason: StoragePoolNotFoundReason,
          message: `storage pool ${o.storagePool} does not exist and spec.storagePoolPath is not set`,
        };
  }
  if (o.unschedulable) {
    return {
      kind: 'ready',
      reason: UnschedulableReason,
      message: 'unschedulable: nothing new is placed here',
    };
  }
  return { kind: 'ready' };
}

/**
 * Whether dependants (VirtNetworks, MaasNodes) may use the hypervisor: its Ready is True.
 * They wait otherwise, reporting HypervisorUnreachable.
 */
export function hypervisorReady(status: HypervisorStatus | undefined): boolean {
  return status?.conditions?.some((c) => c.type === ReadyCondition && c.status === 'True') === true;
}

/**
 * The whole status a pass reports: the host's facts (`info`, from hypervisorInfo; empty while
 * unreachable, so the last known facts stay: the host did not change, we just cannot see it),
 * the conditions, and observedGeneration, advanced only by a pass that succeeded (Cluster API's
 * rule: a failed pass has not acted on this generation).
 */
export function hypervisorStatus(
  resource: Readonly<HypervisorResource>,
  info: Partial<HypervisorStatus>,
  o: HypervisorObservation,
  succeeded: boolean,
  now: number,
): HypervisorStatus {
  const generation = resource.metadata?.generation ?? 0;
  const observedGeneration = succeeded ? generation : resource.status?.observedGeneration;
  const conditions = applyConditionPlan(resource.status?.conditions, hypervisorConditions(o), {
    now,
    generation,
  });
  return {
    ...resource.status,
    ...info,
    ...definedProps({ observedGeneration }),
    conditions,
  };
}
