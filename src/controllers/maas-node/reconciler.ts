// The MaasNode controller: one libvirt domain and its disk volumes per MaasNode — the manual
// recipe's `virt-install ... --pxe` — kept in the power state the run strategy asks for, with
// drift noticed from libvirt's domain events at once and by a periodic resync otherwise. A
// domain of our name that we did not create is never touched.
import type { V1PolicyRule } from '@kubernetes/client-node';
import {
  GroupVersionKinds,
  CloneSourceNotFoundReason,
  CloneSourceNotHaltedReason,
  Group,
  HypervisorNotFoundReason,
  LibvirtErrorReason,
  NameConflictReason,
  NetworkNotReadyReason,
  type HaltMode,
  type Hypervisor as HypervisorResource,
  type MaasNode,
  type MaasNodeStatus,
  type RunStrategy,
  type VirtNetwork,
} from '../../api/v1alpha1/index.js';
import {
  HypervisorUnreachableError,
  NameConflictError,
  type Hypervisor,
  type ObservedDomain,
} from '../../libvirt/hypervisor/index.js';
import { buildDomainXml, parseDomainXml, type ParsedVolume } from '../../libvirt/xml/index.js';
import {
  type BuilderOptions,
  type CacheReader,
  CLEANUP_FINALIZER,
  type Client,
  type Clock,
  ContentType,
  type Controller,
  controllerBuilder,
  type EventRecorder,
  EventType,
  hasFinalizer,
  InformerEvent,
  type Manager,
  type Reconciler,
  refOf,
  type Request,
  requestFor,
  requestKey,
  type Result,
  statusOnlyUpdatesIgnored,
  TerminalError,
  toRfc3339Seconds,
} from '../../runtime/index.js';
import { applyConditionPlan, planFor, type ConditionPlan, type Why } from '../common/conditions.js';
import { withCleanupFinalizer } from '../common/finalizer.js';
import { ownership as classify } from '../common/ownership.js';
import { hypervisorGateChanged, networkGateChanged } from '../common/predicates.js';
import { type HypervisorRegistry, ShardLostError } from '../common/hypervisor-registry.js';
import {
  defaultMac,
  desiredDomain,
  desiredVolumes,
  diffDomain,
  domainNameFor,
  powerAction,
  remainingShutdownMs,
  type DesiredVolume,
  type NodeContext,
  type PowerAction,
} from './desired.js';
import {
  STARTED_ONCE_ANNOTATION,
  observeLibvirtDomain,
  observeNodeScope,
  type NodeCaches,
  type NodeScope,
} from './scope.js';
import {
  disksStatus,
  interfacesStatus,
  nodeConditions,
  powerFor,
  printableStatus,
  vncFor,
  type NodeObservation,
} from './status.js';

/** The controller's name: the `controller` label on its metrics and logs. */
export const MaasNodeControllerName = 'maasnode';

/** The default period of a full look at a settled node (drift no domain event reported). */
export const DEFAULT_NODE_RESYNC_MS = 10 * 60_000;

/** How often a clone looks again at a source that is not halted yet. */
export const CLONE_SOURCE_RECHECK_MS = 10_000;

/** How often an unreachable host is looked at again (its Hypervisor's changes wake us too). */
export const UNREACHABLE_RECHECK_MS = 10_000;

/** The VNC listen address when the spec names none (the CRD default). */
const DEFAULT_VNC_LISTEN = '127.0.0.1';

/** Event reasons the MaasNode controller records. */
export const NodeEventReason = {
  VolumesCreated: 'VolumesCreated',
  VolumesDeleted: 'VolumesDeleted',
  DomainDefined: 'DomainDefined',
  DomainUpdated: 'DomainUpdated',
  DomainDeleted: 'DomainDeleted',
  Started: 'Started',
  Restored: 'Restored',
  ShutdownRequested: 'ShutdownRequested',
  Destroyed: 'Destroyed',
  Saved: 'Saved',
  Rebooted: 'Rebooted',
  NameConflict: NameConflictReason,
  LibvirtError: LibvirtErrorReason,
} as const;

/** What each power action is called in events. */
const powerEvent: Readonly<Record<Exclude<PowerAction, 'none'>, [reason: string, note: string]>> = {
  start: [NodeEventReason.Started, 'started the domain'],
  restore: [NodeEventReason.Restored, 'started the domain from its managed save image'],
  shutdown: [NodeEventReason.ShutdownRequested, 'asked the guest to shut down (ACPI)'],
  destroy: [NodeEventReason.Destroyed, 'powered the domain off'],
  managedSave: [NodeEventReason.Saved, 'saved the domain memory and stopped it'],
  reboot: [NodeEventReason.Rebooted, 'power-cycled the domain for a new restartToken'],
};

/** An error's message, for condition messages (logs get the whole chain). */
const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** What the reconciler needs; `setup` takes them from the manager, unit tests hand in fakes. */
export interface MaasNodeReconcilerOptions {
  /** MaasNodes, VirtNetworks and Hypervisors. */
  readonly caches: NodeCaches;
  /** The libvirt verbs of a Hypervisor resource. */
  readonly hypervisorFor: (resource: Readonly<HypervisorResource>) => Hypervisor;
  /** Status and finalizer writes. */
  readonly client: Pick<Client, 'patchStatus' | 'ensureFinalizer' | 'dropFinalizer'>;
  /** Sets one annotation on the node (a metadata merge patch); for runStrategy Once. */
  readonly annotate: (
    node: Readonly<MaasNode>,
    key: string,
    value: string,
    signal: AbortSignal,
  ) => Promise<void>;
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
}

/** What the steps found that the report must show. */
interface Findings {
  unreachable?: string;
  stalled?: Why;
  error?: Why;
  /** Waiting on something outside the node (networks, clone source): Reconciling. */
  waiting?: Why;
  volumesReady: boolean;
  domain?: ObservedDomain;
  volumes: readonly DesiredVolume[];
  /** The volumes that exist, with their path and capacity, keyed by volume name. */
  observedVolumes?: ReadonlyMap<string, ParsedVolume>;
  pendingRestart: readonly string[];
  /** The next power decision, from the last observation: what the node still wants. */
  next: PowerAction;
  lastRestartToken?: string;
  /** This pass started, stopped, saved or rebooted the domain: observe it again. */
  powerChanged?: boolean;
}

/**
 * Reconciles one MaasNode. Steps of a pass:
 *  1. Observe (scope.ts): the node, its Hypervisor, its VirtNetworks and a clone source from
 *     the caches. Gone: nothing to do. Another process's shard: leave it alone.
 *  2. Finalizer first: add `maaslab.dev/cleanup`, then go on with the written object (its
 *     write wakes no pass: statusOnlyUpdatesIgnored).
 *  3. Deletion: destroy and undefine the domain with its managed save image, snapshot
 *     metadata and NVRAM (deleteDomain), delete the volumes whose deletionPolicy is Delete,
 *     and drop the finalizer last. A foreign domain of our name and its disks are left alone.
 *  4. Wait: for the Hypervisor (missing → Stalled HypervisorNotFound; unreachable → Unknown;
 *     not Ready → HypervisorNotReady; nothing on the host is touched meanwhile). A VirtNetwork
 *     the NICs name that is not Ready on that hypervisor holds back only the power step
 *     (Ready=False NetworkNotReady: the recipe's "MAAS DHCP must start after virbr0"):
 *     volumes and the definition are made while the network comes up. Their changes wake us.
 *  5. Observe libvirt: the domain, and whether the host offers KVM (asked once per host).
 *  6. Desired (pure): desiredVolumes and desiredDomain. Ownership of the domain: foreign →
 *     Stalled NameConflict, a Warning event, untouched, no retry (TerminalError). With
 *     cloneFrom: the source must exist (else Stalled CloneSourceNotFound) and, until our
 *     volumes are copied, be halted (else Reconciling CloneSourceNotHalted, look again).
 *  7. Act: ensureVolumes (clones copy the source's volumes); define the domain when absent;
 *     otherwise diffDomain against the persistent and the live definition: a difference is
 *     defined again (nothing is recreated) and, while running, RestartRequired=True until
 *     the next restart.
 *  8. Power: one powerAction per pass from runStrategy, haltMode and the observed state —
 *     start, restore from managed save, ACPI shutdown (destroy after the grace period; the
 *     pass requeues for exactly then), destroy, managed save, or a power-cycle reboot for a
 *     new restartToken (then status.lastRestartToken). Once remembers its start in the
 *     `maaslab.dev/started-once` annotation.
 *  9. Report, always: printableStatus, hypervisor, domainName, uuid, state, interfaces,
 *     disks, vnc, power {virsh, URI without query, domain name}, conditions and
 *     observedGeneration (advanced only by a pass that succeeded), in one status patch sent
 *     only when something changed.
 * 10. Requeue after the resync period; domain events enqueue the node at once (see setup).
 */
export function createMaasNodeReconciler(opts: MaasNodeReconcilerOptions): Reconciler {
  const { caches, hypervisorFor, client, events, clock, annotate } = opts;
  const serves = opts.serves ?? (() => true);
  const resyncMs = opts.resyncMs ?? DEFAULT_NODE_RESYNC_MS;
  /** Whether each host offers KVM; asked once, since it does not change while libvirtd runs. */
  const kvmByHypervisor = new Map<string, boolean>();
  /**
   * When this process asked each domain (by node UID) for an ACPI shutdown. In memory on
   * purpose: after an operator restart the grace period starts again, which errs on the side
   * of letting the guest finish.
   */
  const shutdownRequested = new Map<string, number>();
  /**
   * The restart token in force for each domain (by node UID), as this process last set it.
   * status.lastRestartToken alone is not enough: the domain events of a power-cycle wake the
   * next pass before the informer has seen the status write that recorded the token, and a
   * pass reading that stale status would power-cycle the domain a second time.
   */
  const tokenInForce = new Map<string, string>();
  const lastRestartTokenOf = (node: Readonly<MaasNode>): string | undefined =>
    tokenInForce.get(node.metadata?.uid ?? '') ?? node.status?.lastRestartToken;
  const optionalToken = (token: string | undefined): { lastRestartToken?: string } =>
    token === undefined ? {} : { lastRestartToken: token };

  /**
   * The Normal events of each pass in progress, by request key: a pass that creates the
   * volumes, defines the domain and starts it tells it in one Event, not three (each Event is
   * a write the API server and etcd pay for, and a lab of 100 nodes makes 100 of each).
   */
  const passSteps = new Map<string, PassStep[]>();
  const record = (
    node: Readonly<MaasNode>,
    type: EventType,
    reason: string,
    action: string,
    note: string,
  ): void => {
    const steps =
      type === EventType.Normal ? passSteps.get(requestKey(requestFor(node))) : undefined;
    if (steps) steps.push({ node, reason, action, note });
    else events.record({ regarding: node, type, reason, action, note });
  };
  const recordSteps = (steps: readonly PassStep[]): void => {
    const last = steps.at(-1);
    if (!last) return;
    events.record({
      regarding: last.node,
      type: EventType.Normal,
      reason: last.reason,
      action: last.action,
      note: steps.map((s) => s.note).join('; '),
    });
  };

  /** The volumes of a node, also when a clone's source is gone (then from its status). */
  function volumesOf(scope: NodeScope): DesiredVolume[] {
    const { node, hypervisor } = scope;
    const spec = hypervisor?.spec ?? { uri: '' };
    if (node.spec.cloneFrom === undefined || scope.cloneSource !== undefined) {
      return desiredVolumes(node, {
        hypervisor: spec,
        kvm: false,
        ...(scope.cloneSource && { cloneSource: scope.cloneSource }),
      });
    }
    const pool = spec.storagePool ?? 'default';
    return (node.status?.disks ?? []).flatMap((d) =>
      d.volume && d.name
        ? [
            {
              name: d.volume,
              pool,
              capacityBytes: 0,
              format: d.volume.endsWith('.raw') ? ('raw' as const) : ('qcow2' as const),
              diskName: d.name,
              deletionPolicy: 'Delete' as const,
            },
          ]
        : [],
    );
  }

  /** Step 9: one status patch, only when something changed. */
  async function report(
    scope: NodeScope,
    o: NodeObservation,
    found: Findings,
    succeeded: boolean,
    signal: AbortSignal,
  ): Promise<void> {
    const { node, hypervisor, domainName } = scope;
    const generation = node.metadata?.generation ?? 0;
    let plan: ConditionPlan = nodeConditions(o);
    if (found.waiting && !o.deleting && o.hypervisorReachable && !o.stalled && !o.error) {
      // Waiting on something outside the node: Ready=False, Reconciling=True with its reason.
      const restart = plan.set.find((c) => c.type === 'RestartRequired');
      const waiting = planFor({ kind: 'progressing', ...found.waiting });
      plan = restart
        ? { set: [...waiting.set, restart], remove: waiting.remove }
        : { set: waiting.set, remove: [...waiting.remove, 'RestartRequired'] };
    }
    const conditions = applyConditionPlan(node.status?.conditions, plan, {
      now: clock.now(),
      generation,
    });
    const observedGeneration = succeeded ? generation : node.status?.observedGeneration;
    const previous = node.status ?? {};
    const domain = found.domain;
    const looked = found.unreachable === undefined && found.stalled?.reason !== NameConflictReason;
    const macs = desiredMacs(scope);
    const status: MaasNodeStatus = {
      ...(observedGeneration !== undefined && { observedGeneration }),
      conditions,
      printableStatus: printableStatus(o),
      hypervisor: node.spec.hypervisor,
      domainName,
      ...(looked
        ? {
            // A domain defined this pass has a UUID only libvirt knows yet.
            ...(domain && {
              ...(domain.uuid !== '' && { uuid: domain.uuid }),
              state: domain.state,
            }),
            interfaces: interfacesStatus(node, macs, domain?.live ?? domain?.inactive),
            disks: disksStatus(
              found.volumes,
              volumeMap(found.volumes, domain, found.observedVolumes),
            ),
            ...(domain?.live &&
              vncFor(domain.live, node.spec.vnc?.listen ?? DEFAULT_VNC_LISTEN) && {
                vnc: vncFor(domain.live, node.spec.vnc?.listen ?? DEFAULT_VNC_LISTEN),
              }),
          }
        : // Unreachable (or not ours): the last known facts stay; we cannot see, not "gone".
          {
            ...(previous.uuid !== undefined && { uuid: previous.uuid }),
            ...(previous.state !== undefined && { state: previous.state }),
            ...(previous.interfaces !== undefined && { interfaces: previous.interfaces }),
            ...(previous.disks !== undefined && { disks: previous.disks }),
            ...(previous.vnc !== undefined && { vnc: previous.vnc }),
          }),
      ...(hypervisor && { power: powerFor(hypervisor.spec.uri, domainName) }),
      ...(found.lastRestartToken !== undefined && { lastRestartToken: found.lastRestartToken }),
    };
    await client.patchStatus(node, status, signal);
  }

  /** The MACs the NICs should have, in spec order, as desiredDomain derives them. */
  function desiredMacs(scope: NodeScope): string[] {
    const { namespace = '', name = '' } = scope.node.metadata ?? {};
    return (scope.node.spec.interfaces ?? []).map((nic, i) =>
      (nic.mac ?? defaultMac(namespace, name, i)).toLowerCase(),
    );
  }

  /** Volume facts for status.disks: the live path libvirt resolved, the capacity asked for. */
  function volumeMap(
    volumes: readonly DesiredVolume[],
    domain: ObservedDomain | undefined,
    observed: ReadonlyMap<string, ParsedVolume> | undefined,
  ): Map<string, ParsedVolume> {
    const map = new Map<string, ParsedVolume>();
    for (const v of volumes) {
      // The pool's own answer (path, real capacity) when this pass read it.
      const seen = observed?.get(v.name);
      if (seen) {
        map.set(v.name, seen);
        continue;
      }
      const disk = (domain?.live ?? domain?.inactive)?.disks.find((d) => d.volume === v.name);
      if (!disk) continue;
      map.set(v.name, {
        name: v.name,
        ...(disk.path !== undefined && { path: disk.path }),
        // ensureVolumes never resizes: an existing volume keeps its size, which matches the
        // spec unless someone resized it by hand.
        capacityBytes: v.capacityBytes,
      });
    }
    return map;
  }

  /** The observation the status table and conditions read. */
  function observation(scope: NodeScope, found: Findings): NodeObservation {
    const d = found.domain;
    return {
      deleting: scope.deleting,
      hypervisorReachable: found.unreachable === undefined,
      ...(found.stalled && { stalled: found.stalled }),
      ...(found.error && { error: found.error }),
      networksReady: scope.networksNotReady.length === 0,
      networksNotReady: scope.networksNotReady,
      volumesReady: found.volumesReady,
      domainDefined: d !== undefined,
      ...(d && { state: d.state }),
      hasManagedSave: d?.hasManagedSave ?? false,
      wantsRunning: found.next === 'start' || found.next === 'restore',
      wantsStopped:
        found.next === 'shutdown' || found.next === 'destroy' || found.next === 'managedSave',
      pendingRestart: found.pendingRestart,
    };
  }

  /** Step 3. */
  async function reconcileDelete(scope: NodeScope, signal: AbortSignal): Promise<Result> {
    const { node, hypervisor } = scope;
    const found: Findings = {
      volumesReady: true,
      volumes: volumesOf(scope),
      pendingRestart: [],
      next: 'none',
      ...optionalToken(lastRestartTokenOf(node)),
    };
    if (hypervisor !== undefined) {
      const verbs = hypervisorFor(hypervisor);
      await report(scope, observation(scope, found), found, true, signal);
      let ours = true;
      try {
        const change = await verbs.deleteDomain(scope.domainName, scope.owner);
        if (change.changed) {
          record(
            node,
            EventType.Normal,
            NodeEventReason.DomainDeleted,
            'Delete',
            `destroyed and undefined domain ${scope.domainName}`,
          );
        }
      } catch (err) {
        // A foreign domain of our name: neither it nor the disks it may use are ours.
        if (err instanceof ShardLostError) throw err;
        if (!(err instanceof NameConflictError)) {
          if (err instanceof HypervisorUnreachableError) found.unreachable = err.message;
          await report(scope, observation(scope, found), found, false, signal).catch(
            () => undefined,
          );
          throw err;
        }
        ours = false;
      }
      if (ours) {
        const doomed = found.volumes
          .filter((v) => v.deletionPolicy === 'Delete')
          .map((v) => ({ pool: v.pool, name: v.name }));
        const result = await verbs.deleteVolumes(doomed);
        if (result.changed) {
          record(
            node,
            EventType.Normal,
            NodeEventReason.VolumesDeleted,
            'Delete',
            `deleted volumes ${result.deleted.join(', ')}`,
          );
        }
      }
    }
    // A Hypervisor resource that is gone leaves nothing we could reach to clean up.
    shutdownRequested.delete(node.metadata?.uid ?? '');
    tokenInForce.delete(node.metadata?.uid ?? '');
    await client.dropFinalizer(node, CLEANUP_FINALIZER, signal);
    return {};
  }

  /** Whether the host offers KVM, asked once per Hypervisor. */
  async function kvmOf(hvName: string, verbs: Hypervisor): Promise<boolean> {
    const known = kvmByHypervisor.get(hvName);
    if (known !== undefined) return known;
    const kvm = (await verbs.hostInfo()).kvm;
    kvmByHypervisor.set(hvName, kvm);
    return kvm;
  }

  /** Step 8: one power action; returns the requeue it needs (the shutdown grace period). */
  async function power(
    scope: NodeScope,
    verbs: Hypervisor,
    found: Findings,
    created: boolean,
    signal: AbortSignal,
  ): Promise<number | undefined> {
    const { node, domainName, owner } = scope;
    const domain = found.domain;
    if (!domain) return undefined;
    const uid = node.metadata?.uid ?? '';
    const runStrategy: RunStrategy = node.spec.runStrategy ?? 'Always';
    const haltMode: HaltMode = node.spec.haltMode ?? 'Shutdown';
    const token = node.spec.restartToken;
    const isOff = domain.state === 'shutoff' || domain.state === 'crashed';
    if (isOff) shutdownRequested.delete(uid);
    const requestedAt = shutdownRequested.get(uid);
    const startedOnce = node.metadata?.annotations?.[STARTED_ONCE_ANNOTATION] !== undefined;
    const observed = {
      state: domain.state,
      hasManagedSave: domain.hasManagedSave,
      startedOnce,
      restartTokenChanged: !created && (token ?? '') !== (found.lastRestartToken ?? ''),
      ...(requestedAt !== undefined && { shutdownRequestedAt: requestedAt }),
      now: clock.now(),
      ...(opts.shutdownTimeoutMs !== undefined && { shutdownTimeoutMs: opts.shutdownTimeoutMs }),
    };
    const action = powerAction(runStrategy, haltMode, observed);
    // A boot from off is a fresh start, so the token in force is the current one; Halted
    // records it too (powerAction never reboots a halted node).
    const putInForce = (): void => {
      if (token === undefined) return;
      found.lastRestartToken = token;
      tokenInForce.set(uid, token);
    };
    if (created || isOff || runStrategy === 'Halted') putInForce();
    if (action === 'none') {
      if (runStrategy === 'Once' && !startedOnce && !isOff) {
        // Running under Once without the mark (e.g. started by hand first): it has started.
        await annotate(node, STARTED_ONCE_ANNOTATION, toRfc3339Seconds(clock.now()), signal);
      }
      if (requestedAt !== undefined && !isOff) {
        return Math.max(1, remainingShutdownMs({ ...observed, shutdownRequestedAt: requestedAt }));
      }
      return undefined;
    }
    switch (action) {
      case 'start':
        await verbs.start(domainName, owner);
        break;
      case 'restore':
        await verbs.startFromManagedSave(domainName, owner);
        break;
      case 'shutdown':
        await verbs.shutdown(domainName, owner);
        shutdownRequested.set(uid, clock.now());
        break;
      case 'destroy':
        await verbs.destroy(domainName, owner);
        shutdownRequested.delete(uid);
        break;
      case 'managedSave':
        await verbs.managedSave(domainName, owner);
        break;
      case 'reboot':
        await verbs.reboot(domainName, owner);
        putInForce();
        break;
    }
    if ((action === 'start' || action === 'restore') && runStrategy === 'Once' && !startedOnce) {
      await annotate(node, STARTED_ONCE_ANNOTATION, toRfc3339Seconds(clock.now()), signal);
    }
    found.powerChanged = true;
    const [reason, note] = powerEvent[action];
    record(node, EventType.Normal, reason, action, `${note} (${domainName})`);
    if (action === 'shutdown') {
      const timeout = remainingShutdownMs({ ...observed, shutdownRequestedAt: clock.now() });
      return Math.max(1, timeout);
    }
    return undefined;
  }

  return {
    async reconcile(req: Request, signal: AbortSignal): Promise<Result> {
      const key = requestKey(req);
      const steps: PassStep[] = [];
      passSteps.set(key, steps);
      try {
        return await pass(req, signal);
      } finally {
        passSteps.delete(key);
        recordSteps(steps);
      }
    },
  };

  async function pass(req: Request, signal: AbortSignal): Promise<Result> {
    // 1. Observe the caches.
    const cached = observeNodeScope(req, caches);
    if (!cached) return {};
    if (!serves(cached.node.spec.hypervisor)) return {};

    // 2. Finalizer first, then on with the written object.
    const scope = {
      ...cached,
      node: await withCleanupFinalizer(cached.node, cached.deleting, client, signal),
    };
    const { node, hypervisor, gate } = scope;

    // 3. Deletion.
    if (scope.deleting) {
      if (!hasFinalizer(node, CLEANUP_FINALIZER)) return {};
      return reconcileDelete(scope, signal);
    }

    const found: Findings = {
      volumesReady: false,
      volumes: [],
      pendingRestart: [],
      next: 'none',
      ...optionalToken(lastRestartTokenOf(node)),
    };
    const finish = async (succeeded = true): Promise<void> =>
      report(scope, observation(scope, found), found, succeeded, signal);

    // 4. Wait for the Hypervisor and the networks.
    if (hypervisor === undefined || gate.kind === 'missing') {
      found.stalled = {
        reason: HypervisorNotFoundReason,
        message: `Hypervisor ${node.spec.hypervisor} does not exist`,
      };
      await finish();
      return {};
    }
    if (gate.kind === 'unreachable') {
      found.unreachable = gate.message;
      await finish();
      return {};
    }
    if (gate.kind === 'notReady') {
      found.waiting = { reason: gate.reason, message: gate.message };
      await finish();
      return {};
    }
    // Volumes and the definition are made while the networks come up; only the start waits
    // for them (the recipe's "MAAS DHCP must start after virbr0"), and no power action is
    // taken meanwhile (a network mid-change leaves a running domain alone).
    const networksWait: Why | undefined =
      scope.networksNotReady.length > 0
        ? {
            reason: NetworkNotReadyReason,
            message: `waiting for VirtNetworks to be Ready: ${scope.networksNotReady.join(', ')}`,
          }
        : undefined;
    if (node.spec.cloneFrom !== undefined && scope.cloneSource === undefined) {
      found.stalled = {
        reason: CloneSourceNotFoundReason,
        message: `MaasNode ${node.spec.cloneFrom.name} (cloneFrom) does not exist`,
      };
      await finish();
      return {};
    }

    // 5. Observe libvirt.
    const verbs = hypervisorFor(hypervisor);
    let view;
    let kvm = false;
    try {
      kvm = await kvmOf(node.spec.hypervisor, verbs);
      view = await observeLibvirtDomain(verbs, scope.domainName);
    } catch (err) {
      if (!(err instanceof HypervisorUnreachableError)) throw err;
      view = { reachable: false as const, message: err.message };
    }
    if (!view.reachable) {
      found.unreachable = view.message;
      await finish();
      return { requeueAfterMs: UNREACHABLE_RECHECK_MS };
    }

    // 6. Desired (pure) and ownership.
    const ctx: NodeContext = {
      hypervisor: hypervisor.spec,
      kvm,
      ...(scope.cloneSource && { cloneSource: scope.cloneSource }),
    };
    const desired = desiredDomain(node, ctx);
    found.volumes = desiredVolumes(node, ctx);
    if (classify(view.domain, scope.owner) === 'foreign') {
      const message = `libvirt domain ${scope.domainName} exists and was not created for this MaasNode; it is left untouched`;
      found.stalled = { reason: NameConflictReason, message };
      await finish();
      record(node, EventType.Warning, NodeEventReason.NameConflict, 'Define', message);
      // Domain events and the resync bring us back once the foreign domain is gone.
      throw new TerminalError(message, { reason: NameConflictReason });
    }
    found.domain = view.domain;
    if (view.domain === undefined && scope.cloneSource !== undefined) {
      // Copying a running guest's disks would copy a file system mid-write.
      const source = await verbs.observeDomain(domainNameFor(scope.cloneSource));
      if (source !== undefined && source.state !== 'shutoff') {
        found.waiting = {
          reason: CloneSourceNotHaltedReason,
          message: `waiting for MaasNode ${scope.cloneSource.metadata?.name ?? ''} to be halted before copying its disks`,
        };
        await finish();
        return { requeueAfterMs: CLONE_SOURCE_RECHECK_MS };
      }
    }

    // 7. Act: volumes, definition; 8. power.
    let requeue: number | undefined;
    try {
      const volumes = await verbs.ensureVolumes(found.volumes);
      found.volumesReady = true;
      found.observedVolumes = new Map(volumes.volumes.map((v) => [v.name, v]));
      if (volumes.changed) {
        record(
          node,
          EventType.Normal,
          NodeEventReason.VolumesCreated,
          'CreateVolumes',
          `created volumes ${volumes.created.join(', ')}`,
        );
      }
      const created = view.domain === undefined;
      let redefined = false;
      const definition = created ? buildDomainXml(desired) : undefined;
      if (definition !== undefined) {
        await verbs.defineDomain(definition);
        record(
          node,
          EventType.Normal,
          NodeEventReason.DomainDefined,
          'Define',
          `defined domain ${scope.domainName}`,
        );
      } else if (view.domain) {
        const diff = diffDomain(desired, view.domain.inactive);
        if (diff.redefine) {
          await verbs.defineDomain(buildDomainXml(desired));
          redefined = true;
          record(
            node,
            EventType.Normal,
            NodeEventReason.DomainUpdated,
            'Define',
            `updated the definition: ${diff.changes.join('; ')}`,
          );
        }
      }
      // Observed again only after a change: a settled node's pass (the periodic resync) then
      // reads the domain once, not three times. A domain defined this pass is off with no
      // saved memory, all its power decision and a waiting node's report read: it is
      // observed once, after the power step, and not at all while its networks come up.
      const mayPower = networksWait === undefined;
      if (redefined) {
        found.domain = await verbs.observeDomain(scope.domainName);
      } else if (definition !== undefined) {
        found.domain = justDefined(definition);
      }
      if (mayPower) requeue = await power(scope, verbs, found, created, signal);
      if (found.powerChanged || (created && mayPower)) {
        found.domain = await verbs.observeDomain(scope.domainName);
      }
    } catch (err) {
      // Not ours to report on any more: the new lease holder does.
      if (err instanceof ShardLostError) throw err;
      if (err instanceof HypervisorUnreachableError) {
        found.unreachable = err.message;
      } else if (err instanceof NameConflictError) {
        found.stalled = { reason: NameConflictReason, message: err.message };
        await finish().catch(() => undefined);
        throw new TerminalError(err.message, { reason: NameConflictReason, cause: err });
      } else {
        found.error = { reason: LibvirtErrorReason, message: messageOf(err) };
        record(node, EventType.Warning, NodeEventReason.LibvirtError, 'Reconcile', messageOf(err));
      }
      await finish(false).catch(() => undefined);
      throw err;
    }

    // What the node still wants after this pass, and what a restart would apply.
    const after = found.domain;
    if (after) {
      const diff = diffDomain(desired, after.inactive, after.live);
      found.pendingRestart = diff.pendingRestart;
      const requestedAt = shutdownRequested.get(node.metadata?.uid ?? '');
      found.next = powerAction(
        node.spec.runStrategy ?? 'Always',
        node.spec.haltMode ?? 'Shutdown',
        {
          state: after.state,
          hasManagedSave: after.hasManagedSave,
          // Decided this pass; only the power state matters for "wants".
          startedOnce: true,
          restartTokenChanged: false,
          ...(requestedAt !== undefined && { shutdownRequestedAt: requestedAt }),
          now: clock.now(),
          ...(opts.shutdownTimeoutMs !== undefined && {
            shutdownTimeoutMs: opts.shutdownTimeoutMs,
          }),
        },
      );
      // A graceful shutdown in progress is waiting, not a new action.
      if (found.next === 'none' && requestedAt !== undefined) found.next = 'shutdown';
    }
    // 9. Report.
    if (networksWait) found.waiting = networksWait;
    await finish();
    // 10. Requeue (a network's readiness wakes a waiting node itself).
    return { requeueAfterMs: requeue ?? resyncMs };
  }
}

/** One Normal event of a pass, told with the pass's others when it ends. */
interface PassStep {
  readonly node: Readonly<MaasNode>;
  readonly reason: string;
  readonly action: string;
  readonly note: string;
}

/**
 * A domain as `definition` leaves it the moment virDomainDefineXML returns: persistent, off,
 * never run, no managed save image. Its UUID and ID are libvirt's to give and unknown here;
 * it stands in only for the power decision of the pass that defined it.
 */
export function justDefined(definition: string): ObservedDomain {
  const inactive = parseDomainXml(definition);
  return {
    name: inactive.name,
    uuid: inactive.uuid ?? '',
    id: -1,
    ...(inactive.owner && { owner: inactive.owner }),
    state: 'shutoff',
    reason: 0,
    hasManagedSave: false,
    persistent: true,
    inactive,
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
}

/**
 * Registers the MaasNode controller with `manager`: it reconciles MaasNodes and is woken by
 * the VirtNetworks they use (nodes wait for them), their Hypervisor, their clones' sources,
 * and libvirt domain lifecycle events (a `virsh destroy` by hand is seen at once: the event's
 * domain name is mapped to the node through the cache).
 */
export function setup(manager: Manager, options: MaasNodeSetupOptions): Controller {
  const { hypervisors, serves, resyncMs, shutdownTimeoutMs, ...builderOptions } = options;
  const caches: NodeCaches = {
    nodes: manager.cache<MaasNode>(GroupVersionKinds.MaasNode),
    networks: manager.cache<VirtNetwork>(GroupVersionKinds.VirtNetwork),
    hypervisors: manager.cache<HypervisorResource>(GroupVersionKinds.Hypervisor),
  };
  const nodesWhere = (pred: (n: Readonly<MaasNode>) => boolean, namespace?: string): Request[] =>
    caches.nodes
      .list(namespace)
      .filter(pred)
      .map((n) => requestFor(n));
  // Nodes that name their domain themselves (spec.domainName), by that name: the rest are
  // found from the domain name alone, so a domain event costs O(1), not a scan of every node.
  const explicitNames = new Map<string, Set<string>>();
  const index = (n: Readonly<MaasNode>, add: boolean): void => {
    const domain = n.spec?.domainName;
    if (!domain) return;
    const key = requestKey(requestFor(n));
    const keys = explicitNames.get(domain) ?? new Set<string>();
    if (add) keys.add(key);
    else keys.delete(key);
    if (keys.size > 0) explicitNames.set(domain, keys);
    else explicitNames.delete(domain);
  };
  const nodeInformer = manager.informer<MaasNode>(GroupVersionKinds.MaasNode);
  nodeInformer.on(InformerEvent.Add, (n) => index(n, true));
  nodeInformer.on(InformerEvent.Update, (n, old) => {
    index(old, false);
    index(n, true);
  });
  nodeInformer.on(InformerEvent.Delete, (n) => index(n, false));
  // Filled once the controller exists; no event can arrive before the first reconcile.
  let enqueue: (req: Request) => void = () => undefined;
  hypervisors.onCreate((hvName, verbs) => {
    verbs.onDomainEvent((e) => {
      for (const req of nodesForDomain(caches.nodes, explicitNames, hvName, e.name)) enqueue(req);
    });
  });
  const controller = controllerBuilder(manager)
    // Its own status writes need no pass of their own.
    .for(GroupVersionKinds.MaasNode, { predicates: [statusOnlyUpdatesIgnored] })
    .watches(
      GroupVersionKinds.VirtNetwork,
      (o) => {
        const vnet = o as Readonly<VirtNetwork>;
        const name = vnet.metadata?.name;
        return nodesWhere(
          (n) => (n.spec.interfaces ?? []).some((nic) => nic.network === name),
          vnet.metadata?.namespace,
        );
      },
      { predicates: [networkGateChanged] },
    )
    .watches(
      GroupVersionKinds.Hypervisor,
      (o) => nodesWhere((n) => n.spec.hypervisor === o.metadata?.name),
      { predicates: [hypervisorGateChanged] },
    )
    // A clone waits for its source to halt.
    .watches(GroupVersionKinds.MaasNode, (o) =>
      nodesWhere((n) => n.spec.cloneFrom?.name === o.metadata?.name, o.metadata?.namespace),
    )
    .withOptions(builderOptions)
    .named(MaasNodeControllerName)
    .complete(
      createMaasNodeReconciler({
        caches,
        hypervisorFor: (hv) => hypervisors.hypervisorFor(hv),
        client: manager.client,
        annotate: async (node, key, value, signal) => {
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
        ...(serves && { serves }),
        ...(resyncMs !== undefined && { resyncMs }),
        ...(shutdownTimeoutMs !== undefined && { shutdownTimeoutMs }),
      }),
    );
  enqueue = (req) => controller.enqueue(req);
  return controller;
}

/**
 * The MaasNodes on `hypervisor` whose libvirt domain is `domain`: the node named by the default
 * `<namespace>.<name>` (namespaces hold no dots), and those listed in `explicitNames` (nodes
 * with spec.domainName, by that name). Pure; O(1) per event.
 */
export function nodesForDomain(
  nodes: Pick<CacheReader<MaasNode>, 'get'>,
  explicitNames: ReadonlyMap<string, ReadonlySet<string>>,
  hypervisor: string,
  domain: string,
): Request[] {
  const dot = domain.indexOf('.');
  const candidates = new Set(explicitNames.get(domain));
  if (dot > 0) {
    candidates.add(requestKey({ namespace: domain.slice(0, dot), name: domain.slice(dot + 1) }));
  }
  const out: Request[] = [];
  for (const key of candidates) {
    const n = nodes.get(key);
    if (n && n.spec.hypervisor === hypervisor && safeDomainName(n) === domain) {
      out.push(requestFor(n));
    }
  }
  return out;
}

/** domainNameFor, or undefined for an object that lacks the metadata to name it. */
function safeDomainName(node: Readonly<MaasNode>): string | undefined {
  try {
    return domainNameFor(node);
  } catch {
    return undefined;
  }
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
];
