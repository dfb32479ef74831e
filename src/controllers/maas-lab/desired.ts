// MaasLab desired state: the VirtNetworks and MaasNodes a lab is made of, as whole objects for
// server-side apply (field manager `maaslab`), plus scale-down order and MAC collision checks.
// Pure: no API calls, no clock.
import {
  GroupVersion,
  MaasLabKind,
  MaasNodeKind,
  VirtNetworkKind,
  type MaasLab,
  type MaasNode,
  type MaasNodeSpec,
  type VirtNetwork,
  type VirtNetworkSpec,
  defaultRunStrategy,
  LabLabel,
  MaasNodeSpecSchema,
  VirtNetworkSpecSchema,
} from '../../api/v1alpha1/index.js';
import { withSchemaDefaults } from '../../api/v1alpha1/defaults.js';
import { defaultMac } from '../maas-node/desired.js';
import { CLEANUP_FINALIZER, deepFreeze } from '../../runtime/index.js';

/** The label every child carries (defined with the MaasLab API: the plugin selects on it too). */
export { LabLabel };

/** The field manager of every server-side apply the lab controller makes. */
export const FieldManager = 'maaslab';

/** The lab's children, ready to apply. */
export interface LabChildren {
  /** One VirtNetwork per spec.networks entry. */
  readonly networks: VirtNetwork[];
  /** MaasNodes 1..count, in index order. */
  readonly nodes: MaasNode[];
}

interface LabIdentity {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
}

function identity(lab: MaasLab): LabIdentity {
  const { namespace, name, uid } = lab.metadata ?? {};
  if (!namespace || !name || !uid) {
    throw new TypeError('MaasLab needs metadata.namespace, name and uid');
  }
  return { namespace, name, uid };
}

/** The VirtNetwork name of lab network `short`: `<lab>-<short>`. */
export function labNetworkName(labName: string, short: string): string {
  return `${labName}-${short}`;
}

/** The MaasNode name of node `index` (from 1): `<lab>-<namePrefix><index>`. */
export function labNodeName(lab: MaasLab, index: number): string {
  return `${lab.metadata?.name ?? ''}-${lab.spec.nodes.namePrefix ?? 'node'}${index}`;
}

/**
 * The first NIC's MAC of node `index`: `<macPrefix>:<index as two lowercase hex digits>`
 * (the manual recipe's 52:54:00:7f:04:01..03). Lower case, as libvirt writes MACs, so the
 * applied spec never flaps against what the node reports.
 */
export function prefixMac(macPrefix: string, index: number): string {
  if (!Number.isInteger(index) || index < 1 || index > 255) {
    throw new RangeError(`node index ${index} does not fit a two-hex-digit MAC suffix`);
  }
  return `${macPrefix.toLowerCase()}:${index.toString(16).padStart(2, '0')}`;
}

function childMetadata(lab: LabIdentity, name: string) {
  return {
    name,
    namespace: lab.namespace,
    labels: { [LabLabel]: lab.name },
    // The child's own controller would add it in its first pass: created with it, that is one
    // write less per child. It is the same finalizer, and only that controller removes it.
    finalizers: [CLEANUP_FINALIZER],
    ownerReferences: [
      {
        apiVersion: GroupVersion,
        kind: MaasLabKind,
        name: lab.name,
        uid: lab.uid,
        controller: true,
        blockOwnerDeletion: true,
      },
    ],
  };
}

/**
 * Every CRD default spelled out (mode nat, STP on when a bridge is given, autostart on), from
 * the schema itself (withSchemaDefaults): server-side apply compares what we send with what is
 * stored, and a field we leave to the server's default would be ours to own yet never match,
 * so every pass would write.
 */
function networkSpec(
  hypervisor: string,
  net: NonNullable<MaasLab['spec']['networks']>[number],
): VirtNetworkSpec {
  const { name: _shortName, ...spec } = net;
  return withSchemaDefaults(VirtNetworkSpecSchema, { ...spec, hypervisor });
}

/**
 * Every node's spec from the template, with every CRD default spelled out (see above). The
 * nodes differ only in their MACs, so the schema's defaults are filled in once, for the
 * template: on a 100-node lab, defaulting node by node was the operator's costliest pure step
 * (the scale bench's CPU profile), repeated on every pass of the lab.
 */
function nodeSpecs(lab: MaasLab, id: LabIdentity): MaasNodeSpec[] {
  const { interfaces = [], ...template } = lab.spec.nodes.template ?? {};
  const macPrefix = lab.spec.nodes.macPrefix;
  const shared = withSchemaDefaults(MaasNodeSpecSchema, {
    ...template,
    hypervisor: lab.spec.hypervisor,
    // The MAC is set per node below; present here so each NIC keeps its keys' order.
    interfaces: interfaces.map((nic) => ({
      ...nic,
      network: labNetworkName(id.name, nic.network),
      mac: PLACEHOLDER_MAC,
    })),
    // The node's own default, which the schema cannot say: Manual with a BMC, Always without;
    // Manual in a lab with MAAS, which drives power (Always would undo MAAS's power-off).
    runStrategy:
      template.runStrategy ?? (lab.spec.maas ? 'Manual' : defaultRunStrategy(template.bmc)),
  });
  return Array.from({ length: lab.spec.nodes.count }, (_, i): MaasNodeSpec => {
    const index = i + 1;
    const name = labNodeName(lab, index);
    const spec = structuredClone(shared);
    spec.interfaces = (spec.interfaces ?? []).map((nic, k) => ({
      ...nic,
      mac:
        k === 0 && macPrefix !== undefined
          ? prefixMac(macPrefix, index)
          : defaultMac(id.namespace, name, k),
    }));
    return spec;
  });
}

/** Stands in for each node's own MAC while the template is defaulted. */
const PLACEHOLDER_MAC = '00:00:00:00:00:00';

/**
 * The lab's VirtNetworks (`<lab>-<network>`) and MaasNodes (`<lab>-<namePrefix><i>`,
 * i = 1..count) as complete objects for server-side apply: apiVersion, kind, metadata with
 * the lab label and a controller owner reference (so garbage collection removes them with
 * the lab), and a fully defaulted spec.
 */
export function desiredChildren(lab: MaasLab): LabChildren {
  const id = identity(lab);
  // What the children are built from: the lab's identity and its spec, nothing else.
  const from = JSON.stringify([id.namespace, id.name, lab.spec]);
  const known = recentChildren.get(id.uid);
  if (known?.from === from) return known.children;
  const children = deepFreeze(buildChildren(lab, id)) as LabChildren;
  recentChildren.delete(id.uid);
  recentChildren.set(id.uid, { from, children });
  // The least recently built goes first (a Map iterates in insertion order).
  if (recentChildren.size > RECENT_LABS) {
    const oldest = recentChildren.keys().next().value;
    if (oldest !== undefined) recentChildren.delete(oldest);
  }
  return children;
}

/**
 * The children last built per lab UID, with the identity and spec they were built from
 * (frozen: every caller shares them). A lab's desired children were rebuilt on every pass of
 * every lab (each pass checks MACs across all peers): at 10 labs of 100 nodes, a thousand
 * node specs defaulted and cloned per lab pass, the operator's costliest pure step. The
 * spec's JSON is the key, so a changed spec is never served from here.
 */
const recentChildren = new Map<string, { readonly from: string; readonly children: LabChildren }>();

/** Labs whose children are kept (far more than one operator reconciles). */
const RECENT_LABS = 1024;

function buildChildren(lab: MaasLab, id: LabIdentity): LabChildren {
  const networks = (lab.spec.networks ?? []).map((net): VirtNetwork => ({
    apiVersion: GroupVersion,
    kind: VirtNetworkKind,
    metadata: childMetadata(id, labNetworkName(id.name, net.name)),
    spec: networkSpec(lab.spec.hypervisor, net),
  }));
  const nodes = nodeSpecs(lab, id).map((spec, i): MaasNode => ({
    apiVersion: GroupVersion,
    kind: MaasNodeKind,
    metadata: childMetadata(id, labNodeName(lab, i + 1)),
    spec,
  }));
  return { networks, nodes };
}

/** The number at the end of a node name (`recipe-node12` → 12); undefined if none. */
function trailingIndex(name: string): number | undefined {
  const digits = /(\d+)$/.exec(name)?.[1];
  return digits === undefined ? undefined : Number(digits);
}

/**
 * Existing child MaasNodes the lab no longer wants, in deletion order: highest-numbered
 * first, so scaling 5 → 2 removes 5, 4, 3. Names without a number (left over from another
 * namePrefix) come last, by name.
 */
export function nodesToDelete(
  existingNames: readonly string[],
  desired: readonly { readonly metadata?: { readonly name?: string } }[],
): string[] {
  const wanted = new Set(desired.map((d) => d.metadata?.name));
  return existingNames
    .filter((name) => !wanted.has(name))
    .sort((a, b) => {
      const ia = trailingIndex(a) ?? -1;
      const ib = trailingIndex(b) ?? -1;
      return ib - ia || (a < b ? -1 : a > b ? 1 : 0);
    });
}

/** Existing child VirtNetworks the lab no longer wants (a removed spec.networks entry). */
export function networksToDelete(
  existingNames: readonly string[],
  desired: readonly { readonly metadata?: { readonly name?: string } }[],
): string[] {
  const wanted = new Set(desired.map((d) => d.metadata?.name));
  return existingNames.filter((name) => !wanted.has(name)).sort();
}

/** One NIC claiming a MAC. */
export interface MacClaim {
  /** `MaasLab <namespace>/<lab>`, or `MaasNode <namespace>/<node>` outside any lab. */
  readonly owner: string;
  /** The MaasNode. */
  readonly node: string;
  /** When the owner was created (RFC 3339), to let the older one keep the MAC. */
  readonly createdAt: string;
}

/** The name of a lab's MAAS controller VM (its domain is `<namespace>.<this>`). */
export const controllerVmName = (lab: Readonly<MaasLab>): string =>
  `${lab.metadata?.name ?? ''}-maas`;

/**
 * The MAC of the PXE NIC of a lab's MAAS controller (undefined without one), lower case.
 * With a macPrefix the nodes take :01..:ff and :00 is free: the controller gets it, so the
 * whole lab's PXE MACs share the prefix. Otherwise a derived MAC, as a stand-alone node gets.
 */
export function controllerPxeMac(lab: Readonly<MaasLab>): string | undefined {
  if (lab.spec.maas?.controller === undefined) return undefined;
  const prefix = lab.spec.nodes.macPrefix;
  const mac =
    prefix !== undefined
      ? `${prefix}:00`
      : defaultMac(lab.metadata?.namespace ?? '', controllerVmName(lab), 0);
  return mac.toLowerCase();
}

/** A MAC claimed by more than one NIC on one hypervisor. */
export interface MacCollision {
  /** The hypervisor. */
  readonly hypervisor: string;
  /** The MAC, lower case. */
  readonly mac: string;
  /** Every claim, oldest owner first; the first keeps the MAC. */
  readonly claims: readonly MacClaim[];
  /** A sentence naming the MAC and everyone who claims it. */
  readonly message: string;
}

const labOwner = (lab: MaasLab): string =>
  `${MaasLabKind} ${lab.metadata?.namespace}/${lab.metadata?.name}`;

const timestamp = (t: unknown): string =>
  t instanceof Date ? t.toISOString() : typeof t === 'string' ? t : '';

/**
 * MACs that more than one NIC would use on the same hypervisor, across labs (their desired
 * nodes and MAAS controller) and stand-alone MaasNodes. Nodes that belong to one of `labs` (owner reference) are
 * skipped, since their lab's desired state already covers them, current or not. Two NICs
 * with one MAC on a network break DHCP and PXE, which is why the lab reports Stalled.
 */
export function macCollisions(
  labs: readonly MaasLab[],
  standaloneNodes: readonly MaasNode[] = [],
): MacCollision[] {
  const labUids = new Set(labs.map((l) => l.metadata?.uid));
  const claims = new Map<string, { hypervisor: string; mac: string; claims: MacClaim[] }>();
  const claim = (hypervisor: string, mac: string, c: MacClaim): void => {
    const key = `${hypervisor}\n${mac.toLowerCase()}`;
    const entry = claims.get(key) ?? { hypervisor, mac: mac.toLowerCase(), claims: [] };
    entry.claims.push(c);
    claims.set(key, entry);
  };
  const nodeMacs = (node: MaasNode): string[] => {
    const ns = node.metadata?.namespace ?? '';
    const name = node.metadata?.name ?? '';
    return (node.spec.interfaces ?? []).map((nic, i) => nic.mac ?? defaultMac(ns, name, i));
  };
  for (const lab of labs) {
    const createdAt = timestamp(lab.metadata?.creationTimestamp);
    const owner = labOwner(lab);
    for (const node of desiredChildren(lab).nodes) {
      for (const mac of nodeMacs(node)) {
        claim(lab.spec.hypervisor, mac, { owner, node: node.metadata?.name ?? '', createdAt });
      }
    }
    const controllerMac = controllerPxeMac(lab);
    if (controllerMac !== undefined) {
      claim(lab.spec.hypervisor, controllerMac, { owner, node: controllerVmName(lab), createdAt });
    }
  }
  for (const node of standaloneNodes) {
    if (node.metadata?.ownerReferences?.some((r) => labUids.has(r.uid))) continue;
    const owner = `${MaasNodeKind} ${node.metadata?.namespace}/${node.metadata?.name}`;
    const createdAt = timestamp(node.metadata?.creationTimestamp);
    for (const mac of nodeMacs(node)) {
      claim(node.spec.hypervisor, mac, { owner, node: node.metadata?.name ?? '', createdAt });
    }
  }
  return [...claims.values()]
    .filter((e) => e.claims.length > 1)
    .map((e) => {
      const ordered = [...e.claims].sort(
        (a, b) =>
          (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0) ||
          (a.owner < b.owner ? -1 : a.owner > b.owner ? 1 : 0) ||
          (a.node < b.node ? -1 : a.node > b.node ? 1 : 0),
      );
      const who = ordered.map((c) => `${c.node} (${c.owner})`).join(', ');
      return {
        hypervisor: e.hypervisor,
        mac: e.mac,
        claims: ordered,
        message: `MAC ${e.mac} on hypervisor ${e.hypervisor} is claimed by ${who}`,
      };
    })
    .sort((a, b) => (a.mac < b.mac ? -1 : a.mac > b.mac ? 1 : 0));
}

/**
 * The collisions a given lab must yield on: those where it holds any claim but the first
 * (the oldest owner keeps the MAC, so a new lab cannot stall a running one; a lab colliding
 * with itself always yields).
 */
export function collisionsBlocking(
  lab: MaasLab,
  collisions: readonly MacCollision[],
): MacCollision[] {
  const owner = labOwner(lab);
  return collisions.filter((c) => c.claims.slice(1).some((claim) => claim.owner === owner));
}

/** The Stalled message for MAC collisions: each names the MAC and every claimant. */
export function collisionMessage(collisions: readonly MacCollision[]): string {
  const shown = collisions.slice(0, 3).map((c) => c.message);
  const more = collisions.length > 3 ? `; and ${collisions.length - 3} more colliding MACs` : '';
  return `${shown.join('; ')}${more}`;
}

/** The MACs of a node's NICs, lower case. */
export const macsOf = (node: MaasNode): string[] =>
  (node.spec.interfaces ?? []).flatMap((nic) => (nic.mac ? [nic.mac.toLowerCase()] : []));

/**
 * True when every field `desired` sets is present and equal in `observed` (arrays by
 * position, extra observed fields ignored): applying `desired` would change nothing.
 */
export function covers(observed: unknown, desired: unknown): boolean {
  if (desired === undefined) return true;
  if (Array.isArray(desired)) {
    return (
      Array.isArray(observed) &&
      observed.length === desired.length &&
      desired.every((d, i) => covers(observed[i], d))
    );
  }
  if (typeof desired === 'object' && desired !== null) {
    if (typeof observed !== 'object' || observed === null || Array.isArray(observed)) return false;
    const o = observed as Record<string, unknown>;
    return Object.entries(desired).every(([k, v]) => covers(o[k], v));
  }
  return observed === desired;
}

/**
 * The pure diff for one child: `create` when it does not exist, `update` when its spec or
 * labels lack something desired (server-side apply then changes only our fields), `none`
 * otherwise. Server defaults are spelled out above, so a settled child is `none` and a quiet
 * lab makes no writes.
 */
export function childAction(
  desired: VirtNetwork | MaasNode,
  observed: Readonly<VirtNetwork | MaasNode> | undefined,
): 'create' | 'update' | 'none' {
  if (observed === undefined) return 'create';
  // Both frozen (the cache's object, and the kept desired children): the answer for this
  // pair cannot change, and a lab pass asks it for every child while most did not change.
  const frozen = Object.isFrozen(observed) && Object.isFrozen(desired);
  const known = frozen ? actionsOf.get(observed) : undefined;
  if (known?.desired === desired) return known.action;
  const labelsOk = covers(observed.metadata?.labels, desired.metadata?.labels);
  const action = labelsOk && covers(observed.spec, desired.spec) ? 'none' : 'update';
  if (frozen) actionsOf.set(observed, { desired, action });
  return action;
}

/** childAction's last answer per cached child object (see there); gone with the object. */
const actionsOf = new WeakMap<
  object,
  { readonly desired: object; readonly action: 'update' | 'none' }
>();
