import { expect } from 'chai';
import {
  MAX_LIBVIRT_NETWORK_NAME,
  desiredNetwork,
  diffNetwork,
  libvirtNetworkName,
  networkNameProblem,
  networkOwner,
  nicsToReplug,
  ownership,
} from '../../../../src/controllers/virt-network/desired.js';
import {
  buildNetworkXml,
  parseDomainXml,
  parseNetworkXml,
  type NetworkDescription,
  type ParsedDomain,
  type ParsedNetwork,
} from '../../../../src/libvirt/xml/index.js';
import type { NetworkChange } from '../../../../src/libvirt/hypervisor/index.js';
import { vnet } from '../fixtures.js';

const owner = { kind: 'VirtNetwork', namespace: 'maas', name: 'lan', uid: 'lan-uid' };

describe('controllers/virt-network/desired', () => {
  it('libvirtNetworkName is <namespace>.<name>', () => {
    expect(libvirtNetworkName('maas', 'recipe-maas')).to.equal('maas.recipe-maas');
  });

  describe('networkNameProblem', () => {
    const cases: [string, string | undefined][] = [
      ['maas.lan', undefined],
      ['', 'network name is empty'],
      ['a/b', "network name a/b contains '/'"],
      ['x'.repeat(MAX_LIBVIRT_NETWORK_NAME), undefined],
    ];
    for (const [name, problem] of cases) {
      it(`${JSON.stringify(name.slice(0, 20))}: ${problem ?? 'fine'}`, () => {
        expect(networkNameProblem(name)).to.equal(problem);
      });
    }
    it('refuses names whose dnsmasq files would exceed 255 bytes', () => {
      expect(networkNameProblem('x'.repeat(MAX_LIBVIRT_NETWORK_NAME + 1))).to.match(/longer than/);
    });
  });

  describe('desiredNetwork', () => {
    it("the recipe's isolated network without DHCP", () => {
      const d = desiredNetwork(
        vnet('lan', { mode: 'isolated', ipv4: { address: '10.77.0.1', prefixLength: 24 } }),
      );
      expect(d).to.deep.equal({
        name: 'maas.lan',
        mode: 'isolated',
        ipv4: { address: '10.77.0.1', prefix: 24 },
        owner,
      });
      expect(buildNetworkXml(d)).to.not.contain('<dhcp');
    });

    it('fills in defaults (nat, STP on) and maps DHCP, domain and MTU', () => {
      const d = desiredNetwork(
        vnet('lan', {
          bridge: { name: 'br-lab' },
          ipv4: {
            address: '10.0.0.1',
            prefixLength: 24,
            dhcp: {
              ranges: [{ start: '10.0.0.100', end: '10.0.0.200' }],
              hosts: [{ mac: '52:54:00:AA:00:01', ip: '10.0.0.5', hostname: 'n1' }],
            },
          },
          domain: 'maas.lab',
          mtu: 9000,
        }),
      );
      expect(d).to.deep.equal({
        name: 'maas.lan',
        mode: 'nat',
        bridge: { name: 'br-lab', stp: true },
        ipv4: {
          address: '10.0.0.1',
          prefix: 24,
          dhcp: {
            ranges: [{ start: '10.0.0.100', end: '10.0.0.200' }],
            hosts: [{ mac: '52:54:00:aa:00:01', ip: '10.0.0.5', name: 'n1' }],
          },
        },
        domain: 'maas.lab',
        mtu: 9000,
        owner,
      });
      expect(diffNetwork(d, parseNetworkXml(buildNetworkXml(d)))).to.deep.equal({ kind: 'none' });
    });

    it('DHCP with hosts only, or ranges only', () => {
      const hostsOnly = desiredNetwork(
        vnet('lan', {
          ipv4: {
            address: '10.0.0.1',
            prefixLength: 24,
            dhcp: { hosts: [{ mac: '52:54:00:00:00:01', ip: '10.0.0.2' }] },
          },
        }),
      );
      expect(hostsOnly.ipv4?.dhcp).to.deep.equal({
        ranges: [],
        hosts: [{ mac: '52:54:00:00:00:01', ip: '10.0.0.2' }],
      });
      const rangesOnly = desiredNetwork(
        vnet('lan', {
          ipv4: {
            address: '10.0.0.1',
            prefixLength: 24,
            dhcp: { ranges: [{ start: '10.0.0.9', end: '10.0.0.9' }] },
          },
        }),
      );
      expect(rangesOnly.ipv4?.dhcp?.hosts).to.deep.equal([]);
    });

    it('mode bridge carries no STP (libvirt refuses it for a host bridge)', () => {
      const d = desiredNetwork(vnet('lan', { mode: 'bridge', bridge: { name: 'br0', stp: true } }));
      expect(d.bridge).to.deep.equal({ name: 'br0' });
      expect(() => buildNetworkXml(d)).not.to.throw();
    });

    it('leaves the bridge to libvirt when no name is given', () => {
      expect(desiredNetwork(vnet('lan', { bridge: { stp: false } })).bridge).to.equal(undefined);
    });

    it('needs the owner identity', () => {
      expect(networkOwner(vnet('lan'))).to.deep.equal(owner);
      expect(() => desiredNetwork({ spec: { hypervisor: 'h' } })).to.throw(TypeError);
    });
  });

  describe('diffNetwork', () => {
    const base: NetworkDescription = {
      name: 'maas.lan',
      mode: 'nat',
      bridge: { name: 'virbr9', stp: true },
      ipv4: {
        address: '10.0.0.1',
        prefix: 24,
        dhcp: {
          ranges: [{ start: '10.0.0.100', end: '10.0.0.200' }],
          hosts: [
            { mac: '52:54:00:00:00:01', ip: '10.0.0.11', name: 'n1' },
            { mac: '52:54:00:00:00:02', ip: '10.0.0.12' },
          ],
        },
      },
      owner,
    };
    const stored = parseNetworkXml(buildNetworkXml(base));

    it('ignores what libvirt adds: uuid, mac, a chosen virbrN, stp="on" written out', () => {
      const withExtras: ParsedNetwork = {
        ...stored,
        uuid: 'u',
        bridge: { name: 'virbr3', stp: true },
      };
      expect(diffNetwork({ ...base, bridge: undefined }, withExtras)).to.deep.equal({
        kind: 'none',
      });
      expect(diffNetwork(base, { ...stored, bridge: { name: 'virbr9' } })).to.deep.equal({
        kind: 'none',
      });
    });

    const restart: [string, Partial<NetworkDescription>, string][] = [
      ['address', { ipv4: { ...base.ipv4!, address: '10.0.1.1' } }, 'ipv4.address'],
      ['prefix', { ipv4: { ...base.ipv4!, prefix: 16 } }, 'ipv4.prefix'],
      ['no ipv4', { ipv4: undefined }, 'ipv4.address'],
      ['mode', { mode: 'route' }, 'mode'],
      ['bridge name', { bridge: { name: 'virbr8', stp: true } }, 'bridge.name'],
      ['stp', { bridge: { name: 'virbr9', stp: false } }, 'bridge.stp'],
      ['mtu', { mtu: 9000 }, 'mtu'],
      ['domain', { domain: 'lab' }, 'domain'],
      [
        'ranges',
        { ipv4: { ...base.ipv4!, dhcp: { ...base.ipv4!.dhcp!, ranges: [] } } },
        'dhcp.ranges',
      ],
      ['DHCP off', { ipv4: { address: '10.0.0.1', prefix: 24 } }, 'dhcp'],
    ];
    for (const [name, patch, field] of restart) {
      it(`${name} needs redefine and restart`, () => {
        const d = diffNetwork({ ...base, ...patch }, stored);
        expect(d.kind).to.equal('redefineAndRestart');
        if (d.kind === 'redefineAndRestart') {
          expect(d.reasons.map((r) => r.split(':')[0])).to.include(field);
        }
      });
    }

    it('DHCP on needs a restart too', () => {
      const off = parseNetworkXml(
        buildNetworkXml({ ...base, ipv4: { address: '10.0.0.1', prefix: 24 } }),
      );
      expect(diffNetwork(base, off)).to.deep.equal({
        kind: 'redefineAndRestart',
        reasons: ['dhcp: false → true'],
      });
    });

    it('host entries without mac or ip force a redefinition', () => {
      const odd: ParsedNetwork = {
        ...stored,
        ipv4: {
          ...stored.ipv4!,
          dhcp: { ranges: stored.ipv4!.dhcp!.ranges, hosts: [{ name: 'x', ip: '10.0.0.3' }] },
        },
      };
      expect(diffNetwork(base, odd).kind).to.equal('redefineAndRestart');
    });

    const live: [string, NetworkDescription['ipv4'], NetworkChange][] = [
      [
        'a host added, one removed, one modified',
        {
          ...base.ipv4!,
          dhcp: {
            ...base.ipv4!.dhcp!,
            hosts: [
              { mac: '52:54:00:00:00:01', ip: '10.0.0.21', name: 'n1' },
              { mac: '52:54:00:00:00:03', ip: '10.0.0.13' },
            ],
          },
        },
        {
          kind: 'dhcpHostsLive',
          add: [{ mac: '52:54:00:00:00:03', ip: '10.0.0.13' }],
          remove: [{ mac: '52:54:00:00:00:02', ip: '10.0.0.12' }],
          modify: [{ mac: '52:54:00:00:00:01', ip: '10.0.0.21', name: 'n1' }],
        },
      ],
      [
        'a hostname change is a modify',
        {
          ...base.ipv4!,
          dhcp: {
            ...base.ipv4!.dhcp!,
            hosts: [
              { mac: '52:54:00:00:00:01', ip: '10.0.0.11' },
              { mac: '52:54:00:00:00:02', ip: '10.0.0.12' },
            ],
          },
        },
        {
          kind: 'dhcpHostsLive',
          add: [],
          remove: [],
          modify: [{ mac: '52:54:00:00:00:01', ip: '10.0.0.11' }],
        },
      ],
      [
        'all hosts removed',
        { ...base.ipv4!, dhcp: { ...base.ipv4!.dhcp!, hosts: [] } },
        {
          kind: 'dhcpHostsLive',
          add: [],
          remove: [
            { mac: '52:54:00:00:00:01', ip: '10.0.0.11', name: 'n1' },
            { mac: '52:54:00:00:00:02', ip: '10.0.0.12' },
          ],
          modify: [],
        },
      ],
    ];
    for (const [name, ipv4, want] of live) {
      it(`${name}: applied live`, () => {
        expect(diffNetwork({ ...base, ipv4 }, stored)).to.deep.equal(want);
      });
    }
  });

  describe('ownership', () => {
    const ours = parseNetworkXml(buildNetworkXml({ name: 'maas.lan', mode: 'isolated', owner }));
    const handMade = parseNetworkXml(buildNetworkXml({ name: 'maas.lan', mode: 'isolated' }));
    const cases: [string, ParsedNetwork | undefined, string][] = [
      ['ours', ours, 'owned'],
      ['hand-made', handMade, 'foreign'],
      ['missing', undefined, 'absent'],
    ];
    for (const [name, parsed, want] of cases) {
      it(`${name}: ${want}`, () => expect(ownership(parsed, owner)).to.equal(want));
    }
  });

  it('nicsToReplug lists the NICs of running domains on the network', () => {
    const dom = (name: string, nics: ParsedDomain['interfaces']): ParsedDomain => ({
      ...parseDomainXml(
        `<domain type="qemu"><name>${name}</name><memory>1024</memory><vcpu>1</vcpu></domain>`,
      ),
      interfaces: nics,
    });
    const domains = [
      dom('a', [
        { type: 'network', network: 'maas.lan', mac: '52:54:00:00:00:01', bridge: 'virbr1' },
        { type: 'network', network: 'maas.wan', mac: '52:54:00:00:00:02' },
      ]),
      dom('b', [
        { type: 'bridge', bridge: 'br0', mac: '52:54:00:00:00:03' },
        { type: 'network', network: 'maas.lan', mac: '52:54:00:00:00:04' },
      ]),
    ];
    expect(nicsToReplug(domains, 'maas.lan')).to.deep.equal([
      { domain: 'a', mac: '52:54:00:00:00:01' },
      { domain: 'b', mac: '52:54:00:00:00:04' },
    ]);
  });
});
