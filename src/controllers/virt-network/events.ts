// The reasons of the Events the VirtNetwork controller records.
import {
  BridgeNotFoundReason,
  LibvirtErrorReason,
  NameConflictReason,
} from '../../api/v1alpha1/index.js';

/** Event reasons the VirtNetwork controller records. */
export const NetworkEventReason = {
  Created: 'NetworkCreated',
  Started: 'NetworkStarted',
  Updated: 'NetworkUpdated',
  Deleted: 'NetworkDeleted',
  InUse: 'NetworkInUse',
  NameConflict: NameConflictReason,
  BridgeNotFound: BridgeNotFoundReason,
  LibvirtError: LibvirtErrorReason,
} as const;
