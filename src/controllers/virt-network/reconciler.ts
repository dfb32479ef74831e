// The VirtNetwork controller: one libvirt network per VirtNetwork, defined, started and
// autostarted on its Hypervisor; address and DHCP changes applied the way the manual recipe
// changes virbr0 (redefine, restart, re-plug running guests' NICs), DHCP hosts live; a
// network of our name that we did not create is never touched.
import type { V1PolicyRule } from '@kubernetes/client-node';
import {
  GroupVersionKinds,
  BridgeNotFoundReason,
  Group,
  HypervisorNotFoundReason,
  LibvirtErrorReason,
  NameConflictReason,
  StalledCondition,
  type Hypervisor as HypervisorResource,
  type MaasNode,
  type VirtNetwork,
} from '../../api/v1alpha1/index.js';
import {
  BridgeNotFoundError,
  HypervisorUnreachableError,
  NameConflictError,
  type Hypervisor,
  type ObservedNetwork,
  type OwnedNetworkDescription,
} from '../../libvirt/hypervisor/index.js';
import {
  type BuilderOptions,
  CLEANUP_FINALIZER,
  type Client,
  type Clock,
  type Controller,
  controllerBuilder,
  type EventRecorder,
  EventType,
  generationChanged,
  hasFinalizer,
  isDeleting,
  type Manager,
  type Reconciler,
  type Request,
  requestFor,
  type Result,
  statusOnlyUpdatesIgnored,
  TerminalError,
} from '../../runtime/index.js';
import { applyConditionPlan, planFor, type ConditionPlan, type Why } from '../common/conditions.js';
import { withCleanupFinalizer } from '../common/finalizer.js';
import { ownership as classify, type Ownership } from '../common/ownership.js';
import { hypervisorGateChanged } from '../common/predicates.js';
import { desiredNetwork, diffNetwork, libvirtNetworkName } from './desired.js';
import {
  observeLibvirtNetwork,
  observeNetworkScope,
  type NetworkCaches,
  type NetworkScope,
} from './scope.js';
import { type HypervisorRegistry, ShardLostError } from '../common/hypervisor-registry.js';
import { networkConditions, networkInfo, type NetworkInfo } from './status.js';

/** The controller's name: the `controller` label on its metrics and logs. */
export const VirtNetworkControllerName = 'virtnetwork';

/** How long a deletion waits before looking again at the MaasNodes that still use it. */
export const IN_USE_RECHECK_MS = 10_000;

/** The default period of a full look at a settled network (drift nobody told us about). */
export const DEFAULT_NETWORK_RESYNC_MS = 10 * 60_000;

/**
 * The default wait before looking again for a missing host bridge: nothing tells us when an
 * admin creates it (no libvirt event), so a Stalled BridgeNotFound network polls, slowly.
 */
export const DEFAULT_BRIDGE_RECHECK_MS = 60_000;

/** Event reasons the VirtNetwork controller records. */
export const NetworkEventReason = {
  Created: 'NetworkCreated',
  Started: 'NetworkStarted',
  Updated: 'NetworkUpdated',
  Deleted: 'NetworkDeleted',
  InUse: 'NetworkInUse',
  NameConflict: NameConflictReason,
  BridgeNotFound: BridgeNotFoundReason,
  LibvirtError: LibvirtErrorReason,
} as const;

/** spec.autostart with the CRD's default (true). */
const wantAutostart = (vnet: Readonly<VirtNetwork>): boolean => vnet.spec.autostart ?? true;

/** An error's message, for condition messages (logs get the whole chain). */
const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** What the reconciler needs; `setup` takes them from the manager, unit tests hand in fakes. */
export interface VirtNetworkReconcilerOptions {
  /** VirtNetworks, MaasNodes and Hypervisors. */
  readonly caches: NetworkCaches;
  /** The libvirt verbs of a Hypervisor resource. */
  readonly hypervisorFor: (resource: Readonly<HypervisorResource>) => Hypervisor;
  /** Status and finalizer writes. */
  readonly client: Pick<Client, 'patchStatus' | 'ensureFinalizer' | 'dropFinalizer'>;
  /** Events about the VirtNetwork. */
  readonly events: Pick<EventRecorder, 'record'>;
  /** Time for condition stamps. */
  readonly clock: Pick<Clock, 'now'>;
  /** Whether this process serves the network's hypervisor shard (default: every shard). */
  readonly serves?: (hypervisor: string) => boolean;
  /** Period of the full look at a settled network (default 10 min). */
  readonly resyncMs?: number;
  /** Wait before looking again for a missing host bridge (default 60 s). */
  readonly bridgeRecheckMs?: number;
}

/** What the act step found that the report must show. */
interface Findings {
  /** The Hypervisor could not be reached (this pass). */
  unreachable?: string;
  /** Whose the libvirt network of our name is. */
  ownership: Ownership;
  /** The network as last observed (after acting). */
  network?: ObservedNetwork;
  /** A libvirt call failed (retried). */
  error?: Why;
  /** Mode bridge, and the host bridge of this name does not exist (network not started). */
  missingBridge?: string;
}

/**
 * Reconciles one VirtNetwork. Steps of a pass:
 *  1. Observe (scope.ts): the VirtNetwork, its Hypervisor and the MaasNodes that use it, from
 *     the caches. Gone: nothing to do. Another process's shard: leave it alone.
 *  2. Finalizer first: add `maaslab.dev/cleanup`, then go on with the written object (its
 *     write wakes no pass: statusOnlyUpdatesIgnored).
 *  3. Deletion: while MaasNodes in the namespace still name the network, refuse (Ready=False,
 *     Deleting, listing them; an event; look again later — their deletion wakes us too). Then
 *     destroy and undefine the network if it is ours (a foreign one is left alone), and drop
 *     the finalizer last. A Hypervisor resource that is gone has nothing we can clean.
 *  4. Wait for the Hypervisor: missing → Stalled HypervisorNotFound; unreachable → Ready
 *     Unknown; not Ready → Ready=False HypervisorNotReady. Its status changes wake us.
 *  5. Observe libvirt: the network of the name `<namespace>.<name>`.
 *  6. Desired (pure): desiredNetwork; ownership of what exists. Foreign → Stalled
 *     NameConflict, a Warning event, never touched, no retry (TerminalError).
 *  7. Act: absent → ensureNetwork (define, start, autostart per spec.autostart); present →
 *     diffNetwork against the persistent definition, and against the live one while active (a
 *     definition the running network lags is applied by restarting it), then
 *     applyNetworkChange (DHCP hosts live, or redefine + restart + re-plug running guests'
 *     NICs); then ensureNetwork so it runs and autostarts as asked. Events on every change.
 *     In mode bridge a missing host bridge stops this before the network starts (or a
 *     running one is torn down): Stalled BridgeNotFound, a Warning event when it begins, and
 *     a look again after `bridgeRecheckMs`, as nothing signals the bridge's creation.
 *  8. Report, always: libvirtName, uuid, bridge, active (status.ts), Ready/Reconciling/
 *     Stalled and observedGeneration (advanced only by a pass that succeeded) in one status
 *     patch, sent only when something changed.
 *  9. Requeue after the resync period (drift libvirt events do not cover).
 */
export function createVirtNetworkReconciler(opts: VirtNetworkReconcilerOptions): Reconciler {
  const { caches, hypervisorFor, client, events, clock } = opts;
  const serves = opts.serves ?? (() => true);
  const resyncMs = opts.resyncMs ?? DEFAULT_NETWORK_RESYNC_MS;
  const bridgeRecheckMs = opts.bridgeRecheckMs ?? DEFAULT_BRIDGE_RECHECK_MS;

  const record = (
    vnet: Readonly<VirtNetwork>,
    type: EventType,
    reason: string,
    action: string,
    note: string,
  ): void => events.record({ regarding: vnet, type, reason, action, note });

  /** Step 8: one status patch, only when something changed. */
  async function report(
    scope: NetworkScope,
    plan: ConditionPlan,
    info: NetworkInfo,
    succeeded: boolean,
    signal: AbortSignal,
  ): Promise<void> {
    const { vnet } = scope;
    const generation = vnet.metadata?.generation ?? 0;
    const conditions = applyConditionPlan(vnet.status?.conditions, plan, {
      now: clock.now(),
      generation,
    });
    const observedGeneration = succeeded ? generation : vnet.status?.observedGeneration;
    const status = {
      ...(observedGeneration !== undefined && { observedGeneration }),
      conditions,
      ...info,
    };
    await client.patchStatus(vnet, status, signal);
  }

  /** The last known network fields: kept while we cannot look (the network did not change). */
  const lastInfo = (scope: NetworkScope): NetworkInfo => {
    const s = scope.vnet.status ?? {};
    return {
      libvirtName: scope.libvirtName,
      ...(s.uuid !== undefined && { uuid: s.uuid }),
      ...(s.bridge !== undefined && { bridge: s.bridge }),
      ...(s.active !== undefined && { active: s.active }),
    };
  };

  /** Step 3. */
  async function reconcileDelete(scope: NetworkScope, signal: AbortSignal): Promise<Result> {
    const { vnet } = scope;
    const base = {
      deleting: true,
      usedBy: scope.usedBy,
      hypervisorFound: scope.hypervisor !== undefined,
      hypervisorReachable: true,
      ownership: 'owned' as const,
      bridgeMissing: false,
      converged: false,
    };
    if (scope.usedBy.length > 0) {
      await report(scope, networkConditions(base), lastInfo(scope), true, signal);
      record(
        vnet,
        EventType.Warning,
        NetworkEventReason.InUse,
        'Delete',
        `not deleting the network while MaasNodes use it: ${scope.usedBy.join(', ')}`,
      );
      return { requeueAfterMs: IN_USE_RECHECK_MS };
    }
    if (scope.hypervisor !== undefined) {
      await report(scope, networkConditions(base), lastInfo(scope), true, signal);
      const verbs = hypervisorFor(scope.hypervisor);
      try {
        const change = await verbs.deleteNetwork(scope.libvirtName, scope.owner);
        if (change.changed) {
          record(
            vnet,
            EventType.Normal,
            NetworkEventReason.Deleted,
            'Delete',
            `destroyed and undefined network ${scope.libvirtName}`,
          );
        }
      } catch (err) {
        // Someone else's network of our name: not ours to delete, and nothing of ours is left.
        if (!(err instanceof NameConflictError)) throw err;
      }
    }
    await client.dropFinalizer(vnet, CLEANUP_FINALIZER, signal);
    return {};
  }

  /** Step 7: the writes. Fills `found`; throws what a retry may fix. */
  async function act(
    scope: NetworkScope,
    verbs: Hypervisor,
    observed: ObservedNetwork | undefined,
    found: Findings,
  ): Promise<void> {
    const { vnet } = scope;
    // desiredNetwork always stamps the owner; the spread says so to the type checker.
    const desired: OwnedNetworkDescription = {
      ...desiredNetwork(vnet),
      owner: scope.owner,
      autostart: wantAutostart(vnet),
    };
    if (observed === undefined) {
      await verbs.ensureNetwork(desired);
      record(
        vnet,
        EventType.Normal,
        NetworkEventReason.Created,
        'Create',
        `defined and started network ${scope.libvirtName}`,
      );
    } else {
      let diff = diffNetwork(desired, observed.parsed);
      if (diff.kind === 'none' && observed.active && observed.live !== undefined) {
        // The definition is right but the running network lags it (e.g. a restart failed
        // half-way): restarting applies it.
        const live = diffNetwork(desired, observed.live);
        if (live.kind === 'redefineAndRestart') diff = live;
      }
      if (diff.kind !== 'none') {
        const result = await verbs.applyNetworkChange(desired, diff);
        if (result.changed) {
          const what =
            diff.kind === 'redefineAndRestart'
              ? `redefined and restarted (${diff.reasons.join('; ')})`
              : `updated DHCP hosts live (+${diff.add.length} -${diff.remove.length} ~${diff.modify.length})`;
          const replugged = result.replugged.map((r) => `${r.domain}/${r.mac}`);
          record(
            vnet,
            EventType.Normal,
            NetworkEventReason.Updated,
            'Update',
            `network ${scope.libvirtName} ${what}` +
              (replugged.length > 0 ? `; re-plugged ${replugged.join(', ')}` : ''),
          );
        }
      }
      // Started, and autostart as asked, whatever the diff said (someone may have run
      // net-destroy or net-autostart).
      const autostartFlip = observed.autostart !== desired.autostart;
      const started = await verbs.ensureNetwork(desired);
      if (started.changed && autostartFlip && observed.active) {
        record(
          vnet,
          EventType.Normal,
          NetworkEventReason.Updated,
          'Update',
          `network ${scope.libvirtName} autostart ${desired.autostart ? 'on' : 'off'}`,
        );
      } else if (started.changed) {
        record(
          vnet,
          EventType.Normal,
          NetworkEventReason.Started,
          'Start',
          `started network ${scope.libvirtName}`,
        );
      }
    }
    found.network = await verbs.observeNetwork(scope.libvirtName);
  }

  return {
    async reconcile(req: Request, signal: AbortSignal): Promise<Result> {
      // 1. Observe the caches.
      const cached = observeNetworkScope(req, caches);
      if (!cached) return {};
      if (!serves(cached.vnet.spec.hypervisor)) return {};

      // 2. Finalizer first, then on with the written object.
      const scope = {
        ...cached,
        vnet: await withCleanupFinalizer(cached.vnet, cached.deleting, client, signal),
      };
      const { vnet } = scope;

      // 3. Deletion.
      if (scope.deleting) {
        if (!hasFinalizer(vnet, CLEANUP_FINALIZER)) return {};
        return reconcileDelete(scope, signal);
      }

      // 4. Wait for the Hypervisor.
      const { gate, hypervisor } = scope;
      if (hypervisor === undefined || gate.kind === 'missing') {
        const plan = planFor({
          kind: 'stalled',
          reason: HypervisorNotFoundReason,
          message: `Hypervisor ${vnet.spec.hypervisor} does not exist`,
        });
        await report(scope, plan, lastInfo(scope), true, signal);
        return {};
      }
      if (gate.kind !== 'ready') {
        const plan = planFor({
          kind: gate.kind === 'unreachable' ? 'unknown' : 'progressing',
          reason: gate.reason,
          message: gate.message,
        });
        await report(scope, plan, lastInfo(scope), true, signal);
        return {};
      }

      // 5. Observe libvirt.
      const verbs = hypervisorFor(hypervisor);
      const view = await observeLibvirtNetwork(verbs, scope.libvirtName);
      const found: Findings = { ownership: 'absent' };
      const conditions = (): ConditionPlan =>
        networkConditions({
          deleting: false,
          usedBy: scope.usedBy,
          hypervisorFound: true,
          hypervisorReachable: found.unreachable === undefined,
          ownership: found.ownership,
          bridgeMissing: found.missingBridge !== undefined,
          ...(found.missingBridge !== undefined && { bridgeName: found.missingBridge }),
          converged:
            found.network !== undefined &&
            found.network.active &&
            found.network.autostart === wantAutostart(vnet) &&
            diffNetwork(desiredNetwork(vnet), found.network.parsed).kind === 'none',
          ...(found.error && { error: found.error }),
        });
      const info = (): NetworkInfo =>
        found.unreachable !== undefined || found.ownership === 'foreign'
          ? lastInfo(scope)
          : networkInfo(
              scope.libvirtName,
              found.network?.live ?? found.network?.parsed,
              found.network?.active ?? false,
            );
      if (!view.reachable) {
        found.unreachable = view.message;
        await report(scope, conditions(), info(), true, signal);
        // The Hypervisor's own status change wakes us too; this bounds the wait regardless.
        return { requeueAfterMs: IN_USE_RECHECK_MS };
      }

      // 6. Ownership.
      found.ownership = classify(view.network, scope.owner);
      found.network = view.network;
      if (found.ownership === 'foreign') {
        const message = `libvirt network ${scope.libvirtName} exists and was not created for this VirtNetwork; it is left untouched`;
        await report(scope, conditions(), info(), true, signal);
        record(vnet, EventType.Warning, NetworkEventReason.NameConflict, 'Create', message);
        // Network events and the resync bring us back once the foreign network is gone.
        throw new TerminalError(message, { reason: NameConflictReason });
      }

      // 7. Act; 8. report whatever happened.
      try {
        await act(scope, verbs, view.network, found);
      } catch (err) {
        // Not ours to report on any more: the new lease holder does.
        if (err instanceof ShardLostError) throw err;
        if (err instanceof BridgeNotFoundError) {
          // A human must create the bridge; no error backoff, a slow look again instead.
          found.missingBridge = err.bridge;
          const wasStalled = vnet.status?.conditions?.some(
            (c) =>
              c.type === StalledCondition &&
              c.status === 'True' &&
              c.reason === BridgeNotFoundReason,
          );
          found.network = await verbs.observeNetwork(scope.libvirtName);
          await report(scope, conditions(), info(), true, signal);
          if (!wasStalled) {
            record(
              vnet,
              EventType.Warning,
              NetworkEventReason.BridgeNotFound,
              'Start',
              `not starting network ${scope.libvirtName}: ${err.message}`,
            );
          }
          return { requeueAfterMs: bridgeRecheckMs };
        }
        if (err instanceof HypervisorUnreachableError) {
          found.unreachable = err.message;
        } else if (err instanceof NameConflictError) {
          // Appeared between our look and our write: same as found foreign.
          found.ownership = 'foreign';
          await report(scope, conditions(), info(), true, signal);
          throw new TerminalError(err.message, { reason: NameConflictReason, cause: err });
        } else {
          found.error = { reason: LibvirtErrorReason, message: messageOf(err) };
          record(
            vnet,
            EventType.Warning,
            NetworkEventReason.LibvirtError,
            'Reconcile',
            messageOf(err),
          );
        }
        await report(scope, conditions(), info(), false, signal).catch(() => undefined);
        throw err;
      }
      await report(scope, conditions(), info(), true, signal);
      // 9. Resync.
      return { requeueAfterMs: resyncMs };
    },
  };
}

/** Options for {@link setup}. */
export interface VirtNetworkSetupOptions extends BuilderOptions {
  /**
   * The libvirt verbs per Hypervisor, one registry shared by the VirtNetwork and MaasNode
   * controllers (see createHypervisorRegistry: one event registration per connection).
   */
  readonly hypervisors: HypervisorRegistry;
  /** Whether this process serves a hypervisor's shard (default: every shard). */
  readonly serves?: (hypervisor: string) => boolean;
  /** Period of the full look at a settled network (default 10 min). */
  readonly resyncMs?: number;
  /** Wait before looking again for a missing host bridge (default 60 s). */
  readonly bridgeRecheckMs?: number;
}

/** The VirtNetworks a MaasNode names, in its namespace. */
function networksOf(obj: { metadata?: { namespace?: string } }): Request[] {
  const node = obj as Readonly<MaasNode>;
  const namespace = node.metadata?.namespace;
  const names = new Set((node.spec?.interfaces ?? []).map((nic) => nic.network));
  return [...names].map((name) => (namespace ? { namespace, name } : { name }));
}

/**
 * Registers the VirtNetwork controller with `manager`: it reconciles VirtNetworks and is woken
 * by the MaasNodes that name them (a deletion waits for them), by their Hypervisor (they wait
 * for it to be Ready), and by libvirt network lifecycle events (someone ran net-destroy, or
 * a foreign network of our name went away).
 */
export function setup(manager: Manager, options: VirtNetworkSetupOptions): Controller {
  const { hypervisors, serves, resyncMs, bridgeRecheckMs, ...builderOptions } = options;
  const caches: NetworkCaches = {
    networks: manager.cache<VirtNetwork>(GroupVersionKinds.VirtNetwork),
    nodes: manager.cache<MaasNode>(GroupVersionKinds.MaasNode),
    hypervisors: manager.cache<HypervisorResource>(GroupVersionKinds.Hypervisor),
  };
  const networksOn = (hypervisor: string | undefined): Request[] =>
    caches.networks
      .list()
      .filter((n) => hypervisor !== undefined && n.spec.hypervisor === hypervisor)
      .map((n) => requestFor(n));
  // Filled once the controller exists; events cannot arrive before then (no verbs yet).
  let enqueue: (req: Request) => void = () => undefined;
  hypervisors.onCreate((hvName, verbs) => {
    verbs.onNetworkEvent((e) => {
      for (const n of caches.networks.list()) {
        const ns = n.metadata?.namespace ?? '';
        const name = n.metadata?.name ?? '';
        if (n.spec.hypervisor === hvName && libvirtNetworkName(ns, name) === e.name) {
          enqueue(requestFor(n));
        }
      }
    });
  });
  const controller = controllerBuilder(manager)
    // Its own status writes need no pass of their own.
    .for(GroupVersionKinds.VirtNetwork, { predicates: [statusOnlyUpdatesIgnored] })
    // Only a network being deleted reads its users (it waits for them to go), and only their
    // specs (their NICs): a node's creation or status writes wake no other network.
    .watches(
      GroupVersionKinds.MaasNode,
      (o) =>
        networksOf(o).filter((req) => {
          const vnet = caches.networks.get(req);
          return vnet !== undefined && isDeleting(vnet);
        }),
      { predicates: [generationChanged] },
    )
    .watches(GroupVersionKinds.Hypervisor, (o) => networksOn(o.metadata?.name), {
      predicates: [hypervisorGateChanged],
    })
    .withOptions(builderOptions)
    .named(VirtNetworkControllerName)
    .complete(
      createVirtNetworkReconciler({
        caches,
        hypervisorFor: (hv) => hypervisors.hypervisorFor(hv),
        client: manager.client,
        events: manager.events,
        clock: manager.clock,
        ...(serves && { serves }),
        ...(resyncMs !== undefined && { resyncMs }),
        ...(bridgeRecheckMs !== undefined && { bridgeRecheckMs }),
      }),
    );
  enqueue = (req) => controller.enqueue(req);
  return controller;
}

/** The permissions the VirtNetwork controller uses, and no more. */
export const rbac: readonly V1PolicyRule[] = [
  // patch: the finalizer.
  { apiGroups: [Group], resources: ['virtnetworks'], verbs: ['get', 'list', 'watch', 'patch'] },
  { apiGroups: [Group], resources: ['virtnetworks/status'], verbs: ['get', 'patch'] },
  { apiGroups: [Group], resources: ['maasnodes', 'hypervisors'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
];
