import { expect } from 'chai';
import {
  buildDhcpHostXml,
  buildNetworkXml,
  parseNetworkXml,
  type NetworkDescription,
  type ParsedNetwork,
} from '../../../../src/libvirt/xml/index.js';

const lines = (...xs: string[]): string => xs.join('\n') + '\n';

const golden: { name: string; desc: NetworkDescription; xml: string }[] = [
  {
    name: "the manual recipe's isolated network without DHCP",
    desc: { name: 'maas', mode: 'isolated', ipv4: { address: '10.77.0.1', prefix: 24 } },
    xml: lines(
      '<network>',
      '  <name>maas</name>',
      '  <ip address="10.77.0.1" prefix="24"/>',
      '</network>',
    ),
  },
  {
    name: 'NAT with everything: uuid, owner, bridge + stp, MTU, domain, DHCP ranges and hosts',
    desc: {
      name: 'lab-nat',
      uuid: '5d3c1f0a-2b4e-4f6a-8c9d-0e1f2a3b4c5d',
      mode: 'nat',
      bridge: { name: 'virbr77', stp: false },
      mtu: 9000,
      domain: 'lab.maas',
      ipv4: {
        address: '10.77.0.1',
        prefix: 24,
        dhcp: {
          ranges: [
            { start: '10.77.0.100', end: '10.77.0.149' },
            { start: '10.77.0.200', end: '10.77.0.249' },
          ],
          hosts: [
            { mac: '52:54:00:7f:04:01', ip: '10.77.0.11', name: 'node-1' },
            { mac: '52:54:00:7f:04:02', ip: '10.77.0.12' },
          ],
        },
      },
      owner: { kind: 'VirtNetwork', namespace: 'lab', name: 'nat', uid: 'u-net' },
    },
    xml: lines(
      '<network>',
      '  <name>lab-nat</name>',
      '  <uuid>5d3c1f0a-2b4e-4f6a-8c9d-0e1f2a3b4c5d</uuid>',
      '  <metadata>',
      '    <maaslab:owner xmlns:maaslab="https://maaslab.dev/xmlns/v1alpha1" kind="VirtNetwork" namespace="lab" name="nat" uid="u-net"/>',
      '  </metadata>',
      '  <forward mode="nat"/>',
      '  <bridge name="virbr77" stp="off"/>',
      '  <mtu size="9000"/>',
      '  <domain name="lab.maas"/>',
      '  <ip address="10.77.0.1" prefix="24">',
      '    <dhcp>',
      '      <range start="10.77.0.100" end="10.77.0.149"/>',
      '      <range start="10.77.0.200" end="10.77.0.249"/>',
      '      <host mac="52:54:00:7f:04:01" name="node-1" ip="10.77.0.11"/>',
      '      <host mac="52:54:00:7f:04:02" ip="10.77.0.12"/>',
      '    </dhcp>',
      '  </ip>',
      '</network>',
    ),
  },
  {
    name: 'routed with DHCP ranges only',
    desc: {
      name: 'lab-route',
      mode: 'route',
      bridge: { name: 'virbr78', stp: true },
      ipv4: {
        address: '10.78.0.1',
        prefix: 16,
        dhcp: { ranges: [{ start: '10.78.1.1', end: '10.78.1.254' }], hosts: [] },
      },
    },
    xml: lines(
      '<network>',
      '  <name>lab-route</name>',
      '  <forward mode="route"/>',
      '  <bridge name="virbr78" stp="on"/>',
      '  <ip address="10.78.0.1" prefix="16">',
      '    <dhcp>',
      '      <range start="10.78.1.1" end="10.78.1.254"/>',
      '    </dhcp>',
      '  </ip>',
      '</network>',
    ),
  },
  {
    name: 'bridged onto an existing host bridge',
    desc: { name: 'lab-br', mode: 'bridge', bridge: { name: 'br0' } },
    xml: lines(
      '<network>',
      '  <name>lab-br</name>',
      '  <forward mode="bridge"/>',
      '  <bridge name="br0"/>',
      '</network>',
    ),
  },
];

describe('libvirt/xml network', () => {
  describe('buildNetworkXml golden output', () => {
    for (const { name, desc, xml } of golden) {
      it(name, () => {
        expect(buildNetworkXml(desc)).to.equal(xml);
      });
    }
  });

  describe('round trip', () => {
    for (const { name, desc, xml } of golden) {
      it(`${name}: build → parse is the input`, () => {
        const parsed: ParsedNetwork = parseNetworkXml(buildNetworkXml(desc));
        expect(parsed).to.deep.equal(desc);
      });
      it(`${name}: parse → rebuild is byte-identical`, () => {
        const parsed = parseNetworkXml(xml);
        expect(parsed.mode).to.not.be.oneOf(['open', 'private', 'vepa', 'passthrough', 'hostdev']);
        expect(buildNetworkXml(parsed as NetworkDescription)).to.equal(xml);
      });
    }
  });

  describe('parseNetworkXml on live XML written by libvirt', () => {
    const live = `<network connections='2'>
  <name>default</name>
  <uuid>9b2d0c7a-1e3f-4a5b-8c6d-7e8f9a0b1c2d</uuid>
  <metadata>
    <maaslab:owner xmlns:maaslab="https://maaslab.dev/xmlns/v1alpha1" kind="VirtNetwork" name="default" uid="u9"/>
  </metadata>
  <forward mode='nat'>
    <nat>
      <port start='1024' end='65535'/>
    </nat>
  </forward>
  <bridge name='virbr0' stp='on' delay='0'/>
  <mac address='52:54:00:aa:bb:cc'/>
  <ip address='192.168.122.1' netmask='255.255.255.0'>
    <dhcp>
      <range start='192.168.122.2' end='192.168.122.254'>
        <lease expiry='1' unit='hours'/>
      </range>
      <host mac='52:54:00:7F:04:01' name='node-1' ip='192.168.122.11'/>
      <host name='by-name-only' ip='192.168.122.12'/>
    </dhcp>
  </ip>
  <ip family='ipv6' address='fd00::1' prefix='64'/>
</network>
`;
    it('reads mode, bridge, netmask as prefix, DHCP and owner', () => {
      expect(parseNetworkXml(live)).to.deep.equal({
        name: 'default',
        uuid: '9b2d0c7a-1e3f-4a5b-8c6d-7e8f9a0b1c2d',
        mode: 'nat',
        bridge: { name: 'virbr0', stp: true },
        ipv4: {
          address: '192.168.122.1',
          prefix: 24,
          dhcp: {
            ranges: [{ start: '192.168.122.2', end: '192.168.122.254' }],
            hosts: [
              { mac: '52:54:00:7f:04:01', ip: '192.168.122.11', name: 'node-1' },
              { ip: '192.168.122.12', name: 'by-name-only' },
            ],
          },
        },
        owner: { kind: 'VirtNetwork', name: 'default', uid: 'u9' },
      } satisfies ParsedNetwork);
    });

    const netmasks: [string, number][] = [
      ['255.255.255.255', 32],
      ['255.255.0.0', 16],
      ['255.255.255.128', 25],
      ['0.0.0.0', 0],
    ];
    for (const [netmask, prefix] of netmasks) {
      it(`reads netmask ${netmask} as /${prefix}`, () => {
        const xml = `<network><name>n</name><ip address='10.0.0.1' netmask='${netmask}'/></network>`;
        expect(parseNetworkXml(xml).ipv4?.prefix).to.equal(prefix);
      });
    }

    it('rejects a non-contiguous netmask', () => {
      const xml = `<network><name>n</name><ip address='10.0.0.1' netmask='255.0.255.0'/></network>`;
      expect(() => parseNetworkXml(xml)).to.throw(/contiguous/);
    });

    it('reads a <forward> without mode as NAT, libvirt’s default', () => {
      expect(parseNetworkXml('<network><name>n</name><forward/></network>').mode).to.equal('nat');
    });
  });

  describe('buildNetworkXml validation', () => {
    const cases: [string, NetworkDescription, RegExp][] = [
      ['bridge mode without a bridge', { name: 'b', mode: 'bridge' }, /bridge\.name/],
      [
        'bridge mode with an address',
        {
          name: 'b',
          mode: 'bridge',
          bridge: { name: 'br0' },
          ipv4: { address: '10.0.0.1', prefix: 24 },
        },
        /ipv4/,
      ],
      [
        'bridge mode with stp',
        { name: 'b', mode: 'bridge', bridge: { name: 'br0', stp: true } },
        /stp/,
      ],
      [
        'a prefix above 32',
        { name: 'n', mode: 'nat', ipv4: { address: '10.0.0.1', prefix: 33 } },
        /prefix/,
      ],
      [
        'a bad address',
        { name: 'n', mode: 'nat', ipv4: { address: '10.0.0.256', prefix: 24 } },
        /IPv4/,
      ],
      ['a tiny MTU', { name: 'n', mode: 'nat', mtu: 10 }, /MTU/],
      [
        'a DHCP host with a bad MAC',
        {
          name: 'n',
          mode: 'nat',
          ipv4: {
            address: '10.0.0.1',
            prefix: 24,
            dhcp: { ranges: [], hosts: [{ mac: 'x', ip: '10.0.0.2' }] },
          },
        },
        /MAC/,
      ],
    ];
    for (const [name, desc, error] of cases) {
      it(`rejects ${name}`, () => {
        expect(() => buildNetworkXml(desc)).to.throw(RangeError, error);
      });
    }
  });

  describe('buildDhcpHostXml (for virNetworkUpdate)', () => {
    it('builds one host element, MAC lower-cased', () => {
      expect(
        buildDhcpHostXml({ mac: '52:54:00:7F:04:01', ip: '10.77.0.11', name: 'node-1' }),
      ).to.equal('<host mac="52:54:00:7f:04:01" name="node-1" ip="10.77.0.11"/>\n');
    });
    it('leaves out a missing name', () => {
      expect(buildDhcpHostXml({ mac: '52:54:00:7f:04:02', ip: '10.77.0.12' })).to.equal(
        '<host mac="52:54:00:7f:04:02" ip="10.77.0.12"/>\n',
      );
    });
  });
});
