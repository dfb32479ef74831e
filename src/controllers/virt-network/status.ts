// VirtNetwork status: what libvirt reported, and the conditions that follow. Pure: everything
// comes in already observed (CAPI's *_controller_status.go split).
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
import {
  applyConditionPlan,
  planFor,
  type ConditionPlan,
  type Verdict,
  type Why,
} from '../common/conditions.js';
import type { Ownership } from '../common/ownership.js';
import { definedProps } from '../../util/defined-props.js';
import { desiredNetwork, diffNetwork, wantAutostart } from './desired.js';
import type { Findings } from './pass.js';
import type { NetworkScope } from './scope.js';

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
  return definedProps({
    libvirtName,
    uuid: parsed?.uuid,
    bridge: parsed?.bridge?.name,
    active: parsed !== undefined && active,
  });
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

/** The last known network fields: kept while we cannot look (the network did not change). */
export function lastNetworkInfo(scope: NetworkScope): NetworkInfo {
  const { uuid, bridge, active } = scope.vnet.status ?? {};
  return definedProps({ libvirtName: scope.libvirtName, uuid, bridge, active });
}

/** What the scope and the pass's findings say, for networkConditions. */
export function networkObservation(scope: NetworkScope, found: Findings): NetworkObservation {
  const { vnet, usedBy } = scope;
  if (scope.deleting) {
    return {
      deleting: true,
      usedBy,
      hypervisorFound: scope.hypervisor !== undefined,
      hypervisorReachable: true,
      ownership: 'owned',
      bridgeMissing: false,
      converged: false,
    };
  }
  const { network, missingBridge, error } = found;
  return definedProps({
    deleting: false,
    usedBy,
    hypervisorFound: true,
    hypervisorReachable: found.unreachable === undefined,
    ownership: found.ownership,
    bridgeMissing: missingBridge !== undefined,
    bridgeName: missingBridge,
    converged:
      network !== undefined &&
      network.active &&
      network.autostart === wantAutostart(vnet) &&
      diffNetwork(desiredNetwork(vnet), network.parsed).kind === 'none',
    error,
  });
}

/**
 * The status fields besides conditions: what libvirt reported this pass, or the last known
 * ones when the pass did not look (deleting, held by the Hypervisor gate, unreachable) or the
 * network is not ours.
 */
export function networkFields(scope: NetworkScope, found: Findings): NetworkInfo {
  const looked =
    !scope.deleting &&
    found.gated === undefined &&
    found.unreachable === undefined &&
    found.ownership !== 'foreign';
  if (!looked) return lastNetworkInfo(scope);
  const { network } = found;
  return networkInfo(scope.libvirtName, network?.live ?? network?.parsed, network?.active ?? false);
}

/** When the report is made, and whether the pass succeeded. */
export interface ReportContext {
  /** Now, for lastTransitionTime. */
  readonly now: number;
  /** The pass succeeded (or ended in a terminal verdict): observedGeneration advances. */
  readonly succeeded: boolean;
}

/**
 * The whole status of a VirtNetwork after a pass: Ready/Reconciling/Stalled (the Hypervisor
 * gate's verdict as is when it held the pass), libvirtName, uuid, bridge and active.
 * observedGeneration advances only when the pass succeeded.
 */
export function networkStatus(
  scope: NetworkScope,
  found: Findings,
  at: ReportContext,
): VirtNetworkStatus {
  const { vnet } = scope;
  const generation = vnet.metadata?.generation ?? 0;
  const plan =
    found.gated !== undefined && !scope.deleting
      ? planFor(found.gated)
      : networkConditions(networkObservation(scope, found));
  const conditions = applyConditionPlan(vnet.status?.conditions, plan, {
    now: at.now,
    generation,
  });
  const observedGeneration = at.succeeded ? generation : vnet.status?.observedGeneration;
  return definedProps({ observedGeneration, conditions, ...networkFields(scope, found) });
}
