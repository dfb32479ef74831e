/**
 * VirtNetwork (namespaced, short name `vnet`): one libvirt network on a Hypervisor. MaasLab
 * reuses the network pieces here for its `spec.networks[]`.
 *
 * A MAAS lab's network normally has no `ipv4.dhcp`: MAAS serves DHCP itself, and a second
 * DHCP server on the same segment would race it.
 */
import { Type, type Static } from '@sinclair/typebox';
import {
  ConditionsSchema,
  DnsSubdomainPattern,
  IPv4Address,
  MacAddress,
  ObjectMetaSchema,
  ObjectName,
  ObservedGenerationSchema,
  StringEnum,
  ReadyColumn,
  celRules,
  type KindInfo,
  immutable,
  ipv4ToInt,
  type ValidationRule,
} from './common.js';
import { GroupVersion } from './group.js';

/** The kind name. */
export const VirtNetworkKind = 'VirtNetwork';

/** Ready=False: mode is bridge and the host has no bridge of that name. */
export const BridgeNotFoundReason = 'BridgeNotFound';

/** How the libvirt network reaches the outside world (libvirt's `<forward mode>`). */
export const NetworkModes = ['nat', 'route', 'isolated', 'bridge'] as const;
/** A network mode. */
export type NetworkMode = (typeof NetworkModes)[number];

/** A Linux interface name: at most 15 characters, no '/', ':' or whitespace, not '.' or '..'. */
export const BridgeNameSchema = Type.String({
  description:
    'The Linux bridge. With mode bridge, an existing host bridge; otherwise libvirt creates it (and picks a name when unset). At most 15 characters, no "/", ":" or whitespace, not "." or "..".',
  minLength: 1,
  maxLength: 15,
  pattern: '^[^/:\\s]+$',
  ...celRules({
    rule: "self != '.' && self != '..'",
    message: 'bridge name must not be "." or ".."',
  }),
});

/** The bridge a network uses. */
export const BridgeSchema = Type.Object(
  {
    name: Type.Optional(BridgeNameSchema),
    stp: Type.Optional(
      Type.Boolean({ description: 'Spanning Tree Protocol on the bridge.', default: true }),
    ),
  },
  { description: 'The Linux bridge behind the network.' },
);

/** One dynamic DHCP range. */
export const DhcpRangeSchema = Type.Object(
  {
    start: IPv4Address('First address handed out.'),
    end: IPv4Address('Last address handed out.'),
  },
  {
    description: 'A range of addresses the DHCP server hands out.',
    ...celRules({
      rule: `!isIP(self.start) || !isIP(self.end) || ${ipv4ToInt('self.start')} <= ${ipv4ToInt('self.end')}`,
      message: 'start must not be after end',
      fieldPath: '.start',
    }),
  },
);

/** One fixed DHCP lease. */
export const DhcpHostSchema = Type.Object(
  {
    mac: MacAddress('The MAC address of the guest.'),
    ip: IPv4Address('The address it always gets.'),
    hostname: Type.Optional(
      Type.String({
        description: 'A hostname handed out with the lease.',
        minLength: 1,
        maxLength: 63,
        pattern: '^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?$',
      }),
    ),
  },
  { description: 'A fixed lease: this MAC always gets this address.' },
);

/**
 * The subnet as a CEL expression, for the `cidr` library's containment checks. The prefix
 * length is looked up in a list of literals instead of `string(self.prefixLength)`: the cost
 * estimator cannot bound the size of `string(int)`, and the rule would blow the CRD's budget.
 */
const prefixText = `[${Array.from({ length: 33 }, (_, i) => `'${i}'`).join(', ')}][self.prefixLength]`;
const subnet = `cidr(self.address + '/' + ${prefixText})`;
/** The number of addresses in the subnet, 2^(32 - prefixLength), by the same lookup. */
const blockSize = `[${Array.from({ length: 33 }, (_, i) => 2 ** (32 - i)).join(', ')}][self.prefixLength]`;

/** A DHCP server on the network; leave it out for MAAS labs. */
export const DhcpSchema = Type.Object(
  {
    ranges: Type.Optional(
      Type.Array(DhcpRangeSchema, {
        description: 'Dynamic ranges; each lies inside the subnet.',
        maxItems: 8,
      }),
    ),
    hosts: Type.Optional(
      Type.Array(DhcpHostSchema, {
        description: 'Fixed leases; each address lies inside the subnet.',
        maxItems: 128,
        ...celRules(
          {
            rule: 'self.all(a, self.exists_one(b, b.mac.lowerAscii() == a.mac.lowerAscii()))',
            message: 'each host mac must be unique',
          },
          {
            rule: 'self.all(a, self.exists_one(b, b.ip == a.ip))',
            message: 'each host ip must be unique',
          },
        ),
      }),
    ),
  },
  {
    description:
      "Turns on libvirt's DHCP server (dnsmasq). Leave it out when MAAS serves DHCP on this network.",
    ...celRules({
      rule: '(has(self.ranges) && size(self.ranges) > 0) || (has(self.hosts) && size(self.hosts) > 0)',
      message: 'dhcp needs at least one range or host; leave dhcp out to turn DHCP off',
    }),
  },
);

/** The network's IPv4 subnet and the host's address in it. */
export const IPv4Schema = Type.Object(
  {
    address: IPv4Address(
      "The host's address on the network, e.g. 10.77.0.1; it is the guests' gateway.",
    ),
    prefixLength: Type.Integer({
      description: 'The subnet prefix length, 8 to 30 (room for the host and at least one guest).',
      format: 'int32',
      minimum: 8,
      maximum: 30,
    }),
    dhcp: Type.Optional(DhcpSchema),
  },
  {
    description: 'IPv4 addressing. Not allowed with mode bridge.',
    ...celRules(
      {
        // IP equality is an opaque-type comparison the cost estimator cannot bound, so the
        // host part is checked on the address as an int: neither all zeros nor all ones.
        rule:
          `!isIP(self.address) || (${ipv4ToInt('self.address')}) % ${blockSize} != 0 && ` +
          `(${ipv4ToInt('self.address')} + 1) % ${blockSize} != 0`,
        message:
          'address must be a host address of the subnet, not its network or broadcast address',
        fieldPath: '.address',
      },
      {
        rule:
          `!isIP(self.address) || !has(self.dhcp) || !has(self.dhcp.ranges) || ` +
          `self.dhcp.ranges.all(r, !isIP(r.start) || !isIP(r.end) || ` +
          `(${subnet}.containsIP(r.start) && ${subnet}.containsIP(r.end)))`,
        message: 'every dhcp range must lie inside the subnet address/prefixLength',
        fieldPath: '.dhcp.ranges',
      },
      {
        rule:
          `!isIP(self.address) || !has(self.dhcp) || !has(self.dhcp.hosts) || ` +
          `self.dhcp.hosts.all(h, !isIP(h.ip) || ${subnet}.containsIP(h.ip))`,
        message: 'every dhcp host ip must lie inside the subnet address/prefixLength',
        fieldPath: '.dhcp.hosts',
      },
    ),
  },
);

/** The fields a VirtNetwork and a MaasLab network share. */
export const networkProperties = {
  mode: Type.Optional(
    StringEnum(NetworkModes, {
      description:
        'nat: guests reach out through NAT; route: routed, no NAT; isolated: guests and host only (a MAAS lab); bridge: an existing host bridge.',
      default: 'nat',
    }),
  ),
  bridge: Type.Optional(BridgeSchema),
  ipv4: Type.Optional(IPv4Schema),
  domain: Type.Optional(
    Type.String({
      description: "The DNS domain libvirt's dnsmasq serves, e.g. maas.lab.",
      minLength: 1,
      maxLength: 253,
      pattern: DnsSubdomainPattern,
    }),
  ),
  mtu: Type.Optional(
    Type.Integer({
      description: 'The MTU of the bridge, 68 to 65535; libvirt picks one when unset.',
      format: 'int32',
      minimum: 68,
      maximum: 65535,
    }),
  ),
};

/** The cross-field rules of a network spec. */
export const networkRules: ValidationRule[] = [
  {
    rule: "!has(self.mode) || self.mode != 'bridge' || !has(self.ipv4)",
    message: 'ipv4 is not allowed with mode bridge: the bridged LAN assigns addresses',
    reason: 'FieldValueForbidden',
    fieldPath: '.ipv4',
  },
  {
    rule: "!has(self.mode) || self.mode != 'bridge' || (has(self.bridge) && has(self.bridge.name))",
    message: 'bridge.name is required with mode bridge: it names an existing host bridge',
    reason: 'FieldValueRequired',
    fieldPath: '.bridge',
  },
];

/** What network to build, and where. */
export const VirtNetworkSpecSchema = Type.Object(
  {
    hypervisor: ObjectName(
      'The Hypervisor the network lives on. Immutable.',
      celRules(immutable('hypervisor')),
    ),
    ...networkProperties,
    autostart: Type.Optional(
      Type.Boolean({
        description: 'Start the network when libvirtd starts.',
        default: true,
      }),
    ),
  },
  { description: 'The libvirt network to build.', ...celRules(...networkRules) },
);

/** What libvirt reported about the network. */
export const VirtNetworkStatusSchema = Type.Object(
  {
    observedGeneration: Type.Optional(ObservedGenerationSchema),
    conditions: Type.Optional(ConditionsSchema),
    libvirtName: Type.Optional(
      Type.String({ description: "The network's name in libvirt.", maxLength: 253 }),
    ),
    uuid: Type.Optional(Type.String({ description: "The network's libvirt UUID.", maxLength: 36 })),
    bridge: Type.Optional(
      Type.String({ description: 'The Linux bridge the network uses.', maxLength: 15 }),
    ),
    active: Type.Optional(Type.Boolean({ description: 'Whether the network is running.' })),
  },
  { description: 'What libvirt reported at the last reconcile.' },
);

/** A VirtNetwork object. */
export const VirtNetworkSchema = Type.Object(
  {
    apiVersion: Type.Optional(Type.Literal(GroupVersion, { description: 'maaslab.dev/v1alpha1.' })),
    kind: Type.Optional(Type.Literal(VirtNetworkKind, { description: 'VirtNetwork.' })),
    metadata: Type.Optional(ObjectMetaSchema),
    spec: VirtNetworkSpecSchema,
    status: Type.Optional(VirtNetworkStatusSchema),
  },
  { description: 'A libvirt network on a Hypervisor.' },
);

/** A network's bridge. */
export type Bridge = Static<typeof BridgeSchema>;
/** A DHCP range. */
export type DhcpRange = Static<typeof DhcpRangeSchema>;
/** A fixed DHCP lease. */
export type DhcpHost = Static<typeof DhcpHostSchema>;
/** A DHCP server. */
export type Dhcp = Static<typeof DhcpSchema>;
/** IPv4 addressing. */
export type IPv4 = Static<typeof IPv4Schema>;
/** VirtNetwork spec. */
export type VirtNetworkSpec = Static<typeof VirtNetworkSpecSchema>;
/** VirtNetwork status. */
export type VirtNetworkStatus = Static<typeof VirtNetworkStatusSchema>;
/** A whole VirtNetwork object. */
export type VirtNetwork = Static<typeof VirtNetworkSchema>;

/** The VirtNetwork CRD. */
export const VirtNetworkKindInfo: KindInfo = {
  kind: VirtNetworkKind,
  plural: 'virtnetworks',
  singular: 'virtnetwork',
  shortNames: ['vnet'],
  scope: 'Namespaced',
  schema: VirtNetworkSchema,
  printerColumns: [
    {
      name: 'Hypervisor',
      type: 'string',
      jsonPath: '.spec.hypervisor',
      description: 'The Hypervisor.',
    },
    { name: 'Mode', type: 'string', jsonPath: '.spec.mode', description: 'The forward mode.' },
    {
      name: 'Address',
      type: 'string',
      jsonPath: '.spec.ipv4.address',
      description: "The host's IPv4 address.",
    },
    {
      name: 'Bridge',
      type: 'string',
      jsonPath: '.status.bridge',
      description: 'The Linux bridge.',
    },
    ReadyColumn,
  ],
  selectableFields: ['.spec.hypervisor'],
};
