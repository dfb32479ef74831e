// The reasons of the Events the MaasLab controller records, about the lab.
import { MacCollisionReason, NameConflictReason } from '../../api/v1alpha1/index.js';

/** Event reasons the lab controller records, about the lab. */
export const LabEventReason = {
  NetworksCreated: 'NetworksCreated',
  NetworksDeleted: 'NetworksDeleted',
  NodesCreated: 'NodesCreated',
  NodesDeleted: 'NodesDeleted',
  MacCollision: MacCollisionReason,
  NameConflict: NameConflictReason,
  RestoreRefused: 'RestoreRefused',
  RestoreFailed: 'RestoreFailed',
  Restored: 'Restored',
} as const;
