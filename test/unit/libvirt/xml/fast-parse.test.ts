import { expect } from 'chai';
import { XMLParser } from 'fast-xml-parser';
import { DomainXMLFlags } from '../../../../src/libvirt/index.js';
import { PARSER_OPTIONS } from '../../../../src/libvirt/xml/codec.js';
import { fastParse } from '../../../../src/libvirt/xml/fast-parse.js';
import {
  buildDhcpHostXml,
  buildDomainXml,
  buildNetworkXml,
  buildOwnerMetadata,
  buildPoolXml,
  buildVolumeXml,
} from '../../../../src/libvirt/xml/index.js';
import { domainXML, networkXML, openTest, poolXML } from '../fixtures.js';

// codec.ts's fast-xml-parser options, which the fast path must agree with tree for tree.
const reference = new XMLParser(PARSER_OPTIONS);

/** Documents the fast path takes: it must build fast-xml-parser's very tree. */
const taken: readonly string[] = [
  '<a>text</a>',
  '<a x="1">text</a>',
  '<a/>',
  '<a x="1"/>',
  `<a x='1' y="2"></a>`,
  '<a>\n  <b/>\n  <c>t</c>\n</a>\n',
  '<?xml version="1.0"?>\n<a>t</a>',
  '<a>x<b/>y</a>',
  '<a>&lt;&amp;&#233;&#x41;&quot;&apos;&gt;&#x1F98A;</a>',
  '<a v="&lt;&amp;&#233;"/>',
  '<a><b>1</b><b>2</b><c/></a>',
  '<m:o xmlns:m="u" m:k="v">z</m:o>',
  '<a></a>',
  '<a> </a>',
  '<a x="1"> </a>',
  '<a><b></b></a>',
  '<a>  <b x="1"/>  </a>',
  '<a b="x>y"/>',
  '<a\n  x="1"\n/>',
  '<a x="a\nb"/>',
  '<a xmlns="ns"><b/></a>',
  '<a>1<b/>2<c/>3</a>',
  '<a b="1"><b>2</b></a>',
  '<a >t</a >',
  '<a.b-c_d>t</a.b-c_d>',
];

/** Documents it leaves to fast-xml-parser (which may accept or refuse them). */
const declined: readonly string[] = [
  '<a>&nbsp;</a>',
  '<a><![CDATA[x<y]]></a>',
  '<a><!-- c --><b/></a>',
  '<!DOCTYPE a><a/>',
  '<a><?pi x?></a>',
  '<a>\r\n</a>',
  '<a x="1" x="2"/>',
  '<a><b/></a><c/>',
  '<a>&#0;</a>',
  '<a>&#xD800;</a>',
  '<a>&unknown;</a>',
  '<a>& b</a>',
  '<a>t</a',
  '<a><b></a>',
  '<a>t',
  '</a>',
  'text',
  '',
  '<a x=1/>',
  '<a x="1"y="2"/>',
  '<a x="<"/>',
  '<__proto__/>',
  '<a><__proto__>t</__proto__></a>',
  'x<a/>',
];

describe('libvirt/xml fast path', () => {
  for (const xml of taken) {
    it(`builds fast-xml-parser's tree for ${JSON.stringify(xml)}`, () => {
      const fast = fastParse(xml);
      expect(fast, 'taken').to.not.equal(undefined);
      expect(fast).to.deep.equal(reference.parse(xml));
    });
  }

  for (const xml of declined) {
    it(`leaves ${JSON.stringify(xml)} to fast-xml-parser`, () => {
      expect(fastParse(xml)).to.equal(undefined);
    });
  }

  it("builds fast-xml-parser's tree for what the builders write", () => {
    const docs = [
      buildDomainXml({
        name: `Zoë <lab> & "co" 'n' 🦊`,
        type: 'kvm',
        title: ' spaced title ',
        memoryBytes: 128 * 1024 * 1024,
        vcpus: 2,
        arch: 'x86_64',
        firmware: 'uefi',
        bootOrder: ['network', 'disk'],
        disks: [{ pool: 'p', volume: 'v', format: 'qcow2', bus: 'virtio' }],
        interfaces: [{ network: 'n', mac: '52:54:00:00:00:01', model: 'virtio' }],
        owner: { kind: 'MaasNode', namespace: 'ns', name: 'n', uid: 'u', specHash: 'h' },
      }),
      buildNetworkXml({ name: 'n', mode: 'isolated', bridge: { name: 'virbr9' } }),
      buildPoolXml({ name: 'p', type: 'dir', path: '/p' }),
      buildVolumeXml({ name: 'v', capacityBytes: 1024, format: 'qcow2' }),
      buildDhcpHostXml({ mac: '52:54:00:00:00:01', ip: '10.0.0.2' }),
      buildOwnerMetadata({
        kind: 'MaasNode',
        namespace: 'ns',
        name: 'n',
        uid: 'u',
      }),
    ];
    for (const xml of docs) {
      const fast = fastParse(xml);
      expect(fast, xml).to.not.equal(undefined);
      expect(fast, xml).to.deep.equal(reference.parse(xml));
    }
  });

  it("builds fast-xml-parser's tree for what libvirt writes (test driver)", async () => {
    const conn = await openTest();
    try {
      const name = `fast-parse-${process.pid}`;
      const dom = await conn.domainDefineXMLFlags(domainXML(name));
      try {
        await dom.createWithFlags();
        const docs = [
          await dom.getXMLDesc(DomainXMLFlags.Inactive),
          await dom.getXMLDesc(),
          networkXML('fp', 'virbr-fp', 9),
          poolXML('fp'),
        ];
        const net = await conn.networkLookupByName('default');
        docs.push(await net.getXMLDesc());
        const pool = await conn.storagePoolLookupByName('default-pool');
        docs.push(await pool.getXMLDesc());
        for (const xml of docs) {
          const fast = fastParse(xml);
          expect(fast, xml).to.not.equal(undefined);
          expect(fast, xml).to.deep.equal(reference.parse(xml));
        }
      } finally {
        await dom.destroyFlags().catch(() => undefined);
        await dom.undefineFlags();
      }
    } finally {
      await conn.close();
    }
  });
});
