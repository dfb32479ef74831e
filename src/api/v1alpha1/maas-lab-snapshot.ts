/**
 * MaasLabSnapshot (namespaced, short name `labsnap`): one consistent point of a whole
 * MaasLab — every member domain (the MAAS controller first, where the lab has one, then the
 * nodes) and each of their disks — captured as read-only "golden" copies in the hypervisor's
 * storage pool. `MaasLab.spec.restoreFrom` returns a lab to it; deleting the snapshot frees
 * its golden volumes (finalizer).
 *
 * Capture is all or nothing: a failure part-way removes every golden volume made so far and
 * names the member that failed (phase Failed, Stalled CaptureFailed). A snapshot is never
 * captured twice: once Ready or Failed it stays so; make another to capture again.
 */
import { Type, type Static } from '@sinclair/typebox';
import {
  ConditionsSchema,
  ObjectMetaSchema,
  ObjectName,
  ObservedGenerationSchema,
  ReadyColumn,
  StringEnum,
  celRules,
  type KindInfo,
} from './common.js';
import { GroupVersion } from './group.js';

/** The kind name. */
export const MaasLabSnapshotKind = 'MaasLabSnapshot';

/**
 * Offline shuts every member down gracefully (ACPI; pulled after the grace period) and
 * captures disks at rest; Suspended pauses every member, captures, and resumes them, so the
 * lab is away only for the copy but its disks are crash-consistent.
 */
export const SnapshotModes = ['Offline', 'Suspended'] as const;
/** A capture mode. */
export type SnapshotMode = (typeof SnapshotModes)[number];
/** The mode of a snapshot whose spec names none (the CRD's default). */
export const DefaultSnapshotMode: SnapshotMode = 'Offline';

/**
 * Clean: the member was off, or shut down by its guest, when captured. CrashConsistent: it
 * was paused mid-run, or did not shut down within the grace period and was powered off: its
 * disks are as after a power cut.
 */
export const SnapshotConsistencies = ['Clean', 'CrashConsistent'] as const;
/** A member's consistency. */
export type SnapshotConsistency = (typeof SnapshotConsistencies)[number];

/** A member's role; the controller is restored and started first. */
export const SnapshotMemberRoles = ['Controller', 'Node'] as const;
/** A member's role. */
export type SnapshotMemberRole = (typeof SnapshotMemberRoles)[number];

/**
 * status.phase: Pending (nothing done yet), Holding (asking the lab's MaasNodes to stand
 * still), Stopping (shutting members down or pausing them), Capturing (copying disks),
 * Ready (readyToUse), Failed (a capture that failed and was rolled back; terminal),
 * Deleting.
 */
export const SnapshotPhases = [
  'Pending',
  'Holding',
  'Stopping',
  'Capturing',
  'Ready',
  'Failed',
  'Deleting',
] as const;
/** A snapshot's phase. */
export type SnapshotPhase = (typeof SnapshotPhases)[number];

/** Stalled=True: the lab named by spec.lab does not exist (and nothing was captured). */
export const LabNotFoundReason = 'LabNotFound';
/** Stalled=True: the capture failed part-way; what was made is removed; the message names the member. */
export const CaptureFailedReason = 'CaptureFailed';
/** Reconciling=True: another snapshot or a restore holds the lab; this one waits its turn. */
export const LabBusyReason = 'LabBusy';
/** Reconciling=True: waiting for the lab's MaasNodes to acknowledge the hold. */
export const HoldingReason = 'Holding';
/** Reconciling=True: members are shutting down (Offline) or being paused (Suspended). */
export const StoppingReason = 'Stopping';
/** Ready=True: captured and usable by MaasLab.spec.restoreFrom. */
export const SnapshotReadyReason = 'SnapshotReady';

/** Bounds of spec.shutdownGracePeriodSeconds. */
export const ShutdownGraceBounds = { min: 0, max: 3600, default: 120 } as const;

/** What to capture. Immutable: a snapshot is one point in time. */
export const MaasLabSnapshotSpecSchema = Type.Object(
  {
    lab: ObjectName('The MaasLab, in the same namespace, to capture.'),
    mode: Type.Optional(
      StringEnum(SnapshotModes, {
        description:
          'Offline shuts every member down first (clean disks); Suspended pauses them, captures and resumes them (crash-consistent). Immutable.',
        default: DefaultSnapshotMode,
      }),
    ),
    shutdownGracePeriodSeconds: Type.Optional(
      Type.Integer({
        description: `Offline: how long a guest has to power itself off after the ACPI request before it is powered off (and marked CrashConsistent). ${ShutdownGraceBounds.min} to ${ShutdownGraceBounds.max}.`,
        format: 'int32',
        minimum: ShutdownGraceBounds.min,
        maximum: ShutdownGraceBounds.max,
        default: ShutdownGraceBounds.default,
      }),
    ),
  },
  {
    description: 'The lab to capture, and how. Immutable: a snapshot is one point in time.',
    ...celRules({
      rule: 'self == oldSelf',
      message: 'spec is immutable: a snapshot is one point in time; create another snapshot',
    }),
  },
);

/** One captured disk. */
export const SnapshotVolumeSchema = Type.Object(
  {
    disk: Type.String({
      description: "The MaasNode disk's name; UEFI-VARS for a UEFI node's NVRAM.",
      maxLength: 63,
    }),
    pool: Type.String({ description: 'The storage pool of both volumes.', maxLength: 253 }),
    source: Type.String({ description: 'The member volume captured.', maxLength: 253 }),
    golden: Type.String({ description: 'The read-only copy in the pool.', maxLength: 253 }),
    format: Type.String({ description: 'The volume format of the member volume.', maxLength: 16 }),
    capacityBytes: Type.Integer({ description: 'Virtual size.', minimum: 0 }),
    sizeBytes: Type.Integer({
      description: 'Space the golden copy takes on the host.',
      minimum: 0,
    }),
  },
  { description: 'A captured disk, or the NVRAM of a UEFI node.' },
);

/** One captured member. */
export const SnapshotMemberSchema = Type.Object(
  {
    role: StringEnum(SnapshotMemberRoles, { description: 'Controller or Node.' }),
    index: Type.Integer({
      description:
        'Node i of the lab (1-based); 0 for the controller. A restore maps members by it.',
      format: 'int32',
      minimum: 0,
    }),
    domain: Type.String({ description: 'The libvirt domain captured.', maxLength: 253 }),
    volumes: Type.Array(SnapshotVolumeSchema, { description: 'Its disks.', maxItems: 16 }),
    sizeBytes: Type.Integer({ description: 'Space its golden copies take.', minimum: 0 }),
    consistency: StringEnum(SnapshotConsistencies, { description: 'Clean or CrashConsistent.' }),
  },
  { description: 'A captured lab member.' },
);

/** What was captured. */
export const MaasLabSnapshotStatusSchema = Type.Object(
  {
    observedGeneration: Type.Optional(ObservedGenerationSchema),
    conditions: Type.Optional(ConditionsSchema),
    phase: Type.Optional(StringEnum(SnapshotPhases, { description: 'Where the capture is.' })),
    readyToUse: Type.Optional(
      Type.Boolean({ description: 'Captured and usable by MaasLab.spec.restoreFrom.' }),
    ),
    creationTime: Type.Optional(
      Type.String({ description: 'When the capture completed (RFC 3339).', format: 'date-time' }),
    ),
    stopRequestedAt: Type.Optional(
      Type.String({
        description: 'Offline: when the members were asked to shut down (RFC 3339).',
        format: 'date-time',
      }),
    ),
    hypervisor: Type.Optional(
      Type.String({ description: 'Where the golden volumes are.', maxLength: 253 }),
    ),
    members: Type.Optional(
      Type.Array(SnapshotMemberSchema, { description: 'The members captured.', maxItems: 512 }),
    ),
    membersCaptured: Type.Optional(
      Type.Integer({
        description:
          'Members whose disks are copied so far: counts up while Capturing, equals membersTotal once Ready, and is 0 after a failed capture is rolled back.',
        format: 'int32',
        minimum: 0,
      }),
    ),
    membersTotal: Type.Optional(
      Type.Integer({
        description: 'Members the capture copies: the controller VM, if any, and every node.',
        format: 'int32',
        minimum: 0,
      }),
    ),
    failedMember: Type.Optional(
      Type.String({ description: 'The domain whose capture failed.', maxLength: 253 }),
    ),
    sizeBytes: Type.Optional(
      Type.Integer({ description: 'Space all golden copies take on the host.', minimum: 0 }),
    ),
    size: Type.Optional(
      Type.String({ description: 'sizeBytes for humans, e.g. 1.2Gi.', maxLength: 16 }),
    ),
  },
  { description: 'What the capture made.' },
);

/** A MaasLabSnapshot object. */
export const MaasLabSnapshotSchema = Type.Object(
  {
    apiVersion: Type.Optional(Type.Literal(GroupVersion, { description: 'maaslab.dev/v1alpha1.' })),
    kind: Type.Optional(Type.Literal(MaasLabSnapshotKind, { description: 'MaasLabSnapshot.' })),
    metadata: Type.Optional(ObjectMetaSchema),
    spec: MaasLabSnapshotSpecSchema,
    status: Type.Optional(MaasLabSnapshotStatusSchema),
  },
  { description: 'One consistent point of a whole MaasLab: every member and disk.' },
);

/** MaasLabSnapshot spec. */
export type MaasLabSnapshotSpec = Static<typeof MaasLabSnapshotSpecSchema>;
/** MaasLabSnapshot status. */
export type MaasLabSnapshotStatus = Static<typeof MaasLabSnapshotStatusSchema>;
/** A captured member. */
export type SnapshotMember = Static<typeof SnapshotMemberSchema>;
/** A captured disk. */
export type SnapshotVolume = Static<typeof SnapshotVolumeSchema>;
/** A whole MaasLabSnapshot. */
export type MaasLabSnapshot = Static<typeof MaasLabSnapshotSchema>;

/** The MaasLabSnapshot CRD. */
export const MaasLabSnapshotKindInfo: KindInfo = {
  kind: MaasLabSnapshotKind,
  plural: 'maaslabsnapshots',
  singular: 'maaslabsnapshot',
  shortNames: ['labsnap'],
  scope: 'Namespaced',
  schema: MaasLabSnapshotSchema,
  printerColumns: [
    { name: 'Lab', type: 'string', jsonPath: '.spec.lab', description: 'The lab captured.' },
    { name: 'Mode', type: 'string', jsonPath: '.spec.mode', description: 'Offline or Suspended.' },
    {
      name: 'Phase',
      type: 'string',
      jsonPath: '.status.phase',
      description: 'Where the capture is.',
    },
    {
      name: 'ReadyToUse',
      type: 'boolean',
      jsonPath: '.status.readyToUse',
      description: 'Usable by a restore.',
    },
    { name: 'Size', type: 'string', jsonPath: '.status.size', description: 'Space on the host.' },
    ReadyColumn,
  ],
  selectableFields: [],
};
