import { expect } from 'chai';
import type { Hypervisor } from '../../../../src/api/v1alpha1/index.js';
import { hypervisorGate } from '../../../../src/controllers/common/hypervisor-gate.js';
import { hypervisorReachableOf } from '../../../../src/controllers/maas-lab/status.js';

const hv = (reason: string, status: 'True' | 'False' = 'False'): Hypervisor => ({
  apiVersion: 'maaslab.dev/v1alpha1',
  kind: 'Hypervisor',
  metadata: { name: 'hv1' },
  spec: { uri: 'qemu+ssh://root@h1/system' },
  status: {
    conditions: [
      { type: 'Ready', status, reason, message: 'm', lastTransitionTime: '2026-01-01T00:00:00Z' },
    ],
  },
});

describe('hypervisorGate', () => {
  it('a host whose key ssh refused is unreachable to dependants, as a host that is down', () => {
    for (const reason of ['HypervisorUnreachable', 'HostKeyVerificationFailed']) {
      const gate = hypervisorGate(hv(reason));
      expect(gate.kind, reason).to.equal('unreachable');
      expect(hypervisorReachableOf(hv(reason)), reason).to.equal(false);
    }
  });

  it('any other reason is notReady; Ready=True is ready whatever its reason', () => {
    expect(hypervisorGate(hv('StoragePoolNotFound')).kind).to.equal('notReady');
    expect(hypervisorReachableOf(hv('StoragePoolNotFound'))).to.equal(true);
    expect(hypervisorGate(hv('HostKeyVerificationFailed', 'True')).kind).to.equal('ready');
  });
});
