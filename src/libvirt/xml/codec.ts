// Internal: the one place that configures fast-xml-parser, so the domain, network, storage and
// metadata modules agree on how a JS tree maps to XML and back. Not re-exported from index.ts.
import { XMLBuilder, XMLParser } from 'fast-xml-parser';
import { fastBuild } from './fast-build.js';
import { fastParse } from './fast-parse.js';
import { ATTR, ATTR_WHITESPACE, NOT_XML_CHAR, TEXT } from './syntax.js';

/** A value a build tree may hold: text, one element, several same-named elements, or nothing. */
export type XmlChild = string | XmlElement | readonly XmlElement[] | undefined;

/**
 * One element of a build tree, in fast-xml-parser's object form: `@_name` keys are attributes,
 * `#text` is text and every other key is a child element. Key order is document order.
 */
export interface XmlElement {
  readonly [key: string]: XmlChild;
}

/** A parsed element. Every child is an array (see `isArray` below), attributes are strings. */
export type XmlNode = Readonly<Record<string, unknown>>;

/** Attribute values a builder may pass; `undefined` drops the attribute. */
export type AttrValue = string | number | undefined;

const builder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: ATTR,
  textNodeName: TEXT,
  format: true,
  indentBy: '  ',
  suppressEmptyNode: true,
  // The default writes an attribute whose value is "true" with no value at all, which is not
  // XML: a user-supplied name "true" must still come out as name="true".
  suppressBooleanAttributes: false,
  // Escapes &, <, >, ' and " in text and attribute values (tested in escaping.test.ts).
  processEntities: true,
});

/**
 * fast-xml-parser's options for every document we read; fast-parse.ts builds the same tree
 * (its unit test parses with these to hold it to that).
 */
export const PARSER_OPTIONS = {
  ignoreAttributes: false,
  attributeNamePrefix: ATTR,
  textNodeName: TEXT,
  // Keep every value a string: "0123" or "1e3" must not become numbers behind our back.
  parseTagValue: false,
  parseAttributeValue: false,
  // Titles and descriptions may start or end with spaces; indentation between elements lands
  // in parents' #text, which we never read.
  trimValues: false,
  // Namespace prefixes stay so metadata can be matched by namespace URI, not by prefix.
  removeNSPrefix: false,
  // Without this, numeric character references such as &#233; are left undecoded. It also
  // admits HTML's named entities, a harmless superset: libvirt never writes them.
  htmlEntities: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  // Every element is an array, so a domain with one disk reads exactly like one with three and
  // no caller has to guess which elements libvirt may repeat.
  isArray: (_name: string, _path: unknown, _leaf: boolean, isAttribute: boolean) => !isAttribute,
  // isArray reads no path: without this the parser joins each element's and attribute's
  // path into a string for it (2 % of the operator's CPU in the 1000-node bench).
  jPath: false,
} as const satisfies ConstructorParameters<typeof XMLParser>[0];
const parser = new XMLParser(PARSER_OPTIONS);

/** Builds an element's attributes: skips `undefined`, stringifies numbers. */
export function attrs(values: Readonly<Record<string, AttrValue>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(values)) {
    if (value !== undefined) out[ATTR + name] = String(value);
  }
  return out;
}

/** Builds a text-only element, optionally with attributes (e.g. `<memory unit='KiB'>`). */
export function textElement(
  value: string | number,
  attributes: Readonly<Record<string, AttrValue>> = {},
): XmlElement {
  return { ...attrs(attributes), [TEXT]: String(value) };
}

function assertSafe(tree: XmlChild, path: string): void {
  if (tree === undefined) return;
  if (typeof tree === 'string') {
    if (NOT_XML_CHAR.test(tree)) {
      throw new RangeError(`${path}: contains a character XML cannot represent`);
    }
    return;
  }
  if (isElementList(tree)) {
    tree.forEach((element, i) => assertSafe(element, `${path}[${i}]`));
    return;
  }
  for (const [key, value] of Object.entries(tree)) {
    const where = `${path}.${key}`;
    assertSafe(value, where);
    if (key.startsWith(ATTR) && typeof value === 'string' && ATTR_WHITESPACE.test(value)) {
      throw new RangeError(`${where}: attribute values cannot hold tabs or line breaks`);
    }
  }
}

function isElementList(child: XmlChild): child is readonly XmlElement[] {
  return Array.isArray(child);
}

/**
 * Serialises a build tree under `root`. All escaping happens here, inside fast-xml-parser, so no
 * caller ever pastes strings into XML. Throws a RangeError for values XML cannot carry intact.
 */
export function buildXml(root: string, element: XmlElement): string {
  // The fast path writes the same text (fast-build.ts); what it declines is checked here,
  // where an unsafe value throws with its path.
  const fast = fastBuild(root, element);
  if (fast !== undefined) return fast;
  assertSafe(element, root);
  return builder.build({ [root]: element }) as string;
}

/**
 * The document's tree: from the fast path when it takes the document (the same tree, in a
 * fraction of the time), else from fast-xml-parser (fast-parse.ts).
 */
function parseDocument(xml: string): unknown {
  return fastParse(xml) ?? parser.parse(xml);
}

/** Parses a document and returns its root element, checking the root's name. */
export function parseRoot(xml: string, root: string): XmlNode {
  const doc: unknown = parseDocument(xml);
  const node = isNode(doc) ? child(doc, root) : undefined;
  if (!node) throw new Error(`expected a <${root}> document`);
  return node;
}

/** Parses a fragment and returns its single top-level element with that element's name. */
export function parseFragment(xml: string): { readonly name: string; readonly node: XmlNode } {
  const doc: unknown = parseDocument(xml);
  if (!isNode(doc)) throw new Error('expected an XML element');
  const names = Object.keys(doc).filter((key) => !key.startsWith(ATTR) && key !== TEXT);
  const name = names[0];
  const node = name === undefined ? undefined : child(doc, name);
  if (names.length !== 1 || name === undefined || !node) {
    throw new Error('expected exactly one top-level XML element');
  }
  return { name, node };
}

function isNode(value: unknown): value is XmlNode {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** All child elements named `name`. Text-only children come back as `{ '#text': … }` nodes. */
export function children(node: XmlNode | undefined, name: string): XmlNode[] {
  const value = node?.[name];
  if (!Array.isArray(value)) return [];
  return value.map((item: unknown): XmlNode => (isNode(item) ? item : { [TEXT]: String(item) }));
}

/** The first child element named `name`, if any. */
export function child(node: XmlNode | undefined, name: string): XmlNode | undefined {
  return children(node, name)[0];
}

/** The names of a node's child elements, in no particular order. */
export function childNames(node: XmlNode): string[] {
  return Object.keys(node).filter((key) => !key.startsWith(ATTR) && key !== TEXT);
}

/** An attribute's value, if present. */
export function attr(node: XmlNode | undefined, name: string): string | undefined {
  const value = node?.[ATTR + name];
  return typeof value === 'string' ? value : undefined;
}

/** All attributes of a node, by name. */
export function attrsOf(node: XmlNode): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(node)) {
    if (key.startsWith(ATTR) && typeof value === 'string') out[key.slice(ATTR.length)] = value;
  }
  return out;
}

/** An element's text. An empty element reads as the empty string. */
export function text(node: XmlNode | undefined): string | undefined {
  if (!node) return undefined;
  const value = node[TEXT];
  return typeof value === 'string' ? value : '';
}

/** The text of the first child named `name`, if that child exists. */
export function childText(node: XmlNode | undefined, name: string): string | undefined {
  return text(child(node, name));
}

/** Parses a base-10 integer strictly; libvirt never writes signs, spaces or exponents here. */
export function parseInteger(value: string | undefined, what: string): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (!/^-?\d+$/.test(trimmed))
    throw new Error(`${what}: not an integer: ${JSON.stringify(value)}`);
  const n = Number(trimmed);
  if (!Number.isSafeInteger(n)) throw new Error(`${what}: out of range: ${trimmed}`);
  return n;
}

/**
 * Drops keys whose value is undefined, so a parsed object deep-equals a description that simply
 * leaves its optional fields out.
 */
export function compact<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
