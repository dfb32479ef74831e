// The Hypervisor gate: whether the controllers that build on a Hypervisor (VirtNetwork and
// MaasNode) may go on, read from the Hypervisor controller's Ready condition. Pure.
import {
  HypervisorNotReadyReason,
  HypervisorUnreachableReason,
  isUnreachableReason,
  ReadyCondition,
  type Hypervisor as HypervisorResource,
} from '../../api/v1alpha1/index.js';
import type { Why } from './conditions.js';

/**
 * Whether dependants may build on a Hypervisor, read from its controller's Ready condition:
 * - `missing`: no such resource (Stalled, HypervisorNotFound);
 * - `unreachable`: Ready is not True because libvirt does not answer (Ready=Unknown);
 * - `notReady`: not reconciled yet, or Ready=False for another reason (storage pool…);
 * - `ready`: Ready=True.
 */
export type HypervisorGate =
  | { readonly kind: 'ready' }
  | { readonly kind: 'missing' }
  | ({ readonly kind: 'unreachable' } & Why)
  | ({ readonly kind: 'notReady' } & Why);

/** Reads the gate from a cached Hypervisor resource. Pure. */
export function hypervisorGate(hv: Readonly<HypervisorResource> | undefined): HypervisorGate {
  if (hv === undefined) return { kind: 'missing' };
  const ready = hv.status?.conditions?.find((c) => c.type === ReadyCondition);
  if (ready?.status === 'True') return { kind: 'ready' };
  const name = hv.metadata?.name ?? '';
  if (ready !== undefined && isUnreachableReason(ready.reason)) {
    return {
      kind: 'unreachable',
      reason: HypervisorUnreachableReason,
      message: `Hypervisor ${name}: ${ready.message || 'libvirt cannot be reached'}`,
    };
  }
  return {
    kind: 'notReady',
    reason: HypervisorNotReadyReason,
    message: `waiting for Hypervisor ${name} to be Ready${ready?.message ? `: ${ready.message}` : ''}`,
  };
}
