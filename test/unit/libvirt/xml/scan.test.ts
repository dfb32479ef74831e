// scan.ts reads XML into the tree fast-xml-parser gave with the options codec.ts had before
// (the reference below): the same documents give the same tree, element for element, except
// that a text-only element is `{ '#text': … }` (or `{}` when empty) rather than a bare string,
// which codec.ts's `children` used to wrap that way anyway.
import { expect } from 'chai';
import { XMLParser } from 'fast-xml-parser';
import { buildDomainXml, buildNetworkXml } from '../../../../src/libvirt/xml/index.js';
import { scanXml } from '../../../../src/libvirt/xml/scan.js';

const reference = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  textNodeName: '#text',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  removeNSPrefix: false,
  htmlEntities: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  isArray: (_name: string, _path: unknown, _leaf: boolean, isAttribute: boolean) => !isAttribute,
  jPath: false,
});

/** fast-xml-parser's tree with text-only elements as nodes, as codec.ts's `children` saw them. */
function normalised(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalised);
  if (typeof value === 'string') return value === '' ? {} : { '#text': value };
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [
      k,
      k.startsWith('@_') || k === '#text' ? v : normalised(v),
    ]),
  );
}

const libvirtDomain = `<?xml version="1.0"?>
<!-- written by libvirt -->
<domain type='qemu' id='3'>
  <name>scale-1-node7</name>
  <uuid>6695eb01-f6a4-8304-79aa-97f2502e193f</uuid>
  <title>  a title with spaces  </title>
  <description>Zo&#235; &#x26; &lt;&#x1F98A;&gt; &quot;&apos; <![CDATA[<raw> & text]]></description>
  <metadata>
    <maaslab:owner xmlns:maaslab="https://maaslab.dev/xmlns/owner/v1" kind="MaasNode" namespace="ns" name="node7" uid="u-1"/>
    <other:thing xmlns:other="urn:x">mixed <b>bold</b> tail</other:thing>
  </metadata>
  <memory unit='KiB'>131072</memory>
  <currentMemory unit='KiB'>131072</currentMemory>
  <vcpu placement='static'>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <boot dev='network'/>
    <boot dev='hd'/>
  </os>
  <devices>
    <disk type='volume' device='disk'>
      <source pool='default-pool' volume='node7.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='network'>
      <mac address='52:54:00:a0:01:07'/>
      <source network='scale-1-maas'/>
      <model type='virtio'/>
    </interface>
    <empty></empty>
  </devices>
  <?pi ignored?>
</domain>
`;

describe('libvirt/xml scan', () => {
  const documents: Array<[string, string]> = [
    ['a domain as libvirt writes it', libvirtDomain],
    [
      'a domain as buildDomainXml writes it',
      buildDomainXml({
        name: 'maas-node-1',
        type: 'qemu',
        memoryBytes: 2 ** 30,
        vcpus: 1,
        arch: 'x86_64',
        firmware: 'bios',
        bootOrder: ['network', 'disk'],
        disks: [{ pool: 'p', volume: 'maas-node-1.qcow2', format: 'qcow2', bus: 'virtio' }],
        interfaces: [{ mac: '52:54:00:7f:04:01', network: 'default', model: 'virtio' }],
        vnc: { listen: '127.0.0.1' },
      }),
    ],
    [
      'a network as buildNetworkXml writes it',
      buildNetworkXml({
        name: 'maas',
        mode: 'nat',
        bridge: { name: 'virbr9', stp: false },
        domain: 'lab.maas',
        ipv4: {
          address: '10.0.0.1',
          prefix: 24,
          dhcp: { ranges: [{ start: '10.0.0.100', end: '10.0.0.149' }], hosts: [] },
        },
      }),
    ],
    ['attributes in either quote, spaces around =', `<a x = "1" y='"2"' z="&apos;3&apos;"/>`],
    ['text around and between children', `<a>one<b/>two<c>three</c>four</a>`],
    ['a named entity no DTD defines, left as written', `<a>&copy2;&lt;</a>`],
  ];
  for (const [what, xml] of documents) {
    it(`reads ${what} as fast-xml-parser did`, () => {
      expect(scanXml(xml)).to.deep.equal(normalised(reference.parse(xml)));
    });
  }

  it("leaves HTML's named entities as written (libxml2 writes none; fast-xml-parser decoded them)", () => {
    expect(scanXml(`<a>&nbsp;&amp;</a>`)).to.deep.equal({ a: [{ '#text': '&nbsp;&' }] });
  });

  it('decodes entities in attribute values and text, and keeps CDATA as written', () => {
    const doc = scanXml(`<a v="&lt;&#65;&#x42;&gt;">x &amp; y<![CDATA[&amp;]]></a>`);
    expect(doc).to.deep.equal({ a: [{ '@_v': '<AB>', '#text': 'x & y&amp;' }] });
  });

  const refused: Array<[string, string, RegExp]> = [
    ['a DOCTYPE', `<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>`, /DOCTYPE/],
    ['a mismatched end tag', `<a><b></a></b>`, /does not close/],
    ['an unclosed element', `<a><b/>`, /not closed/],
    ['an unquoted attribute', `<a x=1/>`, /unquoted/],
    ['an unterminated comment', `<a><!-- x</a>`, /unterminated comment/],
    ['an element named __proto__', `<a><__proto__/></a>`, /__proto__/],
  ];
  for (const [what, xml, error] of refused) {
    it(`refuses ${what}`, () => {
      expect(() => scanXml(xml)).to.throw(Error, error);
    });
  }
});
