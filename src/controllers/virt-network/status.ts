// VirtNetwork status: what libvirt reported, and the conditions that follow. Pure.
import {
  BridgeNotFoundReason,
  DeletingReason,
  HypervisorNotFoundReason,
  HypervisorUnreachableReason,
  NameConflictReason,
  ProgressingReason,
  type VirtNetworkStatus,
} from '../../api/v1alpha1/index.js';
import type { ParsedNetwork } from '../../libvirt/xml/index.js';
import { planFor, type ConditionPlan, type Verdict, type Why } from '../common/conditions.js';
import type { Ownership } from '../common/ownership.js';

/** The status fields a VirtNetwork reports besides conditions. */
export type NetworkInfo = Pick<VirtNetworkStatus, 'libvirtName' | 'uuid' | 'bridge' | 'active'>;

/**
 * Status fields from the parsed network (live XML when active, for the bridge libvirt chose).
 * `parsed` is undefined while the network does not exist yet.
 */
export function networkInfo(
  libvirtName: string,
  parsed: ParsedNetwork | undefined,
  active: boolean,
): NetworkInfo {
  return {
    libvirtName,
    ...(parsed?.uuid !== undefined && { uuid: parsed.uuid }),
    ...(parsed?.bridge?.name !== undefined && { bridge: parsed.bridge.name }),
    active: parsed !== undefined && active,
  };
}

/** What one pass learned about the network, for the conditions. */
export interface NetworkObservation {
  /** metadata.deletionTimestamp is set. */
  readonly deleting: boolean;
  /** MaasNodes that still use the network; deletion waits for them. */
  readonly usedBy: readonly string[];
  /** The Hypervisor object exists. */
  readonly hypervisorFound: boolean;
  /** libvirt on the hypervisor answered. */
  readonly hypervisorReachable: boolean;
  /** Whether the libvirt network of our name is ours. */
  readonly ownership: Ownership;
  /** Mode bridge and the host has no bridge of that name. */
  readonly bridgeMissing: boolean;
  /** The missing bridge's name, for the message. */
  readonly bridgeName?: string;
  /** The network is defined, active, autostart as asked, and matches the spec. */
  readonly converged: boolean;
  /** A libvirt call failed this pass (retried); reason LibvirtError. */
  readonly error?: Why;
}

/**
 * The Ready/Reconciling/Stalled plan. Order matters: deletion first, then what stops us from
 * looking at all, then what needs a human, then errors we retry, then progress.
 */
export function networkConditions(o: NetworkObservation): ConditionPlan {
  return planFor(networkVerdict(o));
}

function networkVerdict(o: NetworkObservation): Verdict {
  if (o.deleting) {
    const message =
      o.usedBy.length > 0
        ? `waiting for MaasNodes that use the network: ${o.usedBy.join(', ')}`
        : 'destroying and undefining the network';
    return { kind: 'progressing', reason: DeletingReason, message };
  }
  if (!o.hypervisorFound) {
    return { kind: 'stalled', reason: HypervisorNotFoundReason, message: 'no such Hypervisor' };
  }
  if (!o.hypervisorReachable) {
    return {
      kind: 'unknown',
      reason: HypervisorUnreachableReason,
      message: 'libvirt on the hypervisor cannot be reached',
    };
  }
  if (o.ownership === 'foreign') {
    return {
      kind: 'stalled',
      reason: NameConflictReason,
      message: 'a libvirt network of this name exists and was not created for this VirtNetwork',
    };
  }
  if (o.bridgeMissing) {
    // A human has to create the host bridge; retrying alone will not make it appear.
    return {
      kind: 'stalled',
      reason: BridgeNotFoundReason,
      message:
        o.bridgeName === undefined
          ? 'the host has no bridge of the name spec.bridge.name gives'
          : `host bridge ${o.bridgeName} does not exist; the network starts once it does`,
    };
  }
  if (o.error) return { kind: 'progressing', ...o.error };
  if (!o.converged) {
    return { kind: 'progressing', reason: ProgressingReason, message: 'building the network' };
  }
  return { kind: 'ready' };
}
