// Shared by the lab-snapshot unit tests: the recipe lab's nodes as the API server returns
// them, and what a capture of them records.
import type { MaasLab, MaasNode, SnapshotMember } from '../../../../src/api/v1alpha1/index.js';
import { desiredChildren } from '../../../../src/controllers/maas-lab/desired.js';
import {
  goldenVolumeName,
  type LabMember,
} from '../../../../src/controllers/maas-lab-snapshot/desired.js';

/** The recipe lab's nodes as the API server returns them (with UIDs). */
export function labNodes(lab: MaasLab): MaasNode[] {
  return desiredChildren(lab).nodes.map((n) => ({
    ...n,
    metadata: { ...n.metadata, uid: `${n.metadata?.name ?? ''}-uid` },
  }));
}

/** What a capture of `members` records, as the snapshot controller writes it. */
export function captured(members: readonly LabMember[], snapshot = 'golden'): SnapshotMember[] {
  return members.map((m) => ({
    role: m.role,
    index: m.index,
    domain: m.domain,
    consistency: 'Clean',
    sizeBytes: 0,
    volumes: m.volumes.map((v) => ({
      disk: v.disk,
      pool: v.pool,
      source: v.name,
      golden: goldenVolumeName(v.name, snapshot, 'abcdef0123'),
      format: v.format,
      capacityBytes: v.capacityBytes,
      sizeBytes: 0,
    })),
  }));
}

/** `lab` with its own MAAS controller VM, booted from a volume already on the host. */
export function withController(lab: MaasLab): MaasLab {
  return {
    ...lab,
    spec: {
      ...lab.spec,
      maas: { controller: { image: { volume: 'base.qcow2' }, diskSize: '4Gi' } },
    },
  };
}
