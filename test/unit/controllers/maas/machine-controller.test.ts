// Which nodes the maas-machine controller queues at all: those MAAS concerns (their lab names a
// MAAS, or they still carry our finalizer); a fleet without MAAS costs it nothing.
import { expect } from 'chai';
import type { MaasLab, MaasNode } from '../../../../src/api/v1alpha1/index.js';
import {
  concernsMaas,
  MaasMachineFinalizer,
} from '../../../../src/controllers/maas/machine-controller.js';
import { store } from '../reconciler-support.js';
import { node, recipeLab } from '../fixtures.js';

const external = { url: 'http://10.77.0.2:5240/MAAS', apiKeySecretRef: { name: 'maas-key' } };

function labNode(lab: MaasLab, finalizers?: string[]): MaasNode {
  const n = node('recipe-node1');
  n.metadata = {
    ...n.metadata,
    ...(finalizers && { finalizers }),
    ownerReferences: [
      {
        apiVersion: 'maaslab.dev/v1alpha1',
        kind: 'MaasLab',
        name: lab.metadata?.name ?? '',
        uid: lab.metadata?.uid ?? '',
        controller: true,
      },
    ],
  };
  return n;
}

describe('controllers/maas machine-controller: which nodes it queues', () => {
  const plain = recipeLab();
  const withMaas: MaasLab = { ...plain, spec: { ...plain.spec, maas: { external } } };

  it('ignores a node of a lab without MAAS', () => {
    expect(concernsMaas(labNode(plain), store(plain))).to.equal(false);
  });

  it('queues a node of a lab that names a MAAS', () => {
    expect(concernsMaas(labNode(withMaas), store(withMaas))).to.equal(true);
  });

  it('queues a node that still carries its finalizer, whatever its lab says now', () => {
    const n = labNode(plain, [MaasMachineFinalizer]);
    expect(concernsMaas(n, store(plain))).to.equal(true);
    expect(concernsMaas(n, store<MaasLab>())).to.equal(true);
  });

  it('ignores a node whose lab is not in the cache, or is another object of the same name', () => {
    expect(concernsMaas(labNode(withMaas), store<MaasLab>())).to.equal(false);
    const other: MaasLab = { ...withMaas, metadata: { ...withMaas.metadata, uid: 'other-uid' } };
    expect(concernsMaas(labNode(withMaas), store(other))).to.equal(false);
  });

  it('ignores a node no lab controls', () => {
    expect(concernsMaas(node('solo'), store(withMaas))).to.equal(false);
  });
});
