// VirtNetwork desired state: the libvirt network a VirtNetwork asks for, and how an observed
// network differs from it. Pure: no binding, no clock. The reconciler acts on the diff:
// `dhcpHostsLive` → virNetworkUpdate (LIVE|CONFIG), `redefineAndRestart` → the manual
// recipe's net-destroy / net-define / net-start, then re-plugging the NICs of running domains.
import { VirtNetworkKind, type VirtNetwork } from '../../api/v1alpha1/index.js';
import type {
  DhcpHost,
  NetworkDescription,
  OwnerRef,
  ParsedDomain,
  ParsedNetwork,
} from '../../libvirt/xml/index.js';
// Types only: the diff is the Hypervisor's applyNetworkChange input; nothing of the layer runs.
import type { NetworkChange } from '../../libvirt/hypervisor/index.js';
import { ownership as classify, type Ownership } from '../common/ownership.js';
import { definedProps } from '../../util/defined-props.js';

/** libvirt's default forward mode, and the CRD's. */
const DEFAULT_MODE = 'nat';
/** The bridge's STP default in the CRD, and libvirt's for bridges it creates. */
const DEFAULT_STP = true;

/**
 * The longest network name we hand libvirt. libvirt refuses only '/' in names, but it names
 * files after the network — `<name>.xml` in its state directories and dnsmasq's
 * `<name>.conf`, `<name>.hostsfile` and `<name>.addnhosts` — and Linux file names stop at
 * 255 bytes, so the longest suffix (".addnhosts", 10) leaves 245.
 */
export const MAX_LIBVIRT_NETWORK_NAME = 245;

/**
 * The libvirt name of a VirtNetwork: `<namespace>.<name>`. Namespace and name are DNS labels or
 * subdomains, so the result has no '/' and the first dot always separates the namespace. The
 * bridge name is left to libvirt (`virbrN`) unless the spec sets one, because Linux caps
 * interface names at 15 characters and a derived name would not fit.
 */
export function libvirtNetworkName(namespace: string, name: string): string {
  return `${namespace}.${name}`;
}

/** Why libvirt (or the host) would refuse a network name; undefined when it is fine. */
export function networkNameProblem(libvirtName: string): string | undefined {
  if (libvirtName.length === 0) return 'network name is empty';
  if (libvirtName.includes('/')) return `network name ${libvirtName} contains '/'`;
  if (libvirtName.length > MAX_LIBVIRT_NETWORK_NAME) {
    return `network name ${libvirtName} is longer than ${MAX_LIBVIRT_NETWORK_NAME} characters`;
  }
  return undefined;
}

/** The owner stamp of a VirtNetwork's libvirt network. Throws when metadata lacks identity. */
export function networkOwner(vnet: VirtNetwork): OwnerRef {
  const { namespace, name, uid } = vnet.metadata ?? {};
  if (!namespace || !name || !uid) {
    throw new TypeError('VirtNetwork needs metadata.namespace, name and uid');
  }
  return { kind: VirtNetworkKind, namespace, name, uid };
}

/** spec.autostart with the CRD's default (true). */
export const wantAutostart = (vnet: Readonly<VirtNetwork>): boolean => vnet.spec.autostart ?? true;

/**
 * The libvirt network a VirtNetwork asks for, with CRD defaults filled in (mode nat, STP on),
 * DHCP only when `ipv4.dhcp` is present, MACs in lower case, and our owner stamp.
 */
export function desiredNetwork(vnet: VirtNetwork): NetworkDescription {
  const owner = networkOwner(vnet);
  const spec = vnet.spec;
  const mode = spec.mode ?? DEFAULT_MODE;
  const bridgeName = spec.bridge?.name;
  // libvirt takes no STP setting for an existing host bridge (mode bridge).
  const stp = mode === 'bridge' ? undefined : (spec.bridge?.stp ?? DEFAULT_STP);
  const ipv4 = spec.ipv4;
  const dhcp = ipv4?.dhcp;
  return definedProps({
    name: libvirtNetworkName(owner.namespace ?? '', owner.name),
    mode,
    bridge: bridgeName === undefined ? undefined : definedProps({ name: bridgeName, stp }),
    ipv4: ipv4 && {
      address: ipv4.address,
      prefix: ipv4.prefixLength,
      ...definedProps({
        dhcp: dhcp && {
          ranges: (dhcp.ranges ?? []).map((r) => ({ start: r.start, end: r.end })),
          hosts: (dhcp.hosts ?? []).map((h) =>
            definedProps({ mac: h.mac.toLowerCase(), ip: h.ip, name: h.hostname }),
          ),
        },
      }),
    },
    domain: spec.domain,
    mtu: spec.mtu,
    owner,
  });
}

const show = (value: unknown): string => (value === undefined ? 'unset' : JSON.stringify(value));

function compare(reasons: string[], field: string, desired: unknown, observed: unknown): void {
  if (desired !== observed) reasons.push(`${field}: ${show(observed)} → ${show(desired)}`);
}

/** Differences that only a redefinition and a restart of the network can apply. */
function structuralDifferences(desired: NetworkDescription, observed: ParsedNetwork): string[] {
  const reasons: string[] = [];
  compare(reasons, 'mode', desired.mode, observed.mode);
  // An unset bridge name means "libvirt picks one" (virbrN): whatever it picked is fine.
  if (desired.bridge !== undefined) {
    compare(reasons, 'bridge.name', desired.bridge.name, observed.bridge?.name);
    if (desired.bridge.stp !== undefined) {
      // libvirt writes stp='on' for bridges it creates; absent reads as its default, on.
      compare(reasons, 'bridge.stp', desired.bridge.stp, observed.bridge?.stp ?? DEFAULT_STP);
    }
  }
  compare(reasons, 'ipv4.address', desired.ipv4?.address, observed.ipv4?.address);
  compare(reasons, 'ipv4.prefix', desired.ipv4?.prefix, observed.ipv4?.prefix);
  const wantDhcp = desired.ipv4?.dhcp;
  const haveDhcp = observed.ipv4?.dhcp;
  // dnsmasq is started with or without a DHCP configuration: switching it needs a restart.
  compare(reasons, 'dhcp', wantDhcp !== undefined, haveDhcp !== undefined);
  if (wantDhcp && haveDhcp) {
    const ranges = (rs: readonly { start: string; end: string }[]): string =>
      rs.map((r) => `${r.start}-${r.end}`).join(',');
    compare(reasons, 'dhcp.ranges', ranges(wantDhcp.ranges), ranges(haveDhcp.ranges));
    // virNetworkUpdate needs a MAC and an address to name a lease; entries without them (made
    // by hand) can only be replaced by redefining.
    if (haveDhcp.hosts.some((h) => h.mac === undefined || h.ip === undefined)) {
      reasons.push('dhcp.hosts: an entry without mac or ip cannot be updated live');
    }
  }
  compare(reasons, 'domain', desired.domain, observed.domain);
  compare(reasons, 'mtu', desired.mtu, observed.mtu);
  return reasons;
}

/**
 * Compares the desired network with one parsed from libvirt. Pass the persistent (inactive)
 * XML to decide what to define; pass the live XML of an active network to learn whether the
 * running network still lags behind its definition (then restart it). Only fields we set are
 * compared, so libvirt's additions (uuid, mac, the chosen virbrN) never cause churn.
 */
export function diffNetwork(desired: NetworkDescription, observed: ParsedNetwork): NetworkChange {
  const reasons = structuralDifferences(desired, observed);
  if (reasons.length > 0) return { kind: 'redefineAndRestart', reasons };
  const wanted = desired.ipv4?.dhcp?.hosts ?? [];
  const held = new Map<string, DhcpHost>();
  for (const h of observed.ipv4?.dhcp?.hosts ?? []) {
    // Entries without mac or ip were turned into a redefinition above.
    if (h.mac !== undefined && h.ip !== undefined) {
      held.set(h.mac, definedProps({ mac: h.mac, ip: h.ip, name: h.name }));
    }
  }
  const wantedMacs = new Set(wanted.map((h) => h.mac.toLowerCase()));
  const add: DhcpHost[] = [];
  const modify: DhcpHost[] = [];
  for (const host of wanted) {
    const current = held.get(host.mac.toLowerCase());
    if (current === undefined) add.push(host);
    else if (current.ip !== host.ip || current.name !== host.name) modify.push(host);
  }
  const remove = [...held.values()].filter((h) => !wantedMacs.has(h.mac));
  if (add.length + remove.length + modify.length === 0) return { kind: 'none' };
  return { kind: 'dhcpHostsLive', add, remove, modify };
}

/**
 * Whether the network of our name is ours, someone else's (→ Stalled, NameConflict), or
 * missing. `observed` is the parsed network, or undefined when libvirt has none of that name.
 */
export function ownership(observed: ParsedNetwork | undefined, expected: OwnerRef): Ownership {
  return classify(observed, expected);
}

/** What {@link servesSpec} reads of a libvirt network (an ObservedNetwork has it). */
export interface NetworkLook {
  /** Running. */
  readonly active: boolean;
  /** The persistent definition. */
  readonly parsed: ParsedNetwork;
  /** The running configuration, when active. */
  readonly live?: ParsedNetwork;
}

/**
 * Whether a libvirt network is, as observed, everything `vnet` asks for: ours (the owner stamp
 * names this VirtNetwork's UID), running, and both its persistent and its live definition
 * equal to the spec (no redefinition and no DHCP host change pending). This is what the
 * VirtNetwork's Ready=True at its generation says, read from libvirt instead of waiting for
 * the status write and its watch event; a network mid-change (a new generation not applied
 * yet) fails the comparison. Pure.
 */
export function servesSpec(vnet: VirtNetwork, observed: NetworkLook | undefined): boolean {
  if (observed === undefined || !observed.active || observed.live === undefined) return false;
  if (ownership(observed.parsed, networkOwner(vnet)) !== 'owned') return false;
  const desired = desiredNetwork(vnet);
  return (
    diffNetwork(desired, observed.parsed).kind === 'none' &&
    diffNetwork(desired, observed.live).kind === 'none'
  );
}

/** A NIC to detach and attach again after its network restarted on a new bridge. */
export interface NicToReplug {
  /** The domain's name. */
  readonly domain: string;
  /** The NIC's MAC, which identifies it for virDomainUpdateDeviceFlags. */
  readonly mac: string;
}

/**
 * The NICs of running domains plugged into `networkName`. After the network restarts their
 * taps hang off a bridge that no longer exists; libvirt does not re-plug them, so the
 * reconciler does (the domains keep running). `liveDomains` are parsed from live XML.
 */
export function nicsToReplug(
  liveDomains: readonly ParsedDomain[],
  networkName: string,
): NicToReplug[] {
  return liveDomains.flatMap((domain) =>
    domain.interfaces
      .filter((nic) => nic.type === 'network' && nic.network === networkName && nic.mac)
      .map((nic) => ({ domain: domain.name, mac: nic.mac ?? '' })),
  );
}
