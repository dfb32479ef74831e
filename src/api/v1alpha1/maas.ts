/**
 * MAAS in the lab: `MaasLab.spec.maas` (which MAAS the lab's nodes are enlisted in, and how
 * MAAS serves DHCP on the PXE network), `MaasLab.status.maas`, `MaasNode.status.maas`, and
 * the MAAS condition types and reasons. Two variants, exactly one of them: `external` (an
 * existing MAAS) and `controller` (the lab builds its own region+rack controller VM).
 */
import { Type, type Static } from '@sinclair/typebox';
import {
  DnsLabel,
  IPv4Address,
  ObjectName,
  QuantitySchema,
  celRules,
  ipv4ToInt,
  quantityBetween,
} from './common.js';

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
/** Lab with spec.maas.controller: the controller VM's image, disks and seed exist and it runs. */
export const ControllerReadyCondition = 'ControllerReady';

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
/** ControllerReady=False: the base image is being downloaded (status.maas.controller.image). */
export const ImageDownloadingReason = 'ImageDownloading';
/**
 * ControllerReady=False: a base volume this process did not write is read back and hashed
 * before a new overlay is made on it (one left half-written is removed and downloaded again).
 */
export const ImageVerifyingReason = 'ImageVerifying';
/** ControllerReady=False: the image download failed (HTTP error, connection); retried with backoff. */
export const ImageDownloadFailedReason = 'ImageDownloadFailed';
/** Stalled=True: the downloaded image's SHA-256 is not spec.maas.controller.image.sha256; the volume was removed. */
export const ImageChecksumMismatchReason = 'ImageChecksumMismatch';
/** ControllerReady=False: image.volume names a volume the pool does not have. */
export const ImageVolumeNotFoundReason = 'ImageVolumeNotFound';
/** ControllerReady=False: the disks, seed or domain are being made, or the domain is starting. */
export const ControllerProvisioningReason = 'Provisioning';
/** ControllerReady=True: the controller VM is defined and running. */
export const ControllerRunningReason = 'Running';
/** MaasReachable=False: the controller runs but its MAAS does not answer yet (installing). */
export const MaasInstallingReason = 'MaasInstalling';
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

/** The controller's defaults (issue 12: MAAS's test sizing, a little above its minimum). */
export const ControllerDefaults = {
  vcpus: 2,
  memory: '4Gi',
  diskSize: '40Gi',
  channel: '3.7/stable',
  adminUsername: 'admin',
} as const;
/** Bounds of the controller's memory: MAAS's region+rack needs about 2 GiB to start. */
export const ControllerMemoryBounds = { min: '1Gi', max: '256Gi' } as const;
/** Bounds of the controller's disk: it must hold the image and MAAS's boot images. */
export const ControllerDiskBounds = { min: '4Gi', max: '64Ti' } as const;

/** `spec.maas.controller.image`: a cloud image to download, or a volume already on the host. */
export const ControllerImageSchema = Type.Object(
  {
    url: Type.Optional(
      Type.String({
        description:
          'An http(s) URL of a qcow2 cloud image, e.g. an Ubuntu cloud image. Downloaded once per hypervisor into the storage pool as a read-only base volume named after its sha256.',
        minLength: 8,
        maxLength: 2048,
        pattern: '^https?://[^\\s#]+$',
      }),
    ),
    sha256: Type.Optional(
      Type.String({
        description:
          "The image file's SHA-256, 64 lowercase hex digits; checked while downloading.",
        minLength: 64,
        maxLength: 64,
        pattern: '^[0-9a-f]{64}$',
      }),
    ),
    volume: Type.Optional(
      Type.String({
        description: 'A qcow2 volume already in the pool; it becomes the backing file of the disk.',
        minLength: 1,
        maxLength: 253,
        pattern: '^[^/\\s]+$',
      }),
    ),
    pool: Type.Optional(
      Type.String({
        description: "The pool holding `volume`; default the Hypervisor's spec.storagePool.",
        minLength: 1,
        maxLength: 253,
        pattern: '^[^/\\s]+$',
      }),
    ),
  },
  {
    description:
      'The cloud image the controller disk starts from: {url, sha256} or {volume, pool}.',
    ...celRules({
      rule:
        '(has(self.url) && has(self.sha256) && !has(self.volume) && !has(self.pool)) || ' +
        '(has(self.volume) && !has(self.url) && !has(self.sha256))',
      message: 'image needs either url and sha256, or volume (and optionally pool)',
    }),
  },
);

/** `spec.maas.controller`: the lab's own MAAS region+rack controller VM. */
export const MaasControllerSchema = Type.Object(
  {
    image: ControllerImageSchema,
    vcpus: Type.Optional(
      Type.Integer({
        description: 'Virtual CPUs, 1 to 64.',
        format: 'int32',
        minimum: 1,
        maximum: 64,
        default: ControllerDefaults.vcpus,
      }),
    ),
    memory: Type.Optional(
      QuantitySchema({
        description: `Memory, ${ControllerMemoryBounds.min} to ${ControllerMemoryBounds.max}.`,
        default: ControllerDefaults.memory,
        ...celRules(
          quantityBetween('memory', ControllerMemoryBounds.min, ControllerMemoryBounds.max),
        ),
      }),
    ),
    diskSize: Type.Optional(
      QuantitySchema({
        description: `The disk's size (a thin qcow2 overlay on the image), ${ControllerDiskBounds.min} to ${ControllerDiskBounds.max}.`,
        default: ControllerDefaults.diskSize,
        ...celRules(
          quantityBetween('diskSize', ControllerDiskBounds.min, ControllerDiskBounds.max),
        ),
      }),
    ),
    channel: Type.Optional(
      Type.String({
        description: 'The MAAS snap channel, <track>/<risk>, pinned.',
        default: ControllerDefaults.channel,
        minLength: 3,
        maxLength: 72,
        pattern: '^[a-z0-9][a-z0-9.+~_-]{0,63}/(stable|candidate|beta|edge)$',
      }),
    ),
    address: Type.Optional(
      IPv4Address(
        "The controller's static IPv4 on the PXE network; default the subnet's .2 (the first address after the host's .1).",
      ),
    ),
    uplink: Type.Optional(
      DnsLabel(
        'A lab network with outbound access (mode nat, route or bridge), for the snap store and boot images; the controller takes DHCP and its default route there.',
        { maxLength: 32 },
      ),
    ),
    adminSecretRef: Type.Optional(
      Type.Object(
        { name: ObjectName('The Secret, in the lab namespace, with keys username and password.') },
        {
          description:
            "The MAAS administrator's Secret. When absent the operator generates <lab>-maas-admin and reports it in status.maas.controller.adminSecretRef.",
        },
      ),
    ),
    sshAuthorizedKeys: Type.Optional(
      Type.Array(
        Type.String({
          description: 'One OpenSSH public key line.',
          minLength: 16,
          maxLength: 16384,
          pattern:
            '^(ssh-[a-z0-9]+|ecdsa-sha2-nistp(256|384|521)|sk-[a-z0-9@.-]+) [A-Za-z0-9+/]+={0,3}( [ -~]*)?$',
        }),
        {
          description:
            "Keys for the VM's default user, also imported into the MAAS administrator's account.",
          maxItems: 32,
        },
      ),
    ),
  },
  { description: 'A MAAS region+rack controller VM the lab builds on its own hypervisor.' },
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
    controller: Type.Optional(MaasControllerSchema),
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
    ...celRules({
      rule: '(has(self.external) ? 1 : 0) + (has(self.controller) ? 1 : 0) == 1',
      message: 'spec.maas needs exactly one of external and controller',
    }),
  },
);

/** `MaasLab.status.maas.controller`. */
export const ControllerStatusSchema = Type.Object(
  {
    domain: Type.Optional(
      Type.String({ description: "The controller's libvirt domain.", maxLength: 253 }),
    ),
    address: Type.Optional(
      Type.String({ description: 'Its address on the PXE network.', maxLength: 64 }),
    ),
    baseVolume: Type.Optional(
      Type.String({
        description: 'The read-only base volume its disk is an overlay on (pool/volume).',
        maxLength: 512,
      }),
    ),
    image: Type.Optional(
      Type.Object(
        {
          bytesDone: Type.Optional(
            Type.Integer({ description: 'Bytes downloaded and uploaded so far.', minimum: 0 }),
          ),
          bytesTotal: Type.Optional(
            Type.Integer({ description: 'Bytes in the image (Content-Length).', minimum: 0 }),
          ),
        },
        { description: "The base image's download, while it runs and once done." },
      ),
    ),
    adminSecretRef: Type.Optional(
      Type.Object(
        { name: Type.String({ description: 'The Secret.', maxLength: 253 }) },
        { description: "The MAAS administrator's Secret (username, password)." },
      ),
    ),
  },
  { description: 'The controller VM, as last seen.' },
);

/** `MaasLab.status.maas`. */
export const LabMaasStatusSchema = Type.Object(
  {
    controller: Type.Optional(ControllerStatusSchema),
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
/** `MaasLab.spec.maas.controller`. */
export type MaasController = Static<typeof MaasControllerSchema>;
/** `MaasLab.status.maas.controller`. */
export type ControllerStatus = Static<typeof ControllerStatusSchema>;
/** A Secret key reference. */
export type SecretKeyRef = Static<typeof SecretKeyRefSchema>;
