// The MaasLab controller: turns a lab into child VirtNetworks and MaasNodes and reports how
// far they got. It only talks to the API server (the children's own controllers talk to
// libvirt), so it needs no finalizer: every child carries a controller owner reference and
// garbage collection deletes it with the lab.
import type { V1PolicyRule } from '@kubernetes/client-node';
import {
  GroupVersionKinds,
  Group,
  HypervisorNotFoundReason,
  HypervisorUnreachableReason,
  MacCollisionReason,
  ReadyCondition,
  StalledCondition,
  MaasNodeKind,
  NameConflictReason,
  ProgressingReason,
  VirtNetworkKind,
  type Hypervisor,
  type MaasLab,
  type MaasNode,
  type VirtNetwork,
} from '../../api/v1alpha1/index.js';
import {
  type BuilderOptions,
  type Client,
  type Clock,
  type Controller,
  controllerBuilder,
  type EventRecorder,
  EventType,
  isDeleting,
  type Manager,
  type Reconciler,
  type Request,
  requestFor,
  requestKey,
  type Result,
  statusOnlyUpdatesIgnored,
} from '../../runtime/index.js';
import { applyConditionPlan, type Why } from '../common/conditions.js';
import {
  childStateChanged,
  collisionInputsChanged,
  hypervisorGateChanged,
} from '../common/predicates.js';
import { type LabMetrics, noopLabMetrics } from '../metrics.js';
import {
  FieldManager,
  collisionsBlocking,
  desiredChildren,
  macCollisions,
  networksToDelete,
  nodesToDelete,
  type LabChildren,
  type MacCollision,
} from './desired.js';
import { observeLab, type LabCaches, type LabScope } from './scope.js';
import { labStatus, onlyProgressChanged, type LabObservation } from './status.js';

/** An error's message, for condition messages (logs get the whole chain). */
const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** The controller's name: the `controller` label on its metrics and logs. */
export const MaasLabControllerName = 'maaslab';

/** Event reasons the lab controller records, about the lab. */
export const LabEventReason = {
  NetworksCreated: 'NetworksCreated',
  NetworksDeleted: 'NetworksDeleted',
  NodesCreated: 'NodesCreated',
  NodesDeleted: 'NodesDeleted',
  MacCollision: MacCollisionReason,
  NameConflict: NameConflictReason,
} as const;

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
}

/**
 * True when every field `desired` sets is present and equal in `observed` (arrays by
 * position, extra observed fields ignored): applying `desired` would change nothing.
 */
export function covers(observed: unknown, desired: unknown): boolean {
  if (desired === undefined) return true;
  if (Array.isArray(desired)) {
    return (
      Array.isArray(observed) &&
      observed.length === desired.length &&
      desired.every((d, i) => covers(observed[i], d))
    );
  }
  if (typeof desired === 'object' && desired !== null) {
    if (typeof observed !== 'object' || observed === null || Array.isArray(observed)) return false;
    const o = observed as Record<string, unknown>;
    return Object.entries(desired).every(([k, v]) => covers(o[k], v));
  }
  return observed === desired;
}

/**
 * The pure diff for one child: `create` when it does not exist, `update` when its spec or
 * labels lack something desired (server-side apply then changes only our fields), `none`
 * otherwise. Server defaults are spelled out in desired.ts, so a settled child is `none` and a
 * quiet lab makes no writes.
 */
export function childAction(
  desired: VirtNetwork | MaasNode,
  observed: Readonly<VirtNetwork | MaasNode> | undefined,
): 'create' | 'update' | 'none' {
  if (observed === undefined) return 'create';
  const labelsOk = covers(observed.metadata?.labels, desired.metadata?.labels);
  return labelsOk && covers(observed.spec, desired.spec) ? 'none' : 'update';
}

/** A lab's progress (its Ready node count) is written at most this often. */
export const PROGRESS_WRITE_INTERVAL_MS = 1000;

/** Node applies in flight at once, per lab pass. */
const CONCURRENT_CHILD_APPLIES = 10;

/** A short list for messages: at most `max` items, then "and N more". */
const listOf = (items: readonly string[], max = 5): string =>
  items.length > max
    ? `${items.slice(0, max).join(', ')} and ${items.length - max} more`
    : items.join(', ');

/** The Stalled message for MAC collisions: each names the MAC and every claimant. */
export function collisionMessage(collisions: readonly MacCollision[]): string {
  const shown = collisions.slice(0, 3).map((c) => c.message);
  const more = collisions.length > 3 ? `; and ${collisions.length - 3} more colliding MACs` : '';
  return `${shown.join('; ')}${more}`;
}

/** The MACs of a node's NICs, lower case. */
const macsOf = (node: MaasNode): string[] =>
  (node.spec.interfaces ?? []).flatMap((nic) => (nic.mac ? [nic.mac.toLowerCase()] : []));

/** What the act step found that the report must show. */
interface Findings {
  stalled?: Why;
  error?: Why;
}

/**
 * Reconciles one MaasLab. Steps of a pass:
 *  1. Observe: read the lab, its Hypervisor, the children it controls, foreign objects of
 *     its children's names, and every lab and stand-alone MaasNode on the same hypervisor
 *     (scope.ts). A lab that is gone needs nothing: garbage collection removes its children.
 *  2. Skip labs whose hypervisor shard another process serves, and labs being deleted (the
 *     report says Terminating).
 *  3. A missing Hypervisor stalls the lab (HypervisorNotFound); nothing is built.
 *  4. Desired (pure, desired.ts): the children; MAC collisions with older labs or
 *     stand-alone nodes on the same hypervisor, which stall the lab (MacCollision) and keep
 *     the colliding nodes from being applied.
 *  5. Act, networks first: apply missing or changed VirtNetworks (server-side apply, field
 *     manager `maaslab`), delete the ones the spec dropped; delete unwanted MaasNodes,
 *     highest-numbered first; apply missing or changed nodes in the same pass (each node
 *     waits for its networks before it starts). Objects of a child's name the lab does not
 *     control are never touched (NameConflict).
 *  6. Report, always (even when act threw): aggregate counts, printableStatus and
 *     Ready/Reconciling/Stalled (status.ts) in one status patch, only if something changed;
 *     observedGeneration advances only when the pass succeeded. A change of the Ready count
 *     alone is written at most once a second (the pass requeues for it).
 * Children's changes re-enqueue the lab (owns), so no pass polls.
 */
export function createMaasLabReconciler(opts: MaasLabReconcilerOptions): Reconciler {
  const { caches, client, events, clock } = opts;
  const serves = opts.serves ?? (() => true);
  const metrics = opts.metrics ?? noopLabMetrics;

  /** When each lab's status was last written, by request key. */
  const lastProgressWrite = new Map<string, number>();

  const record = (lab: MaasLab, type: EventType, reason: string, action: string, note: string) =>
    events.record({ regarding: lab, type, reason, action, note });

  /** Step 5: the writes. Fills `found` with what the report must show; throws to retry. */
  async function act(
    scope: LabScope,
    desired: LabChildren,
    blocking: readonly MacCollision[],
    found: Findings,
    signal: AbortSignal,
  ): Promise<void> {
    const { lab } = scope;
    const conflicts: string[] = [];
    const recordCreated = (names: readonly string[]): void => {
      if (names.length === 0) return;
      record(
        lab,
        EventType.Normal,
        LabEventReason.NodesCreated,
        'Create',
        `created MaasNodes ${listOf(names)}`,
      );
    };

    // Networks first: nodes attach to them.
    const createdNetworks: string[] = [];
    for (const net of desired.networks) {
      const name = net.metadata?.name ?? '';
      if (scope.foreignNetworks.has(name)) {
        conflicts.push(`${VirtNetworkKind} ${name}`);
        continue;
      }
      const observedNet = scope.networks.get(name);
      // A child being deleted is left to finish: an apply could not change it anyway.
      if (observedNet !== undefined && isDeleting(observedNet)) continue;
      const action = childAction(net, observedNet);
      if (action === 'none') continue;
      scope.networks.set(name, await client.apply(net, { fieldManager: FieldManager, signal }));
      if (action === 'create') createdNetworks.push(name);
    }
    if (createdNetworks.length > 0) {
      record(
        lab,
        EventType.Normal,
        LabEventReason.NetworksCreated,
        'Create',
        `created VirtNetworks ${listOf(createdNetworks)}`,
      );
    }

    // Scale down before scale up, highest-numbered first, so 5 → 2 removes 5, 4, 3.
    const deletedNodes: string[] = [];
    for (const name of nodesToDelete([...scope.nodes.keys()], desired.nodes)) {
      // Already going (its finalizer is cleaning up libvirt): deleting again would only
      // repeat the event.
      if (isDeleting(scope.nodes.get(name) ?? {})) continue;
      const ref = { apiVersion: GroupVersionKinds.MaasNode.apiVersion, kind: MaasNodeKind };
      if (await client.delete({ ...ref, namespace: lab.metadata?.namespace, name }, signal)) {
        deletedNodes.push(name);
      }
      scope.nodes.delete(name);
    }
    if (deletedNodes.length > 0) {
      record(
        lab,
        EventType.Normal,
        LabEventReason.NodesDeleted,
        'Delete',
        `deleted MaasNodes ${listOf(deletedNodes)}`,
      );
    }

    // A network the spec dropped goes after the nodes: its controller refuses to delete a
    // network that nodes still use.
    const deletedNetworks: string[] = [];
    for (const name of networksToDelete([...scope.networks.keys()], desired.networks)) {
      if (isDeleting(scope.networks.get(name) ?? {})) continue;
      const ref = { apiVersion: GroupVersionKinds.VirtNetwork.apiVersion, kind: VirtNetworkKind };
      if (await client.delete({ ...ref, namespace: lab.metadata?.namespace, name }, signal)) {
        deletedNetworks.push(name);
      }
      scope.networks.delete(name);
    }
    if (deletedNetworks.length > 0) {
      record(
        lab,
        EventType.Normal,
        LabEventReason.NetworksDeleted,
        'Delete',
        `deleted VirtNetworks ${listOf(deletedNetworks)}`,
      );
    }

    // Nodes, created with the networks rather than after them: each makes its disks and
    // definition while the networks come up and starts only once they are Ready (the recipe's
    // "MAAS DHCP must start after virbr0" is the node's gate). A node whose MAC another
    // claimant keeps is left out, and no node is created while a network of the lab's is
    // someone else's (it would attach to that one).
    const networksOurs = desired.networks.every(
      (n) => !scope.foreignNetworks.has(n.metadata?.name ?? ''),
    );
    const blockedMacs = new Set(blocking.map((c) => c.mac));
    const toApply: Array<{ node: MaasNode; create: boolean }> = [];
    for (const node of desired.nodes) {
      const name = node.metadata?.name ?? '';
      if (scope.foreignNodes.has(name)) {
        conflicts.push(`${MaasNodeKind} ${name}`);
        continue;
      }
      if (macsOf(node).some((mac) => blockedMacs.has(mac))) continue;
      const observedNode = scope.nodes.get(name);
      if (observedNode !== undefined && isDeleting(observedNode)) continue;
      const action = childAction(node, observedNode);
      if (action === 'none' || (action === 'create' && !networksOurs)) continue;
      toApply.push({ node, create: action === 'create' });
    }
    // A few applies at a time: a lab of 100 nodes is not 100 round trips in a row, and each
    // node's controller starts on it as soon as it exists.
    const createdNodes: string[] = [];
    for (let i = 0; i < toApply.length; i += CONCURRENT_CHILD_APPLIES) {
      const batch = toApply.slice(i, i + CONCURRENT_CHILD_APPLIES);
      const applied = await Promise.allSettled(
        batch.map(({ node }) => client.apply(node, { fieldManager: FieldManager, signal })),
      );
      applied.forEach((result, j) => {
        const { node, create } = batch[j]!;
        const name = node.metadata?.name ?? '';
        if (result.status !== 'fulfilled') return;
        scope.nodes.set(name, result.value);
        if (create) createdNodes.push(name);
      });
      const failed = applied.find((r) => r.status === 'rejected');
      if (failed) {
        recordCreated(createdNodes);
        throw failed.reason;
      }
    }
    recordCreated(createdNodes);

    if (conflicts.length > 0 && found.stalled === undefined) {
      const message = `${listOf(conflicts)} exist and are not controlled by this lab; they are left untouched`;
      found.stalled = { reason: NameConflictReason, message };
      record(lab, EventType.Warning, LabEventReason.NameConflict, 'Apply', message);
    }
  }

  /** Step 6: one status patch from the scope, only when it differs from what is stored. */
  async function report(
    scope: LabScope,
    desired: LabChildren,
    o: LabObservation,
    succeeded: boolean,
    signal: AbortSignal,
  ): Promise<number | undefined> {
    const { lab } = scope;
    const result = labStatus(
      lab,
      desired,
      [...scope.networks.values()],
      [...scope.nodes.values()],
      o,
    );
    const generation = lab.metadata?.generation ?? 0;
    const conditions = applyConditionPlan(lab.status?.conditions, result.conditions, {
      now: clock.now(),
      generation,
    });
    const observedGeneration = succeeded ? generation : lab.status?.observedGeneration;
    const status = {
      ...(observedGeneration !== undefined && { observedGeneration }),
      conditions,
      ...result.status,
    };
    const { ready, total } = result.status.nodes;
    metrics.nodes(lab.metadata?.namespace ?? '', lab.metadata?.name ?? '', ready, total);
    // While a lab builds, its count of Ready nodes changes with every node: that progress is
    // written at most once per interval (one write per node of a 100-node lab otherwise);
    // anything else, such as becoming Ready, is written at once.
    const key = requestKey(requestFor(lab));
    const now = clock.now();
    const sinceLast = now - (lastProgressWrite.get(key) ?? -Infinity);
    if (onlyProgressChanged(lab.status, status) && sinceLast < PROGRESS_WRITE_INTERVAL_MS) {
      return PROGRESS_WRITE_INTERVAL_MS - sinceLast;
    }
    const written = await client.patchStatus(lab, status, signal);
    if (written.changed) lastProgressWrite.set(key, now);
    return undefined;
  }

  return {
    async reconcile(req: Request, signal: AbortSignal): Promise<Result> {
      // 1. Observe.
      const scope = observeLab(req, caches);
      if (!scope) {
        metrics.forget(req.namespace ?? '', req.name);
        lastProgressWrite.delete(requestKey(req));
        return {};
      }
      const { lab } = scope;
      // 2. Another replica's shard, or going away.
      if (!serves(lab.spec.hypervisor)) {
        metrics.forget(req.namespace ?? '', req.name);
        return {};
      }
      const deleting = isDeleting(lab);
      const hypervisorReachable = hypervisorReachableOf(scope.hypervisor);
      const desired = desiredChildren(lab);
      const found: Findings = {};
      const observation = (): LabObservation => ({
        deleting,
        hypervisorReachable,
        ...(found.stalled && { stalled: found.stalled }),
        ...(found.error && { error: found.error }),
      });
      // A progress write held back comes with the pass it asks for.
      const finish = async (): Promise<Result> => {
        const wait = await report(scope, desired, observation(), true, signal);
        return wait === undefined ? {} : { requeueAfterMs: wait };
      };
      if (deleting) return finish();
      // 3. Nothing to build on.
      if (scope.hypervisor === undefined) {
        found.stalled = {
          reason: HypervisorNotFoundReason,
          message: `Hypervisor ${lab.spec.hypervisor} does not exist`,
        };
        return finish();
      }
      // 4. Desired state and collisions (pure).
      const blocking = collisionsBlocking(lab, macCollisions(scope.peers, scope.standaloneNodes));
      if (blocking.length > 0) {
        const message = collisionMessage(blocking);
        found.stalled = { reason: MacCollisionReason, message };
        // Once per collision, not once per pass: the condition carries it meanwhile.
        const stalled = lab.status?.conditions?.find((c) => c.type === StalledCondition);
        if (stalled?.reason !== MacCollisionReason || stalled.message !== message) {
          record(lab, EventType.Warning, LabEventReason.MacCollision, 'CheckMacs', message);
        }
      }
      // 5. Act; 6. report whatever happened.
      try {
        await act(scope, desired, blocking, found, signal);
      } catch (err) {
        found.error = { reason: ProgressingReason, message: `retrying: ${messageOf(err)}` };
        // The act error is what the queue must retry on; a failed status write must not
        // replace it (the next pass reports again).
        await report(scope, desired, observation(), false, signal).catch(() => undefined);
        throw err;
      }
      return finish();
    },
  };
}

/**
 * The lab's hypervisor counts as reachable unless its controller says otherwise (Ready not
 * True with reason HypervisorUnreachable). A Hypervisor not yet reconciled is not assumed
 * down: the children wait on it themselves.
 */
function hypervisorReachableOf(hv: Readonly<Hypervisor> | undefined): boolean {
  const ready = hv?.status?.conditions?.find((c) => c.type === ReadyCondition);
  return !(
    ready !== undefined &&
    ready.status !== 'True' &&
    ready.reason === HypervisorUnreachableReason
  );
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
}

/**
 * Registers the MaasLab controller with `manager`: it reconciles MaasLabs, is woken by the
 * VirtNetworks and MaasNodes it controls, by stand-alone MaasNodes and other labs on the same
 * hypervisor (a MAC collision may have appeared or gone), and by the lab's Hypervisor.
 */
export function setup(manager: Manager, options: MaasLabSetupOptions = {}): Controller {
  const caches: LabCaches = {
    labs: manager.cache<MaasLab>(GroupVersionKinds.MaasLab),
    networks: manager.cache<VirtNetwork>(GroupVersionKinds.VirtNetwork),
    nodes: manager.cache<MaasNode>(GroupVersionKinds.MaasNode),
    hypervisors: manager.cache<Hypervisor>(GroupVersionKinds.Hypervisor),
  };
  const labsOn = (hypervisor: string | undefined, except?: string): Request[] =>
    caches.labs
      .list()
      .filter((l) => hypervisor !== undefined && l.spec.hypervisor === hypervisor)
      .filter((l) => except === undefined || l.metadata?.uid !== except)
      .map((l) => requestFor(l));
  const specOf = (o: object): { hypervisor?: string } =>
    (o as { spec?: { hypervisor?: string } }).spec ?? {};
  const { serves, metrics, ...builderOptions } = options;
  return (
    controllerBuilder(manager)
      // Its own status writes need no pass of their own.
      .for(GroupVersionKinds.MaasLab, { predicates: [statusOnlyUpdatesIgnored] })
      // Only the children's changes its status and diff read.
      .owns(GroupVersionKinds.VirtNetwork, { predicates: [childStateChanged] })
      .owns(GroupVersionKinds.MaasNode, { predicates: [childStateChanged] })
      // MAC collisions are between labs (and stand-alone nodes) on one hypervisor: a spec
      // change of one may start or end a collision for the others. Only spec and control
      // changes wake the peers; a lab's own status writes would otherwise wake every lab on
      // its hypervisor, whose status writes wake it back (O(labs²) passes per change).
      .watches(GroupVersionKinds.MaasLab, (o) => labsOn(specOf(o).hypervisor, o.metadata?.uid), {
        predicates: [collisionInputsChanged],
      })
      .watches(
        GroupVersionKinds.MaasNode,
        (o) =>
          (o.metadata?.ownerReferences ?? []).some((r) => r.controller === true)
            ? []
            : labsOn(specOf(o).hypervisor),
        { predicates: [collisionInputsChanged] },
      )
      .watches(GroupVersionKinds.Hypervisor, (o) => labsOn(o.metadata?.name), {
        predicates: [hypervisorGateChanged],
      })
      .withOptions(builderOptions)
      .named(MaasLabControllerName)
      .complete(
        createMaasLabReconciler({
          caches,
          client: manager.client,
          events: manager.events,
          clock: manager.clock,
          ...(serves && { serves }),
          ...(metrics && { metrics }),
        }),
      )
  );
}

/** The permissions the MaasLab controller uses, and no more. */
export const rbac: readonly V1PolicyRule[] = [
  { apiGroups: [Group], resources: ['maaslabs'], verbs: ['get', 'list', 'watch'] },
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
  { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
];
