// Internal: a fast path for the XML libvirt writes, producing exactly the tree codec.ts's
// fast-xml-parser configuration does, or declining. The scale bench's CPU profile had
// fast-xml-parser's parse of domain XML as the operator's costliest pure step (9 % of the
// main thread's samples at 1000 nodes: every look at a domain parses its inactive and live
// definitions); this is several times faster on the same documents.
//
// It only takes plain documents: elements, quoted attributes, text, the five XML entities
// and numeric character references, and one leading `<?xml …?>` declaration. Anything else
// (comments, CDATA, DOCTYPE, processing instructions, other entities, carriage returns,
// duplicate attributes, text outside the root, anything malformed) makes it return
// undefined, and the caller hands the document to fast-xml-parser, whose answer (or error)
// it then is. A unit test holds the two to the same trees (fast-parse.test.ts).
import { ATTR, TEXT } from './syntax.js';

/** An element as fast-xml-parser builds it under codec.ts's options. */
type Tree = Record<string, unknown>;

const NAMED: Readonly<Record<string, string>> = {
  lt: '<',
  gt: '>',
  amp: '&',
  quot: '"',
  apos: "'",
};

// The scanners below read character codes and allocate nothing: per element and attribute
// a regex match would allocate its result array, which was most of what a parse allocated.

/** A character that may start a name, as libvirt writes names (ASCII): [A-Za-z_:]. */
function isNameStart(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x5f || c === 0x3a;
}

/** A character that may continue a name: [-A-Za-z0-9_.:]. */
function isNameChar(c: number): boolean {
  return isNameStart(c) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e;
}

/** Where the name starting at `at` ends; `at` when none starts there. */
function nameEnd(s: string, at: number): number {
  if (!isNameStart(s.charCodeAt(at))) return at;
  let p = at + 1;
  while (isNameChar(s.charCodeAt(p))) p++;
  return p;
}

/** Where the run of spaces, tabs and newlines starting at `at` ends. */
function spaceEnd(s: string, at: number): number {
  let p = at;
  for (;;) {
    const c = s.charCodeAt(p);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a) return p;
    p++;
  }
}

/** Decodes entities in `s`; undefined for one this fast path leaves to fast-xml-parser. */
function decode(s: string): string | undefined {
  if (!s.includes('&')) return s;
  let out = '';
  let at = 0;
  for (;;) {
    const amp = s.indexOf('&', at);
    if (amp < 0) return out + s.slice(at);
    const semi = s.indexOf(';', amp);
    if (semi < 0) return undefined;
    const ref = s.slice(amp + 1, semi);
    let ch: string | undefined;
    if (ref.startsWith('#')) {
      const code = /^#x[0-9a-fA-F]{1,6}$/.test(ref)
        ? parseInt(ref.slice(2), 16)
        : /^#[0-9]{1,7}$/.test(ref)
          ? parseInt(ref.slice(1), 10)
          : NaN;
      // Only characters XML allows, and no surrogates: the rest is fast-xml-parser's call.
      const allowed =
        code === 0x9 ||
        code === 0xa ||
        (code >= 0x20 && code <= 0xd7ff) ||
        (code >= 0xe000 && code <= 0xfffd) ||
        (code >= 0x10000 && code <= 0x10ffff);
      if (!allowed) return undefined;
      ch = String.fromCodePoint(code);
    } else {
      ch = Object.hasOwn(NAMED, ref) ? NAMED[ref] : undefined;
    }
    if (ch === undefined) return undefined;
    out += s.slice(at, amp) + ch;
    at = semi + 1;
  }
}

/** One open element while parsing. */
interface Open {
  readonly name: string;
  readonly node: Tree;
  text: string;
  hasChildren: boolean;
  hasAttrs: boolean;
}

/** What fast-xml-parser makes of a closed element: a string when it is text only. */
function finish(el: Open): unknown {
  if (!el.hasChildren && !el.hasAttrs) return el.text;
  if (el.text !== '') el.node[TEXT] = el.text;
  return el.node;
}

/**
 * Adds the closed element `el` to its parent (the top of `stack`, or `doc` for the root);
 * false for a document this fast path leaves alone.
 */
function close(doc: Tree, stack: readonly Open[], el: Open): boolean {
  // A name that is a prototype key would not be an own property: leave such documents.
  if (el.name === '__proto__') return false;
  const parent = stack[stack.length - 1];
  const node = parent?.node ?? doc;
  const list = node[el.name];
  if (list === undefined) node[el.name] = [finish(el)];
  else (list as unknown[]).push(finish(el));
  if (parent) parent.hasChildren = true;
  return true;
}

/**
 * The document tree fast-xml-parser would build for `xml` (codec.ts's options: every element
 * an array, attributes `@_`-prefixed strings, text untrimmed in `#text`), or undefined when
 * the document holds anything this fast path does not take.
 */
export function fastParse(xml: string): Tree | undefined {
  if (xml.includes('\r')) return undefined;
  const doc: Tree = {};
  const stack: Open[] = [];
  let at = 0;
  if (xml.startsWith('<?xml')) {
    const end = xml.indexOf('?>');
    if (end < 0) return undefined;
    at = end + 2;
  }
  let roots = 0;
  while (at < xml.length) {
    const lt = xml.indexOf('<', at);
    const textEnd = lt < 0 ? xml.length : lt;
    if (textEnd > at) {
      const raw = xml.slice(at, textEnd);
      const top = stack[stack.length - 1];
      if (top === undefined) {
        if (raw.trim() !== '') return undefined;
      } else {
        const text = decode(raw);
        if (text === undefined) return undefined;
        top.text += text;
      }
    }
    if (lt < 0) break;
    const next = xml.charCodeAt(lt + 1);
    if (next === 0x2f /* / */) {
      const el = stack.pop();
      const nameAt = lt + 2;
      const named = nameEnd(xml, nameAt);
      if (el === undefined || named - nameAt !== el.name.length) return undefined;
      if (!xml.startsWith(el.name, nameAt)) return undefined;
      const end = spaceEnd(xml, named);
      if (xml.charCodeAt(end) !== 0x3e /* > */) return undefined;
      if (!close(doc, stack, el)) return undefined;
      at = end + 1;
      continue;
    }
    // Comments, CDATA, DOCTYPE and processing instructions are fast-xml-parser's.
    if (next === 0x21 /* ! */ || next === 0x3f /* ? */) return undefined;
    const named = nameEnd(xml, lt + 1);
    if (named === lt + 1) return undefined;
    if (stack.length === 0 && ++roots > 1) return undefined;
    const el: Open = {
      name: xml.slice(lt + 1, named),
      node: {},
      text: '',
      hasChildren: false,
      hasAttrs: false,
    };
    let p = named;
    // The next '<' after the attribute being read, found once per tag rather than once per
    // attribute (a tag of many attributes would otherwise be scanned to its end for each).
    let lessThan = -2;
    for (;;) {
      const spaced = spaceEnd(xml, p);
      const space = spaced - p;
      p = spaced;
      const c = xml.charCodeAt(p);
      if (c === 0x3e /* > */) {
        stack.push(el);
        p += 1;
        break;
      }
      if (c === 0x2f /* / */) {
        if (xml.charCodeAt(p + 1) !== 0x3e) return undefined;
        if (!close(doc, stack, el)) return undefined;
        p += 2;
        break;
      }
      if (space === 0) return undefined;
      const attrEnd = nameEnd(xml, p);
      if (attrEnd === p) return undefined;
      const attrName = xml.slice(p, attrEnd);
      p = attrEnd;
      if (xml.charCodeAt(p) !== 0x3d /* = */) return undefined;
      p += 1;
      // A value in double or single quotes that holds no '<' and no quote of its kind.
      const quote = xml.charCodeAt(p);
      if (quote !== 0x22 /* " */ && quote !== 0x27 /* ' */) return undefined;
      const closing = xml.indexOf(quote === 0x22 ? '"' : "'", p + 1);
      if (closing < 0) return undefined;
      if (lessThan !== -1 && lessThan <= p) lessThan = xml.indexOf('<', p + 1);
      if (lessThan >= 0 && lessThan < closing) return undefined;
      const value = decode(xml.slice(p + 1, closing));
      const key = ATTR + attrName;
      if (value === undefined || Object.hasOwn(el.node, key)) return undefined;
      el.node[key] = value;
      el.hasAttrs = true;
      p = closing + 1;
    }
    at = p;
  }
  if (stack.length > 0 || roots === 0) return undefined;
  return doc;
}
