// Internal: a fast path for codec.ts's buildXml, writing exactly what its fast-xml-builder
// configuration writes (two-space indent, empty elements self-closed, the five characters
// escaped), or declining. buildDomainXml cost ~190 us a definition, 3 % of the operator's
// main thread in the scale bench's perf profile; this writes the same text in a fraction.
//
// It declines (undefined) what it does not take: an element with both text and children,
// values that are not strings, and any string XML cannot carry or an attribute with a tab or
// line break; codec.ts then takes the checked path, which throws for those with the path of
// the offending value, or hands the tree to fast-xml-builder. A unit test holds the two to
// the same output (fast-build.test.ts).
import type { XmlChild, XmlElement } from './codec.js';
import { ATTR, ATTR_WHITESPACE, NOT_XML_CHAR, TEXT } from './syntax.js';

const SPECIAL = /[&<>"']/;
const ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
};

const escape = (s: string): string =>
  SPECIAL.test(s) ? s.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c) : s;

/** Thrown inside to decline; never escapes fastBuild. */
class Decline extends Error {}

function safe(s: unknown): string {
  if (typeof s !== 'string' || NOT_XML_CHAR.test(s)) throw new Decline();
  return s;
}

function element(name: string, value: XmlChild, indent: string, out: string[]): void {
  if (value === undefined) return;
  if (typeof value === 'string') {
    out.push(
      safe(value) === ''
        ? `${indent}<${name}/>\n`
        : `${indent}<${name}>${escape(value)}</${name}>\n`,
    );
    return;
  }
  if (Array.isArray(value)) {
    for (const item of value as readonly XmlChild[]) {
      if (typeof item !== 'object' || item === null || Array.isArray(item)) throw new Decline();
      element(name, item, indent, out);
    }
    return;
  }
  if (typeof value !== 'object' || value === null) throw new Decline();
  const el = value as XmlElement;
  let head = `${indent}<${name}`;
  let text: string | undefined;
  let hasChildren = false;
  const keys = Object.keys(el);
  for (const key of keys) {
    const v = el[key];
    if (v === undefined) continue;
    if (key.startsWith(ATTR)) {
      if (ATTR_WHITESPACE.test(safe(v))) throw new Decline();
      head += ` ${key.slice(ATTR.length)}="${escape(v as string)}"`;
    } else if (key === TEXT) {
      text = safe(v);
    } else if (isChild(v)) {
      hasChildren = true;
    }
  }
  if (!hasChildren) {
    out.push(text ? `${head}>${escape(text)}</${name}>\n` : `${head}/>\n`);
    return;
  }
  // Text beside children: fast-xml-builder's own layout, left to it.
  if (text) throw new Decline();
  out.push(`${head}>\n`);
  const inner = `${indent}  `;
  // The children in key order, read in a second pass over the keys rather than collected
  // into [key, value] pairs: a definition is built per node, and each pair was garbage.
  for (const key of keys) {
    const v = el[key];
    if (key.startsWith(ATTR) || key === TEXT || !isChild(v)) continue;
    element(key, v, inner, out);
  }
  out.push(`${indent}</${name}>\n`);
}

/** A value that writes an element: not absent, and not an empty list. */
function isChild(v: XmlChild): boolean {
  return v !== undefined && !(Array.isArray(v) && v.length === 0);
}

/** What fast-xml-builder writes for `{ [root]: tree }`, or undefined to leave it to it. */
export function fastBuild(root: string, tree: XmlElement): string | undefined {
  const out: string[] = [];
  try {
    element(root, tree, '', out);
  } catch (err) {
    if (err instanceof Decline) return undefined;
    throw err;
  }
  return out.join('');
}
