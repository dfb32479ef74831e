// The VirtNetwork controller: one libvirt network per VirtNetwork, defined, started and
// autostarted on its Hypervisor; address and DHCP changes applied the way the manual recipe
// changes virbr0 (redefine, restart, re-plug running guests' NICs), DHCP hosts live; a
// network of our name that we did not create is never touched.
//
// The files beside this one: scope.ts (observe), desired.ts (pure), normal.ts and delete.ts
// (the phases), status.ts (the report, pure), pass.ts (one pass's state), watches.ts (what
// wakes a pass), events.ts (event reasons).
import type { NetworkEventLifecycleType } from '../../libvirt/index.js';
import { OwnEvents } from '../common/own-events.js';
import type { V1PolicyRule } from '@kubernetes/client-node';
import { Group, type Hypervisor as HypervisorResource } from '../../api/v1alpha1/index.js';
import type { Hypervisor } from '../../libvirt/hypervisor/index.js';
import {
  type BuilderOptions,
  CLEANUP_FINALIZER,
  type Client,
  type Clock,
  type Controller,
  type EventRecorder,
  hasFinalizer,
  isTerminalError,
  loggerFrom,
  type Manager,
  type Reconciler,
  type Request,
  requestFor,
  type Result,
} from '../../runtime/index.js';
import { withCleanupFinalizer } from '../common/finalizer.js';
import type { HypervisorRegistry } from '../common/hypervisor-registry.js';
import { type PassFailure, runPhasesAndReport } from '../common/phases.js';
import { patchStatusOnce, reportBase } from '../common/status-patch.js';
import { noopSwallowedErrorMetrics, type SwallowedErrorMetrics } from '../metrics.js';
import { deletePhases } from './delete.js';
import { normalPhases } from './normal.js';
import type { NetworkDeps, NetworkPass } from './pass.js';
import { observeNetworkScope, type NetworkCaches, type NetworkScope } from './scope.js';
import { networkStatus } from './status.js';
import { networkCaches, watchNetworks } from './watches.js';
import { definedProps } from '../../util/defined-props.js';

export { IN_USE_RECHECK_MS } from './delete.js';
export { NetworkEventReason } from './events.js';
export { UNREACHABLE_RECHECK_MS } from './normal.js';

/** The controller's name: the `controller` label on its metrics and logs. */
export const VirtNetworkControllerName = 'virtnetwork';

/** The default period of a full look at a settled network (drift nobody told us about). */
export const DEFAULT_NETWORK_RESYNC_MS = 10 * 60_000;

/**
 * The default wait before looking again for a missing host bridge: nothing tells us when an
 * admin creates it (no libvirt event), so a Stalled BridgeNotFound network polls, slowly.
 */
export const DEFAULT_BRIDGE_RECHECK_MS = 60_000;

/** The `step` label of a status patch that failed after the pass had failed already. */

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
  /** Counts errors a pass logged and did not return (default: not counted). */
  readonly swallowedErrors?: SwallowedErrorMetrics;
  /** The network events passes cause themselves, shared with the watch (default: its own). */
  readonly ownEvents?: OwnEvents<NetworkEventLifecycleType>;
}

/**
 * Reconciles one VirtNetwork (Cluster API's shape). A pass:
 *  1. Observe (scope.ts): the VirtNetwork, its Hypervisor and the MaasNodes that use it, from
 *     the caches. Gone: nothing to do. Another process's shard: leave it alone.
 *  2. Finalizer first: add `maaslab.dev/cleanup`, then go on with the written object (its
 *     write wakes no pass: statusOnlyUpdatesIgnored).
 *  3. Phases, in order, until one stops the pass or throws; their results merge to the
 *     soonest requeue (common/phases.ts). Being deleted (and holding the finalizer): the
 *     delete phases (delete.ts): while MaasNodes in the namespace still name the network,
 *     refuse (Ready=False, Deleting, listing them; a Warning; look again later — their
 *     deletion wakes us too); then destroy and undefine the network if it is ours. Otherwise
 *     the normal phases (normal.ts): wait for the Hypervisor (missing → Stalled
 *     HypervisorNotFound; unreachable → Unknown; not Ready → Ready=False); observe libvirt;
 *     leave a foreign network of our name alone (Stalled NameConflict, a Warning,
 *     TerminalError); create, update, start and autostart it (Stalled BridgeNotFound while a
 *     bridge-mode network's host bridge is missing, looked at again after
 *     `bridgeRecheckMs`); requeue after the resync period (drift libvirt events miss).
 *  4. Report, always, in one place: status.ts computes the whole status from the scope and
 *     the pass's findings (libvirtName, uuid, bridge, active, Ready/Reconciling/Stalled, and
 *     observedGeneration, advanced only when the pass succeeded or ended in a terminal
 *     verdict), and one status patch is sent, only when something changed. A pass that
 *     failed with an error no phase turned into findings reports nothing (it would claim
 *     what it never observed). A report that fails after the pass failed with an error that
 *     is retried anyway is logged and counted (maaslab_swallowed_errors_total), and the
 *     pass's own error is returned; after a success or a terminal verdict, the report's
 *     error is returned, so that a retry writes the status.
 *  5. A deleted VirtNetwork's finalizer goes last, after the report.
 */
export function createVirtNetworkReconciler(opts: VirtNetworkReconcilerOptions): Reconciler {
  const { caches, client, events, clock } = opts;
  const serves = opts.serves ?? (() => true);
  const swallowed = opts.swallowedErrors ?? noopSwallowedErrorMetrics;
  const deps: NetworkDeps = {
    hypervisorFor: opts.hypervisorFor,
    resyncMs: opts.resyncMs ?? DEFAULT_NETWORK_RESYNC_MS,
    bridgeRecheckMs: opts.bridgeRecheckMs ?? DEFAULT_BRIDGE_RECHECK_MS,
    ownEvents: opts.ownEvents ?? new OwnEvents({ now: () => performance.now() }),
  };

  /** Step 4: one status patch, only when something changed; see the doc comment above. */
  async function report(pass: NetworkPass, failed: PassFailure): Promise<void> {
    const { scope, found, signal } = pass;
    if (pass.unreported) return;
    if (failed && failed.error !== found.failure) return;
    const succeeded = failed === undefined || isTerminalError(failed.error);
    const vnet = reportBase(scope.vnet, caches.networks.get(requestFor(scope.vnet)));
    const status = networkStatus({ ...scope, vnet }, found, { now: clock.now(), succeeded });
    await patchStatusOnce(() => client.patchStatus(vnet, status, signal), {
      rethrow: succeeded,
      log: pass.log,
      controller: VirtNetworkControllerName,
      swallowed,
    });
  }

  /** Steps 3 to 5 over a scope with the finalizer in place. */
  async function run(pass: NetworkPass): Promise<Result> {
    const phases = pass.scope.deleting ? deletePhases : normalPhases;
    const result = await runPhasesAndReport(phases, pass, (failed) => report(pass, failed));
    // Last: the VirtNetwork may be gone the moment its finalizer is.
    if (pass.released) {
      await client.dropFinalizer(pass.scope.vnet, CLEANUP_FINALIZER, pass.signal);
    }
    return result;
  }

  return {
    async reconcile(req: Request, signal: AbortSignal): Promise<Result> {
      // 1. Observe the caches.
      const cached = observeNetworkScope(req, caches);
      if (!cached || !serves(cached.vnet.spec.hypervisor)) return {};
      // 2. Finalizer first, then on with the written object.
      const scope: NetworkScope = {
        ...cached,
        vnet: await withCleanupFinalizer(cached.vnet, cached.deleting, client, signal),
      };
      if (scope.deleting && !hasFinalizer(scope.vnet, CLEANUP_FINALIZER)) return {};
      return run({
        scope,
        signal,
        log: loggerFrom(signal),
        deps,
        found: { ownership: 'absent' },
        record: (type, reason, action, note) =>
          events.record({ regarding: scope.vnet, type, reason, action, note }),
      });
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
  /** Counts errors a pass logged and did not return (default: not counted). */
  readonly swallowedErrors?: SwallowedErrorMetrics;
}

/**
 * Registers the VirtNetwork controller with `manager`: it reconciles VirtNetworks and is woken
 * by the MaasNodes that name them (a deletion waits for them), by their Hypervisor (they wait
 * for it to be Ready), and by libvirt network lifecycle events (see watches.ts).
 */
export function setup(manager: Manager, options: VirtNetworkSetupOptions): Controller {
  const { hypervisors, serves, resyncMs, bridgeRecheckMs, swallowedErrors, ...builderOptions } =
    options;
  const caches = networkCaches(manager);
  const ownEvents = new OwnEvents<NetworkEventLifecycleType>({ now: () => performance.now() });
  const reconciler = createVirtNetworkReconciler({
    caches,
    hypervisorFor: (hv) => hypervisors.hypervisorFor(hv),
    client: manager.client,
    events: manager.events,
    clock: manager.clock,
    ownEvents,
    ...definedProps({ serves, resyncMs, bridgeRecheckMs, swallowedErrors }),
  });
  return watchNetworks(
    manager,
    { caches, hypervisors, ownEvents, builderOptions, name: VirtNetworkControllerName },
    reconciler,
  );
}

/** The permissions the VirtNetwork controller uses, and no more. */
export const rbac: readonly V1PolicyRule[] = [
  // patch: the finalizer.
  { apiGroups: [Group], resources: ['virtnetworks'], verbs: ['get', 'list', 'watch', 'patch'] },
  { apiGroups: [Group], resources: ['virtnetworks/status'], verbs: ['get', 'patch'] },
  { apiGroups: [Group], resources: ['maasnodes', 'hypervisors'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
];
