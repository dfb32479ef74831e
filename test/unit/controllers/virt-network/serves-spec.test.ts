// servesSpec: whether a libvirt network, as observed, is everything a VirtNetwork asks for —
// what lets a MaasNode start before the VirtNetwork's Ready status reaches it.
import { expect } from 'chai';
import {
  desiredNetwork,
  networkOwner,
  servesSpec,
} from '../../../../src/controllers/virt-network/desired.js';
import { buildNetworkXml, parseNetworkXml } from '../../../../src/libvirt/xml/index.js';
import type { VirtNetwork } from '../../../../src/api/v1alpha1/index.js';
import { vnet } from '../fixtures.js';

/** What libvirt would give back for `v` defined as its controller defines it. */
const asDefined = (v: VirtNetwork) =>
  parseNetworkXml(buildNetworkXml({ ...desiredNetwork(v), owner: networkOwner(v) }));

describe('controllers/virt-network/desired servesSpec', () => {
  const lan = vnet('lan', { mode: 'isolated', ipv4: { address: '10.77.0.1', prefixLength: 24 } });

  it('a running network of ours, defined and live as the spec says, serves it', () => {
    const parsed = asDefined(lan);
    expect(servesSpec(lan, { active: true, parsed, live: parsed })).to.equal(true);
  });

  it('not without an observation, nor while it is defined but not running', () => {
    const parsed = asDefined(lan);
    expect(servesSpec(lan, undefined)).to.equal(false);
    expect(servesSpec(lan, { active: false, parsed })).to.equal(false);
    // Active with no live definition read: nothing proves what runs.
    expect(servesSpec(lan, { active: true, parsed })).to.equal(false);
  });

  it('not when the stamp names another VirtNetwork, or an earlier one of the same name', () => {
    const other = vnet('lan', {
      mode: 'isolated',
      ipv4: { address: '10.77.0.1', prefixLength: 24 },
    });
    const earlier: VirtNetwork = { ...other, metadata: { ...other.metadata, uid: 'old-uid' } };
    const parsed = asDefined(earlier);
    expect(servesSpec(lan, { active: true, parsed, live: parsed })).to.equal(false);
    const { owner: _dropped, ...unstamped } = asDefined(lan);
    void _dropped;
    expect(servesSpec(lan, { active: true, parsed: unstamped, live: unstamped })).to.equal(false);
  });

  it('not while a new generation is not applied: the definition or the running copy lags', () => {
    const moved: VirtNetwork = {
      ...lan,
      metadata: { ...lan.metadata, generation: 2 },
      spec: { ...lan.spec, ipv4: { address: '10.78.0.1', prefixLength: 24 } },
    };
    const old = asDefined(lan);
    const now = asDefined(moved);
    expect(servesSpec(moved, { active: true, parsed: old, live: old })).to.equal(false);
    // Redefined, not yet restarted: the running network still has the old address.
    expect(servesSpec(moved, { active: true, parsed: now, live: old })).to.equal(false);
    expect(servesSpec(moved, { active: true, parsed: now, live: now })).to.equal(true);
  });

  it('not while a DHCP host the spec lists is missing from the running network', () => {
    const dhcp = vnet('lan', {
      mode: 'isolated',
      ipv4: {
        address: '10.77.0.1',
        prefixLength: 24,
        dhcp: { hosts: [{ mac: '52:54:00:7f:04:01', ip: '10.77.0.11' }] },
      },
    });
    const full = asDefined(dhcp);
    const other = asDefined({
      ...dhcp,
      spec: {
        ...dhcp.spec,
        ipv4: {
          address: '10.77.0.1',
          prefixLength: 24,
          dhcp: { hosts: [{ mac: '52:54:00:7f:04:02', ip: '10.77.0.12' }] },
        },
      },
    });
    expect(servesSpec(dhcp, { active: true, parsed: full, live: full })).to.equal(true);
    expect(servesSpec(dhcp, { active: true, parsed: full, live: other })).to.equal(false);
  });
});
