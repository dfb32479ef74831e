/**
 * MAAS in the lab: `MaasLab.spec.maas` (which MAAS the lab's nodes are enlisted in, and how
 * MAAS serves DHCP on the PXE network), `MaasLab.status.maas`, `MaasNode.status.maas`, and
 * the MAAS condition types and reasons. Today only the `external` variant exists (an existing
 * MAAS); a `controller` variant (the lab builds its own region+rack VM) will sit beside it,
 * which is why `spec.maas` carries an "exactly one of" rule already.
 */
import { Type, type Static } from '@sinclair/typebox';
import { IPv4Address, ObjectName, celRules, ipv4ToInt } from './common.js';

// Condition types. MaasReachable, DhcpConfigured and ImagesSynced are on the lab, in that
// order; Enlisted is on each node of a lab with MAAS.

/** Lab: MAAS answers `GET version/` and accepts the API key. */
export const MaasReachableCondition = 'MaasReachable';
/** Lab: MAAS serves DHCP on the PXE network's VLAN (dynamic range, gateway, primary rack). */
export const DhcpConfiguredCondition = 'DhcpConfigured';
/** Lab: MAAS is not importing boot images (`boot-resources/?op=is_importing` is false). */
export const ImagesSyncedCondition = 'ImagesSynced';
/** Node: MAAS has a machine for the node, made by this operator. */
export const EnlistedCondition = 'Enlisted';

// Reasons.

/** MaasReachable=True, DhcpConfigured=True, ImagesSynced=True, Enlisted=True. */
export const MaasReadyReason = 'Ready';
/** MaasReachable=False (and Enlisted=False): no answer, a 5xx or a timeout; retried with backoff. */
export const MaasUnreachableReason = 'MaasUnreachable';
/** Stalled=True (and Enlisted=False): MAAS answered 401/403 to the API key; not retried in a loop. */
export const MaasUnauthorizedReason = 'MaasUnauthorized';
/** Stalled=True: the API key Secret or its key is missing, or the key is malformed. */
export const MaasApiKeyInvalidReason = 'MaasApiKeyInvalid';
/** Stalled=True: the lab's PXE network has libvirt DHCP while MAAS serves DHCP there. */
export const LibvirtDhcpConflictReason = 'LibvirtDhcpConflict';
/** Stalled=True: MAAS needs the PXE network's IPv4 subnet and the lab declares none. */
export const NoPxeSubnetReason = 'NoPxeSubnet';
/** DhcpConfigured=False: MAAS has no subnet for the PXE network's CIDR, or no rack controller. */
export const MaasSubnetNotFoundReason = 'MaasSubnetNotFound';
/** DhcpConfigured=False: MAAS refused a DHCP setting; the message carries MAAS's answer. */
export const DhcpRejectedReason = 'DhcpRejected';
/** ImagesSynced=False: MAAS is still importing boot images. */
export const ImagesImportingReason = 'ImagesImporting';
/** Any MAAS condition: an earlier step has not succeeded yet. */
export const MaasWaitingReason = 'Waiting';
/** Enlisted=False: the PXE NIC's MAC is known to MAAS under a machine this operator did not make. */
export const MacInUseReason = 'MacInUse';
/** Enlisted=False: the virsh power type needs an address MAAS can reach; none is set. */
export const NoPowerAddressReason = 'NoPowerAddress';
/** Enlisted=False: the node has no NIC, or its power parameters are not known yet. */
export const EnlistingReason = 'Enlisting';
/** Enlisted=False: MAAS refused the machine; the message carries MAAS's answer. */
export const MachineRejectedReason = 'MachineRejected';
/** Lab Ready=False: some nodes are not Enlisted yet. */
export const NodesNotEnlistedReason = 'NodesNotEnlisted';
/** Lab Ready=False: a MAAS condition is not True yet. */
export const MaasNotReadyReason = 'MaasNotReady';

/** The default architecture of an enlisted machine. */
export const DefaultMaasArchitecture = 'amd64/generic';
/** The default key of the API key in its Secret. */
export const DefaultApiKeySecretKey = 'api-key';

/** A key in a Secret in the lab's namespace. */
export const SecretKeyRefSchema = Type.Object(
  {
    name: ObjectName('The Secret, in the lab namespace.'),
    key: Type.Optional(
      Type.String({
        description: 'The key in the Secret.',
        default: DefaultApiKeySecretKey,
        minLength: 1,
        maxLength: 253,
        pattern: '^[-._a-zA-Z0-9]+$',
      }),
    ),
  },
  { description: 'A key in a Secret.' },
);

/** An http(s) MAAS URL including `/MAAS`, without query or fragment. */
const MaasUrl = (description: string) =>
  Type.String({ description, minLength: 8, maxLength: 2048, pattern: '^https?://[^\\s?#]+$' });

/** `spec.maas.external`: an existing MAAS. */
export const ExternalMaasSchema = Type.Object(
  {
    url: MaasUrl(
      'The MAAS URL including /MAAS, e.g. http://10.77.0.2:5240/MAAS; the API is under <url>/api/2.0/.',
    ),
    apiKeySecretRef: SecretKeyRefSchema,
  },
  { description: 'An existing MAAS, reached with an API key (consumer:token:secret).' },
);

/** `spec.maas.dhcp`. */
export const MaasDhcpSchema = Type.Object(
  {
    dynamicRange: Type.Optional(
      Type.Object(
        {
          start: IPv4Address('The first address of the range.'),
          end: IPv4Address('The last address of the range.'),
        },
        {
          description:
            "MAAS's dynamic range on the PXE network's subnet; default the upper half of the subnet (without the broadcast address).",
          ...celRules({
            rule: `!isIP(self.start) || !isIP(self.end) || ${ipv4ToInt('self.start')} <= ${ipv4ToInt('self.end')}`,
            message: 'dynamicRange.start must not be after dynamicRange.end',
          }),
        },
      ),
    ),
  },
  { description: 'How MAAS serves DHCP on the PXE network.' },
);

/** `MaasLab.spec.maas`. */
export const LabMaasSchema = Type.Object(
  {
    external: Type.Optional(ExternalMaasSchema),
    commission: Type.Optional(
      Type.Boolean({
        description: 'Commission each machine once enlisted (MAAS powers it on).',
        default: true,
      }),
    ),
    architecture: Type.Optional(
      Type.String({
        description: 'The MAAS architecture of every machine, e.g. amd64/generic.',
        default: DefaultMaasArchitecture,
        minLength: 3,
        maxLength: 64,
        pattern: '^[a-z0-9]+/[a-z0-9._-]+$',
      }),
    ),
    dhcp: Type.Optional(MaasDhcpSchema),
  },
  {
    description:
      "The MAAS this lab is enlisted in. The PXE network is the network of the node template's first interface; it must have no libvirt DHCP.",
    // Exactly one variant: a later `controller` joins the count.
    ...celRules({
      rule: '(has(self.external) ? 1 : 0) == 1',
      message: 'spec.maas needs exactly one of external',
    }),
  },
);

/** `MaasLab.status.maas`. */
export const LabMaasStatusSchema = Type.Object(
  {
    url: Type.Optional(Type.String({ description: 'The MAAS URL in use.', maxLength: 2048 })),
    version: Type.Optional(
      Type.String({ description: 'What MAAS says its version is.', maxLength: 64 }),
    ),
    rackSystemId: Type.Optional(
      Type.String({
        description: "The rack controller serving the PXE network's DHCP.",
        maxLength: 64,
      }),
    ),
    apiKeySecretRef: Type.Optional(SecretKeyRefSchema),
  },
  { description: 'The MAAS the lab uses, as last seen.' },
);

/** `MaasNode.status.maas`. */
export const NodeMaasStatusSchema = Type.Object(
  {
    systemId: Type.Optional(
      Type.String({ description: "The machine's MAAS system_id.", maxLength: 64 }),
    ),
    statusName: Type.Optional(
      Type.String({
        description: "MAAS's status name: New, Commissioning, Ready, …",
        maxLength: 64,
      }),
    ),
    statusMessage: Type.Optional(
      Type.String({ description: "MAAS's status message.", maxLength: 1024 }),
    ),
    powerState: Type.Optional(
      Type.String({ description: 'on, off, unknown or error, as MAAS sees it.', maxLength: 16 }),
    ),
    url: Type.Optional(
      Type.String({
        description:
          'The MAAS the machine was enlisted in: the finalizer deletes it there even after the lab is gone.',
        maxLength: 2048,
      }),
    ),
    apiKeySecretRef: Type.Optional(SecretKeyRefSchema),
  },
  { description: "MAAS's view of the node's machine." },
);

/** `MaasLab.spec.maas`. */
export type LabMaas = Static<typeof LabMaasSchema>;
/** `MaasLab.status.maas`. */
export type LabMaasStatus = Static<typeof LabMaasStatusSchema>;
/** `MaasNode.status.maas`. */
export type NodeMaasStatus = Static<typeof NodeMaasStatusSchema>;
/** A Secret key reference. */
export type SecretKeyRef = Static<typeof SecretKeyRefSchema>;
