// V8 represents a substring of 13 characters or more (String.prototype.slice, a regexp match,
// fast-xml-parser's attribute values) as a slice that points into the string it was cut from,
// and that whole string stays alive as long as the slice does. A short value kept for long (a
// cache entry) that was cut from a large, short-lived string (a domain's XML definition) so
// keeps the large string: at 1000 nodes the inventory's owner stamps held 439 domain
// definitions, 676 KB, through their namespace and UID (bench/RESULTS.md, 2b).

/** V8's shortest sliced string (SlicedString::kMinLength); shorter substrings are copies. */
const MIN_SLICE = 13;

/**
 * `s` as a string of its own, sharing no memory with a string it may have been cut from: for
 * values that outlive the text they were parsed from. Equal to `s` for every well-formed
 * string (a lone surrogate, which XML and Kubernetes names cannot hold, would become U+FFFD).
 */
export function ownString<T extends string | undefined>(s: T): T {
  if (s === undefined || s.length < MIN_SLICE) return s;
  return Buffer.from(s, 'utf8').toString('utf8') as T;
}
