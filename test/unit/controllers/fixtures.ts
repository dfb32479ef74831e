// Shared fixtures for the controller unit tests: the recipe lab from examples/, and small
// builders for MaasNode and VirtNetwork objects as the API server would return them.
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import type {
  Hypervisor,
  MaasLab,
  MaasNode,
  MaasNodeSpec,
  VirtNetwork,
  VirtNetworkSpec,
} from '../../../src/api/v1alpha1/index.js';

const recipeDocs = parseAllDocuments(
  readFileSync(new URL('../../../examples/recipe-lab.yaml', import.meta.url), 'utf8'),
).map((d) => d.toJS() as Record<string, unknown>);

/** examples/recipe-lab.yaml's Hypervisor. */
export const recipeHypervisor = recipeDocs.find((d) => d.kind === 'Hypervisor') as Hypervisor;

/** examples/recipe-lab.yaml's MaasLab, as read back from namespace `maas` (uid set). */
export function recipeLab(): MaasLab {
  const lab = structuredClone(recipeDocs.find((d) => d.kind === 'MaasLab')) as MaasLab;
  return {
    ...lab,
    metadata: {
      ...lab.metadata,
      namespace: 'maas',
      uid: 'lab-uid',
      creationTimestamp: new Date('2026-01-01T00:00:00Z'),
    },
  };
}

/** A MaasNode in namespace `maas` with the given spec fields. */
export function node(name: string, spec: Partial<MaasNodeSpec> = {}): MaasNode {
  return {
    apiVersion: 'maaslab.dev/v1alpha1',
    kind: 'MaasNode',
    metadata: { name, namespace: 'maas', uid: `${name}-uid`, generation: 1 },
    spec: { hypervisor: 'local', ...spec },
  };
}

/** A VirtNetwork in namespace `maas` with the given spec fields. */
export function vnet(name: string, spec: Partial<VirtNetworkSpec> = {}): VirtNetwork {
  return {
    apiVersion: 'maaslab.dev/v1alpha1',
    kind: 'VirtNetwork',
    metadata: { name, namespace: 'maas', uid: `${name}-uid`, generation: 1 },
    spec: { hypervisor: 'local', ...spec },
  };
}
