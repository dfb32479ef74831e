import { expect } from 'chai';
import { DomainEventType } from '../../../../src/libvirt/constants.js';
import {
  changesAllocation,
  formatLibvirtVersion,
  hypervisorConditions,
  hypervisorInfo,
  hypervisorReady,
  hypervisorStatus,
  snapshotBytesOn,
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

  it('hypervisorInfo: allocated.snapshotStorage counts the ready snapshots on this host only', () => {
    const host = {
      hostname: 'h',
      libvirtVersion: 9_000_000,
      hypervisorType: 'QEMU',
      hypervisorVersion: 7_002_000,
      cpus: 2,
      memoryBytes: 4 * GiB,
    };
    const snap = (hypervisor: string, sizeBytes: number, readyToUse: boolean) => ({
      spec: { lab: 'recipe' },
      status: { hypervisor, sizeBytes, readyToUse },
    });
    const snapshots = [
      snap('hv1', GiB, true),
      snap('hv1', GiB / 2, true),
      snap('hv1', 5 * GiB, false), // failed or still capturing: nothing of it is kept
      snap('hv2', 7 * GiB, true),
    ];
    expect(snapshotBytesOn(snapshots, 'hv1')).to.equal(1.5 * GiB);
    expect(hypervisorInfo(host, [], snapshotBytesOn(snapshots, 'hv1')).allocated).to.deep.equal({
      cpus: 0,
      memory: '0',
      snapshotStorage: '1536Mi',
    });
    expect(hypervisorInfo(host, [], 0).allocated).to.deep.equal({ cpus: 0, memory: '0' });
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
      [
        'ssh refused the host key',
        {
          reachable: false,
          unreachableMessage: 'Cannot recv data: Host key verification failed.: EOF',
          hostKeyRejected: 'Host key verification failed.',
        },
        'False/HostKeyVerificationFailed',
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

  describe('hypervisorStatus', () => {
    const resource = {
      apiVersion: 'maaslab.dev/v1alpha1',
      kind: 'Hypervisor',
      metadata: { name: 'hv1', generation: 3 },
      spec: { uri: 'qemu:///system' },
      status: { observedGeneration: 2, hostname: 'old-host', libvirtVersion: '9.0.0' },
    } as const;
    const now = Date.parse('2026-12-04T12:00:00Z');

    it('advances observedGeneration and takes the new facts on a pass that succeeded', () => {
      const s = hypervisorStatus(resource, { hostname: 'host-a' }, healthy, true, now);
      expect(s.observedGeneration).to.equal(3);
      expect(s.hostname).to.equal('host-a');
      const ready = s.conditions?.find((c) => c.type === 'Ready');
      expect(ready).to.include({ status: 'True', observedGeneration: 3 });
    });

    it('keeps observedGeneration and the last known facts while the host is unreachable', () => {
      const down: HypervisorObservation = {
        ...healthy,
        reachable: false,
        unreachableMessage: 'no answer within 20 s',
      };
      const s = hypervisorStatus(resource, {}, down, false, now);
      expect(s.observedGeneration).to.equal(2);
      expect(s.hostname).to.equal('old-host');
      const ready = s.conditions?.find((c) => c.type === 'Ready');
      expect(ready).to.include({
        status: 'False',
        reason: 'HypervisorUnreachable',
        message: 'no answer within 20 s',
      });
    });

    it('a first pass that fails writes no observedGeneration at all', () => {
      const fresh = { ...resource, status: undefined };
      const s = hypervisorStatus(fresh, {}, { ...healthy, reachable: false }, false, now);
      expect(s).to.not.have.property('observedGeneration');
    });
  });
});
