// The MaasLab controller: turns a lab into child VirtNetworks and MaasNodes and reports how
// far they got. It only talks to the API server (the children's own controllers talk to
// libvirt), so it needs no finalizer: every child carries a controller owner reference and
// garbage collection deletes it with the lab.
//
// The files beside this one: scope.ts (observe), desired.ts (pure), normal.ts and delete.ts
// (the phases), status.ts (the report, pure), memory.ts (what outlives a pass), pass.ts (one
// pass's state), watches.ts (what wakes a pass), events.ts (event reasons).
import type { V1PolicyRule } from '@kubernetes/client-node';
import { Group } from '../../api/v1alpha1/index.js';
import {
  type BuilderOptions,
  type Client,
  type Clock,
  type Controller,
  type EventRecorder,
  isDeleting,
  loggerFrom,
  type Manager,
  type Reconciler,
  type Request,
  requestFor,
  requestKey,
  type Result,
} from '../../runtime/index.js';
import { type PassFailure, runPhasesAndReport } from '../common/phases.js';
import { patchStatusOnce, reportBase } from '../common/status-patch.js';
import {
  type LabMetrics,
  noopLabMetrics,
  noopSwallowedErrorMetrics,
  type SwallowedErrorMetrics,
} from '../metrics.js';
import { maasAccess, type MaasAccess } from '../maas/access.js';
import { createLabMaasMemory } from '../maas/lab.js';
import { type ControllerDeps, secretAccess } from '../maas/controller-vm.js';
import { createImageDownloads } from '../maas/image-download.js';
import type { HypervisorRegistry } from '../common/hypervisor-registry.js';
import { deletePhases } from './delete.js';
import { annotator } from '../maas-lab-snapshot/reconciler.js';
import { desiredChildren } from './desired.js';
import type { LabRestoreDeps } from './restore.js';
import { createLabMemory } from './memory.js';
import { normalPhases } from './normal.js';
import type { LabDeps, LabPass } from './pass.js';
import { observeLab, type LabCaches } from './scope.js';
import { labReport, progressHold } from './status.js';
import { labCaches, watchLabs } from './watches.js';
import { definedProps } from '../../util/defined-props.js';

export { childAction, collisionMessage, covers } from './desired.js';
export { LabEventReason } from './events.js';

/** The controller's name: the `controller` label on its metrics and logs. */
export const MaasLabControllerName = 'maaslab';

/** A lab's progress (its Ready node count) is written at most this often. */
export const PROGRESS_WRITE_INTERVAL_MS = 1000;

/** The `step` label of a status patch that failed after the pass had failed already. */

/** What the reconciler needs; `setup` takes them from the manager, unit tests hand in fakes. */
export interface MaasLabReconcilerOptions {
  /** Cache readers for labs, networks, nodes and hypervisors. */
  readonly caches: LabCaches;
  /** Writes: server-side apply, delete, status. */
  readonly client: Pick<Client, 'apply' | 'delete' | 'patchStatus'>;
  /** Events about the lab. */
  readonly events: Pick<EventRecorder, 'record'>;
  /** Time for condition stamps. */
  readonly clock: Pick<Clock, 'now'>;
  /**
   * Whether this process serves the lab's hypervisor shard (default: all). A lab on a shard
   * served elsewhere is left alone, so two replicas never both write one lab.
   */
  readonly serves?: (hypervisor: string) => boolean;
  /** maaslab_lab_nodes_ready / _total (default none). */
  readonly metrics?: LabMetrics;
  /** Counts errors a pass logged and did not return (default: not counted). */
  readonly swallowedErrors?: SwallowedErrorMetrics;
  /** Reaches a lab's MAAS (spec.maas); without it MAAS is never asked. */
  readonly maas?: MaasAccess;
  /** libvirt, Secrets and downloads for spec.maas.controller; without it no controller VM is built. */
  readonly controller?: ControllerDeps;
  /** Restores (spec.restoreFrom) and snapshot accounting; without it neither happens. */
  readonly restore?: Omit<LabRestoreDeps, 'now'>;
}

/**
 * Reconciles one MaasLab (Cluster API's shape). A pass:
 *  1. Observe: read the lab, its Hypervisor, the children it controls, foreign objects of
 *     its children's names, and every lab and stand-alone MaasNode on the same hypervisor
 *     (scope.ts). A lab that is gone needs nothing: garbage collection removes its children.
 *     A lab whose hypervisor shard another process serves is left alone.
 *  2. Desired (pure, desired.ts): the children.
 *  3. Phases, in order, until one stops the pass or throws; their results merge to the
 *     soonest requeue (common/phases.ts). Being deleted: the delete phases (delete.ts), which
 *     leave the children to garbage collection (the report says Terminating). Otherwise the
 *     normal phases (normal.ts): a missing Hypervisor stalls the lab (HypervisorNotFound)
 *     and nothing is built; MAC collisions with older labs or stand-alone nodes on the same
 *     hypervisor stall it (MacCollision) and keep the colliding nodes from being applied;
 *     then, networks first, apply missing or changed VirtNetworks (server-side apply, field
 *     manager `maaslab`), delete unwanted MaasNodes, highest-numbered first, delete the
 *     networks the spec dropped, and apply missing or changed nodes in the same pass (each
 *     node waits for its networks before it starts). Objects of a child's name the lab does
 *     not control are never touched (NameConflict).
 *  4. Report, always, in one place: status.ts computes counts, printableStatus and
 *     Ready/Reconciling/Stalled, and observedGeneration, advanced only when the pass
 *     succeeded; one status patch is sent, only if something changed. A change of the Ready
 *     count alone is written at most once a second (the pass requeues for it; memory.ts
 *     remembers the last write). A report that fails after a failed write is logged and
 *     counted (maaslab_swallowed_errors_total), and the write's error is returned.
 * Children's changes re-enqueue the lab (owns), so no pass polls.
 */
export function createMaasLabReconciler(opts: MaasLabReconcilerOptions): Reconciler {
  const { caches, client, events, clock } = opts;
  const serves = opts.serves ?? (() => true);
  const metrics = opts.metrics ?? noopLabMetrics;
  const swallowed = opts.swallowedErrors ?? noopSwallowedErrorMetrics;
  const memory = createLabMemory();
  const maasMemory = createLabMaasMemory();
  const deps: LabDeps = definedProps({
    client,
    maas: opts.maas && { access: opts.maas, memory: maasMemory, now: () => clock.now() },
    controller: opts.controller,
    restore: opts.restore && { ...opts.restore, now: () => clock.now() },
  });

  /** Step 4: one status patch, unless only progress changed lately; see above. */
  async function report(pass: LabPass, failed: PassFailure): Promise<Result> {
    const { desired, found, signal } = pass;
    if (failed && failed.error !== found.failure) return {};
    const lab = reportBase(pass.scope.lab, caches.labs.get(requestFor(pass.scope.lab)));
    const scope = { ...pass.scope, lab };
    const succeeded = failed === undefined;
    const now = clock.now();
    const status = labReport(scope, desired, found, { now, succeeded });
    const { ready, total } = status.nodes;
    metrics.nodes(lab.metadata?.namespace ?? '', lab.metadata?.name ?? '', ready, total);
    if (status.snapshots) {
      metrics.snapshotBytes(
        lab.metadata?.namespace ?? '',
        lab.metadata?.name ?? '',
        status.snapshots.bytes,
      );
    }
    const lastWrite = memory.lastStatusWrite(lab);
    const hold = progressHold(lab.status, status, lastWrite, now, PROGRESS_WRITE_INTERVAL_MS);
    // A progress write held back comes with the pass it asks for.
    if (hold !== undefined) return { requeueAfterMs: hold };
    const written = await patchStatusOnce(() => client.patchStatus(lab, status, signal), {
      rethrow: succeeded,
      log: pass.log,
      controller: MaasLabControllerName,
      swallowed,
    });
    if (written?.changed) memory.statusWritten(lab, now);
    return {};
  }

  /** Steps 3 and 4. */
  async function run(pass: LabPass): Promise<Result> {
    const phases = isDeleting(pass.scope.lab) ? deletePhases : normalPhases;
    return runPhasesAndReport(phases, pass, (failed) => report(pass, failed));
  }

  return {
    async reconcile(req: Request, signal: AbortSignal): Promise<Result> {
      // 1. Observe; a lab that is gone, or served elsewhere, needs nothing from us.
      const scope = observeLab(req, caches);
      if (!scope) {
        metrics.forget(req.namespace ?? '', req.name);
        memory.forget(requestKey(req));
        return {};
      }
      if (isDeleting(scope.lab)) {
        maasMemory.forget(scope.lab.metadata?.uid ?? '');
      }
      if (!serves(scope.lab.spec.hypervisor)) {
        metrics.forget(req.namespace ?? '', req.name);
        return {};
      }
      // 2. Desired (pure).
      const desired = desiredChildren(scope.lab);
      return run({
        scope,
        desired,
        signal,
        log: loggerFrom(signal),
        deps,
        found: {},
        record: (type, reason, action, note) =>
          events.record({ regarding: scope.lab, type, reason, action, note }),
        blocking: [],
        conflicts: [],
      });
    },
  };
}

/** Options for {@link setup}. */
export interface MaasLabSetupOptions extends BuilderOptions {
  /**
   * Whether this process serves a hypervisor shard (default: every shard), e.g.
   * `(hv) => shardLeases.isLeading(hv)`. Whoever acquires a shard's lease should then
   * enqueue that hypervisor's labs on the returned controller.
   */
  readonly serves?: (hypervisor: string) => boolean;
  /** maaslab_lab_nodes_ready / _total (default none). */
  readonly metrics?: LabMetrics;
  /** Counts errors a pass logged and did not return (default: not counted). */
  readonly swallowedErrors?: SwallowedErrorMetrics;
  /**
   * The libvirt verbs per Hypervisor (the registry the VirtNetwork and MaasNode controllers
   * share): with it the controller builds spec.maas.controller VMs and acts on
   * spec.restoreFrom; without it, neither.
   */
  readonly hypervisors?: HypervisorRegistry;
}

/**
 * Registers the MaasLab controller with `manager`: it reconciles MaasLabs, is woken by the
 * VirtNetworks and MaasNodes it controls, by stand-alone MaasNodes and other labs on the same
 * hypervisor (a MAC collision may have appeared or gone), and by the lab's Hypervisor (see
 * watches.ts).
 */
export function setup(manager: Manager, options: MaasLabSetupOptions = {}): Controller {
  const { serves, metrics, swallowedErrors, hypervisors, ...builderOptions } = options;
  const caches = labCaches(manager);
  const controller: ControllerDeps | undefined = hypervisors && {
    hypervisorFor: (hv) => hypervisors.hypervisorFor(hv),
    secrets: secretAccess(manager.client),
    downloads: createImageDownloads(),
    finalizers: manager.client,
    now: () => manager.clock.now(),
  };
  const reconciler = createMaasLabReconciler({
    caches,
    client: manager.client,
    events: manager.events,
    clock: manager.clock,
    maas: maasAccess(manager.client),
    ...definedProps({ serves, metrics, swallowedErrors, controller }),
    ...(hypervisors &&
      caches.snapshots && {
        restore: {
          hypervisorFor: (hv) => hypervisors.hypervisorFor(hv),
          annotate: annotator(manager),
          snapshots: caches.snapshots,
        },
      }),
  });
  return watchLabs(manager, { caches, builderOptions, name: MaasLabControllerName }, reconciler);
}

/** The permissions the MaasLab controller uses, and no more. */
export const rbac: readonly V1PolicyRule[] = [
  { apiGroups: [Group], resources: ['maaslabs'], verbs: ['get', 'list', 'watch'] },
  // The controller VM's finalizer (spec.maas.controller): a merge patch of metadata.
  { apiGroups: [Group], resources: ['maaslabs'], verbs: ['patch'] },
  { apiGroups: [Group], resources: ['maaslabs/status'], verbs: ['patch'] },
  // The children's owner references set blockOwnerDeletion; where the
  // OwnerReferencesPermissionEnforcement admission plugin runs, that needs update on the
  // owner's finalizers subresource.
  { apiGroups: [Group], resources: ['maaslabs/finalizers'], verbs: ['update'] },
  // Server-side apply is a PATCH that creates the object when missing: patch and create.
  {
    apiGroups: [Group],
    resources: ['virtnetworks', 'maasnodes'],
    verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'],
  },
  { apiGroups: [Group], resources: ['hypervisors'], verbs: ['get', 'list', 'watch'] },
  // spec.restoreFrom: the snapshot read, the nodes' hold annotation.
  { apiGroups: [Group], resources: ['maaslabsnapshots'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
  // The MAAS API key (spec.maas.external.apiKeySecretRef); a controller lab's admin and API
  // key Secrets, which the operator writes (server-side apply: create and patch).
  { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'create', 'patch'] },
];
