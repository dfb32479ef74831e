// Internal: the XML reader behind codec.ts's parseRoot and parseFragment. It gives the tree
// fast-xml-parser gave with codec.ts's options (every child element in an array, attributes as
// `@_name` strings, an element's text segments joined in `#text`), built in one pass over the
// string. fast-xml-parser allocated about 70 bytes per byte of input (a 1.3 KB domain
// definition cost 90 KiB: a matcher, an entity decoder and intermediate nodes per document);
// at 1000 nodes that garbage was a third of everything the operator allocated, and its
// scavenges promoted in-flight requests into the old space (bench/RESULTS.md, section 2b).
//
// The documents are libvirt's, so the subset is XML's own: elements, attributes, text,
// CDATA, comments, processing instructions and the declaration (both skipped), the five
// predefined entities and character references. A DOCTYPE is refused (libvirt writes none,
// and its entities are a known way to make a parser expand without bound), as is anything
// not well-formed; any other named entity (HTML's &nbsp;, which fast-xml-parser decoded and
// libxml2 never writes) is left as written.

/** A parsed element: `@_name` attributes, `#text`, and arrays of child elements. */
type Node = Record<string, string | Node[]>;

const ENTITIES: Readonly<Record<string, string>> = {
  lt: '<',
  gt: '>',
  amp: '&',
  apos: "'",
  quot: '"',
};

/** `raw` with its entity and character references replaced. */
function decode(raw: string): string {
  if (!raw.includes('&')) return raw;
  return raw.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[A-Za-z][A-Za-z0-9]*);/g, (whole, ref: string) => {
    if (ref[0] !== '#') return ENTITIES[ref] ?? whole;
    const code = ref[1] === 'x' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
    return code <= 0x10ffff ? String.fromCodePoint(code) : whole;
  });
}

const isNameEnd = (c: number): boolean =>
  // whitespace, '/', '>', '='
  c === 32 || c === 9 || c === 10 || c === 13 || c === 47 || c === 62 || c === 61;

const isSpace = (c: number): boolean => c === 32 || c === 9 || c === 10 || c === 13;

/** Parses `xml` into a document node: its top-level elements by name, and any text. */
export function scanXml(xml: string): Node {
  const doc: Node = {};
  const stack: Array<{ name: string; node: Node }> = [];
  let top = doc;
  let i = 0;
  const n = xml.length;
  const fail = (what: string): never => {
    throw new Error(`malformed XML at offset ${i}: ${what}`);
  };
  const addText = (s: string): void => {
    // Text outside the root element (whitespace, in a document) is not kept.
    if (s === '' || stack.length === 0) return;
    const prev = top['#text'];
    top['#text'] = typeof prev === 'string' ? prev + s : s;
  };
  const skipPast = (end: string, what: string): number => {
    const at = xml.indexOf(end, i);
    if (at < 0) fail(`unterminated ${what}`);
    return at + end.length;
  };
  while (i < n) {
    const lt = xml.indexOf('<', i);
    if (lt < 0) {
      addText(decode(xml.slice(i)));
      break;
    }
    if (lt > i) addText(decode(xml.slice(i, lt)));
    i = lt;
    const next = xml.charCodeAt(i + 1);
    if (next === 33 /* ! */) {
      if (xml.startsWith('<!--', i)) i = skipPast('-->', 'comment');
      else if (xml.startsWith('<![CDATA[', i)) {
        const end = xml.indexOf(']]>', i);
        if (end < 0) fail('unterminated CDATA');
        addText(xml.slice(i + 9, end));
        i = end + 3;
      } else fail('DOCTYPE and other declarations are not accepted');
      continue;
    }
    if (next === 63 /* ? */) {
      i = skipPast('?>', 'processing instruction');
      continue;
    }
    if (next === 47 /* / */) {
      const gt = xml.indexOf('>', i);
      if (gt < 0) fail('unterminated end tag');
      const name = xml.slice(i + 2, gt).trimEnd();
      const open = stack.pop();
      if (!open || open.name !== name) fail(`</${name}> does not close <${open?.name ?? ''}>`);
      top = stack.length ? stack[stack.length - 1]!.node : doc;
      i = gt + 1;
      continue;
    }
    // A start tag: its name, then attributes up to '>' or '/>'.
    let j = i + 1;
    while (j < n && !isNameEnd(xml.charCodeAt(j))) j++;
    const name = xml.slice(i + 1, j);
    if (name === '') fail('empty element name');
    // Assigning this key would set the node's prototype instead of adding a child.
    if (name === '__proto__') fail('an element named __proto__');
    const node: Node = {};
    let selfClosing = false;
    for (;;) {
      while (j < n && isSpace(xml.charCodeAt(j))) j++;
      const c = xml.charCodeAt(j);
      if (c === 62 /* > */) {
        j++;
        break;
      }
      if (c === 47 /* / */ && xml.charCodeAt(j + 1) === 62) {
        selfClosing = true;
        j += 2;
        break;
      }
      if (j >= n) fail(`unterminated <${name}>`);
      const a = j;
      while (j < n && !isNameEnd(xml.charCodeAt(j))) j++;
      const attrName = xml.slice(a, j);
      while (j < n && isSpace(xml.charCodeAt(j))) j++;
      if (attrName === '' || xml.charCodeAt(j) !== 61 /* = */) fail(`attribute of <${name}>`);
      j++;
      while (j < n && isSpace(xml.charCodeAt(j))) j++;
      const quote = xml[j];
      if (quote !== '"' && quote !== "'") fail(`unquoted attribute ${attrName}`);
      const end = xml.indexOf(quote!, j + 1);
      if (end < 0) fail(`unterminated attribute ${attrName}`);
      node[`@_${attrName}`] = decode(xml.slice(j + 1, end));
      j = end + 1;
    }
    const siblings = top[name];
    if (Array.isArray(siblings)) siblings.push(node);
    else top[name] = [node];
    i = j;
    if (!selfClosing) {
      stack.push({ name, node });
      top = node;
    }
  }
  if (stack.length) fail(`<${stack[stack.length - 1]!.name}> is not closed`);
  return doc;
}
