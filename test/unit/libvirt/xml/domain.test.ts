import { expect } from 'chai';
import {
  buildDomainXml,
  diskTargetName,
  parseDomainXml,
  type DomainDescription,
  type ParsedDomain,
} from '../../../../src/libvirt/xml/index.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

const lines = (...xs: string[]): string => xs.join('\n') + '\n';

/** The manual recipe's node: 1 GiB, 1 vCPU, 8 GiB qcow2 on virtio, PXE then disk, VNC local. */
const recipeNode: DomainDescription = {
  name: 'maas-node-1',
  type: 'qemu',
  memoryBytes: GiB,
  vcpus: 1,
  arch: 'x86_64',
  firmware: 'bios',
  bootOrder: ['network', 'disk'],
  disks: [{ pool: 'maaslab', volume: 'maas-node-1.qcow2', format: 'qcow2', bus: 'virtio' }],
  interfaces: [{ mac: '52:54:00:7f:04:01', network: 'default', model: 'virtio' }],
  vnc: { listen: '127.0.0.1' },
};

const recipeDevices = [
  '  <devices>',
  '    <disk type="volume" device="disk">',
  '      <driver name="qemu" type="qcow2"/>',
  '      <source pool="maaslab" volume="maas-node-1.qcow2"/>',
  '      <target dev="vda" bus="virtio"/>',
  '      <boot order="2"/>',
  '    </disk>',
  '    <interface type="network">',
  '      <mac address="52:54:00:7f:04:01"/>',
  '      <source network="default"/>',
  '      <model type="virtio"/>',
  '      <boot order="1"/>',
  '    </interface>',
  '    <serial type="pty">',
  '      <target port="0"/>',
  '    </serial>',
  '    <console type="pty">',
  '      <target type="serial" port="0"/>',
  '    </console>',
  '    <graphics type="vnc" port="-1" autoport="yes" listen="127.0.0.1">',
  '      <listen type="address" address="127.0.0.1"/>',
  '    </graphics>',
  '  </devices>',
];

const lifecycle = [
  '  <clock offset="utc"/>',
  '  <on_poweroff>destroy</on_poweroff>',
  '  <on_reboot>restart</on_reboot>',
  '  <on_crash>destroy</on_crash>',
];

const golden: { name: string; desc: DomainDescription; xml: string }[] = [
  {
    name: "the manual recipe's node",
    desc: recipeNode,
    xml: lines(
      '<domain type="qemu">',
      '  <name>maas-node-1</name>',
      '  <memory unit="KiB">1048576</memory>',
      '  <currentMemory unit="KiB">1048576</currentMemory>',
      '  <vcpu placement="static">1</vcpu>',
      '  <os>',
      '    <type arch="x86_64">hvm</type>',
      '  </os>',
      '  <features>',
      '    <acpi/>',
      '    <apic/>',
      '  </features>',
      ...lifecycle,
      ...recipeDevices,
      '</domain>',
    ),
  },
  {
    name: 'UEFI on q35 with KVM, uuid, title, owner and balloon memory',
    desc: {
      ...recipeNode,
      uuid: '0b8a3c3e-5a0e-4c8e-9d27-0f6c3e1c2a11',
      title: 'node one',
      description: 'MAAS test node',
      type: 'kvm',
      machine: 'q35',
      firmware: 'uefi',
      memoryBytes: 2 * GiB,
      currentMemoryBytes: GiB,
      vcpus: 2,
      owner: { kind: 'MaasNode', namespace: 'lab', name: 'node-1', uid: 'u-1', specHash: 'h1' },
    },
    xml: lines(
      '<domain type="kvm">',
      '  <name>maas-node-1</name>',
      '  <uuid>0b8a3c3e-5a0e-4c8e-9d27-0f6c3e1c2a11</uuid>',
      '  <title>node one</title>',
      '  <description>MAAS test node</description>',
      '  <metadata>',
      '    <maaslab:owner xmlns:maaslab="https://maaslab.dev/xmlns/v1alpha1" kind="MaasNode" namespace="lab" name="node-1" uid="u-1" specHash="h1"/>',
      '  </metadata>',
      '  <memory unit="KiB">2097152</memory>',
      '  <currentMemory unit="KiB">1048576</currentMemory>',
      '  <vcpu placement="static">2</vcpu>',
      '  <os firmware="efi">',
      '    <type arch="x86_64" machine="q35">hvm</type>',
      '  </os>',
      '  <features>',
      '    <acpi/>',
      '    <apic/>',
      '  </features>',
      ...lifecycle,
      ...recipeDevices,
      '</domain>',
    ),
  },
  {
    name: 'aarch64 virt, disk first, SATA and SCSI sharing sd names, fixed VNC port, no NIC',
    desc: {
      name: 'arm',
      type: 'qemu',
      memoryBytes: 512 * MiB,
      vcpus: 1,
      arch: 'aarch64',
      machine: 'virt',
      firmware: 'uefi',
      bootOrder: ['disk'],
      disks: [
        { pool: 'p', volume: 'a.raw', format: 'raw', bus: 'sata' },
        { pool: 'p', volume: 'b.qcow2', format: 'qcow2', bus: 'scsi' },
        { pool: 'p', volume: 'c.qcow2', format: 'qcow2', bus: 'virtio' },
      ],
      interfaces: [],
      vnc: { listen: '0.0.0.0', port: 5901 },
    },
    xml: lines(
      '<domain type="qemu">',
      '  <name>arm</name>',
      '  <memory unit="KiB">524288</memory>',
      '  <currentMemory unit="KiB">524288</currentMemory>',
      '  <vcpu placement="static">1</vcpu>',
      '  <os firmware="efi">',
      '    <type arch="aarch64" machine="virt">hvm</type>',
      '  </os>',
      '  <features>',
      '    <acpi/>',
      '  </features>',
      ...lifecycle,
      '  <devices>',
      '    <disk type="volume" device="disk">',
      '      <driver name="qemu" type="raw"/>',
      '      <source pool="p" volume="a.raw"/>',
      '      <target dev="sda" bus="sata"/>',
      '      <boot order="1"/>',
      '    </disk>',
      '    <disk type="volume" device="disk">',
      '      <driver name="qemu" type="qcow2"/>',
      '      <source pool="p" volume="b.qcow2"/>',
      '      <target dev="sdb" bus="scsi"/>',
      '    </disk>',
      '    <disk type="volume" device="disk">',
      '      <driver name="qemu" type="qcow2"/>',
      '      <source pool="p" volume="c.qcow2"/>',
      '      <target dev="vda" bus="virtio"/>',
      '    </disk>',
      '    <controller type="scsi" index="0" model="virtio-scsi"/>',
      '    <serial type="pty">',
      '      <target port="0"/>',
      '    </serial>',
      '    <console type="pty">',
      '      <target type="serial" port="0"/>',
      '    </console>',
      '    <graphics type="vnc" port="5901" autoport="no" listen="0.0.0.0">',
      '      <listen type="address" address="0.0.0.0"/>',
      '    </graphics>',
      '  </devices>',
      '</domain>',
    ),
  },
  {
    name: 'a BMC node: an empty CD-ROM drive booted first, and a seed ISO on SATA',
    desc: {
      name: 'bmc-node',
      type: 'qemu',
      memoryBytes: GiB,
      vcpus: 1,
      arch: 'x86_64',
      firmware: 'bios',
      bootOrder: ['cdrom', 'network', 'disk'],
      disks: [{ pool: 'maaslab', volume: 'maas-node-1.qcow2', format: 'qcow2', bus: 'virtio' }],
      cdroms: [{ bus: 'scsi' }, { bus: 'sata', source: { pool: 'p', volume: 'seed.iso' } }],
      interfaces: [{ mac: '52:54:00:7f:04:01', network: 'default', model: 'virtio' }],
    },
    xml: lines(
      '<domain type="qemu">',
      '  <name>bmc-node</name>',
      '  <memory unit="KiB">1048576</memory>',
      '  <currentMemory unit="KiB">1048576</currentMemory>',
      '  <vcpu placement="static">1</vcpu>',
      '  <os>',
      '    <type arch="x86_64">hvm</type>',
      '  </os>',
      '  <features>',
      '    <acpi/>',
      '    <apic/>',
      '  </features>',
      ...lifecycle,
      '  <devices>',
      '    <disk type="volume" device="disk">',
      '      <driver name="qemu" type="qcow2"/>',
      '      <source pool="maaslab" volume="maas-node-1.qcow2"/>',
      '      <target dev="vda" bus="virtio"/>',
      '      <boot order="3"/>',
      '    </disk>',
      '    <disk type="file" device="cdrom">',
      '      <driver name="qemu" type="raw"/>',
      '      <target dev="sda" bus="scsi"/>',
      '      <readonly/>',
      '      <boot order="1"/>',
      '    </disk>',
      '    <disk type="volume" device="cdrom">',
      '      <driver name="qemu" type="raw"/>',
      '      <source pool="p" volume="seed.iso"/>',
      '      <target dev="sdb" bus="sata"/>',
      '      <readonly/>',
      '    </disk>',
      '    <controller type="scsi" index="0" model="virtio-scsi"/>',
      '    <interface type="network">',
      '      <mac address="52:54:00:7f:04:01"/>',
      '      <source network="default"/>',
      '      <model type="virtio"/>',
      '      <boot order="2"/>',
      '    </interface>',
      '    <serial type="pty">',
      '      <target port="0"/>',
      '    </serial>',
      '    <console type="pty">',
      '      <target type="serial" port="0"/>',
      '    </console>',
      '  </devices>',
      '</domain>',
    ),
  },
];

/** What a parsed domain says about the fields a description sets, in description shape. */
function toDescription(parsed: ParsedDomain): DomainDescription {
  const type = parsed.type === 'kvm' ? 'kvm' : 'qemu';
  const arch = parsed.arch === 'aarch64' ? 'aarch64' : 'x86_64';
  return {
    name: parsed.name,
    ...(parsed.uuid !== undefined && { uuid: parsed.uuid }),
    ...(parsed.title !== undefined && { title: parsed.title }),
    ...(parsed.description !== undefined && { description: parsed.description }),
    type,
    memoryBytes: parsed.memoryBytes,
    ...(parsed.currentMemoryBytes !== parsed.memoryBytes && {
      currentMemoryBytes: parsed.currentMemoryBytes,
    }),
    vcpus: parsed.vcpus,
    arch,
    ...(parsed.machine !== undefined && { machine: parsed.machine }),
    firmware: parsed.firmware,
    bootOrder: parsed.bootOrder.filter((d) => d !== 'floppy'),
    disks: parsed.disks
      .filter((d) => d.device === 'disk')
      .map((d) => ({
        pool: d.pool ?? '',
        volume: d.volume ?? '',
        format: d.format === 'raw' ? 'raw' : 'qcow2',
        bus: d.bus === 'sata' || d.bus === 'scsi' ? d.bus : 'virtio',
      })),
    ...(parsed.disks.some((d) => d.device === 'cdrom') && {
      cdroms: parsed.disks
        .filter((d) => d.device === 'cdrom')
        .map((d) => ({
          ...(d.pool !== undefined &&
            d.volume !== undefined && { source: { pool: d.pool, volume: d.volume } }),
          bus: d.bus === 'sata' ? ('sata' as const) : ('scsi' as const),
        })),
    }),
    interfaces: parsed.interfaces.map((n) => ({
      mac: n.mac ?? '',
      network: n.network ?? '',
      model: n.model === 'e1000' ? 'e1000' : 'virtio',
    })),
    ...(parsed.vnc && {
      vnc: {
        listen: parsed.vnc.listen ?? '',
        ...(!parsed.vnc.autoport && { port: parsed.vnc.port }),
      },
    }),
    ...(parsed.owner && { owner: parsed.owner }),
  };
}

describe('libvirt/xml domain', () => {
  describe('buildDomainXml golden output', () => {
    for (const { name, desc, xml } of golden) {
      it(name, () => {
        expect(buildDomainXml(desc)).to.equal(xml);
      });
    }
  });

  describe('round trip', () => {
    for (const { name, desc, xml } of golden) {
      it(`${name}: build → parse → description is the input`, () => {
        expect(toDescription(parseDomainXml(buildDomainXml(desc)))).to.deep.equal(desc);
      });
      it(`${name}: parse → rebuild is byte-identical`, () => {
        expect(buildDomainXml(toDescription(parseDomainXml(xml)))).to.equal(xml);
      });
    }
  });

  it("parses the recipe node's compared fields", () => {
    const parsed = parseDomainXml(buildDomainXml(recipeNode));
    expect(parsed).to.deep.equal({
      type: 'qemu',
      name: 'maas-node-1',
      memoryBytes: GiB,
      currentMemoryBytes: GiB,
      vcpus: 1,
      arch: 'x86_64',
      firmware: 'bios',
      bootOrder: ['network', 'disk'],
      disks: [
        {
          device: 'disk',
          sourceType: 'volume',
          pool: 'maaslab',
          volume: 'maas-node-1.qcow2',
          format: 'qcow2',
          target: 'vda',
          bus: 'virtio',
          bootOrder: 2,
        },
      ],
      interfaces: [
        {
          type: 'network',
          mac: '52:54:00:7f:04:01',
          network: 'default',
          model: 'virtio',
          bootOrder: 1,
        },
      ],
      vnc: { autoport: true, listen: '127.0.0.1' },
    } satisfies ParsedDomain);
  });

  describe('parseDomainXml on live XML written by libvirt', () => {
    // Hand-written in the shape `virsh dumpxml` gives for a running QEMU/TCG guest.
    const live = `<domain type='qemu' id='7'>
  <name>maas-node-1</name>
  <uuid>2f0e4a1c-7b9d-4e53-8a61-3c0d9e5b7f21</uuid>
  <metadata>
    <maaslab:owner xmlns:maaslab="https://maaslab.dev/xmlns/v1alpha1" kind="MaasNode" namespace="lab" name="node-1" uid="8d5a-uid"/>
    <other:thing xmlns:other="https://example.com/ns">x</other:thing>
  </metadata>
  <memory unit='KiB'>1048576</memory>
  <currentMemory unit='KiB'>1048576</currentMemory>
  <vcpu placement='static'>1</vcpu>
  <resource>
    <partition>/machine</partition>
  </resource>
  <os>
    <type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type>
  </os>
  <features>
    <acpi/>
    <apic/>
  </features>
  <cpu mode='custom' match='exact' check='full'>
    <model fallback='forbid'>qemu64</model>
  </cpu>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='volume' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source pool='maaslab' volume='maas-node-1.qcow2' index='1'/>
      <backingStore/>
      <target dev='vda' bus='virtio'/>
      <boot order='2'/>
      <alias name='virtio-disk0'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x04' function='0x0'/>
    </disk>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source file='/var/lib/maaslab/seed.iso' index='2'/>
      <target dev='sda' bus='sata'/>
      <readonly/>
    </disk>
    <controller type='usb' index='0' model='piix3-uhci'/>
    <interface type='network'>
      <mac address='52:54:00:7F:04:01'/>
      <source network='maas' portid='6b1c1d2e-0b53-4b43-9e0f-1a3c5d7e9f00' bridge='virbr1'/>
      <target dev='vnet0'/>
      <model type='virtio'/>
      <boot order='1'/>
      <alias name='net0'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x03' function='0x0'/>
    </interface>
    <interface type='bridge'>
      <mac address='52:54:00:7f:04:99'/>
      <source bridge='br0'/>
      <target dev='vnet1'/>
      <model type='e1000'/>
    </interface>
    <serial type='pty'>
      <source path='/dev/pts/3'/>
      <target type='isa-serial' port='0'>
        <model name='isa-serial'/>
      </target>
      <alias name='serial0'/>
    </serial>
    <console type='pty' tty='/dev/pts/3'>
      <source path='/dev/pts/3'/>
      <target type='serial' port='0'/>
    </console>
    <graphics type='vnc' port='5900' autoport='yes' listen='127.0.0.1'>
      <listen type='address' address='127.0.0.1'/>
    </graphics>
  </devices>
  <seclabel type='dynamic' model='dac' relabel='yes'>
    <label>+64055:+64055</label>
  </seclabel>
</domain>
`;

    it('reads identity, sizes and the owner in our namespace among foreign metadata', () => {
      const parsed = parseDomainXml(live);
      expect(parsed).to.include({
        type: 'qemu',
        id: 7,
        name: 'maas-node-1',
        uuid: '2f0e4a1c-7b9d-4e53-8a61-3c0d9e5b7f21',
        memoryBytes: GiB,
        vcpus: 1,
        arch: 'x86_64',
        machine: 'pc-i440fx-7.2',
        firmware: 'bios',
      });
      expect(parsed.owner).to.deep.equal({
        kind: 'MaasNode',
        namespace: 'lab',
        name: 'node-1',
        uid: '8d5a-uid',
      });
    });

    it('reads the live tap device, bridge and MAC (lower-cased) of each NIC', () => {
      expect(parseDomainXml(live).interfaces).to.deep.equal([
        {
          type: 'network',
          mac: '52:54:00:7f:04:01',
          network: 'maas',
          bridge: 'virbr1',
          model: 'virtio',
          targetDev: 'vnet0',
          bootOrder: 1,
        },
        {
          type: 'bridge',
          mac: '52:54:00:7f:04:99',
          bridge: 'br0',
          model: 'e1000',
          targetDev: 'vnet1',
        },
      ]);
    });

    it('reads volume and file disks, and boot order from per-device <boot>', () => {
      const parsed = parseDomainXml(live);
      expect(parsed.disks).to.deep.equal([
        {
          device: 'disk',
          sourceType: 'volume',
          pool: 'maaslab',
          volume: 'maas-node-1.qcow2',
          format: 'qcow2',
          target: 'vda',
          bus: 'virtio',
          bootOrder: 2,
        },
        {
          device: 'cdrom',
          sourceType: 'file',
          path: '/var/lib/maaslab/seed.iso',
          format: 'raw',
          target: 'sda',
          bus: 'sata',
        },
      ]);
      expect(parsed.bootOrder).to.deep.equal(['network', 'disk']);
    });

    it('reads the real VNC port', () => {
      expect(parseDomainXml(live).vnc).to.deep.equal({
        port: 5900,
        autoport: true,
        listen: '127.0.0.1',
      });
    });
  });

  describe('parseDomainXml variants', () => {
    const minimal = (inner: string, root = "<domain type='kvm'>"): string =>
      `${root}<name>d</name><memory>1048576</memory><vcpu>2</vcpu>${inner}</domain>`;

    it('takes boot order from <os><boot dev> when no device has one', () => {
      const xml = minimal(
        "<os><type>hvm</type><boot dev='cdrom'/><boot dev='network'/><boot dev='hd'/><boot dev='fd'/></os>",
      );
      expect(parseDomainXml(xml).bootOrder).to.deep.equal(['cdrom', 'network', 'disk', 'floppy']);
    });

    it('reads memory without a unit as KiB, as libvirt does', () => {
      expect(parseDomainXml(minimal('')).memoryBytes).to.equal(GiB);
    });

    const units: [string, string, number][] = [
      ['b', '1073741824', GiB],
      ['bytes', '1073741824', GiB],
      ['KiB', '1048576', GiB],
      ['k', '1048576', GiB],
      ['MiB', '1024', GiB],
      ['M', '1024', GiB],
      ['G', '1', GiB],
      ['GiB', '2', 2 * GiB],
      ['KB', '1000', 1000 * 1000],
      ['MB', '1', 1000 * 1000],
      ['GB', '1', 1000 ** 3],
      ['TiB', '1', 1024 * GiB],
    ];
    for (const [unit, value, bytes] of units) {
      it(`normalises <memory unit='${unit}'>${value}</memory> to ${bytes} bytes`, () => {
        const xml = `<domain type='qemu'><name>d</name><memory unit='${unit}'>${value}</memory><currentMemory unit='${unit}'>${value}</currentMemory><vcpu>1</vcpu></domain>`;
        const parsed = parseDomainXml(xml);
        expect(parsed.memoryBytes).to.equal(bytes);
        expect(parsed.currentMemoryBytes).to.equal(bytes);
      });
    }

    it('rejects an unknown memory unit', () => {
      expect(() =>
        parseDomainXml(minimal('').replace('<memory>', "<memory unit='furlongs'>")),
      ).to.throw(/unknown size unit/);
    });

    it('recognises UEFI from an expanded pflash loader', () => {
      const xml = minimal(
        "<os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type><loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader><nvram>/var/lib/libvirt/qemu/nvram/d_VARS.fd</nvram></os>",
      );
      expect(parseDomainXml(xml).firmware).to.equal('uefi');
    });

    it('reads VNC autoport in inactive XML as no port', () => {
      const xml = minimal(
        "<devices><graphics type='vnc' port='-1' autoport='yes'><listen type='address' address='127.0.0.1'/></graphics></devices>",
      );
      expect(parseDomainXml(xml).vnc).to.deep.equal({ autoport: true, listen: '127.0.0.1' });
    });

    it('returns no owner when metadata is absent or foreign', () => {
      expect(parseDomainXml(minimal('')).owner).to.equal(undefined);
      const foreign = minimal(
        '<metadata><maaslab:owner xmlns:maaslab="https://evil.example/ns" kind="MaasNode" name="n" uid="u"/></metadata>',
      );
      expect(parseDomainXml(foreign).owner).to.equal(undefined);
    });

    it('rejects a document that is not a domain', () => {
      expect(() => parseDomainXml('<network><name>x</name></network>')).to.throw(/<domain>/);
    });
  });

  describe('serial BIOS', () => {
    it("writes <bios useserial='yes'/> in <os> and reads it back", () => {
      const xml = buildDomainXml({ ...recipeNode, serialBios: true });
      expect(xml).to.include(
        '<type arch="x86_64">hvm</type>\n    <bios useserial="yes"/>\n  </os>',
      );
      expect(parseDomainXml(xml).serialBios).to.equal(true);
      expect(parseDomainXml(buildDomainXml(recipeNode)).serialBios).to.equal(undefined);
      expect(buildDomainXml(recipeNode)).to.not.include('<bios');
    });
  });

  describe('UEFI NVRAM', () => {
    const uefi: DomainDescription = {
      ...recipeNode,
      firmware: 'uefi',
      nvram: { pool: 'maaslab', volume: 'maas-node-1-VARS.fd' },
    };
    const path = '/var/lib/maaslab/pool/maas-node-1-VARS.fd';

    it('names the file in <os><nvram>, after <type>, and reads the path back', () => {
      const xml = buildDomainXml(uefi, { nvramPath: path });
      expect(xml).to.include(
        `<os firmware="efi">\n    <type arch="x86_64">hvm</type>\n    <nvram>${path}</nvram>\n  </os>`,
      );
      expect(parseDomainXml(xml).nvram).to.equal(path);
    });

    it('leaves <nvram> out without one (libvirt then keeps it outside any pool), and for BIOS', () => {
      const bare = buildDomainXml({ ...uefi, nvram: undefined });
      expect(bare).to.not.include('<nvram');
      expect(parseDomainXml(bare).nvram).to.equal(undefined);
      expect(buildDomainXml(recipeNode, { nvramPath: path })).to.not.include('<nvram');
    });

    it('reads the path and template libvirt expands at start', () => {
      const xml =
        "<domain type='kvm'><name>d</name><memory>1048576</memory><vcpu>1</vcpu>" +
        `<os><type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type><loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader><nvram template='/usr/share/OVMF/OVMF_VARS_4M.fd'>${path}</nvram></os></domain>`;
      expect(parseDomainXml(xml)).to.include({ firmware: 'uefi', nvram: path });
    });

    it('rejects NVRAM for BIOS, and NVRAM whose path the host did not give', () => {
      expect(() => buildDomainXml({ ...uefi, firmware: 'bios' }, { nvramPath: path })).to.throw(
        RangeError,
        /only UEFI/,
      );
      expect(() => buildDomainXml(uefi)).to.throw(
        RangeError,
        /the path of maaslab\/maas-node-1-VARS.fd/,
      );
    });
  });

  describe('buildDomainXml validation', () => {
    const cases: [string, Partial<DomainDescription>, RegExp][] = [
      ['memory not in whole KiB', { memoryBytes: GiB + 1 }, /whole number of KiB/],
      ['negative memory', { memoryBytes: -1024 }, /whole number of bytes/],
      ['current above max', { currentMemoryBytes: 2 * GiB }, /exceeds/],
      ['zero vCPUs', { vcpus: 0 }, /vcpus/],
      [
        'bad MAC',
        { interfaces: [{ mac: '52:54:00:7f:04', network: 'n', model: 'virtio' }] },
        /MAC/,
      ],
      ['duplicate boot device', { bootOrder: ['disk', 'disk'] }, /twice/],
      ['network boot without NIC', { interfaces: [] }, /no NICs/],
      ['disk boot without disk', { disks: [] }, /no disks/],
      ['CD-ROM boot without a drive', { bootOrder: ['cdrom', 'disk'] }, /no CD-ROM drive/],
      ['bad VNC port', { vnc: { listen: '127.0.0.1', port: 70000 } }, /port/],
      ['serial BIOS with UEFI', { serialBios: true, firmware: 'uefi' }, /SeaBIOS/],
      ['serial BIOS on arm64', { serialBios: true, arch: 'aarch64' }, /SeaBIOS/],
    ];
    for (const [name, patch, error] of cases) {
      it(`rejects ${name}`, () => {
        expect(() => buildDomainXml({ ...recipeNode, ...patch })).to.throw(RangeError, error);
      });
    }
  });

  describe('diskTargetName', () => {
    const table: [string, number, string][] = [
      ['vd', 0, 'vda'],
      ['vd', 1, 'vdb'],
      ['vd', 25, 'vdz'],
      ['vd', 26, 'vdaa'],
      ['sd', 27, 'sdab'],
      ['sd', 701, 'sdzz'],
      ['sd', 702, 'sdaaa'],
    ];
    for (const [prefix, index, name] of table) {
      it(`${prefix} #${index} is ${name}`, () => {
        expect(diskTargetName(prefix, index)).to.equal(name);
      });
    }
  });
});
