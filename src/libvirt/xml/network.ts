// Network XML: the virtual networks a lab's nodes attach to, plus the DHCP host entry that
// virNetworkUpdate takes. Format reference: https://libvirt.org/formatnetwork.html
//
// Ownership: libvirt 9.0 keeps a namespaced element in a network's <metadata> (network.rng has
// had <metadata> for years, and the test driver echoes it back), but drops <title> and
// <description> (added in 9.7 along with virNetworkSetMetadata). So networks carry the same
// ownership element as domains, written at define time; changing it means redefining.
import {
  attr,
  attrs,
  buildXml,
  child,
  childText,
  children,
  compact,
  parseInteger,
  parseRoot,
  type XmlElement,
  type XmlNode,
} from './codec.js';
import { ownerFromMetadataNode, ownerMetadataElement, type OwnerMetadata } from './metadata.js';

/**
 * How a network reaches the outside: `nat` and `route` forward through the host, `isolated`
 * has no forwarding at all, `bridge` joins an existing host bridge (libvirt runs no DHCP there).
 */
export type NetworkMode = 'nat' | 'route' | 'isolated' | 'bridge';

/** Modes as read back, including ones other tools may have defined. */
export type ParsedNetworkMode =
  NetworkMode | 'open' | 'private' | 'vepa' | 'passthrough' | 'hostdev';

/** A DHCP address pool, both ends inclusive. */
export interface DhcpRange {
  /** First address handed out. */
  readonly start: string;
  /** Last address handed out. */
  readonly end: string;
}

/** A static DHCP lease. */
export interface DhcpHost {
  /** Client MAC address; written in lower case. */
  readonly mac: string;
  /** Address the client always gets. */
  readonly ip: string;
  /** Hostname handed to the client. */
  readonly name?: string;
}

/** A static DHCP lease as read back; libvirt allows host entries keyed by name alone. */
export interface ParsedDhcpHost {
  /** Client MAC address, lower case. */
  readonly mac?: string;
  /** Fixed address. */
  readonly ip?: string;
  /** Hostname. */
  readonly name?: string;
}

/** DHCP service on a network. Present only when the network should serve DHCP. */
export interface Dhcp {
  /** Dynamic pools. */
  readonly ranges: readonly DhcpRange[];
  /** Static leases. */
  readonly hosts: readonly DhcpHost[];
}

/** The host side IPv4 address of a network, and its DHCP service. */
export interface NetworkIpv4 {
  /** Host address on the network, e.g. `10.77.0.1`. */
  readonly address: string;
  /** Prefix length, 0–32. */
  readonly prefix: number;
  /** DHCP service; absent means libvirt runs no DHCP server (as MAAS needs). */
  readonly dhcp?: Dhcp;
}

/** The Linux bridge behind a network. */
export interface NetworkBridge {
  /** Bridge name: created by libvirt, or for `bridge` mode an existing host bridge. */
  readonly name: string;
  /** Spanning tree on the bridge libvirt creates; libvirt's default is on. Not for `bridge`. */
  readonly stp?: boolean;
}

/** Everything {@link buildNetworkXml} needs. */
export interface NetworkDescription {
  /** Network name, unique per hypervisor. */
  readonly name: string;
  /** UUID; absent lets libvirt generate one. */
  readonly uuid?: string;
  /** Forwarding mode. */
  readonly mode: NetworkMode;
  /** Bridge; optional except in `bridge` mode, where libvirt picks none itself. */
  readonly bridge?: NetworkBridge;
  /** IPv4 address and DHCP; not allowed in `bridge` mode, where libvirt has no host address. */
  readonly ipv4?: NetworkIpv4;
  /** DNS domain served to guests, e.g. `lab.maas`. */
  readonly domain?: string;
  /** MTU of the bridge and taps. */
  readonly mtu?: number;
  /** Ownership stamp written into `<metadata>`. */
  readonly owner?: OwnerMetadata;
}

/** The fields of a network the controllers compare. */
export interface ParsedNetwork {
  /** Network name. */
  readonly name: string;
  /** UUID. */
  readonly uuid?: string;
  /** Forwarding mode; `isolated` when there is no `<forward>`. */
  readonly mode: ParsedNetworkMode;
  /** Bridge name and STP setting, as far as present. */
  readonly bridge?: { readonly name?: string; readonly stp?: boolean };
  /** First IPv4 address, its prefix (also derived from a netmask) and DHCP. */
  readonly ipv4?: {
    readonly address: string;
    readonly prefix: number;
    readonly dhcp?: {
      readonly ranges: readonly DhcpRange[];
      readonly hosts: readonly ParsedDhcpHost[];
    };
  };
  /** DNS domain name. */
  readonly domain?: string;
  /** MTU. */
  readonly mtu?: number;
  /** Our ownership stamp; undefined when absent or not in our namespace. */
  readonly owner?: OwnerMetadata;
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

function assertIpv4(value: string, what: string): void {
  if (!IPV4.test(value)) throw new RangeError(`${what}: invalid IPv4 address ${value}`);
}

function hostElement(host: DhcpHost, what: string): XmlElement {
  if (!MAC.test(host.mac)) throw new RangeError(`${what}.mac: invalid MAC ${host.mac}`);
  assertIpv4(host.ip, `${what}.ip`);
  return attrs({ mac: host.mac.toLowerCase(), name: host.name, ip: host.ip });
}

/**
 * The `<host>` element for virNetworkUpdate (section ip-dhcp-host), which adds, changes or
 * removes one static lease on a running network without restarting it.
 */
export function buildDhcpHostXml(host: DhcpHost): string {
  return buildXml('host', hostElement(host, 'host'));
}

function ipElement(ipv4: NetworkIpv4): XmlElement {
  assertIpv4(ipv4.address, 'ipv4.address');
  if (!Number.isInteger(ipv4.prefix) || ipv4.prefix < 0 || ipv4.prefix > 32) {
    throw new RangeError(`ipv4.prefix: expected 0-32, got ${ipv4.prefix}`);
  }
  const dhcp = ipv4.dhcp;
  return {
    ...attrs({ address: ipv4.address, prefix: ipv4.prefix }),
    dhcp: dhcp && {
      range: dhcp.ranges.map((range, i) => {
        assertIpv4(range.start, `dhcp.ranges[${i}].start`);
        assertIpv4(range.end, `dhcp.ranges[${i}].end`);
        return attrs({ start: range.start, end: range.end });
      }),
      host: dhcp.hosts.map((host, i) => hostElement(host, `dhcp.hosts[${i}]`)),
    },
  };
}

/** Builds network XML for virNetworkDefineXML. Throws a RangeError for invalid combinations. */
export function buildNetworkXml(desc: NetworkDescription): string {
  if (desc.mode === 'bridge') {
    if (!desc.bridge) throw new RangeError('bridge mode needs bridge.name (an existing bridge)');
    if (desc.bridge.stp !== undefined) throw new RangeError('bridge mode cannot set stp');
    if (desc.ipv4 || desc.domain) throw new RangeError('bridge mode cannot have ipv4 or domain');
  }
  if (desc.mtu !== undefined && (!Number.isInteger(desc.mtu) || desc.mtu < 68)) {
    throw new RangeError(`mtu: invalid MTU ${desc.mtu}`);
  }
  const stp = desc.bridge?.stp;
  const network: XmlElement = {
    name: desc.name,
    uuid: desc.uuid,
    metadata: desc.owner ? ownerMetadataElement(desc.owner) : undefined,
    forward: desc.mode === 'isolated' ? undefined : attrs({ mode: desc.mode }),
    bridge:
      desc.bridge &&
      attrs({ name: desc.bridge.name, stp: stp === undefined ? undefined : stp ? 'on' : 'off' }),
    mtu: desc.mtu === undefined ? undefined : attrs({ size: desc.mtu }),
    domain: desc.domain === undefined ? undefined : attrs({ name: desc.domain }),
    ip: desc.ipv4 && ipElement(desc.ipv4),
  };
  return buildXml('network', network);
}

const MODES: readonly ParsedNetworkMode[] = [
  'nat',
  'route',
  'bridge',
  'open',
  'private',
  'vepa',
  'passthrough',
  'hostdev',
];

function parseMode(forward: XmlNode | undefined): ParsedNetworkMode {
  if (!forward) return 'isolated';
  // libvirt's default forward mode is nat when <forward> has no mode.
  const mode = attr(forward, 'mode') ?? 'nat';
  const known = MODES.find((m) => m === mode);
  if (!known) throw new Error(`unknown network forward mode ${JSON.stringify(mode)}`);
  return known;
}

/** Prefix length of a dotted netmask; throws for non-contiguous masks, which libvirt rejects. */
function netmaskToPrefix(netmask: string): number {
  assertIpv4(netmask, 'netmask');
  const bits = netmask
    .split('.')
    .map((octet) => Number(octet).toString(2).padStart(8, '0'))
    .join('');
  if (!/^1*0*$/.test(bits)) throw new Error(`netmask ${netmask} is not contiguous`);
  return bits.indexOf('0') < 0 ? 32 : bits.indexOf('0');
}

function parseIpv4(network: XmlNode): ParsedNetwork['ipv4'] {
  const ip = children(network, 'ip').find((node) => (attr(node, 'family') ?? 'ipv4') === 'ipv4');
  const address = attr(ip, 'address');
  if (!ip || address === undefined) return undefined;
  const netmask = attr(ip, 'netmask');
  const prefix =
    parseInteger(attr(ip, 'prefix'), 'ip prefix') ??
    (netmask === undefined ? undefined : netmaskToPrefix(netmask));
  if (prefix === undefined) throw new Error(`network ip ${address} has neither prefix nor netmask`);
  const dhcp = child(ip, 'dhcp');
  return compact({
    address,
    prefix,
    dhcp: dhcp && {
      ranges: children(dhcp, 'range').map((range) => ({
        start: attr(range, 'start') ?? '',
        end: attr(range, 'end') ?? '',
      })),
      hosts: children(dhcp, 'host').map((host) =>
        compact({
          mac: attr(host, 'mac')?.toLowerCase(),
          ip: attr(host, 'ip'),
          name: attr(host, 'name'),
        }),
      ),
    },
  });
}

/** Parses inactive or live network XML into the fields controllers compare. */
export function parseNetworkXml(xml: string): ParsedNetwork {
  const root = parseRoot(xml, 'network');
  const name = childText(root, 'name');
  if (name === undefined) throw new Error('network XML has no <name>');
  const bridge = child(root, 'bridge');
  const stp = attr(bridge, 'stp');
  return compact({
    name,
    uuid: childText(root, 'uuid'),
    mode: parseMode(child(root, 'forward')),
    bridge:
      bridge &&
      compact({ name: attr(bridge, 'name'), stp: stp === undefined ? undefined : stp === 'on' }),
    ipv4: parseIpv4(root),
    domain: attr(child(root, 'domain'), 'name'),
    mtu: parseInteger(attr(child(root, 'mtu'), 'size'), 'mtu'),
    owner: ownerFromMetadataNode(child(root, 'metadata'), [root]),
  });
}
