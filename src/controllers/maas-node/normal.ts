// The phases of a MaasNode pass while the node is not being deleted: wait for what the node
// needs, look at libvirt, check ownership, make the volumes and the definition, power (in
// power.ts), then settle what the node still wants and when to look again.
import {
  CloneSourceNotFoundReason,
  CloneSourceNotHaltedReason,
  hasBmc,
  HeldReason,
  heldMessage,
  HoldAnnotation,
  HypervisorNotFoundReason,
  LibvirtErrorReason,
  NameConflictReason,
  NetworkNotReadyReason,
} from '../../api/v1alpha1/index.js';
import {
  HypervisorUnreachableError,
  NameConflictError,
  type ObservedDomain,
  type OwnedDomainDescription,
} from '../../libvirt/hypervisor/index.js';
import { DomainEventType } from '../../libvirt/index.js';
import { buildDomainXml, type ParsedDomain, parseDomainXml } from '../../libvirt/xml/index.js';
import { EventType, TerminalError } from '../../runtime/index.js';
import { ShardLostError } from '../common/hypervisor-registry.js';
import { ownership as classify } from '../common/ownership.js';
import { next, type Phase, stop } from '../common/phases.js';
import { libvirtNetworkName, servesSpec } from '../virt-network/desired.js';
import { desiredDomain, desiredVolumes, domainNameFor, type NodeContext } from './desired.js';
import { diffDomain, pendingRestartOf } from './domain-diff.js';
import { bootOverrideFor, serveBmc } from './bmc.js';
import { NodeEventReason } from './events.js';
import type { NodePass } from './pass.js';
import { withOwnEvents } from './own-events.js';
import { nextPower, power } from './power.js';
import { observeLibvirtDomain } from './scope.js';
import { definedProps } from '../../util/defined-props.js';

/** How often a clone looks again at a source that is not halted yet. */
export const CLONE_SOURCE_RECHECK_MS = 10_000;

/** How often an unreachable host is looked at again (its Hypervisor's changes wake us too). */
export const UNREACHABLE_RECHECK_MS = 10_000;

/** An error's message, for condition messages (logs get the whole chain). */
export const messageOf = (err: unknown): string =>
  err instanceof Error ? err.message : String(err);

/**
 * Waits for the Hypervisor (missing → Stalled HypervisorNotFound; unreachable → Unknown; not
 * Ready → waiting; nothing on the host is touched meanwhile) and notes VirtNetworks that are
 * not Ready: they hold back only the power step.
 */
const waitForHypervisor: Phase<NodePass> = async ({ scope, found }) => {
  const { node, hypervisor, gate } = scope;
  if (hypervisor === undefined || gate.kind === 'missing') {
    found.stalled = {
      reason: HypervisorNotFoundReason,
      message: `Hypervisor ${node.spec.hypervisor} does not exist`,
    };
    return stop();
  }
  if (gate.kind === 'unreachable') {
    found.unreachable = gate.message;
    return stop();
  }
  if (gate.kind === 'notReady') {
    found.waiting = { reason: gate.reason, message: gate.message };
    return stop();
  }
  return next;
};

/**
 * A node held by a lab snapshot or restore (HoldAnnotation) is left alone: its holder powers
 * the domain and replaces its volumes, and any action of ours (a start under Always, a volume
 * re-created while the holder swaps it) would break the one consistent point. The report says
 * Held with the holder's name, which is the holder's proof that no pass acts any more.
 */
const respectHold: Phase<NodePass> = async ({ scope, found }) => {
  const holder = scope.node.metadata?.annotations?.[HoldAnnotation];
  if (holder === undefined || holder === '') return next;
  found.waiting = { reason: HeldReason, message: heldMessage(holder) };
  return stop();
};

/**
 * Volumes and the definition are made while the networks come up; only the start waits for
 * them (the recipe's "MAAS DHCP must start after virbr0"), and no power action is taken
 * meanwhile (a network mid-change leaves a running domain alone). A clone's source must exist.
 */
const waitForNetworksAndSource: Phase<NodePass> = async (pass) => {
  const { node, networksNotReady, cloneSource } = pass.scope;
  if (networksNotReady.length > 0) {
    pass.networksWait = {
      reason: NetworkNotReadyReason,
      message: `waiting for VirtNetworks to be Ready: ${networksNotReady.join(', ')}`,
    };
  }
  if (node.spec.cloneFrom !== undefined && cloneSource === undefined) {
    pass.found.stalled = {
      reason: CloneSourceNotFoundReason,
      message: `MaasNode ${node.spec.cloneFrom.name} (cloneFrom) does not exist`,
    };
    return stop();
  }
  return next;
};

/**
 * Reads the domain, and whether the host offers KVM (asked once per host), and derives the
 * desired domain and volumes (pure). An unreachable host is a finding; any other failure is
 * the pass's error, unreported.
 */
const observeLibvirt: Phase<NodePass> = async (pass) => {
  const { scope, deps, found } = pass;
  const { node, hypervisor, cloneSource } = scope;
  if (hypervisor === undefined) return stop();
  const verbs = deps.hypervisorFor(hypervisor);
  let view;
  let kvm = false;
  try {
    kvm = await deps.memory.kvm(node.spec.hypervisor, async () => (await verbs.hostInfo()).kvm);
    view = await observeLibvirtDomain(verbs, scope.domainName, pass.lookups);
  } catch (err) {
    if (!(err instanceof HypervisorUnreachableError)) throw err;
    view = { reachable: false as const, message: err.message };
  }
  if (!view.reachable) {
    found.unreachable = view.message;
    return stop({ requeueAfterMs: UNREACHABLE_RECHECK_MS });
  }
  const bootOverride = bootOverrideFor(node, deps);
  const ctx: NodeContext = definedProps({
    hypervisor: hypervisor.spec,
    kvm,
    cloneSource,
    bootOverride,
  });
  pass.host = { verbs, desired: desiredDomain(node, ctx), domain: view.domain };
  found.volumes = desiredVolumes(node, ctx);
  return next;
};

/**
 * A VirtNetwork the cache does not show Ready yet may run already: its Ready status write and
 * that write's watch event take a round trip after libvirt started it. When libvirt said so
 * (a Started lifecycle event, kept in memory.ts; its arrival woke this pass) and the network
 * is, as observed now, ours and what the VirtNetwork asks for (servesSpec), the node does not
 * wait for it: the power step goes ahead in this pass. Without such an event, or for a
 * network mid-change, not ours or gone, the wait stands as before.
 */
const confirmNetworksInLibvirt: Phase<NodePass> = async (pass) => {
  const { scope, deps, host, found } = pass;
  if (pass.networksWait === undefined || !host || scope.networksPending.length === 0) return next;
  const hypervisor = scope.node.spec.hypervisor;
  const running = (
    await Promise.all(
      scope.networksPending.map(async (vnet) => {
        const libvirtName = libvirtNetworkName(
          vnet.metadata?.namespace ?? '',
          vnet.metadata?.name ?? '',
        );
        if (!deps.memory.networkStarted(hypervisor, libvirtName)) return undefined;
        const observed = await deps.memory.sharedNetworkLook(hypervisor, libvirtName, () =>
          host.verbs.observeNetwork(libvirtName),
        );
        return servesSpec(vnet, observed) ? vnet.metadata?.name : undefined;
      }),
    )
  ).filter((name): name is string => name !== undefined);
  if (running.length === 0) return next;
  found.networksRunning = running;
  const left = scope.networksNotReady.filter((name) => !running.includes(name));
  pass.networksWait =
    left.length === 0
      ? undefined
      : {
          reason: NetworkNotReadyReason,
          message: `waiting for VirtNetworks to be Ready: ${left.join(', ')}`,
        };
  return next;
};

/**
 * A domain of our name that we did not create: Stalled NameConflict, a Warning event,
 * untouched, no retry (TerminalError); domain events and the resync bring us back once it
 * is gone. A clone waits, before its volumes are copied, for its source to be halted.
 */
const checkOwnership: Phase<NodePass> = async (pass) => {
  const { scope, found, host } = pass;
  if (!host) return stop();
  if (classify(host.domain, scope.owner) === 'foreign') {
    const message = `libvirt domain ${scope.domainName} exists and was not created for this MaasNode; it is left untouched`;
    found.stalled = { reason: NameConflictReason, message };
    pass.record(EventType.Warning, NodeEventReason.NameConflict, 'Define', message);
    throw (found.failure = new TerminalError(message, { reason: NameConflictReason }));
  }
  found.domain = host.domain;
  if (host.domain === undefined && scope.cloneSource !== undefined) {
    // Copying a running guest's disks would copy a file system mid-write.
    const source = await host.verbs.observeDomain(domainNameFor(scope.cloneSource), pass.lookups);
    if (source !== undefined && source.state !== 'shutoff') {
      found.waiting = {
        reason: CloneSourceNotHaltedReason,
        message: `waiting for MaasNode ${scope.cloneSource.metadata?.name ?? ''} to be halted before copying its disks`,
      };
      return stop({ requeueAfterMs: CLONE_SOURCE_RECHECK_MS });
    }
  }
  return next;
};

/**
 * ensureVolumes (clones copy the source's volumes); define the domain when absent; otherwise
 * diffDomain against the persistent definition: a difference is defined again (nothing is
 * recreated). The domain is read again only after a change: a settled node's pass reads it
 * once. A domain defined this pass is off with no saved memory, all its power decision and a
 * waiting node's report read: it is read once, after the power step.
 */
const ensureDefinition: Phase<NodePass> = async (pass) => {
  const { scope, found, host } = pass;
  if (!host) return stop();
  const { verbs, desired } = host;
  const absent = host.domain === undefined;
  // A node whose domain is not there yet (a new one) creates its volumes without a look
  // first: one call each instead of two; a volume that is there after all is kept as it is.
  const volumes = await verbs.ensureVolumes(
    found.volumes,
    absent ? { expectAbsent: true } : undefined,
  );
  found.volumesReady = true;
  found.observedVolumes = new Map(volumes.volumes.map((v) => [v.name, v]));
  if (volumes.changed) {
    const note = `created volumes ${volumes.created.join(', ')}`;
    pass.record(EventType.Normal, NodeEventReason.VolumesCreated, 'CreateVolumes', note);
  }
  pass.created = absent;
  if (pass.created) {
    await define(pass, desired);
    const note = `defined domain ${scope.domainName}`;
    pass.record(EventType.Normal, NodeEventReason.DomainDefined, 'Define', note);
    found.domain = justDefined(desired);
  } else if (host.domain) {
    const diff = diffDomain(desired, host.domain.inactive);
    if (diff.redefine) {
      await define(pass, desired);
      const note = `updated the definition: ${diff.changes.join('; ')}`;
      pass.record(EventType.Normal, NodeEventReason.DomainUpdated, 'Define', note);
      found.domain = await verbs.observeDomain(scope.domainName, pass.lookups);
    }
  }
  return next;
};

/** Defines the domain; its Defined event wakes no pass (this one reads what it did). */
function define(pass: NodePass, desired: OwnedDomainDescription): Promise<unknown> {
  const { scope, deps, lookups } = pass;
  const verbs = pass.host?.verbs;
  if (!verbs) return Promise.resolve();
  return withOwnEvents(
    deps.ownEvents,
    scope.node.spec.hypervisor,
    scope.domainName,
    [DomainEventType.Defined],
    () => verbs.defineDomain(desired, lookups),
  );
}

/** After a power change, or the first start of a new domain, the domain is read again. */
const observeAfterPower: Phase<NodePass> = async (pass) => {
  const { found, host } = pass;
  const mayPower = pass.networksWait === undefined;
  if (host && (found.powerChanged || (pass.created && mayPower))) {
    found.domain = await host.verbs.observeDomain(
      pass.scope.domainName,
      pass.lookups,
      pass.startedAsRead,
    );
  }
  return next;
};

/**
 * What the node still wants after this pass (the next power decision) and what a restart
 * would apply; a node waiting on its networks says so. Then look again after the resync
 * period (a network's readiness wakes a waiting node itself).
 */
const settle: Phase<NodePass> = async (pass) => {
  const { found, host } = pass;
  const after = found.domain;
  if (host && after) {
    // The live definition alone: the inactive one of a domain this pass defined and started
    // is justDefined's, built and parsed only if read.
    found.pendingRestart = pendingRestartOf(host.desired, after.live, {
      liveBootOrder: !hasBmc(pass.scope.node.spec.bmc),
    });
    found.next = nextPower(pass, after);
  }
  if (pass.networksWait) found.waiting = pass.networksWait;
  return { requeueAfterMs: pass.deps.resyncMs };
};

/**
 * Turns a failure of a phase that acts on the host into findings the report shows: an
 * unreachable host (Unknown), a domain of our name someone else defined meanwhile (Stalled
 * NameConflict, not retried), or any other failure (LibvirtError, a Warning event). A shard
 * this process lost is not ours to report on: the new lease holder does.
 */
function acting(phase: Phase<NodePass>): Phase<NodePass> {
  return async (pass) => {
    try {
      return await phase(pass);
    } catch (err) {
      if (err instanceof ShardLostError) throw err;
      const { found } = pass;
      if (err instanceof HypervisorUnreachableError) {
        found.unreachable = err.message;
      } else if (err instanceof NameConflictError) {
        found.stalled = { reason: NameConflictReason, message: err.message };
        throw (found.failure = new TerminalError(err.message, {
          reason: NameConflictReason,
          cause: err,
        }));
      } else {
        found.error = { reason: LibvirtErrorReason, message: messageOf(err) };
        pass.record(EventType.Warning, NodeEventReason.LibvirtError, 'Reconcile', messageOf(err));
      }
      found.failure = err;
      throw err;
    }
  };
}

/** The phases of a pass over a node that is not being deleted, in order. */
export const normalPhases: ReadonlyArray<Phase<NodePass>> = [
  waitForHypervisor,
  respectHold,
  waitForNetworksAndSource,
  observeLibvirt,
  checkOwnership,
  acting(ensureDefinition),
  // Last before the power step: a network that started while this pass made the volumes
  // and the definition lets the domain start in this pass, not in the next one.
  acting(confirmNetworksInLibvirt),
  acting(power),
  acting(observeAfterPower),
  serveBmc,
  settle,
];

/**
 * A domain as `definition` leaves it the moment virDomainDefineXML returns: persistent, off,
 * never run, no managed save image. Its UUID and ID are libvirt's to give and unknown here;
 * it stands in only for the power decision of the pass that defined it.
 */
export function justDefined(desired: OwnedDomainDescription): ObservedDomain {
  // What libvirt stores for it, read back through the one XML layer: the same shape a look
  // at the domain would give, without asking libvirt. Read lazily: a pass that starts the
  // domain looks at it again afterwards and never needs this one (a build and a parse, about
  // 200 KiB of garbage per node); a node left waiting for its network reports from it.
  // The NVRAM's directory is the host's to resolve; the diff reads only the file name.
  const { nvram } = desired;
  let inactive: ParsedDomain | undefined;
  return {
    name: desired.name,
    uuid: desired.uuid ?? '',
    id: -1,
    // The stamp as written; reading it back gives the same (the XML layer round-trips it).
    owner: desired.owner,
    state: 'shutoff',
    reason: 0,
    hasManagedSave: false,
    persistent: true,
    get inactive(): ParsedDomain {
      inactive ??= {
        ...parseDomainXml(buildDomainXml({ ...desired, nvram: undefined })),
        ...(nvram && { nvram: nvram.volume }),
      };
      return inactive;
    },
  };
}
