import type { V1ObjectMeta } from '@kubernetes/client-node';
import { expect } from 'chai';
import {
  CLEANUP_FINALIZER,
  addFinalizer,
  controllerOf,
  controllerReference,
  finalizersPatch,
  groupOf,
  hasFinalizer,
  isControlledBy,
  isDeleting,
  ownerRequest,
  removeFinalizer,
  requestFor,
} from '../../../../src/runtime/controller/objects.js';

const lab = {
  apiVersion: 'maaslab.dev/v1alpha1',
  kind: 'MaasLab',
  metadata: { name: 'recipe', namespace: 'labs', uid: 'u-1', resourceVersion: '42' },
};

describe('runtime/objects', () => {
  it('adds and removes finalizers without mutating, saying whether anything changed', () => {
    const obj = Object.freeze({
      metadata: Object.freeze({ finalizers: Object.freeze(['other']) }),
    });
    const added = addFinalizer(obj, CLEANUP_FINALIZER);
    expect(added).to.deep.equal({ changed: true, finalizers: ['other', 'maaslab.dev/cleanup'] });
    expect(hasFinalizer(obj, CLEANUP_FINALIZER)).to.equal(false);
    const withIt = { metadata: { finalizers: added.finalizers } };
    expect(hasFinalizer(withIt, CLEANUP_FINALIZER)).to.equal(true);
    expect(addFinalizer(withIt, CLEANUP_FINALIZER).changed).to.equal(false);
    expect(removeFinalizer(withIt, CLEANUP_FINALIZER)).to.deep.equal({
      changed: true,
      finalizers: ['other'],
    });
    expect(removeFinalizer(obj, CLEANUP_FINALIZER).changed).to.equal(false);
    expect(addFinalizer({}, 'x')).to.deep.equal({ changed: true, finalizers: ['x'] });
  });

  it('accepts client-node metadata as is', () => {
    const metadata: V1ObjectMeta = {
      name: 'x',
      finalizers: [CLEANUP_FINALIZER],
      deletionTimestamp: new Date(0),
    };
    expect(hasFinalizer({ metadata }, CLEANUP_FINALIZER)).to.equal(true);
    expect(isDeleting({ metadata })).to.equal(true);
  });

  it('locks finalizer patches to the resourceVersion they came from', () => {
    expect(finalizersPatch(lab, ['a'])).to.deep.equal({
      metadata: { finalizers: ['a'], resourceVersion: '42' },
    });
    expect(finalizersPatch({}, [])).to.deep.equal({ metadata: { finalizers: [] } });
  });

  it('sees deletion', () => {
    expect(isDeleting(lab)).to.equal(false);
    expect(isDeleting({ metadata: { deletionTimestamp: new Date(0) } })).to.equal(true);
  });

  it('builds controller references and recognises the controller', () => {
    const ref = controllerReference(lab);
    expect(ref).to.deep.equal({
      apiVersion: 'maaslab.dev/v1alpha1',
      kind: 'MaasLab',
      name: 'recipe',
      uid: 'u-1',
      controller: true,
      blockOwnerDeletion: true,
    });
    expect(() => controllerReference({ kind: 'MaasLab', metadata: { name: 'x' } })).to.throw(
      TypeError,
    );
    const node = {
      metadata: {
        name: 'recipe-node-1',
        namespace: 'labs',
        ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'cm', uid: 'c' }, ref],
      },
    };
    expect(controllerOf(node)).to.equal(ref);
    expect(isControlledBy(node, lab)).to.equal(true);
    expect(isControlledBy(node, { ...lab, apiVersion: 'maaslab.dev/v1beta1' })).to.equal(true);
    expect(isControlledBy(node, { ...lab, metadata: { ...lab.metadata, uid: 'u-2' } })).to.equal(
      false,
    );
    expect(isControlledBy({ metadata: {} }, lab)).to.equal(false);
  });

  it('maps a child to its owner’s request, and an object to its own', () => {
    const node = {
      metadata: { name: 'n', namespace: 'labs', ownerReferences: [controllerReference(lab)] },
    };
    expect(ownerRequest(node, 'maaslab.dev', 'MaasLab')).to.deep.equal({
      namespace: 'labs',
      name: 'recipe',
    });
    expect(ownerRequest(node, 'other.dev', 'MaasLab')).to.equal(undefined);
    expect(ownerRequest(node, 'maaslab.dev', 'VirtNetwork')).to.equal(undefined);
    expect(requestFor(node)).to.deep.equal({ namespace: 'labs', name: 'n' });
    expect(requestFor({ metadata: { name: 'hv' } })).to.deep.equal({ name: 'hv' });
    expect(groupOf('v1')).to.equal('');
    expect(groupOf('events.k8s.io/v1')).to.equal('events.k8s.io');
  });
});
