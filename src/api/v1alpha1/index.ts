/**
 * The maaslab.dev/v1alpha1 API: TypeBox schemas (which become the CRDs), their static
 * TypeScript types, and the condition types and reasons.
 */
import type { KindInfo } from './common.js';
import { HypervisorKindInfo } from './hypervisor.js';
import { MaasLabKindInfo } from './maas-lab.js';
import { MaasNodeKindInfo } from './maas-node.js';
import { VirtNetworkKindInfo } from './virt-network.js';

export * from './group.js';
export * from './common.js';
export * from './hypervisor.js';
export * from './virt-network.js';
export * from './maas-node.js';
export * from './maas-lab.js';

/** Every kind of the version, in the order the CRDs are written. */
export const kinds: readonly KindInfo[] = [
  HypervisorKindInfo,
  VirtNetworkKindInfo,
  MaasNodeKindInfo,
  MaasLabKindInfo,
];
