// Ownership stamps: the element we put in a domain's (or network's) <metadata> so the operator can
// tell the objects it created from everything else on a hypervisor, and from objects left behind
// by an earlier custom resource that happened to share a name.
import {
  attr,
  attrs,
  buildXml,
  childNames,
  children,
  parseFragment,
  type XmlElement,
  type XmlNode,
} from './codec.js';
import { definedProps } from '../../util/defined-props.js';
import { ownString } from '../../util/own-string.js';

/** Our XML namespace. libvirt keeps foreign metadata only when it sits in a namespace. */
export const MAASLAB_XMLNS = 'https://maaslab.dev/xmlns/v1alpha1';

/** The namespace prefix we write; also the `key` argument of virDomainSetMetadata. */
export const MAASLAB_XMLNS_PREFIX = 'maaslab';

/** Local name of the ownership element. */
export const OWNER_ELEMENT = 'owner';

/** The Kubernetes object that owns a libvirt object. The UID is what makes it unique in time. */
export interface OwnerRef {
  /** Kind of the owning resource, e.g. `MaasNode`. */
  readonly kind: string;
  /** Namespace of the owner; absent for cluster-scoped kinds. */
  readonly namespace?: string;
  /** Name of the owner. */
  readonly name: string;
  /** `metadata.uid` of the owner. */
  readonly uid: string;
}

/** What the ownership element records: the owner plus an optional hash of the applied spec. */
export interface OwnerMetadata extends OwnerRef {
  /** Hash of the spec the object was last built from, so drift can be spotted cheaply. */
  readonly specHash?: string;
}

function ownerAttrs(owner: OwnerMetadata): Record<string, string> {
  return attrs({
    kind: owner.kind,
    namespace: owner.namespace,
    name: owner.name,
    uid: owner.uid,
    specHash: owner.specHash,
  });
}

/**
 * The ownership element without a prefix or namespace, as virDomainSetMetadata (type ELEMENT,
 * key {@link MAASLAB_XMLNS_PREFIX}, uri {@link MAASLAB_XMLNS}) wants it: libvirt attaches the
 * namespace itself and refuses a fragment that already declares one.
 */
export function buildOwnerMetadata(owner: OwnerMetadata): string {
  return buildXml(OWNER_ELEMENT, ownerAttrs(owner));
}

/**
 * The children of a `<metadata>` element holding our ownership stamp, prefixed and with its
 * namespace declared, for embedding in domain or network XML. Internal to this library.
 */
export function ownerMetadataElement(owner: OwnerMetadata): XmlElement {
  return {
    [`${MAASLAB_XMLNS_PREFIX}:${OWNER_ELEMENT}`]: {
      ...attrs({ [`xmlns:${MAASLAB_XMLNS_PREFIX}`]: MAASLAB_XMLNS }),
      ...ownerAttrs(owner),
    },
  };
}

function ownerFromNode(node: XmlNode): OwnerMetadata | undefined {
  const kind = attr(node, 'kind');
  const name = attr(node, 'name');
  const uid = attr(node, 'uid');
  // An element in our namespace without its identity cannot prove ownership: treat as unowned,
  // which makes the operator leave the object alone rather than adopt or delete it.
  if (!kind || !name || !uid) return undefined;
  // Owner stamps are kept (the inventory's caches) long after the XML they came from: their
  // strings must not be slices of it (own-string.ts).
  return definedProps({
    kind: ownString(kind),
    namespace: ownString(attr(node, 'namespace')),
    name: ownString(name),
    uid: ownString(uid),
    specHash: ownString(attr(node, 'specHash')),
  });
}

/** The namespace URI an element name resolves to, looking at the element, then its ancestors. */
function namespaceOf(elementName: string, scopes: readonly XmlNode[]): string | undefined {
  const colon = elementName.indexOf(':');
  const declaration = colon < 0 ? 'xmlns' : `xmlns:${elementName.slice(0, colon)}`;
  for (const scope of scopes) {
    const uri = attr(scope, declaration);
    if (uri !== undefined) return uri;
  }
  return undefined;
}

function localName(elementName: string): string {
  return elementName.slice(elementName.indexOf(':') + 1);
}

/**
 * Finds our ownership element among the children of a parsed `<metadata>` node. `ancestors`
 * are the enclosing nodes, innermost first, for namespace declarations made higher up.
 * Elements of other namespaces, or of none, are never ours. Internal to this library.
 */
export function ownerFromMetadataNode(
  metadata: XmlNode | undefined,
  ancestors: readonly XmlNode[],
): OwnerMetadata | undefined {
  if (!metadata) return undefined;
  for (const name of childNames(metadata)) {
    if (localName(name) !== OWNER_ELEMENT) continue;
    for (const element of children(metadata, name)) {
      if (namespaceOf(name, [element, metadata, ...ancestors]) !== MAASLAB_XMLNS) continue;
      const owner = ownerFromNode(element);
      if (owner) return owner;
    }
  }
  return undefined;
}

/**
 * Reads an ownership element. Accepts the element in our namespace (as it appears inside
 * `<metadata>`), and the bare `<owner>` that virDomainGetMetadata returns when asked for our
 * URI (libvirt strips the namespace there). Returns undefined for any other element.
 */
export function parseOwnerMetadata(xml: string): OwnerMetadata | undefined {
  const { name, node } = parseFragment(xml);
  if (localName(name) !== OWNER_ELEMENT) return undefined;
  const uri = namespaceOf(name, [node]);
  const bareFromGetMetadata = uri === undefined && !name.includes(':');
  if (uri !== MAASLAB_XMLNS && !bareFromGetMetadata) return undefined;
  return ownerFromNode(node);
}

/**
 * True when `owner` names exactly `expected`: same kind, namespace, name and UID. A matching
 * name with another UID is a previous incarnation of the resource, so it does not count.
 */
export function isOwnedBy(owner: OwnerRef | undefined, expected: OwnerRef): boolean {
  return (
    owner !== undefined &&
    owner.uid === expected.uid &&
    owner.kind === expected.kind &&
    owner.name === expected.name &&
    owner.namespace === expected.namespace
  );
}
