// The reasons of the Events the MaasNode controller records.
import { LibvirtErrorReason, NameConflictReason } from '../../api/v1alpha1/index.js';

/** Event reasons the MaasNode controller records. */
export const NodeEventReason = {
  VolumesCreated: 'VolumesCreated',
  VolumesDeleted: 'VolumesDeleted',
  DomainDefined: 'DomainDefined',
  DomainUpdated: 'DomainUpdated',
  DomainDeleted: 'DomainDeleted',
  Started: 'Started',
  Restored: 'Restored',
  ShutdownRequested: 'ShutdownRequested',
  Destroyed: 'Destroyed',
  Saved: 'Saved',
  Rebooted: 'Rebooted',
  NameConflict: NameConflictReason,
  LibvirtError: LibvirtErrorReason,
} as const;
