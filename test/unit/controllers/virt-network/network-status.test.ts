// networkStatus and its parts are pure: the whole VirtNetwork status from a scope and the
// findings of a pass, without an API server or libvirt.
import { expect } from 'chai';
import type { VirtNetwork } from '../../../../src/api/v1alpha1/index.js';
import { hypervisorGate } from '../../../../src/controllers/common/hypervisor-gate.js';
import { desiredNetwork, networkOwner } from '../../../../src/controllers/virt-network/desired.js';
import type { Findings } from '../../../../src/controllers/virt-network/pass.js';
import type { NetworkScope } from '../../../../src/controllers/virt-network/scope.js';
import {
  lastNetworkInfo,
  networkFields,
  networkObservation,
  networkStatus,
} from '../../../../src/controllers/virt-network/status.js';
import type { ObservedNetwork } from '../../../../src/libvirt/hypervisor/index.js';
import { vnet } from '../fixtures.js';
import { hypervisorResource } from '../reconciler-support.js';

const at = { now: Date.parse('2026-01-01T00:00:00Z'), succeeded: true };

function scopeOf(v: VirtNetwork, over: Partial<NetworkScope> = {}): NetworkScope {
  return {
    vnet: v,
    libvirtName: 'maas.maas',
    owner: networkOwner(v),
    deleting: false,
    hypervisor: hypervisorResource,
    gate: hypervisorGate(hypervisorResource),
    usedBy: [],
    ...over,
  };
}

const known = (): VirtNetwork => ({
  ...vnet('maas', { mode: 'isolated', ipv4: { address: '10.77.0.1', prefixLength: 24 } }),
  status: {
    observedGeneration: 1,
    libvirtName: 'maas.maas',
    uuid: 'u-old',
    bridge: 'virbr9',
    active: true,
  },
});

function observed(v: VirtNetwork, over: Partial<ObservedNetwork> = {}): ObservedNetwork {
  const parsed = { ...desiredNetwork(v), uuid: 'u-new', bridge: { name: 'virbr1', stp: true } };
  return { parsed, live: parsed, active: true, autostart: true, ...over } as ObservedNetwork;
}

describe('controllers/virt-network networkStatus (pure)', () => {
  it('a converged network: Ready, the observed fields, observedGeneration advanced', () => {
    const v = { ...known(), metadata: { ...known().metadata, generation: 2 } };
    const found: Findings = { ownership: 'owned', network: observed(v) };
    const s = networkStatus(scopeOf(v), found, at);
    expect(s).to.include({ observedGeneration: 2, uuid: 'u-new', bridge: 'virbr1', active: true });
    expect(s.conditions?.find((c) => c.type === 'Ready')?.status).to.equal('True');
  });

  it('a failed pass keeps the old observedGeneration', () => {
    const v = { ...known(), metadata: { ...known().metadata, generation: 2 } };
    const found: Findings = {
      ownership: 'owned',
      network: observed(v),
      error: { reason: 'LibvirtError', message: 'x' },
    };
    const s = networkStatus(scopeOf(v), found, { ...at, succeeded: false });
    expect(s.observedGeneration).to.equal(1);
    expect(s.conditions?.find((c) => c.type === 'Reconciling')?.reason).to.equal('LibvirtError');
  });

  it("the Hypervisor gate's verdict is shown as is, with the last known fields", () => {
    const found: Findings = {
      ownership: 'absent',
      gated: {
        kind: 'stalled',
        reason: 'HypervisorNotFound',
        message: 'Hypervisor local does not exist',
      },
    };
    const s = networkStatus(scopeOf(known(), { hypervisor: undefined }), found, at);
    expect(s.conditions?.find((c) => c.type === 'Stalled')).to.include({
      status: 'True',
      message: 'Hypervisor local does not exist',
    });
    expect(s).to.include({ uuid: 'u-old', bridge: 'virbr9', active: true });
  });

  it('not converged when autostart differs from the spec (default true)', () => {
    const v = known();
    const o = networkObservation(scopeOf(v), {
      ownership: 'owned',
      network: observed(v, { autostart: false }),
    });
    expect(o.converged).to.equal(false);
  });

  it('deleting: Deleting, whatever the findings, with the last known fields', () => {
    const scope = scopeOf(known(), { deleting: true, usedBy: ['n1'] });
    const o = networkObservation(scope, { ownership: 'absent', unreachable: 'down' });
    expect(o).to.include({ deleting: true, hypervisorReachable: true, converged: false });
    expect(networkFields(scope, { ownership: 'owned', network: observed(known()) })).to.deep.equal(
      lastNetworkInfo(scope),
    );
  });

  it('unreachable or foreign: the last known fields; a missing bridge names it', () => {
    const scope = scopeOf(known());
    expect(networkFields(scope, { ownership: 'absent', unreachable: 'down' })).to.include({
      uuid: 'u-old',
    });
    expect(networkFields(scope, { ownership: 'foreign', network: observed(known()) })).to.include({
      uuid: 'u-old',
    });
    const o = networkObservation(scope, { ownership: 'owned', missingBridge: 'br0' });
    expect(o).to.include({ bridgeMissing: true, bridgeName: 'br0' });
  });

  it('lastNetworkInfo keeps only the fields the status had', () => {
    const v = vnet('maas');
    expect(lastNetworkInfo(scopeOf(v))).to.deep.equal({ libvirtName: 'maas.maas' });
  });
});
