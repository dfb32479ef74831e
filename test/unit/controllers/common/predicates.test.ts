import { expect } from 'chai';
import type { KubernetesObject } from '@kubernetes/client-node';
import {
  collisionInputsChanged,
  hypervisorGateChanged,
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

describe('controllers/common/predicates', () => {
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
