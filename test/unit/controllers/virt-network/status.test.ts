import { expect } from 'chai';
import {
  networkConditions,
  networkInfo,
  type NetworkObservation,
} from '../../../../src/controllers/virt-network/status.js';

const converged: NetworkObservation = {
  deleting: false,
  usedBy: [],
  hypervisorFound: true,
  hypervisorReachable: true,
  ownership: 'owned',
  bridgeMissing: false,
  converged: true,
};

describe('controllers/virt-network/status', () => {
  it('networkInfo reports name, uuid, bridge and active', () => {
    const parsed = {
      name: 'maas.lan',
      uuid: 'u-1',
      mode: 'nat' as const,
      bridge: { name: 'virbr3' },
    };
    expect(networkInfo('maas.lan', parsed, true)).to.deep.equal({
      libvirtName: 'maas.lan',
      uuid: 'u-1',
      bridge: 'virbr3',
      active: true,
    });
    expect(networkInfo('maas.lan', undefined, true)).to.deep.equal({
      libvirtName: 'maas.lan',
      active: false,
    });
  });

  describe('networkConditions', () => {
    const cases: [string, Partial<NetworkObservation>, string, string][] = [
      ['converged', {}, 'Ready=True/Reconciled', ''],
      [
        'deleting',
        { deleting: true, ownership: 'foreign' },
        'Reconciling=True/Deleting',
        'destroying and undefining the network',
      ],
      [
        'deleting while used',
        { deleting: true, usedBy: ['n1', 'n2'] },
        'Reconciling=True/Deleting',
        'waiting for MaasNodes that use the network: n1, n2',
      ],
      [
        'no hypervisor',
        { hypervisorFound: false, hypervisorReachable: false },
        'Stalled=True/HypervisorNotFound',
        'no such Hypervisor',
      ],
      [
        'unreachable',
        { hypervisorReachable: false, ownership: 'foreign' },
        'Ready=Unknown/HypervisorUnreachable',
        'libvirt on the hypervisor cannot be reached',
      ],
      [
        'name conflict',
        { ownership: 'foreign', converged: false },
        'Stalled=True/NameConflict',
        'a libvirt network of this name exists and was not created for this VirtNetwork',
      ],
      [
        'bridge missing',
        { bridgeMissing: true },
        'Stalled=True/BridgeNotFound',
        'the host has no bridge of the name spec.bridge.name gives',
      ],
      [
        'libvirt error',
        { error: { reason: 'LibvirtError', message: 'boom' }, converged: false },
        'Reconciling=True/LibvirtError',
        'boom',
      ],
      [
        'building',
        { ownership: 'absent', converged: false },
        'Reconciling=True/Progressing',
        'building the network',
      ],
    ];
    for (const [name, patch, key, message] of cases) {
      it(`${name}: ${key}`, () => {
        const plan = networkConditions({ ...converged, ...patch });
        const [type, rest] = key.split('=') as [string, string];
        const c = plan.set.find((x) => x.type === type);
        expect(`${c?.status}/${c?.reason}`).to.equal(rest);
        expect(c?.message).to.equal(message);
      });
    }
  });
});
