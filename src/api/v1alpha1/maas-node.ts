/**
 * MaasNode (namespaced, short name `mn`): one virtual machine that MAAS commissions and
 * deploys — the manual recipe's `virt-install ... --pxe` for one node. MaasLab reuses the
 * node pieces here for its `spec.nodes.template`.
 */
import { Type, type Static } from '@sinclair/typebox';
import {
  ConditionsSchema,
  DnsLabel,
  MacAddress,
  ObjectMetaSchema,
  ObjectName,
  ObservedGenerationSchema,
  QuantitySchema,
  StringEnum,
  ReadyColumn,
  celRules,
  type KindInfo,
  immutable,
  quantityBetween,
  type ValidationRule,
} from './common.js';
import { NodeBmcSchema, NodeBmcStatusSchema, NodePowerStatusSchema } from './bmc.js';
import { GroupVersion } from './group.js';
import { NodeMaasStatusSchema } from './maas.js';

/** The kind name. */
export const MaasNodeKind = 'MaasNode';

/** CPU architectures. */
export const Architectures = ['x86_64', 'aarch64'] as const;
/** Firmware kinds. */
export const FirmwareKinds = ['bios', 'uefi'] as const;
/** Boot devices, in the order tried. */
export const BootDevices = ['network', 'disk'] as const;
/** Disk buses. */
export const DiskBuses = ['virtio', 'sata', 'scsi'] as const;
/** Disk image formats. */
export const DiskFormats = ['qcow2', 'raw'] as const;
/** What happens to a disk's volume when the MaasNode is deleted. */
export const DeletionPolicies = ['Delete', 'Retain'] as const;
/** NIC models. */
export const NicModels = ['virtio', 'e1000', 'rtl8139'] as const;
/**
 * KubeVirt's run strategies: Always keeps the domain running; Halted keeps it off; Manual and
 * Once leave power to MAAS (its virsh power driver, or the node's virtual BMC); Once starts it
 * once, at creation. Unset: Manual for a node with a BMC (a power-off through the BMC is not
 * undone), Always otherwise.
 */
export const RunStrategies = ['Always', 'Halted', 'Manual', 'Once'] as const;
/** A run strategy: Always, Halted, Manual or Once. */
export type RunStrategy = (typeof RunStrategies)[number];
/** How the operator stops a domain: ACPI shutdown, hard power-off, or save memory to disk. */
export const HaltModes = ['Shutdown', 'Destroy', 'Save'] as const;
/** A halt mode: Shutdown, Destroy or Save. */
export type HaltMode = (typeof HaltModes)[number];
/** status.printableStatus values, for humans; machines read the conditions. */
export const MaasNodePrintableStatuses = [
  'Pending',
  'Provisioning',
  'Starting',
  'Running',
  'Stopped',
  'Saved',
  'Paused',
  'Terminating',
  'Failed',
  'Unknown',
] as const;
/** A MaasNode's printable status. */
export type MaasNodePrintableStatus = (typeof MaasNodePrintableStatuses)[number];
/** libvirt domain states, as virsh names them (virDomainState). */
export const DomainStates = [
  'nostate',
  'running',
  'blocked',
  'paused',
  'shutdown',
  'shutoff',
  'crashed',
  'pmsuspended',
] as const;
/** An observed domain state. */
export type DomainState = (typeof DomainStates)[number];

/** Bounds of `spec.memory`. */
export const MemoryBounds = { min: '128Mi', max: '256Gi' } as const;
/** Bounds of `spec.disks[].size`. */
export const DiskSizeBounds = { min: '1Mi', max: '64Ti' } as const;

/** One virtual disk, a volume in the hypervisor's storage pool. */
export const DiskSchema = Type.Object(
  {
    name: DnsLabel("The disk's name, unique within the node; part of the volume name."),
    size: QuantitySchema({
      description: `The disk's capacity, ${DiskSizeBounds.min} to ${DiskSizeBounds.max}, e.g. 8Gi.`,
      ...celRules(quantityBetween('size', DiskSizeBounds.min, DiskSizeBounds.max)),
    }),
    bus: Type.Optional(
      StringEnum(DiskBuses, { description: 'The bus the guest sees.', default: 'virtio' }),
    ),
    format: Type.Optional(
      StringEnum(DiskFormats, { description: 'The volume format.', default: 'qcow2' }),
    ),
    pool: Type.Optional(
      Type.String({
        description: "The storage pool; the Hypervisor's spec.storagePool when unset.",
        minLength: 1,
        maxLength: 253,
        pattern: '^[^/\\s]+$',
      }),
    ),
    deletionPolicy: Type.Optional(
      StringEnum(DeletionPolicies, {
        description: 'Delete removes the volume with the node; Retain keeps it.',
        default: 'Delete',
      }),
    ),
  },
  { description: 'A virtual disk.' },
);

/** Interface names are unique within a node (names are optional, so not a list-map key). */
const uniqueInterfaceNames: ValidationRule = {
  rule: 'self.all(a, !has(a.name) || self.exists_one(b, has(b.name) && b.name == a.name))',
  message: 'interface names must be unique',
};

/** MACs are unique within a node, compared case-insensitively. */
const uniqueInterfaceMacs: ValidationRule = {
  rule: 'self.all(a, !has(a.mac) || self.exists_one(b, has(b.mac) && b.mac.lowerAscii() == a.mac.lowerAscii()))',
  message: 'interface MACs must be unique within a node',
};

const interfaceName = DnsLabel('An optional name for the NIC, unique within the node.');
const nicModel = StringEnum(NicModels, { description: 'The NIC model.', default: 'virtio' });

/** One NIC of a MaasNode. */
export const InterfaceSchema = Type.Object(
  {
    name: Type.Optional(interfaceName),
    network: ObjectName('The VirtNetwork, in the same namespace, the NIC plugs into.'),
    mac: Type.Optional(
      MacAddress(
        'A unicast MAC. When unset the operator derives one under 52:54:00 from the namespace, name and index, so it is stable.',
      ),
    ),
    model: Type.Optional(nicModel),
  },
  { description: 'A network interface.' },
);

/** One NIC of a MaasLab node template: the network is a lab network's short name. */
export const TemplateInterfaceSchema = Type.Object(
  {
    name: Type.Optional(interfaceName),
    network: DnsLabel("The short name of one of the lab's spec.networks."),
    model: Type.Optional(nicModel),
  },
  {
    description:
      "A network interface. MACs are not set here: the first NIC's comes from spec.nodes.macPrefix, the others are derived.",
  },
);

/** The VNC console. */
export const VncSchema = Type.Object(
  {
    enabled: Type.Optional(
      Type.Boolean({ description: 'Give the domain a VNC console.', default: true }),
    ),
    listen: Type.Optional(
      Type.String({
        description: 'The host address the VNC server listens on.',
        default: '127.0.0.1',
        minLength: 2,
        maxLength: 45,
        ...celRules({ rule: 'isIP(self)', message: 'vnc.listen must be an IP address' }),
      }),
    ),
  },
  { description: 'The VNC console, like virt-install --vnc.', default: {} },
);

/** The node fields a MaasNode and a MaasLab template share. */
const nodeProperties = {
  vcpus: Type.Optional(
    Type.Integer({
      description: 'Virtual CPUs, 1 to 64.',
      format: 'int32',
      minimum: 1,
      maximum: 64,
      default: 1,
    }),
  ),
  memory: Type.Optional(
    QuantitySchema({
      description: `Memory, ${MemoryBounds.min} to ${MemoryBounds.max}.`,
      default: '1Gi',
      ...celRules(quantityBetween('memory', MemoryBounds.min, MemoryBounds.max)),
    }),
  ),
  arch: Type.Optional(
    StringEnum(Architectures, { description: 'The guest CPU architecture.', default: 'x86_64' }),
  ),
  firmware: Type.Optional(
    StringEnum(FirmwareKinds, { description: 'BIOS or UEFI firmware.', default: 'bios' }),
  ),
  bootOrder: Type.Optional(
    Type.Array(StringEnum(BootDevices, { description: 'A boot device.' }), {
      description:
        'Boot devices in the order tried. MAAS needs network first to re-commission and redeploy; [disk, network] is the manual recipe\'s "hd,network".',
      default: ['network', 'disk'],
      minItems: 1,
      maxItems: 2,
      'x-kubernetes-list-type': 'set',
    }),
  ),
  disks: Type.Optional(
    Type.Array(DiskSchema, {
      description: 'Virtual disks, keyed by name.',
      maxItems: 16,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
    }),
  ),
  vnc: Type.Optional(VncSchema),
  runStrategy: Type.Optional(
    StringEnum(RunStrategies, {
      description:
        'Always keeps the domain running, Halted keeps it off; Manual and Once let MAAS drive power (virsh driver or the BMC). Unset: Manual with a BMC, Always without.',
    }),
  ),
  bmc: Type.Optional(NodeBmcSchema),
  haltMode: Type.Optional(
    StringEnum(HaltModes, {
      description:
        'How the domain is halted: Shutdown (ACPI), Destroy (power off), or Save (memory to disk, restored on start).',
      default: 'Shutdown',
    }),
  ),
  restartToken: Type.Optional(
    Type.String({
      description: 'The domain is rebooted whenever this value changes.',
      maxLength: 253,
    }),
  ),
};

/** What a MaasNode is. */
export const MaasNodeSpecSchema = Type.Object(
  {
    hypervisor: ObjectName(
      'The Hypervisor the node runs on. Immutable.',
      celRules(immutable('hypervisor')),
    ),
    domainName: Type.Optional(
      Type.String({
        description:
          'The libvirt domain name. Immutable. Defaults to <namespace>.<name>, reported in status.domainName.',
        minLength: 1,
        maxLength: 253,
        pattern: '^[A-Za-z0-9][-A-Za-z0-9_.]*$',
        ...celRules(immutable('domainName')),
      }),
    ),
    ...nodeProperties,
    interfaces: Type.Optional(
      Type.Array(InterfaceSchema, {
        description: 'Network interfaces, in guest order; the first is the PXE NIC.',
        maxItems: 16,
        ...celRules(uniqueInterfaceNames, uniqueInterfaceMacs),
      }),
    ),
    cloneFrom: Type.Optional(
      Type.Object(
        { name: ObjectName('A halted MaasNode in the same namespace.') },
        {
          description:
            'Copies the disks of another halted MaasNode, with new MACs, like virt-clone. Immutable.',
          ...celRules(immutable('cloneFrom')),
        },
      ),
    ),
  },
  {
    description: 'The virtual machine to build.',
    ...celRules(
      {
        rule: 'has(self.domainName) == has(oldSelf.domainName)',
        message: 'domainName is immutable: it cannot be added or removed after creation',
        fieldPath: '.domainName',
      },
      {
        rule: 'has(self.cloneFrom) == has(oldSelf.cloneFrom)',
        message: 'cloneFrom is immutable: it cannot be added or removed after creation',
        fieldPath: '.cloneFrom',
      },
      {
        rule: '!has(self.cloneFrom) || !has(self.disks) || size(self.disks) == 0',
        message: "disks must be empty with cloneFrom: the clone copies the source's disks",
        reason: 'FieldValueForbidden',
        fieldPath: '.disks',
      },
    ),
  },
);

/** The MaasNode spec minus hypervisor, domainName and cloneFrom: a MaasLab's node template. */
export const MaasNodeTemplateSchema = Type.Object(
  {
    ...nodeProperties,
    interfaces: Type.Optional(
      Type.Array(TemplateInterfaceSchema, {
        description: 'Network interfaces, in guest order; the first is the PXE NIC.',
        maxItems: 16,
        ...celRules(uniqueInterfaceNames),
      }),
    ),
  },
  {
    description: 'The spec of every node, minus hypervisor, domainName and cloneFrom.',
    default: {},
  },
);

const statusString = (description: string, maxLength = 253) =>
  Type.Optional(Type.String({ description, maxLength }));

/** What the operator observed about the node. */
export const MaasNodeStatusSchema = Type.Object(
  {
    observedGeneration: Type.Optional(ObservedGenerationSchema),
    conditions: Type.Optional(ConditionsSchema),
    printableStatus: Type.Optional(
      StringEnum(MaasNodePrintableStatuses, {
        description: 'A one-word summary for humans; machines read the conditions.',
      }),
    ),
    hypervisor: statusString('The Hypervisor the domain lives on.'),
    domainName: statusString('The libvirt domain name.'),
    uuid: statusString("The domain's libvirt UUID.", 36),
    state: Type.Optional(
      StringEnum(DomainStates, { description: 'The domain state libvirt reported.' }),
    ),
    interfaces: Type.Optional(
      Type.Array(
        Type.Object(
          {
            name: statusString('The NIC name, when the spec gives one.', 63),
            network: statusString('The VirtNetwork.'),
            mac: statusString('The MAC address in use.', 17),
            bridge: statusString('The Linux bridge the NIC is plugged into.', 15),
          },
          { description: 'A NIC as defined in libvirt.' },
        ),
        { description: 'The NICs, in spec order.', maxItems: 16 },
      ),
    ),
    disks: Type.Optional(
      Type.Array(
        Type.Object(
          {
            name: statusString('The disk name.', 63),
            volume: statusString('The storage volume name.'),
            path: statusString('The volume path on the host.', 4096),
            capacity: Type.Optional(QuantitySchema({ description: 'The volume capacity.' })),
          },
          { description: 'A disk as defined in libvirt.' },
        ),
        { description: 'The disks, in spec order.', maxItems: 16 },
      ),
    ),
    vnc: Type.Optional(
      Type.Object(
        {
          host: statusString('The address the VNC server listens on.', 45),
          port: Type.Optional(
            Type.Integer({
              description: 'The VNC TCP port.',
              format: 'int32',
              minimum: 0,
              maximum: 65535,
            }),
          ),
          display: statusString('host:port, for a VNC viewer and the VNC column.', 64),
        },
        { description: 'Where the VNC console is.' },
      ),
    ),
    power: Type.Optional(NodePowerStatusSchema),
    lastRestartToken: statusString('The spec.restartToken of the last reboot done.'),
    bmc: Type.Optional(NodeBmcStatusSchema),
    maas: Type.Optional(NodeMaasStatusSchema),
  },
  { description: 'What the operator observed at the last reconcile.' },
);

/** A MaasNode object. */
export const MaasNodeSchema = Type.Object(
  {
    apiVersion: Type.Optional(Type.Literal(GroupVersion, { description: 'maaslab.dev/v1alpha1.' })),
    kind: Type.Optional(Type.Literal(MaasNodeKind, { description: 'MaasNode.' })),
    metadata: Type.Optional(ObjectMetaSchema),
    spec: MaasNodeSpecSchema,
    status: Type.Optional(MaasNodeStatusSchema),
  },
  {
    description: 'A virtual machine for MAAS to commission and deploy.',
    ...celRules({
      rule: '!has(self.spec.cloneFrom) || self.spec.cloneFrom.name != self.metadata.name',
      message: 'spec.cloneFrom.name must name another MaasNode, not this one',
      fieldPath: '.spec.cloneFrom.name',
    }),
  },
);

/** A disk. */
export type Disk = Static<typeof DiskSchema>;
/** A NIC. */
export type Interface = Static<typeof InterfaceSchema>;
/** A template NIC. */
export type TemplateInterface = Static<typeof TemplateInterfaceSchema>;
/** The VNC console. */
export type Vnc = Static<typeof VncSchema>;
/** MaasNode spec. */
export type MaasNodeSpec = Static<typeof MaasNodeSpecSchema>;
/** A MaasLab node template. */
export type MaasNodeTemplate = Static<typeof MaasNodeTemplateSchema>;
/** MaasNode status. */
export type MaasNodeStatus = Static<typeof MaasNodeStatusSchema>;
/** A whole MaasNode object. */
export type MaasNode = Static<typeof MaasNodeSchema>;

/** The MaasNode CRD. */
export const MaasNodeKindInfo: KindInfo = {
  kind: MaasNodeKind,
  plural: 'maasnodes',
  singular: 'maasnode',
  shortNames: ['mn'],
  scope: 'Namespaced',
  schema: MaasNodeSchema,
  printerColumns: [
    {
      name: 'Hypervisor',
      type: 'string',
      jsonPath: '.spec.hypervisor',
      description: 'The Hypervisor.',
    },
    {
      name: 'Status',
      type: 'string',
      jsonPath: '.status.printableStatus',
      description: 'A one-word summary.',
    },
    {
      name: 'MAC',
      type: 'string',
      jsonPath: '.status.interfaces[0].mac',
      description: "The first NIC's MAC (the PXE NIC).",
    },
    {
      name: 'VNC',
      type: 'string',
      jsonPath: '.status.vnc.display',
      description: 'The VNC console, host:port.',
    },
    {
      name: 'MAAS',
      type: 'string',
      jsonPath: '.status.maas.statusName',
      description: "The machine's status in MAAS.",
    },
    ReadyColumn,
  ],
  selectableFields: ['.spec.hypervisor'],
};
