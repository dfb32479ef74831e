// Internal: the tree keys and character rules that codec.ts (fast-xml-parser's configuration)
// and its fast paths (fast-build.ts, fast-parse.ts) must share to write and read the same XML.

/** Prefix that marks a key of a build tree as an attribute rather than a child element. */
export const ATTR = '@_';
/** Key of a build tree or parsed node that holds an element's text. */
export const TEXT = '#text';

// Characters XML 1.0 cannot carry at all, not even as character references (§2.2).
// eslint-disable-next-line no-control-regex
export const NOT_XML_CHAR = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDFFF]/u;
// An attribute value loses tabs and line breaks to attribute-value normalisation (§3.3.3) when
// libvirt's libxml2 reads it back, so such a value would not round-trip: refuse it instead.
export const ATTR_WHITESPACE = /[\t\n\r]/;
