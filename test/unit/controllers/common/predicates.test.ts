import { expect } from 'chai';
import type { KubernetesObject } from '@kubernetes/client-node';
import {
  collisionInputsChanged,
  childStateChanged,
  hypervisorGateChanged,
  networkGateChanged,
} from '../../../../src/controllers/common/predicates.js';

type Obj = KubernetesObject & { status?: { conditions?: Array<Record<string, string>> } };

const hv = (generation: number, ready?: Record<string, string>, allocatedCpus = 0): Obj =>
  ({
    metadata: { name: 'hv1', generation },
    status: {
      conditions: ready ? [{ type: 'Ready', ...ready }] : [],
      allocated: { cpus: allocatedCpus },
    },
  }) as Obj;

const owned = (generation: number, uid?: string): Obj => ({
  metadata: {
    namespace: 'ns',
    name: 'n1',
    generation,
    ...(uid && {
      ownerReferences: [
        { apiVersion: 'maaslab.dev/v1alpha1', kind: 'MaasLab', name: 'lab', uid, controller: true },
      ],
    }),
  },
});

/** A VirtNetwork at `generation`, its status observed at `observed`, Ready or not. */
const vnet = (
  generation: number,
  observed: number,
  ready: boolean,
  extra: Record<string, unknown> = {},
  deletionTimestamp?: string,
): Obj =>
  ({
    metadata: {
      namespace: 'ns',
      name: 'maas',
      generation,
      ...(deletionTimestamp && { deletionTimestamp }),
    },
    status: {
      observedGeneration: observed,
      conditions: [
        { type: 'Ready', status: ready ? 'True' : 'False', reason: ready ? 'Ready' : 'Defining' },
      ],
      ...extra,
    },
  }) as Obj;

describe('controllers/common/predicates', () => {
  describe('childStateChanged', () => {
    const node = (
      conditions: Array<Record<string, string>>,
      extra: Record<string, unknown> = {},
      generation = 1,
    ): Obj =>
      ({
        metadata: { namespace: 'ns', name: 'lab-node1', generation, labels: { a: '1' } },
        status: { observedGeneration: 1, conditions, ...extra },
      }) as Obj;
    const reconciling = [
      { type: 'Ready', status: 'False', reason: 'NetworkNotReady' },
      { type: 'Reconciling', status: 'True', reason: 'NetworkNotReady' },
    ];
    const ready = [{ type: 'Ready', status: 'True', reason: 'Reconciled' }];
    const stalled = [
      { type: 'Ready', status: 'False', reason: 'NameConflict' },
      { type: 'Stalled', status: 'True', reason: 'NameConflict' },
    ];
    it('ignores status writes that leave readiness and kstatus state alone', () => {
      expect(
        childStateChanged.update!(node(reconciling), node(reconciling, { state: 'shutoff' })),
      ).to.equal(false);
      expect(childStateChanged.update!(node(ready), node(ready, { disks: [] }))).to.equal(false);
    });
    it('passes Ready, Stalled, spec, label and deletion changes', () => {
      expect(childStateChanged.update!(node(reconciling), node(ready))).to.equal(true);
      expect(childStateChanged.update!(node(reconciling), node(stalled))).to.equal(true);
      expect(childStateChanged.update!(node(ready), node(ready, {}, 2))).to.equal(true);
      const relabelled = node(ready);
      relabelled.metadata = { ...relabelled.metadata, labels: { a: '2' } };
      expect(childStateChanged.update!(node(ready), relabelled)).to.equal(true);
      const deleting = node(ready);
      deleting.metadata = { ...deleting.metadata, deletionTimestamp: new Date(0) };
      expect(childStateChanged.update!(node(ready), deleting)).to.equal(true);
    });
  });

  describe('networkGateChanged', () => {
    it('passes a creation only Ready at its generation (a new VirtNetwork is not)', () => {
      expect(networkGateChanged.create!(vnet(1, 0, false))).to.equal(false);
      expect(networkGateChanged.create!({ metadata: { name: 'maas', generation: 1 } })).to.equal(
        false,
      );
      expect(networkGateChanged.create!(vnet(2, 1, true))).to.equal(false);
      expect(networkGateChanged.create!(vnet(1, 1, true))).to.equal(true);
    });
    it('ignores status writes that leave readiness alone (bridge, DHCP hosts)', () => {
      expect(
        networkGateChanged.update!(vnet(1, 1, true), vnet(1, 1, true, { bridge: 'virbr9' })),
      ).to.equal(false);
      expect(networkGateChanged.update!(vnet(1, 1, false), vnet(1, 1, false, { x: 1 }))).to.equal(
        false,
      );
    });
    it('passes becoming Ready or not, spec edits, a stale observedGeneration and deletion', () => {
      expect(networkGateChanged.update!(vnet(1, 1, false), vnet(1, 1, true))).to.equal(true);
      expect(networkGateChanged.update!(vnet(1, 1, true), vnet(1, 1, false))).to.equal(true);
      expect(networkGateChanged.update!(vnet(1, 1, true), vnet(2, 1, true))).to.equal(true);
      expect(
        networkGateChanged.update!(vnet(1, 1, true), vnet(1, 1, true, {}, '2026-11-30T00:00:00Z')),
      ).to.equal(true);
    });
  });

  describe('hypervisorGateChanged', () => {
    const up = { status: 'True', reason: 'Ready', message: '' };
    it('ignores inventory-only status writes (allocated, domains)', () => {
      expect(hypervisorGateChanged.update!(hv(1, up, 1), hv(1, up, 2))).to.equal(false);
    });
    it('passes spec edits and every change of the Ready condition', () => {
      expect(hypervisorGateChanged.update!(hv(1, up), hv(2, up))).to.equal(true);
      expect(hypervisorGateChanged.update!(hv(1), hv(1, up))).to.equal(true);
      const down = { status: 'Unknown', reason: 'HypervisorUnreachable', message: 'x' };
      expect(hypervisorGateChanged.update!(hv(1, up), hv(1, down))).to.equal(true);
      expect(hypervisorGateChanged.update!(hv(1, down), hv(1, { ...down, message: 'y' }))).to.equal(
        true,
      );
    });
    it('lets creation and deletion through', () => {
      expect(hypervisorGateChanged.create).to.equal(undefined);
      expect(hypervisorGateChanged.delete).to.equal(undefined);
    });
  });

  describe('collisionInputsChanged', () => {
    it('ignores status writes of a peer', () => {
      expect(collisionInputsChanged.update!(owned(3, 'u1'), owned(3, 'u1'))).to.equal(false);
    });
    it('passes spec edits and a change of controller (adoption, release)', () => {
      expect(collisionInputsChanged.update!(owned(3, 'u1'), owned(4, 'u1'))).to.equal(true);
      expect(collisionInputsChanged.update!(owned(3), owned(3, 'u1'))).to.equal(true);
      expect(collisionInputsChanged.update!(owned(3, 'u1'), owned(3))).to.equal(true);
    });
  });
});
