/**
 * Hypervisor (cluster-scoped, short name `hv`): one libvirt connection, the place where
 * VirtNetworks and MaasNodes are built. The manual recipe's `--connect qemu:///system`.
 */
import { Type, type Static } from '@sinclair/typebox';
import {
  ConditionsSchema,
  ObjectMetaSchema,
  ObservedGenerationSchema,
  QuantitySchema,
  ReadyColumn,
  celRules,
  type KindInfo,
} from './common.js';
import { HypervisorBmcSchema } from './bmc.js';
import { GroupVersion } from './group.js';

/** The kind name. */
export const HypervisorKind = 'Hypervisor';

/** Ready=False: the configured storage pool is missing and `storagePoolPath` is not set. */
export const StoragePoolNotFoundReason = 'StoragePoolNotFound';
/** Ready=True but nothing new is placed here: `spec.unschedulable` is set. */
export const UnschedulableReason = 'Unschedulable';

/** What the operator may use on one libvirt host. */
export const HypervisorSpecSchema = Type.Object(
  {
    uri: Type.String({
      description:
        'The libvirt connection URI, e.g. qemu:///system, qemu+ssh://maas@host/system or test:///default.',
      minLength: 4,
      maxLength: 1024,
      pattern: '^[a-z][a-z0-9+.-]*://[^\\s]*$',
    }),
    storagePool: Type.Optional(
      Type.String({
        description: 'The libvirt storage pool where node disks are created.',
        default: 'default',
        minLength: 1,
        maxLength: 253,
        pattern: '^[^/\\s]+$',
      }),
    ),
    storagePoolPath: Type.Optional(
      Type.String({
        description:
          'An absolute directory. When set and the storage pool is missing, the operator defines a dir pool there.',
        minLength: 2,
        maxLength: 4096,
        pattern: '^/[^\\x00]*$',
        ...celRules({
          rule: "!self.endsWith('/')",
          message: 'storagePoolPath must not end with a slash',
        }),
      }),
    ),
    unschedulable: Type.Optional(
      Type.Boolean({
        description:
          'When true, nothing new is placed on this hypervisor; what already runs there is kept.',
        default: false,
      }),
    ),
    bmc: Type.Optional(HypervisorBmcSchema),
    maasPowerAddress: Type.Optional(
      Type.String({
        description:
          "The libvirt URI MAAS's virsh power driver uses for this host, e.g. qemu+ssh://maas@10.77.0.1/system. Default: spec.uri when it names a host and has no query (MAAS's driver refuses one).",
        minLength: 4,
        maxLength: 1024,
        pattern: '^[a-z][a-z0-9+.-]*://[^\\s?#]+$',
      }),
    ),
  },
  { description: 'What the operator may use on the host.' },
);

/** CPUs and memory of a host, or of what maaslab placed on it. */
const resources = (description: string) =>
  Type.Object(
    {
      cpus: Type.Optional(
        Type.Integer({ description: 'Logical CPUs.', format: 'int32', minimum: 0 }),
      ),
      memory: Type.Optional(QuantitySchema({ description: 'Memory, as a quantity.' })),
    },
    { description },
  );

/** CPUs and memory. */
export const ResourcesSchema = resources('CPUs and memory.');

/** What the hypervisor reported at the last reconcile. */
export const HypervisorStatusSchema = Type.Object(
  {
    observedGeneration: Type.Optional(ObservedGenerationSchema),
    conditions: Type.Optional(ConditionsSchema),
    hostname: Type.Optional(
      Type.String({ description: "The host's hostname (virConnectGetHostname).", maxLength: 253 }),
    ),
    libvirtVersion: Type.Optional(
      Type.String({ description: "libvirtd's version, e.g. 11.3.0.", maxLength: 64 }),
    ),
    hypervisorVersion: Type.Optional(
      Type.String({
        description: "The hypervisor driver's version, e.g. QEMU 10.0.0.",
        maxLength: 64,
      }),
    ),
    capacity: Type.Optional(resources('What the host has.')),
    allocated: Type.Optional(
      Type.Object(
        {
          ...resources('').properties,
          snapshotStorage: Type.Optional(
            QuantitySchema({
              description:
                'Space the golden volumes of the ready MaasLabSnapshots on this host take; absent when there are none.',
            }),
          ),
        },
        {
          description: 'What the MaasNodes on this host were given, and what their snapshots take.',
        },
      ),
    ),
    domains: Type.Optional(
      Type.Integer({
        description: 'How many libvirt domains maaslab manages on this host.',
        format: 'int32',
        minimum: 0,
      }),
    ),
  },
  { description: 'What the host reported at the last reconcile.' },
);

/** A Hypervisor object. */
export const HypervisorSchema = Type.Object(
  {
    apiVersion: Type.Optional(Type.Literal(GroupVersion, { description: 'maaslab.dev/v1alpha1.' })),
    kind: Type.Optional(Type.Literal(HypervisorKind, { description: 'Hypervisor.' })),
    metadata: Type.Optional(ObjectMetaSchema),
    spec: HypervisorSpecSchema,
    status: Type.Optional(HypervisorStatusSchema),
  },
  { description: 'A libvirt host the operator builds networks and nodes on.' },
);

/** Hypervisor spec. */
export type HypervisorSpec = Static<typeof HypervisorSpecSchema>;
/** Hypervisor status. */
export type HypervisorStatus = Static<typeof HypervisorStatusSchema>;
/** Host resources. */
export type Resources = Static<typeof ResourcesSchema>;
/** A whole Hypervisor object. */
export type Hypervisor = Static<typeof HypervisorSchema>;

/** The Hypervisor CRD. */
export const HypervisorKindInfo: KindInfo = {
  kind: HypervisorKind,
  plural: 'hypervisors',
  singular: 'hypervisor',
  shortNames: ['hv'],
  scope: 'Cluster',
  schema: HypervisorSchema,
  printerColumns: [
    { name: 'URI', type: 'string', jsonPath: '.spec.uri', description: 'The libvirt URI.' },
    ReadyColumn,
    { name: 'CPUs', type: 'integer', jsonPath: '.status.capacity.cpus', description: 'Host CPUs.' },
    {
      name: 'Memory',
      type: 'string',
      jsonPath: '.status.capacity.memory',
      description: 'Host memory.',
    },
  ],
  selectableFields: [],
};
