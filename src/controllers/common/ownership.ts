// Who a libvirt object of our derived name belongs to. The operator only ever changes objects
// stamped with its own owner (kind, namespace, name and UID); everything else is a NameConflict.
import { isOwnedBy, type OwnerMetadata, type OwnerRef } from '../../libvirt/xml/index.js';

/** `owned`: ours, act on it; `foreign`: someone else's, never touch; `absent`: create it. */
export type Ownership = 'owned' | 'foreign' | 'absent';

/**
 * Classifies an observed libvirt object (or its absence) against the expected owner. A stamp
 * with the right name but another UID is a previous incarnation of the resource and counts as
 * foreign: adopting it could hand a new object an old object's disks or leases.
 */
export function ownership(
  observed: { readonly owner?: OwnerMetadata } | undefined,
  expected: OwnerRef,
): Ownership {
  if (observed === undefined) return 'absent';
  return isOwnedBy(observed.owner, expected) ? 'owned' : 'foreign';
}
