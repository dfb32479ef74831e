/**
 * The maaslab.dev/v1alpha1 API: TypeBox schemas (which become the CRDs), their static
 * TypeScript types, and the condition types and reasons.
 */
import type { KindInfo } from './common.js';
import { GroupVersion } from './group.js';
import { HypervisorKind, HypervisorKindInfo } from './hypervisor.js';
import { MaasLabKind, MaasLabKindInfo } from './maas-lab.js';
import { MaasLabSnapshotKind, MaasLabSnapshotKindInfo } from './maas-lab-snapshot.js';
import { MaasNodeKind, MaasNodeKindInfo } from './maas-node.js';
import { VirtNetworkKind, VirtNetworkKindInfo } from './virt-network.js';

export * from './group.js';
export * from './common.js';
export * from './hypervisor.js';
export * from './virt-network.js';
export * from './maas-node.js';
export * from './maas-node-conditions.js';
export * from './maas-lab.js';
export * from './maas-lab-snapshot.js';
export * from './bmc.js';
export * from './maas.js';

/** Every kind of the version, in the order the CRDs are written. */
export const kinds: readonly KindInfo[] = [
  HypervisorKindInfo,
  VirtNetworkKindInfo,
  MaasNodeKindInfo,
  MaasLabKindInfo,
  MaasLabSnapshotKindInfo,
];

/**
 * Each kind's apiVersion and kind: the one table the controllers, the CLI and the tests name
 * them by (the runtime's `Kind`, a manifest's header).
 */
export const GroupVersionKinds = {
  Hypervisor: { apiVersion: GroupVersion, kind: HypervisorKind },
  VirtNetwork: { apiVersion: GroupVersion, kind: VirtNetworkKind },
  MaasNode: { apiVersion: GroupVersion, kind: MaasNodeKind },
  MaasLab: { apiVersion: GroupVersion, kind: MaasLabKind },
  MaasLabSnapshot: { apiVersion: GroupVersion, kind: MaasLabSnapshotKind },
} as const;
