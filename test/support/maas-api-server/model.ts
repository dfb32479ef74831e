// A TEST SERVER, NOT MAAS. The in-memory objects behind the test server, and their JSON as
// MAAS 3.8.0a1 (canonical/maas@9e51f33) renders them: the field names of
// DISPLAYED_MACHINE_FIELDS (src/maasserver/api/machines.py), DISPLAYED_VLAN_FIELDS
// (api/vlans.py), DISPLAYED_SUBNET_FIELDS (api/subnets.py), DISPLAYED_IPRANGE_FIELDS
// (api/ipranges.py). Only a subset of each object's fields is rendered.

/** MAAS's NODE_STATUS values for the statuses a lab sees (src/maascommon/enums/node.py). */
export const NODE_STATUS = {
  New: 0,
  Commissioning: 1,
  'Failed commissioning': 2,
  Missing: 3,
  Ready: 4,
  Deployed: 6,
  Broken: 8,
  Deploying: 9,
  Allocated: 10,
  'Failed deployment': 11,
  Testing: 21,
  'Failed testing': 22,
} as const;

/** A status name the test server knows. */
export type StatusName = keyof typeof NODE_STATUS;

/** One machine. */
export interface MachineState {
  systemId: string;
  hostname: string;
  domain: string;
  architecture: string;
  description: string;
  statusName: StatusName;
  statusMessage: string;
  powerType: string;
  powerParameters: Record<string, string>;
  powerState: 'on' | 'off' | 'unknown' | 'error';
  /** Normalised (lower case, colons); the first is the boot interface. */
  macAddresses: string[];
  tagNames: string[];
  /** Whether our client created it, or a test did "by hand". */
  createdBy: 'api' | 'hand';
}

/** One VLAN. */
export interface VlanState {
  id: number;
  vid: number;
  fabricId: number;
  name: string;
  mtu: number;
  dhcpOn: boolean;
  primaryRack: string | null;
}

/** One subnet. */
export interface SubnetState {
  id: number;
  name: string;
  cidr: string;
  gatewayIp: string | null;
  vlanId: number;
}

/** One IP range. */
export interface IpRangeState {
  id: number;
  type: 'dynamic' | 'reserved';
  startIp: string;
  endIp: string;
  subnetId: number;
  comment: string;
}

/** One rack controller. */
export interface RackState {
  systemId: string;
  hostname: string;
}

/** MAAS's node JSON for a machine (a subset of DISPLAYED_MACHINE_FIELDS). */
export function machineJson(m: MachineState, apiPrefix: string): Record<string, unknown> {
  const interfaces = m.macAddresses.map((mac, index) => ({
    id: index + 1,
    name: `eth${index}`,
    type: 'physical',
    mac_address: mac,
  }));
  return {
    system_id: m.systemId,
    hostname: m.hostname,
    fqdn: `${m.hostname}.${m.domain}`,
    domain: { id: 0, name: m.domain },
    description: m.description,
    architecture: m.architecture,
    status: NODE_STATUS[m.statusName],
    status_name: m.statusName,
    status_message: m.statusMessage,
    power_type: m.powerType,
    power_state: m.powerState,
    boot_interface: interfaces[0] ?? null,
    interface_set: interfaces,
    tag_names: m.tagNames,
    node_type: 0,
    node_type_name: 'Machine',
    resource_uri: `${apiPrefix}machines/${m.systemId}/`,
  };
}

export function rackJson(r: RackState, apiPrefix: string): Record<string, unknown> {
  return {
    system_id: r.systemId,
    hostname: r.hostname,
    node_type: 2,
    node_type_name: 'Rack controller',
    resource_uri: `${apiPrefix}rackcontrollers/${r.systemId}/`,
  };
}

export function vlanJson(v: VlanState, apiPrefix: string): Record<string, unknown> {
  return {
    id: v.id,
    name: v.name,
    vid: v.vid,
    fabric: `fabric-${v.fabricId}`,
    fabric_id: v.fabricId,
    mtu: v.mtu,
    primary_rack: v.primaryRack,
    secondary_rack: null,
    dhcp_on: v.dhcpOn,
    external_dhcp: null,
    relay_vlan: null,
    space: 'undefined',
    resource_uri: `${apiPrefix}vlans/${v.id}/`,
  };
}

export function subnetJson(
  s: SubnetState,
  vlan: VlanState,
  apiPrefix: string,
): Record<string, unknown> {
  return {
    id: s.id,
    name: s.name,
    description: '',
    vlan: vlanJson(vlan, apiPrefix),
    space: 'undefined',
    cidr: s.cidr,
    gateway_ip: s.gatewayIp,
    dns_servers: [],
    rdns_mode: 2,
    active_discovery: false,
    allow_dns: true,
    allow_proxy: true,
    managed: true,
    disabled_boot_architectures: [],
    resource_uri: `${apiPrefix}subnets/${s.id}/`,
  };
}

export function ipRangeJson(
  r: IpRangeState,
  subnet: Record<string, unknown>,
  apiPrefix: string,
): Record<string, unknown> {
  return {
    id: r.id,
    type: r.type,
    start_ip: r.startIp,
    end_ip: r.endIp,
    comment: r.comment,
    user: { is_superuser: true, username: 'admin', email: 'admin@example.com', is_local: true },
    subnet,
    resource_uri: `${apiPrefix}ipranges/${r.id}/`,
  };
}

/** MAAS's MAC_FIELD_RE (src/maascommon/fields.py): colon, dash and dotted forms. */
const MAC_FIELD_RE =
  /^(?:(?:[0-9a-fA-F]{1,2}:){5}[0-9a-fA-F]{1,2}|(?:[0-9a-fA-F]{1,2}-){5}[0-9a-fA-F]{1,2}|(?:[0-9a-fA-F]{3,4}.){2}[0-9a-fA-F]{3,4})$/;

/** MAAS's accepted MAC spellings normalised to `aa:bb:cc:dd:ee:ff`, or undefined if invalid. */
export function normaliseMac(text: string): string | undefined {
  if (!MAC_FIELD_RE.test(text)) return undefined;
  const hex = text
    .split(/[-:.]/)
    .map((part) => (text.includes('.') ? part : part.padStart(2, '0')))
    .join('')
    .toLowerCase();
  if (hex.length !== 12) return undefined;
  return hex.match(/../g)!.join(':');
}

/** MAAS's validate_hostname (src/maascommon/utils/dns.py); the error text, or undefined. */
export function hostnameProblem(hostname: string): string | undefined {
  if (hostname.length > 255) return 'Hostname is too long.  Maximum allowed is 255 characters.';
  const hostPart = hostname.split('.')[0] ?? '';
  if (hostPart.includes('_')) return `Host label cannot contain underscore: '${hostPart}'.`;
  for (const label of hostname.split('.')) {
    if (label.length === 0) return 'DNS name contains an empty label.';
    if (label.length > 63)
      return `Label is too long: '${label}'.  Maximum allowed is 63 characters.`;
    if (label.startsWith('-') || label.endsWith('-'))
      return `Label cannot start or end with hyphen: '${label}'.`;
    if (!/^[a-zA-Z0-9-]*$/.test(label)) return `Label contains disallowed characters: '${label}'.`;
  }
  return undefined;
}

/** An IPv4 address as a number, or undefined. */
export function ipv4ToNumber(ip: string): number | undefined {
  const parts = ip.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255))
    return undefined;
  return parts.reduce((acc, p) => acc * 256 + Number(p), 0);
}

/** An IPv4 CIDR's first (network) and last (broadcast) addresses as numbers. */
export function ipv4CidrBounds(cidr: string): { network: number; broadcast: number } | undefined {
  const [address, prefixText] = cidr.split('/');
  const base = ipv4ToNumber(address ?? '');
  const prefix = Number(prefixText);
  if (base === undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > 32)
    return undefined;
  const size = 2 ** (32 - prefix);
  const network = Math.floor(base / size) * size;
  return { network, broadcast: network + size - 1 };
}
