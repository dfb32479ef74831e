/**
 * MaasLab (namespaced, short name `lab`): a whole virtual MAAS lab — its networks and
 * `count` identical nodes — the manual recipe in one object. The MaasLab controller writes
 * one VirtNetwork `<lab>-<network>` per network and one MaasNode `<lab>-<namePrefix><i>`
 * per node, i = 1..count.
 *
 * MAC index space: with `macPrefix`, node i's first NIC gets `<macPrefix>:<i as two hex
 * digits>`; i runs from 1 (`:01`) to 255 (`:ff`), so `count` is at most 255 when
 * `macPrefix` is set (`:00` is never used). Without `macPrefix` count may go to 500 and
 * MACs are derived from namespace, name and index.
 */
import { Type, type Static } from '@sinclair/typebox';
import {
  ConditionsSchema,
  DnsLabel,
  MacPrefixPattern,
  ObjectMetaSchema,
  ObjectName,
  ObservedGenerationSchema,
  StringEnum,
  ReadyColumn,
  celRules,
  type KindInfo,
  immutable,
} from './common.js';
import { GroupVersion } from './group.js';
import { LabMaasSchema, LabMaasStatusSchema } from './maas.js';
import { MaasNodeTemplateSchema } from './maas-node.js';
import { networkProperties, networkRules } from './virt-network.js';

/** The kind name. */
export const MaasLabKind = 'MaasLab';

/**
 * The label every child of a lab (VirtNetwork, MaasNode) carries, naming its lab: the lab
 * controller's lists and watches select on it, and so does `kubectl maaslab`.
 */
export const LabLabel = 'maaslab.dev/lab';

/** Ready=False: some nodes are not Ready yet. */
export const NodesNotReadyReason = 'NodesNotReady';
/** Ready=False: some lab networks are not Ready yet. */
export const NetworksNotReadyReason = 'NetworksNotReady';
/**
 * Stalled=True: a MAC this lab would give a node is already claimed on the same hypervisor by
 * an older lab or a stand-alone MaasNode; the message names the MAC and every claimant.
 */
export const MacCollisionReason = 'MacCollision';

/**
 * Stalled=True: spec.restoreFrom names a snapshot that does not exist, failed, or is of a lab
 * of another shape; the restore is not started and the lab is left as it is.
 */
export const RestoreRefusedReason = 'RestoreRefused';
/** Reconciling=True: a restore from spec.restoreFrom is in progress; status.restore says where. */
export const RestoringReason = 'Restoring';

/**
 * status.restore.phase: Pending (waiting for the snapshot or for another capture of the lab),
 * Holding (the lab's MaasNodes are asked to stand still), Stopping (members powered off),
 * Restoring (volumes returned to the snapshot), Starting (holds released, controller first),
 * Completed, Refused (the snapshot cannot be restored into this lab; nothing was touched).
 */
export const RestorePhases = [
  'Pending',
  'Holding',
  'Stopping',
  'Restoring',
  'Starting',
  'Completed',
  'Refused',
] as const;
/** A restore's phase. */
export type RestorePhase = (typeof RestorePhases)[number];

/** The largest node index whose MAC fits the two-hex-digit suffix of `macPrefix`. */
export const MaxMacPrefixNodes = 255;
/** The largest lab. */
export const MaxLabNodes = 500;

/**
 * status.printableStatus values: Pending (nothing built yet), Provisioning (children being
 * created), Ready (every network and node Ready), Degraded (was Ready, some child is not),
 * Terminating, Failed (Stalled), Unknown (the hypervisor cannot be reached).
 */
export const MaasLabPrintableStatuses = [
  'Pending',
  'Provisioning',
  'Ready',
  'Degraded',
  'Terminating',
  'Failed',
  'Unknown',
] as const;
/** A MaasLab's printable status. */
export type MaasLabPrintableStatus = (typeof MaasLabPrintableStatuses)[number];

/** One lab network; it becomes VirtNetwork `<lab>-<name>`. */
export const LabNetworkSchema = Type.Object(
  {
    name: DnsLabel('The short name; node template interfaces refer to it.', { maxLength: 32 }),
    ...networkProperties,
  },
  { description: 'A lab network.', ...celRules(...networkRules) },
);

/** The lab's nodes. */
export const LabNodesSchema = Type.Object(
  {
    count: Type.Integer({
      description: `How many nodes, 0 to ${MaxLabNodes} (at most ${MaxMacPrefixNodes} with macPrefix).`,
      format: 'int32',
      minimum: 0,
      maximum: MaxLabNodes,
    }),
    namePrefix: Type.Optional(
      Type.String({
        description: 'Node i is MaasNode <lab>-<namePrefix><i>.',
        default: 'node',
        minLength: 1,
        maxLength: 32,
        pattern: '^[a-z0-9][-a-z0-9]*$',
      }),
    ),
    macPrefix: Type.Optional(
      Type.String({
        description:
          "Five octets of a unicast MAC, e.g. 52:54:00:7f:04. Node i's first NIC gets <macPrefix>:<i as two hex digits>, i = 1..255.",
        minLength: 14,
        maxLength: 14,
        pattern: MacPrefixPattern,
      }),
    ),
    template: Type.Optional(MaasNodeTemplateSchema),
  },
  {
    description: "The lab's nodes, all alike.",
    ...celRules({
      rule: `!has(self.macPrefix) || self.count <= ${MaxMacPrefixNodes}`,
      message: `count must be at most ${MaxMacPrefixNodes} with macPrefix: node i's MAC ends in i as two hex digits (01..ff)`,
      fieldPath: '.count',
    }),
  },
);

/** What lab to build. */
export const MaasLabSpecSchema = Type.Object(
  {
    hypervisor: ObjectName(
      'The Hypervisor the whole lab runs on. Immutable.',
      celRules(immutable('hypervisor')),
    ),
    networks: Type.Optional(
      Type.Array(LabNetworkSchema, {
        description: 'The lab networks, keyed by name.',
        maxItems: 8,
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['name'],
      }),
    ),
    nodes: LabNodesSchema,
    maas: Type.Optional(LabMaasSchema),
    restoreFrom: Type.Optional(
      Type.Object(
        {
          snapshot: ObjectName('The MaasLabSnapshot, in the same namespace, to return to.'),
          token: Type.String({
            description:
              'Any string; a restore runs once per token. Set a new one to restore again (from the same snapshot or another).',
            minLength: 1,
            maxLength: 63,
            pattern: '^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$',
          }),
        },
        {
          description:
            'Return every member of the lab to a MaasLabSnapshot: all stop, their disks go back to the snapshot, and they start again, the MAAS controller first.',
        },
      ),
    ),
  },
  {
    description: 'The lab to build.',
    ...celRules(
      {
        rule:
          '!has(self.nodes.template) || !has(self.nodes.template.interfaces) || ' +
          'self.nodes.template.interfaces.all(i, has(self.networks) && self.networks.exists(n, n.name == i.network))',
        message: 'every nodes.template.interfaces[].network must name one of spec.networks',
        fieldPath: '.nodes.template.interfaces',
      },
      {
        rule:
          '!has(self.maas) || !has(self.maas.controller) || !has(self.maas.controller.uplink) || ' +
          "(has(self.networks) && self.networks.exists(n, n.name == self.maas.controller.uplink && (!has(n.mode) || n.mode != 'isolated')))",
        message:
          'maas.controller.uplink must name one of spec.networks that reaches out (mode nat, route or bridge, not isolated)',
        fieldPath: '.maas.controller.uplink',
      },
    ),
  },
);

/** Ready and total counts of a lab's children. */
const readyCounts = (description: string, withSummary: boolean) =>
  Type.Object(
    {
      ready: Type.Optional(
        Type.Integer({ description: 'How many are Ready.', format: 'int32', minimum: 0 }),
      ),
      total: Type.Optional(
        Type.Integer({ description: 'How many there are.', format: 'int32', minimum: 0 }),
      ),
      ...(withSummary
        ? {
            summary: Type.Optional(
              Type.String({ description: '"ready/total", for the Nodes column.', maxLength: 16 }),
            ),
          }
        : {}),
    },
    { description },
  );

/** What the lab's children report. */
export const MaasLabStatusSchema = Type.Object(
  {
    observedGeneration: Type.Optional(ObservedGenerationSchema),
    conditions: Type.Optional(ConditionsSchema),
    printableStatus: Type.Optional(
      StringEnum(MaasLabPrintableStatuses, {
        description: 'A one-word summary for humans; machines read the conditions.',
      }),
    ),
    networks: Type.Optional(readyCounts('The lab VirtNetworks.', false)),
    nodes: Type.Optional(readyCounts('The lab MaasNodes.', true)),
    maas: Type.Optional(LabMaasStatusSchema),
    restore: Type.Optional(
      Type.Object(
        {
          snapshot: Type.String({ description: 'The snapshot restored from.', maxLength: 253 }),
          token: Type.String({
            description: 'The spec.restoreFrom.token this is for.',
            maxLength: 63,
          }),
          phase: StringEnum(RestorePhases, { description: 'Where the restore is.' }),
          message: Type.Optional(
            Type.String({ description: 'What it is doing or waiting for.', maxLength: 1024 }),
          ),
          failedMember: Type.Optional(
            Type.String({
              description: 'The member whose last step failed (retried).',
              maxLength: 253,
            }),
          ),
          membersRestored: Type.Optional(
            Type.Integer({
              description: 'Members whose volumes are back.',
              format: 'int32',
              minimum: 0,
            }),
          ),
          membersTotal: Type.Optional(
            Type.Integer({ description: 'Members of the snapshot.', format: 'int32', minimum: 0 }),
          ),
          startTime: Type.Optional(
            Type.String({ description: 'When it started.', format: 'date-time' }),
          ),
          completionTime: Type.Optional(
            Type.String({ description: 'When it completed.', format: 'date-time' }),
          ),
        },
        { description: 'The last restore requested by spec.restoreFrom.' },
      ),
    ),
    snapshots: Type.Optional(
      Type.Object(
        {
          count: Type.Integer({
            description: 'Ready MaasLabSnapshots of this lab.',
            format: 'int32',
            minimum: 0,
          }),
          bytes: Type.Integer({
            description: 'Space their golden volumes take on the host.',
            minimum: 0,
          }),
        },
        { description: "The lab's snapshots' storage." },
      ),
    ),
  },
  { description: "What the lab's VirtNetworks and MaasNodes report." },
);

/** A MaasLab object. */
export const MaasLabSchema = Type.Object(
  {
    apiVersion: Type.Optional(Type.Literal(GroupVersion, { description: 'maaslab.dev/v1alpha1.' })),
    kind: Type.Optional(Type.Literal(MaasLabKind, { description: 'MaasLab.' })),
    metadata: Type.Optional(ObjectMetaSchema),
    spec: MaasLabSpecSchema,
    status: Type.Optional(MaasLabStatusSchema),
  },
  {
    description: 'A virtual MAAS lab: networks and identical nodes on one Hypervisor.',
    ...celRules({
      rule: '!has(self.spec.nodes.namePrefix) || size(self.metadata.name) + size(self.spec.nodes.namePrefix) + 4 <= 63',
      message:
        'metadata.name and spec.nodes.namePrefix are too long: node names <lab>-<namePrefix><i> must fit in 63 characters',
      fieldPath: '.spec.nodes.namePrefix',
    }),
  },
);

/** A lab network. */
export type LabNetwork = Static<typeof LabNetworkSchema>;
/** A lab's nodes. */
export type LabNodes = Static<typeof LabNodesSchema>;
/** MaasLab spec. */
export type MaasLabSpec = Static<typeof MaasLabSpecSchema>;
/** MaasLab status. */
export type MaasLabStatus = Static<typeof MaasLabStatusSchema>;
/** A whole MaasLab object. */
export type MaasLab = Static<typeof MaasLabSchema>;

/** The MaasLab CRD. */
export const MaasLabKindInfo: KindInfo = {
  kind: MaasLabKind,
  plural: 'maaslabs',
  singular: 'maaslab',
  shortNames: ['lab'],
  scope: 'Namespaced',
  schema: MaasLabSchema,
  printerColumns: [
    {
      name: 'Hypervisor',
      type: 'string',
      jsonPath: '.spec.hypervisor',
      description: 'The Hypervisor.',
    },
    {
      name: 'Nodes',
      type: 'string',
      jsonPath: '.status.nodes.summary',
      description: 'Ready/total nodes.',
    },
    {
      name: 'Status',
      type: 'string',
      jsonPath: '.status.printableStatus',
      description: 'A one-word summary.',
    },
    {
      name: 'MAAS',
      type: 'string',
      jsonPath: '.status.maas.version',
      description: "MAAS's version, once reached.",
    },
    {
      name: 'MAAS-Reachable',
      type: 'string',
      jsonPath: '.status.conditions[?(@.type=="MaasReachable")].status',
      description: 'The status of the MaasReachable condition.',
      priority: 1,
    },
    {
      name: 'Restore',
      type: 'string',
      jsonPath: '.status.restore.phase',
      description: 'The last restore: where it is.',
      priority: 1,
    },
    ReadyColumn,
  ],
  selectableFields: [],
};
