import { expect } from 'chai';
import {
  buildDhcpHostXml,
  buildDomainXml,
  buildNetworkXml,
  buildOwnerMetadata,
  buildPoolXml,
  buildVolumeXml,
  parseDomainXml,
  parseNetworkXml,
  parseOwnerMetadata,
  parsePoolXml,
  parseVolumeXml,
  type DomainDescription,
} from '../../../../src/libvirt/xml/index.js';

/** Every character XML treats specially, plus non-ASCII from the BMP and an astral emoji. */
const nasty = `Zoë <lab> & "co" 'n' ]]> 🦊`;
const nastyEscaped = 'Zoë &lt;lab&gt; &amp; &quot;co&quot; &apos;n&apos; ]]&gt; 🦊';

const base: DomainDescription = {
  name: 'n',
  type: 'qemu',
  memoryBytes: 1024 * 1024,
  vcpus: 1,
  arch: 'x86_64',
  firmware: 'bios',
  bootOrder: [],
  disks: [],
  interfaces: [],
};

describe('libvirt/xml escaping', () => {
  describe('text content', () => {
    const xml = buildDomainXml({ ...base, name: nasty, title: nasty, description: nasty });

    for (const element of ['name', 'title', 'description']) {
      it(`escapes <${element}> by construction`, () => {
        expect(xml).to.include(`  <${element}>${nastyEscaped}</${element}>\n`);
      });
    }

    it('reads every string back unchanged', () => {
      expect(parseDomainXml(xml)).to.include({ name: nasty, title: nasty, description: nasty });
    });

    it('keeps line breaks and surrounding spaces in a description', () => {
      const description = '  first line\n\tsecond line  ';
      expect(parseDomainXml(buildDomainXml({ ...base, description })).description).to.equal(
        description,
      );
    });

    it('cannot be broken out of: an element-shaped name stays text', () => {
      const name = '</name><uuid>00000000-0000-0000-0000-000000000000</uuid><name>';
      const parsed = parseDomainXml(buildDomainXml({ ...base, name }));
      expect(parsed.name).to.equal(name);
      expect(parsed.uuid).to.equal(undefined);
    });
  });

  describe('attribute values', () => {
    it('escapes pool, volume and network names in domain devices', () => {
      const xml = buildDomainXml({
        ...base,
        disks: [{ pool: nasty, volume: nasty, format: 'qcow2', bus: 'virtio' }],
        interfaces: [{ mac: '52:54:00:00:00:01', network: nasty, model: 'virtio' }],
        vnc: { listen: '::1' },
      });
      expect(xml).to.include(`<source pool="${nastyEscaped}" volume="${nastyEscaped}"/>`);
      expect(xml).to.include(`<source network="${nastyEscaped}"/>`);
      const parsed = parseDomainXml(xml);
      expect(parsed.disks[0]).to.include({ pool: nasty, volume: nasty });
      expect(parsed.interfaces[0]).to.include({ network: nasty });
    });

    it('escapes owner metadata attributes', () => {
      const owner = { kind: 'MaasNode', namespace: nasty, name: nasty, uid: nasty };
      expect(buildOwnerMetadata(owner)).to.equal(
        `<owner kind="MaasNode" namespace="${nastyEscaped}" name="${nastyEscaped}" uid="${nastyEscaped}"/>\n`,
      );
      expect(parseOwnerMetadata(buildOwnerMetadata(owner))).to.deep.equal(owner);
      expect(parseDomainXml(buildDomainXml({ ...base, owner })).owner).to.deep.equal(owner);
    });

    it('escapes network, bridge, domain and DHCP host names', () => {
      const desc = {
        name: nasty,
        mode: 'nat' as const,
        bridge: { name: nasty },
        domain: nasty,
        ipv4: {
          address: '10.0.0.1',
          prefix: 24,
          dhcp: { ranges: [], hosts: [{ mac: '52:54:00:00:00:01', ip: '10.0.0.2', name: nasty }] },
        },
      };
      expect(parseNetworkXml(buildNetworkXml(desc))).to.deep.equal(desc);
      expect(buildDhcpHostXml({ mac: '52:54:00:00:00:01', ip: '10.0.0.2', name: nasty })).to.equal(
        `<host mac="52:54:00:00:00:01" name="${nastyEscaped}" ip="10.0.0.2"/>\n`,
      );
    });

    it('escapes pool paths and volume names', () => {
      const pool = { name: nasty, type: 'dir' as const, path: `/srv/${nasty}` };
      const volume = { name: nasty, capacityBytes: 1, format: 'raw' as const };
      expect(parsePoolXml(buildPoolXml(pool))).to.deep.equal(pool);
      expect(parseVolumeXml(buildVolumeXml(volume))).to.deep.equal(volume);
    });

    it('writes a value of "true" as a value, not a bare boolean attribute', () => {
      expect(buildDhcpHostXml({ mac: '52:54:00:00:00:01', ip: '10.0.0.2', name: 'true' })).to.equal(
        '<host mac="52:54:00:00:00:01" name="true" ip="10.0.0.2"/>\n',
      );
    });

    it('refuses tabs and line breaks, which XML attribute normalisation would turn into spaces', () => {
      for (const bad of ['a\nb', 'a\rb', 'a\tb']) {
        expect(() =>
          buildDomainXml({
            ...base,
            interfaces: [{ mac: '52:54:00:00:00:01', network: bad, model: 'virtio' }],
          }),
        ).to.throw(RangeError, /attribute/);
      }
    });
  });

  describe('characters XML cannot carry', () => {
    const cases: [string, string][] = [
      ['NUL', 'a\u0000b'],
      ['a C0 control', 'a\u0007b'],
      ['a lone surrogate', 'a\uD800b'],
      ['U+FFFE', 'a\uFFFEb'],
    ];
    for (const [name, value] of cases) {
      it(`refuses ${name} in text and in attributes`, () => {
        expect(() => buildDomainXml({ ...base, description: value })).to.throw(
          RangeError,
          /character/,
        );
        expect(() => buildVolumeXml({ name: value, capacityBytes: 1, format: 'raw' })).to.throw(
          RangeError,
          /character/,
        );
      });
    }
  });

  describe('parsing entities', () => {
    it('decodes predefined entities and decimal and hex character references', () => {
      const xml = `<pool type='dir'><name>Zo&#235; &#x26; &lt;&#x1F98A;&gt; &quot;&apos;</name><target><path>/p</path></target></pool>`;
      expect(parsePoolXml(xml).name).to.equal(`Zoë & <🦊> "'`);
    });

    it('reads attributes in single or double quotes alike', () => {
      const xml = `<volume><name>v</name><capacity unit='bytes'>1</capacity><target><format type="qcow2"/></target></volume>`;
      expect(parseVolumeXml(xml)).to.deep.equal({ name: 'v', capacityBytes: 1, format: 'qcow2' });
    });
  });
});
