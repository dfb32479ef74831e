// The MaasNode controller: one libvirt domain and its disk volumes per MaasNode — the manual
// recipe's `virt-install ... --pxe` — kept in the power state the run strategy asks for, with
// drift noticed from libvirt's domain events at once and by a periodic resync otherwise. A
// domain of our name that we did not create is never touched.
//
// The files beside this one: scope.ts (observe), desired.ts (pure), normal.ts, power.ts and
// delete.ts (the phases), status.ts (the report, pure), memory.ts (what outlives a pass),
// pass.ts (one pass's state and events), watches.ts (what wakes a pass).
import type { V1PolicyRule } from '@kubernetes/client-node';
import {
  GroupVersionKinds,
  Group,
  type Hypervisor as HypervisorResource,
  type MaasNode,
} from '../../api/v1alpha1/index.js';
import { createPassLookups, type Hypervisor } from '../../libvirt/hypervisor/index.js';
import {
  type BuilderOptions,
  CLEANUP_FINALIZER,
  type Client,
  type Clock,
  ContentType,
  type Controller,
  type EventRecorder,
  hasFinalizer,
  isTerminalError,
  loggerFrom,
  type Manager,
  type MetaObject,
  type Reconciler,
  refOf,
  type Request,
  requestFor,
  type Result,
  toRfc3339Seconds,
} from '../../runtime/index.js';
import { NoBootOverride } from '../../bmc/boot.js';
import type { BmcActionSource } from '../../bmc/backend.js';
import type { BmcHooks, BmcService } from '../../bmc/service.js';
import { withCleanupFinalizer } from '../common/finalizer.js';
import type { HypervisorRegistry } from '../common/hypervisor-registry.js';
import { type PassFailure, runPhasesAndReport } from '../common/phases.js';
import { patchStatusOnce, reportBase } from '../common/status-patch.js';
import { noopSwallowedErrorMetrics, type SwallowedErrorMetrics } from '../metrics.js';
import { deletePhases } from './delete.js';
import { createNodeMemory, type NodeMemory } from './memory.js';
import { OwnDomainEvents } from './own-events.js';
import { normalPhases } from './normal.js';
import { type Findings, type NodeDeps, type NodePass, passEvents } from './pass.js';
import { observeNodeScope, type NodeCaches, type NodeScope } from './scope.js';
import { nodeStatus } from './status.js';
import { nodeCaches, watchNodes } from './watches.js';
import { definedProps } from '../../util/defined-props.js';

export { NodeEventReason } from './events.js';
export { CLONE_SOURCE_RECHECK_MS, UNREACHABLE_RECHECK_MS, justDefined } from './normal.js';
export { nodesForDomain } from './watches.js';

/** The controller's name: the `controller` label on its metrics and logs. */
export const MaasNodeControllerName = 'maasnode';

/** The default period of a full look at a settled node (drift no domain event reported). */
export const DEFAULT_NODE_RESYNC_MS = 10 * 60_000;

/** The `step` label of a status patch that failed after the pass had failed already. */

/** What the reconciler needs; `setup` takes them from the manager, unit tests hand in fakes. */
export interface MaasNodeReconcilerOptions {
  /** MaasNodes, VirtNetworks and Hypervisors. */
  readonly caches: NodeCaches;
  /** The libvirt verbs of a Hypervisor resource. */
  readonly hypervisorFor: (resource: Readonly<HypervisorResource>) => Hypervisor;
  /** Status and finalizer writes. */
  readonly client: Pick<Client, 'patchStatus' | 'ensureFinalizer' | 'dropFinalizer'>;
  /** Sets one annotation on the node (a metadata merge patch); for runStrategy Once. */
  readonly annotate: NodeDeps['annotate'];
  /** Events about the node. */
  readonly events: Pick<EventRecorder, 'record'>;
  /** Time for condition stamps and the shutdown grace period. */
  readonly clock: Pick<Clock, 'now'>;
  /** Whether this process serves the node's hypervisor shard (default: every shard). */
  readonly serves?: (hypervisor: string) => boolean;
  /** Period of the full look at a settled node (default 10 min). */
  readonly resyncMs?: number;
  /** Grace period of haltMode Shutdown before the domain is destroyed (default 120 s). */
  readonly shutdownTimeoutMs?: number;
  /** Counts errors a pass logged and did not return (default: not counted). */
  readonly swallowedErrors?: SwallowedErrorMetrics;
  /** The virtual BMCs this process serves (spec.bmc); without them BmcReady says so. */
  readonly bmc?: BmcService;
  /** Reads the BMC credentials Secret. */
  readonly readSecret?: NodeDeps['readSecret'];
  /** The domain events passes cause themselves, shared with the watch (default: its own). */
  readonly ownEvents?: OwnDomainEvents;
  /** What outlives a pass, shared with the watch's network events (default: its own). */
  readonly memory?: NodeMemory;
}

/**
 * Reconciles one MaasNode (Cluster API's shape). A pass:
 *  1. Observe (scope.ts): the node, its Hypervisor, its VirtNetworks and a clone source from
 *     the caches. Gone: nothing to do. Another process's shard: leave it alone.
 *  2. Finalizer first: add `maaslab.dev/cleanup`, then go on with the written object (its
 *     write wakes no pass: statusOnlyUpdatesIgnored).
 *  3. Phases, in order, until one stops the pass or throws; their results merge to the
 *     soonest requeue (common/phases.ts). Being deleted (and holding the finalizer): the
 *     delete phases (delete.ts). Otherwise the normal phases (normal.ts, power.ts): wait for
 *     the Hypervisor and a clone source; observe libvirt (whether the host offers KVM, asked
 *     once per host; the domain); derive the desired domain and volumes (pure); leave a
 *     foreign domain of our name alone (Stalled NameConflict, TerminalError); wait for a
 *     clone's source to halt; ensure the volumes and the definition; one power action, not
 *     while a VirtNetwork is not Ready; read the domain again after a change; settle what
 *     the node still wants; requeue after the resync period (domain events wake it sooner).
 *  4. Report, always, in one place: status.ts computes the whole status from the scope and
 *     the pass's findings (printableStatus, domain facts, power, conditions, and
 *     observedGeneration, advanced only when the pass succeeded or ended in a terminal
 *     verdict), and one status patch is sent, only when something changed. A pass that
 *     failed with an error no phase turned into findings reports nothing (it would claim
 *     what it never observed); a report that fails after the pass failed is logged and
 *     counted (maaslab_swallowed_errors_total), and the pass's own error is returned.
 *  5. A deleted node's finalizer goes last, after the report.
 * The pass's Normal events are told as one Event when it ends (pass.ts).
 */
export function createMaasNodeReconciler(opts: MaasNodeReconcilerOptions): Reconciler {
  const { caches, client, events, clock } = opts;
  const serves = opts.serves ?? (() => true);
  const swallowed = opts.swallowedErrors ?? noopSwallowedErrorMetrics;
  const deps: NodeDeps = definedProps({
    hypervisorFor: opts.hypervisorFor,
    annotate: opts.annotate,
    clock,
    memory: opts.memory ?? createNodeMemory(),
    ownEvents: opts.ownEvents ?? new OwnDomainEvents({ now: () => performance.now() }),
    resyncMs: opts.resyncMs ?? DEFAULT_NODE_RESYNC_MS,
    shutdownTimeoutMs: opts.shutdownTimeoutMs,
    bmc: opts.bmc,
    readSecret: opts.readSecret,
  });

  /** Step 4: one status patch, only when something changed; see the doc comment above. */
  async function report(pass: NodePass, failed: PassFailure): Promise<void> {
    const { scope, found, signal } = pass;
    if (pass.unreported) return;
    if (failed && failed.error !== found.failure) return;
    const succeeded = failed === undefined || isTerminalError(failed.error);
    const node = reportBase(scope.node, caches.nodes.get(requestFor(scope.node)));
    const status = nodeStatus({ ...scope, node }, found, { now: clock.now(), succeeded });
    // Any failed pass is retried, terminal verdicts included: its own error stands.
    await patchStatusOnce(() => client.patchStatus(node, status, signal), {
      rethrow: !failed,
      log: pass.log,
      controller: MaasNodeControllerName,
      swallowed,
    });
  }

  /** Steps 3 to 5 over a scope with the finalizer in place. */
  async function run(pass: NodePass): Promise<Result> {
    const phases = pass.scope.deleting ? deletePhases : normalPhases;
    const result = await runPhasesAndReport(phases, pass, (failed) => report(pass, failed));
    // Last: the node may be gone the moment its finalizer is.
    if (pass.released) {
      await client.dropFinalizer(pass.scope.node, CLEANUP_FINALIZER, pass.signal);
    }
    return result;
  }

  return {
    async reconcile(req: Request, signal: AbortSignal): Promise<Result> {
      // 1. Observe the caches.
      const cached = observeNodeScope(req, caches);
      if (!cached || !serves(cached.node.spec.hypervisor)) return {};
      // 2. Finalizer first, then on with the written object.
      const scope: NodeScope = {
        ...cached,
        node: await withCleanupFinalizer(cached.node, cached.deleting, client, signal),
      };
      if (scope.deleting && !hasFinalizer(scope.node, CLEANUP_FINALIZER)) return {};
      const told = passEvents(events, scope.node);
      using lookups = createPassLookups();
      const token = deps.memory.restartTokenInForce(scope.node);
      const found: Findings = {
        volumesReady: false,
        volumes: [],
        pendingRestart: [],
        next: 'none',
        ...definedProps({ lastRestartToken: token }),
      };
      try {
        return await run({
          scope,
          signal,
          log: loggerFrom(signal),
          deps,
          found,
          lookups,
          record: told.record,
        });
      } finally {
        told.flush();
      }
    },
  };
}

/** Options for {@link setup}. */
export interface MaasNodeSetupOptions extends BuilderOptions {
  /**
   * The libvirt verbs per Hypervisor, one registry shared by the VirtNetwork and MaasNode
   * controllers (see createHypervisorRegistry: one event registration per connection).
   */
  readonly hypervisors: HypervisorRegistry;
  /** Whether this process serves a hypervisor's shard (default: every shard). */
  readonly serves?: (hypervisor: string) => boolean;
  /** Period of the full look at a settled node (default 10 min). */
  readonly resyncMs?: number;
  /** Grace period of haltMode Shutdown before the domain is destroyed (default 120 s). */
  readonly shutdownTimeoutMs?: number;
  /** Counts errors a pass logged and did not return (default: not counted). */
  readonly swallowedErrors?: SwallowedErrorMetrics;
  /**
   * Makes the process's virtual BMC service, given what it must do when a BMC client acts
   * (record it in the node's status, wake the node). Without it spec.bmc is not served.
   */
  readonly bmc?: (hooks: BmcHooks) => BmcService;
}

/**
 * Registers the MaasNode controller with `manager`: it reconciles MaasNodes and is woken by
 * the VirtNetworks they use (nodes wait for them), their Hypervisor, their clones' sources,
 * and libvirt domain lifecycle events (see watches.ts).
 */
export function setup(manager: Manager, options: MaasNodeSetupOptions): Controller {
  const {
    hypervisors,
    serves,
    resyncMs,
    shutdownTimeoutMs,
    swallowedErrors,
    bmc: makeBmc,
    ...builderOptions
  } = options;
  const caches = nodeCaches(manager);
  const ownEvents = new OwnDomainEvents({ now: () => performance.now() });
  const memory = createNodeMemory();
  // The hooks wake the controller that is built below, once there is one.
  const built: { controller?: Controller } = {};
  const bmc = makeBmc?.(bmcHooks(manager, (req) => built.controller?.enqueue(req)));
  const reconciler = createMaasNodeReconciler({
    caches,
    hypervisorFor: (hv) => hypervisors.hypervisorFor(hv),
    client: manager.client,
    annotate: async (node: Readonly<MaasNode>, key, value, signal) => {
      await manager.rest.request({
        method: 'PATCH',
        ref: refOf(node),
        body: { metadata: { annotations: { [key]: value } } },
        contentType: ContentType.MergePatch,
        signal,
      });
    },
    events: manager.events,
    clock: manager.clock,
    ownEvents,
    memory,
    ...definedProps({ serves, resyncMs, shutdownTimeoutMs, swallowedErrors }),
    ...(bmc && { bmc, readSecret: secretReader(manager) }),
  });
  built.controller = watchNodes(
    manager,
    { caches, hypervisors, ownEvents, memory, builderOptions, name: MaasNodeControllerName },
    reconciler,
  );
  return built.controller;
}

const requestOf = (key: string): Request => {
  const slash = key.indexOf('/');
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
};

/**
 * What the BMC service does when a client acts: a merge patch of status.bmc (lastAction,
 * bootOverride), unlocked because it names only fields the reconciler carries over (a pass
 * racing it writes its report against this newer copy, carrying them over, see reportBase),
 * then a wake-up: the next pass acts on them.
 */
function bmcHooks(manager: Manager, enqueue: (req: Request) => void): BmcHooks {
  const patch = async (key: string, bmc: object): Promise<void> => {
    const req = requestOf(key);
    await manager.rest.request({
      method: 'PATCH',
      ref: { ...GroupVersionKinds.MaasNode, namespace: req.namespace, name: req.name },
      subresource: 'status',
      body: { status: { bmc } },
      contentType: ContentType.MergePatch,
    });
    enqueue(req);
  };
  const lastAction = (action: string, source: BmcActionSource) => ({
    action,
    time: toRfc3339Seconds(manager.clock.now()),
    source: `${source.protocol} ${source.user}@${source.remote}`,
  });
  return {
    actionTaken: (key, action, source) => patch(key, { lastAction: lastAction(action, source) }),
    bootChanged: (key, boot, source) =>
      patch(key, {
        bootOverride: boot,
        lastAction: lastAction(`Boot=${boot.target}/${boot.enabled}/${boot.mode}`, source),
      }),
    bootSpent: (key) => patch(key, { bootOverride: NoBootOverride }),
  };
}

/** Reads a Secret's data, decoded; undefined when it does not exist. */
function secretReader(manager: Manager): NonNullable<NodeDeps['readSecret']> {
  return async (namespace, name, signal) => {
    const secret = await manager.client.get<MetaObject & { data?: Record<string, string> }>(
      { apiVersion: 'v1', kind: 'Secret', namespace, name },
      signal,
    );
    if (!secret) return undefined;
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(secret.data ?? {})) {
      out[k] = Buffer.from(v, 'base64').toString('utf8');
    }
    return out;
  };
}

/** The permissions the MaasNode controller uses, and no more. */
export const rbac: readonly V1PolicyRule[] = [
  // patch: the finalizer and the started-once annotation.
  { apiGroups: [Group], resources: ['maasnodes'], verbs: ['get', 'list', 'watch', 'patch'] },
  { apiGroups: [Group], resources: ['maasnodes/status'], verbs: ['get', 'patch'] },
  {
    apiGroups: [Group],
    resources: ['virtnetworks', 'hypervisors'],
    verbs: ['get', 'list', 'watch'],
  },
  { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
  // The BMC credentials (spec.bmc.credentialsSecretRef), read when a node's BMC is served.
  { apiGroups: [''], resources: ['secrets'], verbs: ['get'] },
];
