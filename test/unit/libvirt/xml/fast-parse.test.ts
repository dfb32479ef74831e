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
  `<a x='"' y="'"/>`,
  '<a x="1" y="2"><b z="3"/></a>',
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
  '<a x="1" y="<"/>',
  '<a x="1><b y="2"/></a>',
  `<a x='1"/>`,
  '<a x="1></a>',
  '<ab></a>',
  '<a></ab>',
  '<a>t</a b>',
  '<a/ >',
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

  it('reads a tag of many attributes in one pass over it (each does not rescan the tag)', () => {
    // Whether an attribute's value holds a '<' is checked against the next '<' after it,
    // searched once per tag: a search per attribute would read the rest of the tag each time,
    // quadratic in a hostile tag's size. Counted, not timed: indexOf is fast enough that a
    // megabyte tag takes seconds only.
    const attrs = Array.from({ length: 2000 }, (_, i) => `a${i}="${i}"`).join(' ');
    const xml = `<a ${attrs}><b c="1" d="2"/></a>`;
    const indexOf = String.prototype.indexOf;
    let searches = 0;
    String.prototype.indexOf = function (this: string, search: string, from?: number) {
      if (search === '<') searches++;
      return indexOf.call(this, search, from);
    };
    let fast: { a: Array<Record<string, unknown>> };
    try {
      fast = fastParse(xml) as typeof fast;
    } finally {
      String.prototype.indexOf = indexOf;
    }
    expect(fast.a[0]?.['@_a1999']).to.equal('1999');
    expect(Object.keys(fast.a[0] ?? {})).to.have.length(2001);
    expect(fast).to.deep.equal(reference.parse(xml));
    // Per tag: the text scan's and one for the attributes (<a …>, <b …/>, </a>).
    expect(searches).to.be.at.most(6);
  });

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
