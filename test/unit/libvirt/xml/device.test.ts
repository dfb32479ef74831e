// Golden tests for the live-update NIC XML and the capabilities reader (src/libvirt/xml/device.ts):
// exact output, round trips through the parser, escaping of hostile names, and refusals.
import { expect } from 'chai';
import {
  buildInterfaceUpdateXml,
  capabilityDomainTypes,
  parseDomainXml,
} from '../../../../src/libvirt/xml/index.js';

/** The NIC, wrapped in a minimal domain so the domain parser reads it back. */
const inDomain = (nic: string): string =>
  `<domain type='qemu'><name>d</name><memory unit='KiB'>1024</memory><vcpu>1</vcpu>` +
  `<os><type arch='x86_64'>hvm</type></os><devices>${nic}</devices></domain>`;

describe('libvirt/xml device: NIC updates and capabilities', () => {
  describe('buildInterfaceUpdateXml', () => {
    it('writes a network NIC with the fields libvirt refuses to see change live', () => {
      expect(
        buildInterfaceUpdateXml(
          { mac: '52:54:00:AA:bb:01', model: 'virtio', bootOrder: 1 },
          { network: 'ns.maas' },
        ),
      ).to.equal(
        [
          '<interface type="network">',
          '  <mac address="52:54:00:aa:bb:01"/>',
          '  <source network="ns.maas"/>',
          '  <model type="virtio"/>',
          '  <boot order="1"/>',
          '</interface>',
          '',
        ].join('\n'),
      );
    });

    it('writes a bridge NIC, leaving out what it was not given', () => {
      const xml = buildInterfaceUpdateXml({ mac: '52:54:00:aa:bb:02' }, { bridge: 'virbr7' });
      expect(xml).to.include('<interface type="bridge">');
      expect(xml).to.include('<source bridge="virbr7"/>');
      expect(xml).to.not.include('<model').and.not.include('<boot');
    });

    it('round-trips through the domain parser', () => {
      const nic = parseDomainXml(
        inDomain(
          buildInterfaceUpdateXml(
            { mac: '52:54:00:aa:bb:03', model: 'e1000', bootOrder: 2 },
            { network: 'lab.net' },
          ),
        ),
      ).interfaces[0];
      expect(nic).to.include({
        type: 'network',
        mac: '52:54:00:aa:bb:03',
        network: 'lab.net',
        model: 'e1000',
        bootOrder: 2,
      });
    });

    it('escapes hostile names instead of pasting them into the document', () => {
      const hostile = `x'/><source network='evil'/><x a='`;
      const xml = buildInterfaceUpdateXml({ mac: '52:54:00:aa:bb:04' }, { network: hostile });
      const nic = parseDomainXml(inDomain(xml)).interfaces;
      expect(nic).to.have.length(1);
      expect(nic[0]?.network).to.equal(hostile);
      expect(xml.match(/<source /g)).to.have.length(1);
    });

    it('refuses a MAC libvirt would not take', () => {
      for (const mac of ['52:54:00:aa:bb', '52:54:00:aa:bb:0g', "52:54:00:aa:bb:01'/>"]) {
        expect(() => buildInterfaceUpdateXml({ mac }, { network: 'n' }), mac).to.throw(RangeError);
      }
    });
  });

  describe('capabilityDomainTypes', () => {
    const caps = (domains: string): string =>
      `<capabilities><host><cpu><arch>x86_64</arch></cpu></host>` +
      `<guest><os_type>hvm</os_type><arch name='x86_64'>${domains}</arch></guest>` +
      `<guest><os_type>hvm</os_type><arch name='i686'><domain type='qemu'/></arch></guest>` +
      `</capabilities>`;

    it('lists the domain types of every guest: KVM where the host offers it', () => {
      const both = capabilityDomainTypes(caps("<domain type='qemu'/><domain type='kvm'/>"));
      expect([...both].sort()).to.deep.equal(['kvm', 'qemu']);
      const tcg = capabilityDomainTypes(caps("<domain type='qemu'/>"));
      expect([...tcg]).to.deep.equal(['qemu']);
      expect(tcg.has('kvm')).to.equal(false);
    });

    it('a host with no guests offers nothing; a document of another kind is refused', () => {
      expect(capabilityDomainTypes('<capabilities><host/></capabilities>').size).to.equal(0);
      expect(() => capabilityDomainTypes("<domain type='kvm'/>")).to.throw(/capabilities/);
    });
  });
});
