// The MaasLabSnapshot controller: captures a whole lab as one consistent point (golden copies
// of every member's volumes in the hypervisor's pool) and frees them when the snapshot goes.
//
// The files beside this one: desired.ts (pure: members, golden names, consistency, the
// restore plan the MaasLab controller runs), hold.ts (holding the lab's nodes), status.ts
// (pure: conditions), watches (in setup below).
import type { V1PolicyRule } from '@kubernetes/client-node';
import {
  CaptureFailedReason,
  DefaultSnapshotMode,
  Group,
  GroupVersion,
  GroupVersionKinds,
  HypervisorNotFoundReason,
  LabBusyReason,
  LabNotFoundReason,
  LibvirtErrorReason,
  MaasLabKind,
  ShutdownGraceBounds,
  StoppingReason,
  type Hypervisor as HypervisorResource,
  type MaasLab,
  type MaasLabSnapshot,
  type MaasNode,
  type SnapshotMember,
} from '../../api/v1alpha1/index.js';
import type { DomainStateName, Hypervisor } from '../../libvirt/hypervisor/index.js';
import { isNotFound } from '../../libvirt/index.js';
import {
  type CacheReader,
  CLEANUP_FINALIZER,
  type Client,
  type Clock,
  type Controller,
  ContentType,
  controllerBuilder,
  hasFinalizer,
  isControlledBy,
  isDeleting,
  type Manager,
  type Reconciler,
  refOf,
  type Request,
  requestFor,
  type Result,
  statusOnlyUpdatesIgnored,
  toRfc3339Seconds,
  type BuilderOptions,
} from '../../runtime/index.js';
import { withCleanupFinalizer } from '../common/finalizer.js';
import type { HypervisorRegistry } from '../common/hypervisor-registry.js';
import {
  captureHolder,
  capturedVolume,
  goldenVolumes,
  humanBytes,
  labMembers,
  memberConsistency,
  type LabMember,
} from './desired.js';
import {
  type Annotate,
  heldByOthers,
  holdAll,
  holderOf,
  holdLab,
  labBusyWith,
  releaseAll,
  releaseLab,
} from './hold.js';
import {
  type SnapshotFindings,
  type SnapshotNext,
  capturingStatus,
  snapshotStatus,
  withCaptureProgress,
} from './status.js';
import { definedProps } from '../../util/defined-props.js';

/** The controller's name: the `controller` label on its metrics and logs. */
export const MaasLabSnapshotControllerName = 'maaslabsnapshot';

/** How often a capture in progress looks again (holds acknowledged, guests shut down). */
export const CAPTURE_POLL_MS = 1000;

/** What the reconciler reads. */
export interface SnapshotCaches {
  readonly snapshots: CacheReader<MaasLabSnapshot>;
  readonly labs: CacheReader<MaasLab>;
  readonly nodes: CacheReader<MaasNode>;
  readonly hypervisors: CacheReader<HypervisorResource>;
}

/** What the reconciler needs; `setup` takes them from the manager, unit tests hand in fakes. */
export interface MaasLabSnapshotReconcilerOptions {
  readonly caches: SnapshotCaches;
  readonly client: Pick<Client, 'patchStatus' | 'ensureFinalizer' | 'dropFinalizer'>;
  /** Sets or removes the hold annotation on a node. */
  readonly annotate: Annotate;
  /** The libvirt verbs of a Hypervisor. */
  readonly hypervisorFor: (resource: Readonly<HypervisorResource>) => Hypervisor;
  readonly clock: Pick<Clock, 'now'>;
  /** Whether this process serves the hypervisor's shard (default: all). */
  readonly serves?: (hypervisor: string) => boolean;
}

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));
const isOff = (s: DomainStateName | undefined): boolean =>
  s === undefined || s === 'shutoff' || s === 'crashed';

/** The MaasNodes `lab` controls. */
function labNodes(caches: SnapshotCaches, lab: Readonly<MaasLab>): Array<Readonly<MaasNode>> {
  const owner = { apiVersion: GroupVersion, kind: MaasLabKind, metadata: lab.metadata };
  return caches.nodes.list(lab.metadata?.namespace).filter((n) => isControlledBy(n, owner));
}

/**
 * Reconciles one MaasLabSnapshot. A pass:
 *  1. Read the snapshot; gone → nothing. Being deleted → release any hold it left, delete its
 *     golden volumes (those its status lists, and those a capture of the lab as it is would
 *     have made: an interrupted capture may have left some), drop the finalizer.
 *  2. Finalizer first. A snapshot Ready or Failed is done: only holds it left are released.
 *  3. The lab and its Hypervisor must exist (Stalled LabNotFound / HypervisorNotFound). Nodes
 *     or a lab another capture or restore holds: wait (LabBusy).
 *  4. Hold every node, and the lab's controller VM (the annotation on the lab), and wait
 *     until each acknowledges (Holding).
 *  5. Stop: Offline asks each running guest to shut down (ACPI) and waits up to the grace
 *     period (Stopping), then powers off what is still running (CrashConsistent); Suspended
 *     pauses every running member, then saves their memory (managed save: QEMU exits and
 *     releases the image locks that keep a copy from reading a running guest's disks).
 *  6. Capture: every volume of every member is copied into its golden volume; the status
 *     says Capturing and counts the members copied as each one is done (membersCaptured of
 *     membersTotal); the first failure deletes every golden volume made and ends in Failed
 *     naming the member.
 *     Suspended members are started from their saved memory and resumed whatever happened.
 *  7. Write the status (Ready or Failed), then release the holds: the nodes' own controllers
 *     start what their runStrategy wants. A release that fails is retried by step 2.
 */
export function createMaasLabSnapshotReconciler(
  opts: MaasLabSnapshotReconcilerOptions,
): Reconciler {
  const { caches, client, annotate, hypervisorFor, clock } = opts;
  const serves = opts.serves ?? (() => true);

  /** Writes the status; resolves to the object as written, the base of the next write. */
  async function write(
    snap: Readonly<MaasLabSnapshot>,
    next: SnapshotNext,
    found: SnapshotFindings,
    signal: AbortSignal,
  ): Promise<Readonly<MaasLabSnapshot>> {
    const written = await client.patchStatus(
      snap,
      snapshotStatus(snap, next, found, clock.now()),
      signal,
    );
    return written.object;
  }

  /** Step 1's cleanup. */
  async function cleanup(snap: Readonly<MaasLabSnapshot>, signal: AbortSignal): Promise<Result> {
    if (!hasFinalizer(snap, CLEANUP_FINALIZER)) return {};
    const ns = snap.metadata?.namespace;
    const lab = caches.labs.get({ namespace: ns, name: snap.spec.lab });
    const hvName = snap.status?.hypervisor ?? lab?.spec.hypervisor;
    const hv = hvName === undefined ? undefined : caches.hypervisors.get({ name: hvName });
    const holder = captureHolder(snap.metadata?.name ?? '');
    if (lab) {
      await releaseAll(labNodes(caches, lab), holder, annotate, signal);
      await releaseLab(lab, holder, annotate, signal);
    }
    if (hv) {
      const listed = (snap.status?.members ?? []).flatMap((m) =>
        m.volumes.map((v) => ({ pool: v.pool, name: v.golden })),
      );
      const planned = lab ? goldenVolumes(labMembers(lab, labNodes(caches, lab), hv), snap) : [];
      await hypervisorFor(hv).deleteVolumes([...listed, ...planned]);
    }
    // Without the Hypervisor object there is no way to reach the volumes: they are left, and
    // the snapshot goes (a Hypervisor deleted first took its libvirt connection with it).
    await client.dropFinalizer(snap, CLEANUP_FINALIZER, signal);
    return {};
  }

  /**
   * Steps 5 and 6: stop, copy, and resume; the members' status or the failure. `captured`
   * is told how many members are copied: 0 before the first copy, then after each member.
   */
  async function capture(
    snap: Readonly<MaasLabSnapshot>,
    verbs: Hypervisor,
    members: readonly LabMember[],
    captured: (count: number) => Promise<void>,
    signal: AbortSignal,
  ): Promise<
    | { kind: 'waiting'; next: SnapshotNext }
    | { kind: 'done'; members: SnapshotMember[] }
    | { kind: 'failed'; member: string; message: string }
  > {
    const mode = snap.spec.mode ?? DefaultSnapshotMode;
    const states = new Map<string, DomainStateName | undefined>();
    for (const m of members)
      states.set(m.domain, (await verbs.observeDomainState(m.domain))?.state);
    const poweredOff = new Set<string>();
    const paused: string[] = [];
    if (mode === 'Offline') {
      const running = members.filter((m) => !isOff(states.get(m.domain)));
      if (running.length > 0) {
        const requestedAt = snap.status?.stopRequestedAt;
        if (requestedAt === undefined) {
          for (const m of running) await verbs.shutdown(m.domain, m.owner);
          return {
            kind: 'waiting',
            next: {
              ...snap.status,
              phase: 'Stopping',
              stopRequestedAt: toRfc3339Seconds(clock.now()),
            },
          };
        }
        const graceMs =
          (snap.spec.shutdownGracePeriodSeconds ?? ShutdownGraceBounds.default) * 1000;
        if (clock.now() - Date.parse(requestedAt) < graceMs) {
          return { kind: 'waiting', next: { ...snap.status, phase: 'Stopping' } };
        }
        for (const m of running) {
          await verbs.destroy(m.domain, m.owner);
          poweredOff.add(m.domain);
        }
      }
    }
    const owners = new Map(members.map((m) => [m.domain, m.owner]));
    const goldens = goldenVolumes(members, snap);
    // Leftovers of an interrupted attempt of this same snapshot: the UID in their names
    // makes them this snapshot's, and a half-made copy must not be taken for a whole one.
    await verbs.deleteVolumes(goldens);
    try {
      if (mode === 'Suspended') {
        // Every member paused first: the lab's one instant.
        for (const m of members) {
          if ((await verbs.suspend(m.domain, m.owner)).changed) paused.push(m.domain);
        }
        // A running QEMU holds a write lock on its images, and libvirt's copy (qemu-img
        // convert) cannot read them past it: the paused guests' memory goes to libvirt's
        // managed save image, which ends the QEMU process and its locks; they come back
        // below, paused, exactly where they stopped.
        for (const d of paused) await verbs.managedSave(d, owners.get(d)!);
      }
      const out: SnapshotMember[] = [];
      await captured(0);
      for (const m of members) {
        try {
          const volumes = [];
          for (const v of m.volumes) {
            // A shutdown mid-capture lands in the rollback below, not in half a snapshot.
            signal.throwIfAborted();
            const spec = goldenVolumes([{ ...m, volumes: [v] }], snap)[0]!;
            const golden = spec.name;
            const made = await verbs.ensureVolumes([spec]).catch((err: unknown) => {
              // A UEFI node that never started has no NVRAM yet: nothing to capture (a
              // restore deletes the member's, and it starts from the template again).
              if (v.madeOutside && isNotFound(err)) return undefined;
              throw err;
            });
            if (made) volumes.push(capturedVolume(v, golden, made.volumes[0]));
          }
          out.push({
            role: m.role,
            index: m.index,
            domain: m.domain,
            volumes,
            sizeBytes: volumes.reduce((a, v) => a + v.sizeBytes, 0),
            consistency: memberConsistency(mode, states.get(m.domain), poweredOff.has(m.domain)),
          });
        } catch (err) {
          // All or nothing: what was made goes; the member is named.
          await verbs.deleteVolumes(goldens);
          return { kind: 'failed', member: m.domain, message: messageOf(err) };
        }
        // Outside the member's try: a status write that fails is the pass's error, retried
        // (the next attempt deletes this one's copies first), not a failed capture.
        await captured(out.length);
      }
      return { kind: 'done', members: out };
    } finally {
      for (const d of paused) {
        await verbs.startFromManagedSave(d, owners.get(d)!);
        await verbs.resume(d, owners.get(d)!);
      }
    }
  }

  return {
    async reconcile(req: Request, signal: AbortSignal): Promise<Result> {
      const cached = caches.snapshots.get(req);
      if (!cached) return {};
      if (isDeleting(cached)) return cleanup(cached, signal);
      const snap = await withCleanupFinalizer(cached, false, client, signal);
      const holder = captureHolder(snap.metadata?.name ?? '');
      const lab = caches.labs.get({ namespace: snap.metadata?.namespace, name: snap.spec.lab });
      const phase = snap.status?.phase ?? 'Pending';
      if (phase === 'Ready' || phase === 'Failed') {
        if (lab) {
          await releaseAll(labNodes(caches, lab), holder, annotate, signal);
          await releaseLab(lab, holder, annotate, signal);
        }
        return {};
      }
      const status = snap.status ?? {};
      if (!lab) {
        const message = `MaasLab ${snap.spec.lab} does not exist`;
        await write(
          snap,
          { ...status, phase: 'Pending' },
          { stalled: { reason: LabNotFoundReason, message } },
          signal,
        );
        return {};
      }
      if (!serves(lab.spec.hypervisor)) return {};
      const hv = caches.hypervisors.get({ name: lab.spec.hypervisor });
      if (!hv) {
        const message = `Hypervisor ${lab.spec.hypervisor} does not exist`;
        await write(
          snap,
          { ...status, phase: 'Pending' },
          { stalled: { reason: HypervisorNotFoundReason, message } },
          signal,
        );
        return {};
      }
      const nodes = labNodes(caches, lab);
      const busy = heldByOthers(nodes, holder);
      const other = labBusyWith(lab, holder) ?? (busy[0] && holderOf(busy[0]));
      if (other !== undefined) {
        // Two holders that started together may each hold part of the lab and wait for the
        // other for ever: the one that finds the other gives back what it holds. Nothing is
        // copied yet, so nothing is lost; the nodes' own controllers take over meanwhile.
        await releaseAll(nodes, holder, annotate, signal);
        await releaseLab(lab, holder, annotate, signal);
        const message = `waiting: ${other} holds the lab`;
        await write(
          snap,
          { ...status, phase: 'Pending' },
          { waiting: { reason: LabBusyReason, message } },
          signal,
        );
        return { requeueAfterMs: CAPTURE_POLL_MS };
      }
      const base = { ...status, hypervisor: hv.metadata?.name ?? '' };
      // Nodes and, when the lab has one, its controller VM (the annotation on the lab).
      const nodesHeld = await holdAll(nodes, holder, annotate, signal);
      if (!((await holdLab(lab, holder, annotate, signal)) && nodesHeld)) {
        await write(snap, { ...base, phase: 'Holding' }, {}, signal);
        return { requeueAfterMs: CAPTURE_POLL_MS };
      }
      const members = labMembers(lab, nodes, hv);
      const total = members.length;
      // Each write is locked to the resourceVersion of the one before: the progress writes
      // of step 6 move it on.
      let current = snap;
      const captured = async (count: number): Promise<void> => {
        current = await write(current, capturingStatus(base, count, total), {}, signal);
      };
      let result;
      try {
        result = await capture(snap, hypervisorFor(hv), members, captured, signal);
      } catch (err) {
        const why = { reason: LibvirtErrorReason, message: `retrying: ${messageOf(err)}` };
        // The libvirt error is the pass's error (the queue retries it); a failing report of
        // it would only hide it.
        await write(
          current,
          { ...base, phase: base.phase ?? 'Holding' },
          { error: why },
          signal,
        ).catch(() => undefined);
        throw err;
      }
      if (result.kind === 'waiting') {
        const message = `waiting up to ${snap.spec.shutdownGracePeriodSeconds ?? ShutdownGraceBounds.default} s for the guests to shut down`;
        await write(
          current,
          withCaptureProgress({ ...base, ...result.next }, 0, total),
          { waiting: { reason: StoppingReason, message } },
          signal,
        );
        return { requeueAfterMs: CAPTURE_POLL_MS };
      }
      if (result.kind === 'failed') {
        const message = `capturing ${result.member} failed: ${result.message}; every golden volume made was removed`;
        const { members: _dropped, sizeBytes: _s, size: _z, ...rest } = base;
        await write(
          current,
          withCaptureProgress(
            { ...rest, phase: 'Failed', readyToUse: false, failedMember: result.member },
            0,
            total,
          ),
          { stalled: { reason: CaptureFailedReason, message } },
          signal,
        );
      } else {
        const sizeBytes = result.members.reduce((a, m) => a + m.sizeBytes, 0);
        await write(
          current,
          withCaptureProgress(
            {
              ...base,
              phase: 'Ready',
              readyToUse: true,
              creationTime: toRfc3339Seconds(clock.now()),
              members: result.members,
              sizeBytes,
              size: humanBytes(sizeBytes),
            },
            total,
            total,
          ),
          {},
          signal,
        );
      }
      // Holds go last, after the status says the capture is over (step 7).
      await releaseAll(nodes, holder, annotate, signal);
      await releaseLab(lab, holder, annotate, signal);
      return {};
    },
  };
}

/** Options for {@link setup}. */
export interface MaasLabSnapshotSetupOptions extends BuilderOptions {
  /** The libvirt verbs, shared with the other controllers. */
  readonly hypervisors: HypervisorRegistry;
  /** Whether this process serves a hypervisor shard (default: every shard). */
  readonly serves?: (hypervisor: string) => boolean;
}

/** A merge patch of one annotation of a MaasNode or MaasLab (null removes it). */
export function annotator(manager: Manager): Annotate {
  return async (node, key, value, signal) => {
    await manager.rest.request({
      method: 'PATCH',
      ref: refOf(node),
      body: { metadata: { annotations: { [key]: value } } },
      contentType: ContentType.MergePatch,
      signal,
    });
  };
}

/**
 * Registers the MaasLabSnapshot controller: woken by its snapshots, by the nodes of a lab
 * they capture (holds acknowledged) and by labs (a lab that appears).
 */
export function setup(manager: Manager, options: MaasLabSnapshotSetupOptions): Controller {
  const { hypervisors, serves, ...builderOptions } = options;
  const caches: SnapshotCaches = {
    snapshots: manager.cache<MaasLabSnapshot>(GroupVersionKinds.MaasLabSnapshot),
    labs: manager.cache<MaasLab>(GroupVersionKinds.MaasLab),
    nodes: manager.cache<MaasNode>(GroupVersionKinds.MaasNode),
    hypervisors: manager.cache<HypervisorResource>(GroupVersionKinds.Hypervisor),
  };
  const reconciler = createMaasLabSnapshotReconciler({
    caches,
    client: manager.client,
    annotate: annotator(manager),
    hypervisorFor: (hv) => hypervisors.hypervisorFor(hv),
    clock: manager.clock,
    ...definedProps({ serves }),
  });
  const snapshotsOfLab = (namespace: string | undefined, lab: string | undefined): Request[] =>
    caches.snapshots
      .list(namespace)
      .filter((s) => s.spec.lab === lab)
      .map((s) => requestFor(s));
  return controllerBuilder(manager)
    .for(GroupVersionKinds.MaasLabSnapshot, { predicates: [statusOnlyUpdatesIgnored] })
    .watches(GroupVersionKinds.MaasLab, (o) =>
      snapshotsOfLab(o.metadata?.namespace, o.metadata?.name),
    )
    .withOptions(builderOptions)
    .named(MaasLabSnapshotControllerName)
    .complete(reconciler);
}

/** The permissions the MaasLabSnapshot controller uses, and no more. */
export const rbac: readonly V1PolicyRule[] = [
  { apiGroups: [Group], resources: ['maaslabsnapshots'], verbs: ['get', 'list', 'watch', 'patch'] },
  { apiGroups: [Group], resources: ['maaslabsnapshots/status'], verbs: ['patch'] },
  { apiGroups: [Group], resources: ['maaslabs', 'hypervisors'], verbs: ['get', 'list', 'watch'] },
  // The hold annotation, on nodes and on a lab (its controller VM).
  { apiGroups: [Group], resources: ['maasnodes'], verbs: ['get', 'list', 'watch', 'patch'] },
  { apiGroups: [Group], resources: ['maaslabs'], verbs: ['patch'] },
];
