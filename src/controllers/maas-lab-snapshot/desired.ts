// Lab snapshots, the pure part: which domains and volumes make up a lab (its members, in the
// order a restore starts them), the golden volume each disk is captured into, the members'
// consistency, and the plan of a restore (which golden volume goes back into which volume of
// which node, or why the snapshot does not fit the lab). No I/O, no clock.
import {
  type Hypervisor,
  type MaasLab,
  type MaasLabSnapshot,
  type MaasNode,
  type SnapshotConsistency,
  type SnapshotMember,
  type SnapshotMemberRole,
  type SnapshotMode,
} from '../../api/v1alpha1/index.js';
import type { DomainStateName, VolumeSpec } from '../../libvirt/hypervisor/index.js';
import type { OwnerRef, ParsedVolume } from '../../libvirt/xml/index.js';
import { controllerOwner, controllerPlan } from '../maas/controller-desired.js';
import { desiredVolumes, domainNameFor, nodeOwner, nvramVolume } from '../maas-node/desired.js';

/** One domain of a lab with the volumes that hold its disks. */
export interface LabMember {
  /** Controller members are restored and started before nodes. */
  readonly role: SnapshotMemberRole;
  /** Node i of the lab (1-based); 0 for the controller. */
  readonly index: number;
  /**
   * The MaasNode behind a node member (held while captured or restored); absent for the
   * controller VM, which the MaasLab controller makes and its lab's hold covers.
   */
  readonly node?: Readonly<MaasNode>;
  /** Its libvirt domain. */
  readonly domain: string;
  /** The stamp its domain carries: the only domain the verbs will act on. */
  readonly owner: OwnerRef;
  /** Its volumes, in disk order, with the disk each backs; a UEFI node's NVRAM last. */
  readonly volumes: readonly MemberVolume[];
}

/**
 * One volume of a member and the disk it backs ({@link NVRAM_DISK} for a UEFI node's NVRAM).
 * `madeOutside`: libvirt makes it at the domain's first start (the NVRAM): it may not exist
 * yet, its pool may not list it before a refresh, and its capacity is 0 ("as it is").
 */
export type MemberVolume = VolumeSpec & {
  readonly disk: string;
  readonly madeOutside?: boolean;
};

/** A node's member volumes: its disks' volumes in disk order, then its NVRAM (UEFI). */
export function memberVolumes(
  node: Readonly<MaasNode>,
  hypervisor: Readonly<Hypervisor>,
): MemberVolume[] {
  const disks = desiredVolumes(node, { hypervisor: hypervisor.spec, kvm: false });
  const nvram = nvramVolume(node, { hypervisor: hypervisor.spec });
  return [
    ...disks.map((v) => ({
      name: v.name,
      pool: v.pool,
      format: v.format,
      capacityBytes: v.capacityBytes,
      disk: v.diskName,
    })),
    ...(nvram
      ? [
          {
            name: nvram.name,
            pool: nvram.pool,
            format: nvram.format,
            capacityBytes: nvram.capacityBytes,
            disk: nvram.diskName,
            madeOutside: true,
          },
        ]
      : []),
  ];
}

/** The number at the end of `<lab>-<namePrefix><i>`; undefined for any other name. */
export function nodeIndex(lab: Readonly<MaasLab>, nodeName: string): number | undefined {
  const prefix = `${lab.metadata?.name ?? ''}-${lab.spec.nodes.namePrefix ?? 'node'}`;
  if (!nodeName.startsWith(prefix)) return undefined;
  const rest = nodeName.slice(prefix.length);
  return /^[1-9]\d*$/.test(rest) ? Number(rest) : undefined;
}

/** The disk name of the controller VM's one writable disk (its qcow2 overlay). */
export const CONTROLLER_DISK = 'disk';

/**
 * The lab's MAAS controller VM as a member, or undefined for a lab without one (or one whose
 * controller is misdeclared: it is never built then). Its one writable disk is the qcow2
 * overlay; the shared read-only base it is backed by is not the lab's and is not captured
 * (the copy reads through it: see goldenVolumes), nor is the seed ISO (read-only, made once).
 */
export function controllerMember(
  lab: Readonly<MaasLab>,
  hypervisor: Readonly<Hypervisor>,
): LabMember | undefined {
  const plan = controllerPlan(lab, hypervisor.spec);
  if (plan === undefined) return undefined;
  return {
    role: 'Controller',
    index: 0,
    domain: plan.domainName,
    owner: controllerOwner(lab),
    volumes: [
      {
        name: plan.overlayVolume,
        pool: plan.pool,
        format: 'qcow2',
        capacityBytes: plan.diskBytes,
        disk: CONTROLLER_DISK,
      },
    ],
  };
}

/**
 * The lab's members in start order: its MAAS controller VM first (spec.maas.controller),
 * then nodes by index. Nodes the lab does not name by index (none today) are left out rather
 * than guessed at.
 */
export function labMembers(
  lab: Readonly<MaasLab>,
  nodes: ReadonlyArray<Readonly<MaasNode>>,
  hypervisor: Readonly<Hypervisor>,
): LabMember[] {
  const member = (node: Readonly<MaasNode>, index: number): LabMember => ({
    role: 'Node',
    index,
    node,
    domain: domainNameFor(node),
    owner: nodeOwner(node),
    volumes: memberVolumes(node, hypervisor),
  });
  const indexed = nodes
    .map((n) => ({ n, i: nodeIndex(lab, n.metadata?.name ?? '') }))
    .filter((x): x is { n: Readonly<MaasNode>; i: number } => x.i !== undefined)
    .sort((a, b) => a.i - b.i);
  const controller = controllerMember(lab, hypervisor);
  return [...(controller ? [controller] : []), ...indexed.map(({ n, i }) => member(n, i))];
}

/** The MaasNodes behind `members` (the controller VM has none). */
export const memberNodes = (
  members: ReadonlyArray<{ readonly member: Pick<LabMember, 'node'> }>,
): Array<Readonly<MaasNode>> =>
  members.flatMap((m) => (m.member.node === undefined ? [] : [m.member.node]));

/**
 * The golden volume of `volume` in `snapshot`: the member volume's stem, the snapshot's name
 * and the first 8 characters of its UID, always qcow2 (a copy of a raw disk is converted, so
 * only written clusters take space). The UID makes the name this snapshot's alone: a volume
 * of that name can only be one this snapshot made, so a capture retried after a crash may
 * delete it without asking whose it is (volumes carry no owner stamp).
 */
export function goldenVolumeName(
  volume: string,
  snapshotName: string,
  snapshotUid: string,
): string {
  const stem = volume.replace(/\.(qcow2|raw|fd)$/, '');
  return `${stem}.snap-${snapshotName}-${snapshotUid.slice(0, 8)}.qcow2`;
}

/**
 * Golden volumes are read-only files: nothing but a restore (which reads them) and the
 * snapshot's deletion (which removes them) has any business with them, and a guest pointed
 * at one by mistake fails to open it rather than changing the snapshot.
 */
export const GOLDEN_VOLUME_MODE = '0444';

/** The golden volumes a capture of `members` makes, in capture order. */
export function goldenVolumes(
  members: readonly LabMember[],
  snapshot: Readonly<MaasLabSnapshot>,
): VolumeSpec[] {
  const { name = '', uid = '' } = snapshot.metadata ?? {};
  return members.flatMap((m) =>
    m.volumes.map((v) => ({
      pool: v.pool,
      name: goldenVolumeName(v.name, name, uid),
      format: 'qcow2' as const,
      capacityBytes: v.capacityBytes,
      mode: GOLDEN_VOLUME_MODE,
      cloneFrom: { pool: v.pool, volume: v.name, ...(v.madeOutside && { madeOutside: true }) },
    })),
  );
}

/** A member volume as its snapshot's status lists it, once copied into `golden`. */
export function capturedVolume(
  v: MemberVolume,
  golden: string,
  facts: Pick<ParsedVolume, 'capacityBytes' | 'allocationBytes'> | undefined,
): SnapshotMember['volumes'][number] {
  return {
    disk: v.disk,
    pool: v.pool,
    source: v.name,
    golden,
    format: v.format,
    // An NVRAM's capacity is its firmware template's (0 in the member: "as it is").
    capacityBytes: v.madeOutside ? (facts?.capacityBytes ?? 0) : v.capacityBytes,
    sizeBytes: facts?.allocationBytes ?? 0,
  };
}

/**
 * What a member's disks are worth, from how it was stopped: off before the capture, or shut
 * down by its guest, is Clean; paused mid-run (Suspended), or powered off after ignoring the
 * ACPI request for the whole grace period, is CrashConsistent.
 */
export function memberConsistency(
  mode: SnapshotMode,
  stateBefore: DomainStateName | undefined,
  poweredOff: boolean,
): SnapshotConsistency {
  if (poweredOff) return 'CrashConsistent';
  const wasRunning =
    stateBefore !== undefined && stateBefore !== 'shutoff' && stateBefore !== 'crashed';
  return mode === 'Suspended' && wasRunning ? 'CrashConsistent' : 'Clean';
}

/**
 * One volume a restore puts back: `target` re-created as a copy of `golden`; without a golden
 * (a NVRAM the snapshot has none of: the member had never started), only deleted, so that
 * libvirt makes it from the firmware's template again at the next start, as it was then.
 */
export interface RestoreVolume {
  /** The member volume, as the node's spec makes it. */
  readonly target: VolumeSpec & { readonly madeOutside?: boolean };
  /** The golden volume it is copied from. */
  readonly golden?: { readonly pool: string; readonly volume: string };
}

/** One member of a restore: a lab member and what goes back into its volumes. */
export interface RestoreMember {
  readonly member: LabMember;
  readonly volumes: readonly RestoreVolume[];
}

/** A restore's plan, or why the snapshot cannot be restored into the lab. */
export type RestorePlan =
  | { readonly kind: 'restore'; readonly members: readonly RestoreMember[] }
  | { readonly kind: 'refused'; readonly message: string };

/**
 * Maps a snapshot's members onto a lab's by role and index, disk by disk: the lab need not be
 * the one captured (it may be gone), only of the same shape — the same members and, per
 * member, the same disks with the same capacity and pool. Anything else is refused before a
 * single volume is touched.
 */
export function restorePlan(
  captured: readonly SnapshotMember[],
  members: readonly LabMember[],
): RestorePlan {
  const key = (role: string, index: number): string => `${role}/${index}`;
  const byKey = new Map(members.map((m) => [key(m.role, m.index), m]));
  if (captured.length !== members.length) {
    return {
      kind: 'refused',
      message: `the snapshot has ${captured.length} members and the lab ${members.length}: a restore needs a lab of the same shape`,
    };
  }
  const out: RestoreMember[] = [];
  for (const c of captured) {
    const m = byKey.get(key(c.role, c.index));
    if (!m) {
      return {
        kind: 'refused',
        message: `the lab has no ${c.role} ${c.index} (snapshot member ${c.domain})`,
      };
    }
    const volumes: RestoreVolume[] = [];
    for (const cv of c.volumes) {
      const target = m.volumes.find((v) => v.disk === cv.disk);
      // An NVRAM's size is its firmware template's, which the lab does not state.
      const sized = target?.madeOutside === true || target?.capacityBytes === cv.capacityBytes;
      if (!target || !sized || target.pool !== cv.pool) {
        return {
          kind: 'refused',
          message: `${m.domain} has no disk ${cv.disk} of ${cv.capacityBytes} bytes in pool ${cv.pool} (snapshot member ${c.domain})`,
        };
      }
      const { disk: _disk, ...spec } = target;
      volumes.push({ target: spec, golden: { pool: cv.pool, volume: cv.golden } });
    }
    for (const { disk, ...spec } of m.volumes) {
      if (spec.madeOutside && !c.volumes.some((cv) => cv.disk === disk))
        volumes.push({ target: spec });
    }
    if (volumes.length !== m.volumes.length) {
      return {
        kind: 'refused',
        message: `${m.domain} has disks the snapshot does not (member ${c.domain})`,
      };
    }
    out.push({ member: m, volumes });
  }
  return { kind: 'restore', members: sortForStart(out) };
}

/** Controller first, then nodes by index: the order members are restored and started in. */
export function sortForStart<T extends { readonly member: Pick<LabMember, 'role' | 'index'> }>(
  members: readonly T[],
): T[] {
  const rank = (r: SnapshotMemberRole): number => (r === 'Controller' ? 0 : 1);
  return [...members].sort(
    (a, b) => rank(a.member.role) - rank(b.member.role) || a.member.index - b.member.index,
  );
}

/**
 * The waves in which a restore releases its holds: the controller alone first (nodes boot
 * from it), then every node at once.
 */
export function startWaves<T extends { readonly member: Pick<LabMember, 'role' | 'index'> }>(
  members: readonly T[],
): T[][] {
  const sorted = sortForStart(members);
  const controllers = sorted.filter((m) => m.member.role === 'Controller');
  const nodes = sorted.filter((m) => m.member.role !== 'Controller');
  return [controllers, nodes].filter((w) => w.length > 0);
}

/** The hold a capture puts on the lab's nodes. */
export const captureHolder = (snapshotName: string): string => `MaasLabSnapshot/${snapshotName}`;
/** The hold a restore puts on the lab's nodes. */
export const restoreHolder = (labName: string, token: string): string =>
  `MaasLab/${labName}/restore/${token}`;

/** Bytes for humans, binary units, e.g. 1.5Gi. */
export function humanBytes(bytes: number): string {
  const units = ['', 'Ki', 'Mi', 'Gi', 'Ti'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u += 1;
  }
  return `${u === 0 ? v : v.toFixed(1)}${units[u]}`;
}
