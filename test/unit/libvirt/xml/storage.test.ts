import { expect } from 'chai';
import {
  buildPoolXml,
  buildVolumeXml,
  parsePoolXml,
  parseVolumeXml,
  toBytes,
  type PoolDescription,
  type VolumeDescription,
} from '../../../../src/libvirt/xml/index.js';

const GiB = 1024 ** 3;
const lines = (...xs: string[]): string => xs.join('\n') + '\n';

const pools: { name: string; desc: PoolDescription; xml: string }[] = [
  {
    name: 'dir pool',
    desc: { name: 'maaslab', type: 'dir', path: '/var/lib/maaslab/pool' },
    xml: lines(
      '<pool type="dir">',
      '  <name>maaslab</name>',
      '  <target>',
      '    <path>/var/lib/maaslab/pool</path>',
      '  </target>',
      '</pool>',
    ),
  },
  {
    name: 'dir pool with UUID',
    desc: {
      name: 'p2',
      uuid: '1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f',
      type: 'dir',
      path: '/srv/pools/p2',
    },
    xml: lines(
      '<pool type="dir">',
      '  <name>p2</name>',
      '  <uuid>1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f</uuid>',
      '  <target>',
      '    <path>/srv/pools/p2</path>',
      '  </target>',
      '</pool>',
    ),
  },
];

const volumes: { name: string; desc: VolumeDescription; xml: string }[] = [
  {
    name: "the recipe's 8 GiB qcow2 disk",
    desc: { name: 'maas-node-1.qcow2', capacityBytes: 8 * GiB, format: 'qcow2' },
    xml: lines(
      '<volume>',
      '  <name>maas-node-1.qcow2</name>',
      '  <capacity unit="bytes">8589934592</capacity>',
      '  <target>',
      '    <format type="qcow2"/>',
      '  </target>',
      '</volume>',
    ),
  },
  {
    name: "a snapshot's read-only golden copy",
    desc: {
      name: 'n-root.snap-s-0123abcd.qcow2',
      capacityBytes: 8 * GiB,
      format: 'qcow2',
      mode: '0444',
    },
    xml: lines(
      '<volume>',
      '  <name>n-root.snap-s-0123abcd.qcow2</name>',
      '  <capacity unit="bytes">8589934592</capacity>',
      '  <target>',
      '    <format type="qcow2"/>',
      '    <permissions>',
      '      <mode>0444</mode>',
      '    </permissions>',
      '  </target>',
      '</volume>',
    ),
  },
  {
    name: 'preallocated raw volume',
    desc: { name: 'seed.raw', capacityBytes: 4 * 1024 * 1024, format: 'raw', allocationBytes: 0 },
    xml: lines(
      '<volume>',
      '  <name>seed.raw</name>',
      '  <allocation unit="bytes">0</allocation>',
      '  <capacity unit="bytes">4194304</capacity>',
      '  <target>',
      '    <format type="raw"/>',
      '  </target>',
      '</volume>',
    ),
  },
];

describe('libvirt/xml storage', () => {
  describe('pools', () => {
    for (const { name, desc, xml } of pools) {
      it(`${name}: golden output`, () => {
        expect(buildPoolXml(desc)).to.equal(xml);
      });
      it(`${name}: build → parse is the input`, () => {
        expect(parsePoolXml(buildPoolXml(desc))).to.deep.equal(desc);
      });
    }

    it('reads live pool XML, sizes in bytes', () => {
      const live = `<pool type='dir'>
  <name>maaslab</name>
  <uuid>1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f</uuid>
  <capacity unit='bytes'>105089261568</capacity>
  <allocation unit='bytes'>25769803776</allocation>
  <available unit='bytes'>79319457792</available>
  <source>
  </source>
  <target>
    <path>/var/lib/maaslab/pool</path>
    <permissions>
      <mode>0711</mode>
      <owner>0</owner>
      <group>0</group>
    </permissions>
  </target>
</pool>
`;
      expect(parsePoolXml(live)).to.deep.equal({
        type: 'dir',
        name: 'maaslab',
        uuid: '1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f',
        path: '/var/lib/maaslab/pool',
        capacityBytes: 105089261568,
        allocationBytes: 25769803776,
        availableBytes: 79319457792,
      });
    });
  });

  describe('volumes', () => {
    for (const { name, desc, xml } of volumes) {
      it(`${name}: golden output`, () => {
        expect(buildVolumeXml(desc)).to.equal(xml);
      });
      it(`${name}: build → parse is the input`, () => {
        expect(parseVolumeXml(buildVolumeXml(desc))).to.deep.equal(desc);
      });
    }

    it('writes a qcow2 overlay with its backing file (a shared base image)', () => {
      expect(
        buildVolumeXml({
          name: 'lab.maas-disk.qcow2',
          capacityBytes: 4096,
          format: 'qcow2',
          backingStore: { path: '/pool/base.qcow2', format: 'qcow2' },
        }),
      ).to.equal(
        [
          '<volume>',
          '  <name>lab.maas-disk.qcow2</name>',
          '  <capacity unit="bytes">4096</capacity>',
          '  <target>',
          '    <format type="qcow2"/>',
          '  </target>',
          '  <backingStore>',
          '    <path>/pool/base.qcow2</path>',
          '    <format type="qcow2"/>',
          '  </backingStore>',
          '</volume>',
          '',
        ].join('\n'),
      );
    });

    it('reads live volume XML: key, path, sizes and format', () => {
      const live = `<volume type='file'>
  <name>maas-node-1.qcow2</name>
  <key>/var/lib/maaslab/pool/maas-node-1.qcow2</key>
  <capacity unit='bytes'>8589934592</capacity>
  <allocation unit='bytes'>200704</allocation>
  <physical unit='bytes'>196624</physical>
  <target>
    <path>/var/lib/maaslab/pool/maas-node-1.qcow2</path>
    <format type='qcow2'/>
    <permissions>
      <mode>0600</mode>
      <owner>0</owner>
      <group>0</group>
    </permissions>
    <compat>1.1</compat>
    <clusterSize unit='B'>65536</clusterSize>
    <features/>
  </target>
</volume>
`;
      expect(parseVolumeXml(live)).to.deep.equal({
        name: 'maas-node-1.qcow2',
        key: '/var/lib/maaslab/pool/maas-node-1.qcow2',
        path: '/var/lib/maaslab/pool/maas-node-1.qcow2',
        capacityBytes: 8 * GiB,
        allocationBytes: 200704,
        format: 'qcow2',
        mode: '0600',
      });
    });

    it('reads a capacity without a unit as bytes and with a unit scaled', () => {
      expect(
        parseVolumeXml('<volume><name>v</name><capacity>512</capacity></volume>'),
      ).to.deep.equal({ name: 'v', capacityBytes: 512 });
      expect(
        parseVolumeXml("<volume><name>v</name><capacity unit='G'>8</capacity></volume>")
          .capacityBytes,
      ).to.equal(8 * GiB);
    });

    it('rejects a fractional or negative size', () => {
      expect(() => buildVolumeXml({ name: 'v', capacityBytes: 1.5, format: 'raw' })).to.throw(
        RangeError,
      );
      expect(() => buildVolumeXml({ name: 'v', capacityBytes: -1, format: 'raw' })).to.throw(
        RangeError,
      );
    });
  });

  describe('toBytes', () => {
    const table: [string, string | undefined, string, number][] = [
      ['5', undefined, 'bytes', 5],
      ['5', undefined, 'KiB', 5120],
      ['7', 'PiB', 'bytes', 7 * 1024 ** 5],
      ['3', 'PB', 'bytes', 3 * 1000 ** 5],
      [' 7 ', 'b', 'bytes', 7],
    ];
    for (const [value, unit, defaultUnit, bytes] of table) {
      it(`${JSON.stringify(value)} ${unit ?? `(default ${defaultUnit})`} is ${bytes} bytes`, () => {
        expect(toBytes(value, unit, defaultUnit)).to.equal(bytes);
      });
    }
    it('refuses sizes beyond a safe integer and non-numbers', () => {
      expect(() => toBytes('9', 'EiB', 'bytes')).to.throw(/out of range/);
      expect(() => toBytes('1.5', 'G', 'bytes')).to.throw(/not a size/);
      expect(() => toBytes('-1', 'G', 'bytes')).to.throw(/not a size/);
    });
  });
});
