import { expect } from 'chai';
import { DomainEventType } from '../../../../src/libvirt/constants.js';
import {
  changesAllocation,
  formatLibvirtVersion,
  hypervisorConditions,
  hypervisorInfo,
  hypervisorReady,
  type HypervisorObservation,
} from '../../../../src/controllers/hypervisor/status.js';

const GiB = 1024 ** 3;
const healthy: HypervisorObservation = {
  reachable: true,
  storagePoolPresent: true,
  storagePoolPathSet: false,
  storagePool: 'default',
  unschedulable: false,
};

describe('controllers/hypervisor/status', () => {
  it('formatLibvirtVersion decodes libvirt version numbers', () => {
    expect(formatLibvirtVersion(11_003_000)).to.equal('11.3.0');
    expect(formatLibvirtVersion(9_000_012)).to.equal('9.0.12');
  });

  it('hypervisorInfo: capacity from the host, allocation from MaasNode domains only', () => {
    const owner = { kind: 'MaasNode', namespace: 'maas', name: 'n', uid: 'u' };
    const info = hypervisorInfo(
      {
        hostname: 'host1',
        libvirtVersion: 11_003_000,
        hypervisorType: 'QEMU',
        hypervisorVersion: 10_000_000,
        cpus: 8,
        memoryBytes: 16 * GiB,
      },
      [
        { owner, vcpus: 1, memoryBytes: GiB },
        { owner: { ...owner, name: 'm' }, vcpus: 2, memoryBytes: 2 * GiB },
        { vcpus: 4, memoryBytes: 4 * GiB }, // made by hand
        { owner: { ...owner, kind: 'Other' }, vcpus: 4, memoryBytes: 4 * GiB },
      ],
    );
    expect(info).to.deep.equal({
      hostname: 'host1',
      libvirtVersion: '11.3.0',
      hypervisorVersion: 'QEMU 10.0.0',
      capacity: { cpus: 8, memory: '16Gi' },
      allocated: { cpus: 3, memory: '3Gi' },
      domains: 2,
    });
  });

  it('changesAllocation: only a definition or an undefinition moves allocated and domains', () => {
    const moving = Object.values(DomainEventType).filter(changesAllocation);
    expect(moving).to.have.members([DomainEventType.Defined, DomainEventType.Undefined]);
    expect(moving).to.have.length(2);
  });

  describe('hypervisorConditions', () => {
    const cases: [string, Partial<HypervisorObservation>, string, string][] = [
      ['healthy', {}, 'True/Reconciled', ''],
      ['unschedulable is still Ready', { unschedulable: true }, 'True/Unschedulable', ''],
      [
        'unreachable',
        { reachable: false, unreachableMessage: 'Connection refused' },
        'False/HypervisorUnreachable',
        'Reconciling',
      ],
      [
        'unreachable, no message',
        { reachable: false },
        'False/HypervisorUnreachable',
        'Reconciling',
      ],
      [
        'libvirt error',
        { error: { reason: 'LibvirtError', message: 'x' } },
        'False/LibvirtError',
        'Reconciling',
      ],
      [
        'pool missing, ours to create',
        { storagePoolPresent: false, storagePoolPathSet: true },
        'False/StoragePoolNotFound',
        'Reconciling',
      ],
      [
        'pool missing, no path',
        { storagePoolPresent: false },
        'False/StoragePoolNotFound',
        'Stalled',
      ],
    ];
    for (const [name, patch, ready, extra] of cases) {
      it(`${name}: Ready=${ready}${extra ? `, ${extra}` : ''}`, () => {
        const plan = hypervisorConditions({ ...healthy, ...patch });
        const r = plan.set.find((c) => c.type === 'Ready');
        expect(`${r?.status}/${r?.reason}`).to.equal(ready);
        const extras = plan.set.filter((c) => c.type !== 'Ready').map((c) => c.type);
        expect(extras).to.deep.equal(extra ? [extra] : []);
      });
    }
    it('the unreachable message is libvirt’s', () => {
      const plan = hypervisorConditions({
        ...healthy,
        reachable: false,
        unreachableMessage: 'Connection refused',
      });
      expect(plan.set[0]?.message).to.equal('Connection refused');
    });
  });

  it('hypervisorReady reads Ready=True', () => {
    const c = (status: 'True' | 'False') => ({
      conditions: [
        {
          type: 'Ready',
          status,
          reason: 'R',
          message: '',
          lastTransitionTime: '2026-01-01T00:00:00Z',
        },
      ],
    });
    expect(hypervisorReady(c('True'))).to.equal(true);
    expect(hypervisorReady(c('False'))).to.equal(false);
    expect(hypervisorReady(undefined)).to.equal(false);
  });
});
