// MaasNodes, VirtNetworks and a MaasLab as the operator would report them, for the plugin's
// pure modules.
import type { Condition, MaasLab, MaasNode, VirtNetwork } from '../../../src/api/v1alpha1/index.js';

const ready = (generation = 1): Condition => ({
  type: 'Ready',
  status: 'True',
  reason: 'Ready',
  message: '',
  lastTransitionTime: '2026-01-01T00:00:00Z',
  observedGeneration: generation,
});

/** A stand-alone node with virsh power and a VNC console. */
export const standalone = (over: Partial<MaasNode['spec']> = {}): MaasNode => ({
  apiVersion: 'maaslab.dev/v1alpha1',
  kind: 'MaasNode',
  metadata: { name: 'n1', namespace: 'lab-ns', generation: 1 },
  spec: { hypervisor: 'hv1', interfaces: [{ network: 'recipe-pxe' }], ...over },
});

/** Node `i` of lab `recipe`, owned by it, with status as reported. */
export const labNode = (
  i: number,
  status: MaasNode['status'] = {},
  network = 'recipe-pxe',
): MaasNode => ({
  apiVersion: 'maaslab.dev/v1alpha1',
  kind: 'MaasNode',
  metadata: {
    name: `recipe-node${i}`,
    namespace: 'lab-ns',
    labels: { 'maaslab.dev/lab': 'recipe' },
    ownerReferences: [
      {
        apiVersion: 'maaslab.dev/v1alpha1',
        kind: 'MaasLab',
        name: 'recipe',
        uid: 'u1',
        controller: true,
      },
    ],
    generation: 1,
  },
  spec: { hypervisor: 'hv1', runStrategy: 'Always', interfaces: [{ network }] },
  status,
});

/** status of a running virsh node. */
export const virshStatus = (i: number): MaasNode['status'] => ({
  observedGeneration: 1,
  printableStatus: 'Running',
  conditions: [ready()],
  state: 'running',
  domainName: `lab-ns.recipe-node${i}`,
  interfaces: [{ network: 'recipe-pxe', mac: `52:54:00:7f:04:0${i}` }],
  vnc: { host: '127.0.0.1', port: 5900 + i, display: `127.0.0.1:${5900 + i}` },
  power: { type: 'virsh', address: 'qemu+ssh://maas@hv1/system', id: `lab-ns.recipe-node${i}` },
});

/** status of a node behind a virtual IPMI BMC. */
export const ipmiStatus = (i: number): MaasNode['status'] => ({
  ...virshStatus(i),
  power: {
    type: 'ipmi',
    address: '10.0.0.1:6230',
    user: 'admin',
    driver: 'LAN_2_0',
    cipherSuiteId: '3',
    privilegeLevel: 'ADMIN',
  },
  maas: { systemId: 'abc123', statusName: 'Commissioning', powerState: 'on' },
});

export const pxeNetwork: VirtNetwork = {
  apiVersion: 'maaslab.dev/v1alpha1',
  kind: 'VirtNetwork',
  metadata: { name: 'recipe-pxe', namespace: 'lab-ns', labels: { 'maaslab.dev/lab': 'recipe' } },
  spec: { hypervisor: 'hv1', mode: 'isolated' },
  status: { active: true, bridge: 'virbr7', conditions: [ready()] },
};

export const recipeLab: MaasLab = {
  apiVersion: 'maaslab.dev/v1alpha1',
  kind: 'MaasLab',
  metadata: { name: 'recipe', namespace: 'lab-ns' },
  spec: { hypervisor: 'hv1', networks: [{ name: 'pxe' }], nodes: { count: 3 } },
  status: {
    printableStatus: 'Degraded',
    conditions: [{ ...ready(), status: 'False' as const, reason: 'NodesNotReady' }],
    nodes: { ready: 2, total: 3, summary: '2/3' },
    maas: { url: 'http://10.0.0.2:5240/MAAS/', version: '3.5.4' },
  },
};
