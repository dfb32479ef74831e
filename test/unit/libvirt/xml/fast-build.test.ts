import { expect } from 'chai';
import { XMLBuilder } from 'fast-xml-parser';
import type { XmlChild, XmlElement } from '../../../../src/libvirt/xml/codec.js';
import { fastBuild } from '../../../../src/libvirt/xml/fast-build.js';

// codec.ts's fast-xml-builder options, whose output the fast path must write byte for byte.
const reference = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  textNodeName: '#text',
  format: true,
  indentBy: '  ',
  suppressEmptyNode: true,
  suppressBooleanAttributes: false,
  processEntities: true,
});
const expected = (root: string, tree: XmlElement): string =>
  reference.build({ [root]: tree }) as string;

/** A small deterministic generator (mulberry32), so a failure names a reproducible seed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TEXTS = [
  '',
  ' ',
  'x',
  ' spaced ',
  `Zoë <lab> & "co" 'n' ]]> 🦊`,
  '52:54:00:7f:04:01',
  'true',
];
const NAMES = ['a', 'b', 'disk', 'maaslab:owner', 'on_reboot'];

function tree(next: () => number, depth: number): XmlElement {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  const out: Record<string, XmlChild> = {};
  const keys = Math.floor(next() * 5);
  let children = false;
  for (let i = 0; i < keys; i++) {
    const r = next();
    if (r < 0.35) out[`@_${pick(['k', 'type', 'xmlns:maaslab', 'dev'])}`] = pick(TEXTS);
    else if (r < 0.45) out['@_gone'] = undefined;
    else if (depth > 0 && r < 0.65) {
      out[pick(NAMES)] = tree(next, depth - 1);
      children = true;
    } else if (depth > 0 && r < 0.8) {
      const n = Math.floor(next() * 3);
      out[pick(NAMES)] = Array.from({ length: n }, () => tree(next, depth - 1));
      children ||= n > 0;
    } else if (r < 0.95) {
      out[pick(NAMES)] = pick(TEXTS);
      children = true;
    } else out[pick(NAMES)] = undefined;
  }
  // Text only where there are no children: the fast path leaves mixed content alone.
  if (!children && next() < 0.5) out['#text'] = pick(TEXTS);
  return out;
}

describe('libvirt/xml fast build', () => {
  it("writes fast-xml-builder's text for 2000 generated trees", () => {
    for (let seed = 1; seed <= 2000; seed++) {
      const t = tree(random(seed), 4);
      const fast = fastBuild('root', t);
      expect(fast, `seed ${seed}: taken`).to.not.equal(undefined);
      expect(fast, `seed ${seed}`).to.equal(expected('root', t));
    }
  });

  it('writes empty elements, lists and escapes as fast-xml-builder does', () => {
    const cases: XmlElement[] = [
      {},
      { '#text': '' },
      { '@_a': 'x', '#text': '' },
      { c: '' },
      { c: [] },
      { c: [{}] },
      { c: [{ '@_a': '1' }, { '#text': 'x' }] },
      { '@_a': `<&>"'`, c: `<&>"'` },
      { c: { d: { e: 'x' } } },
    ];
    for (const t of cases) expect(fastBuild('r', t), JSON.stringify(t)).to.equal(expected('r', t));
  });

  it('leaves mixed content, non-strings and unsafe values to the checked path', () => {
    const declined: XmlElement[] = [
      { '#text': 'x', c: 'y' },
      { c: '\u0001' },
      { '@_a': 'tab\there' },
      { '@_a': 'line\nbreak' },
      { c: 'lone \uD800 surrogate' },
      { c: 42 as unknown as string },
      { c: [['nested'] as unknown as XmlElement] },
    ];
    for (const t of declined) expect(fastBuild('r', t), JSON.stringify(t)).to.equal(undefined);
  });
});
