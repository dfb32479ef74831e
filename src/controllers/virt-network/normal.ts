// The phases of a VirtNetwork pass while it is not being deleted: wait for the Hypervisor,
// look at libvirt, check ownership, then make the network match the spec (define, start,
// autostart; DHCP hosts live, or redefine + restart + re-plug running guests' NICs).
import {
  BridgeNotFoundReason,
  HypervisorNotFoundReason,
  LibvirtErrorReason,
  NameConflictReason,
  StalledCondition,
} from '../../api/v1alpha1/index.js';
import {
  BridgeNotFoundError,
  HypervisorUnreachableError,
  NameConflictError,
  type OwnedNetworkDescription,
} from '../../libvirt/hypervisor/index.js';
import { NetworkEventLifecycleType } from '../../libvirt/index.js';
import { EventType, TerminalError } from '../../runtime/index.js';
import { withOwnEvents } from '../common/own-events.js';
import { ShardLostError } from '../common/hypervisor-registry.js';
import { ownership as classify } from '../common/ownership.js';
import { next, type Phase, stop } from '../common/phases.js';
import { desiredNetwork, diffNetwork, wantAutostart } from './desired.js';
import { NetworkEventReason } from './events.js';
import type { HostView, NetworkPass } from './pass.js';
import { observeLibvirtNetwork } from './scope.js';

/** How often an unreachable host is looked at again (its Hypervisor's changes wake us too). */
export const UNREACHABLE_RECHECK_MS = 10_000;

/** An error's message, for condition messages (logs get the whole chain). */
const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * Waits for the Hypervisor: missing → Stalled HypervisorNotFound; unreachable → Ready
 * Unknown; not Ready → Ready=False HypervisorNotReady. Its status changes wake us.
 */
const waitForHypervisor: Phase<NetworkPass> = async ({ scope, found }) => {
  const { vnet, gate, hypervisor } = scope;
  if (hypervisor === undefined || gate.kind === 'missing') {
    found.gated = {
      kind: 'stalled',
      reason: HypervisorNotFoundReason,
      message: `Hypervisor ${vnet.spec.hypervisor} does not exist`,
    };
    return stop();
  }
  if (gate.kind !== 'ready') {
    found.gated = {
      kind: gate.kind === 'unreachable' ? 'unknown' : 'progressing',
      reason: gate.reason,
      message: gate.message,
    };
    return stop();
  }
  return next;
};

/**
 * Reads the network of the name `<namespace>.<name>`. An unreachable host is reported
 * (Unknown) and looked at again soon; any other failure is the pass's, unreported.
 */
const observeLibvirt: Phase<NetworkPass> = async (pass) => {
  const { scope, found } = pass;
  if (scope.hypervisor === undefined) return stop();
  const verbs = pass.deps.hypervisorFor(scope.hypervisor);
  const view = await observeLibvirtNetwork(verbs, scope.libvirtName);
  if (!view.reachable) {
    found.unreachable = view.message;
    return stop({ requeueAfterMs: UNREACHABLE_RECHECK_MS });
  }
  pass.host = { verbs, observed: view.network };
  return next;
};

/** A foreign network of our name: Stalled NameConflict, a Warning, never touched, no retry. */
const checkOwnership: Phase<NetworkPass> = async (pass) => {
  const { scope, found, host } = pass;
  if (host === undefined) return stop();
  found.ownership = classify(host.observed, scope.owner);
  found.network = host.observed;
  if (found.ownership !== 'foreign') return next;
  const message = `libvirt network ${scope.libvirtName} exists and was not created for this VirtNetwork; it is left untouched`;
  pass.record(EventType.Warning, NetworkEventReason.NameConflict, 'Create', message);
  // Network events and the resync bring us back once the foreign network is gone.
  throw (found.failure = new TerminalError(message, { reason: NameConflictReason }));
};

/**
 * Absent → ensureNetwork (define, start, autostart per spec.autostart); present → diffNetwork
 * against the persistent definition, and against the live one while active (a definition the
 * running network lags is applied by restarting it), then applyNetworkChange; then
 * ensureNetwork so it runs and autostarts as asked. Events on every change. Throws what a
 * retry may fix.
 */
async function act(pass: NetworkPass, host: HostView): Promise<void> {
  const { scope, found, record } = pass;
  const { vnet } = scope;
  const { verbs, observed } = host;
  // desiredNetwork always stamps the owner; the spread says so to the type checker.
  const desired: OwnedNetworkDescription = {
    ...desiredNetwork(vnet),
    owner: scope.owner,
    autostart: wantAutostart(vnet),
  };
  if (observed === undefined) {
    // Its Defined and Started events wake no pass: this one reads the network below. The
    // look of observeLibvirt found none: no second look before the define (seenAbsent).
    await withOwnEvents(
      pass.deps.ownEvents,
      vnet.spec.hypervisor,
      scope.libvirtName,
      [NetworkEventLifecycleType.Defined, NetworkEventLifecycleType.Started],
      () => verbs.ensureNetwork(desired, { seenAbsent: true }),
    );
    const note = `defined and started network ${scope.libvirtName}`;
    record(EventType.Normal, NetworkEventReason.Created, 'Create', note);
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
      const note = `network ${scope.libvirtName} autostart ${desired.autostart ? 'on' : 'off'}`;
      record(EventType.Normal, NetworkEventReason.Updated, 'Update', note);
    } else if (started.changed) {
      const note = `started network ${scope.libvirtName}`;
      record(EventType.Normal, NetworkEventReason.Started, 'Start', note);
    }
  }
  found.network = await verbs.observeNetwork(scope.libvirtName);
}

/**
 * The writes, and what their failures mean. In mode bridge a missing host bridge stops them
 * before the network starts (or a running one is torn down): Stalled BridgeNotFound, a
 * Warning when it begins, and a look again after `bridgeRecheckMs`, as nothing signals the
 * bridge's creation. Then requeue after the resync period (drift libvirt events miss).
 */
const ensureNetwork: Phase<NetworkPass> = async (pass) => {
  const { scope, found, host, record } = pass;
  const { vnet } = scope;
  if (host === undefined) return stop();
  try {
    await act(pass, host);
  } catch (err) {
    // Not ours to report on any more: the new lease holder does.
    if (err instanceof ShardLostError) throw err;
    if (err instanceof BridgeNotFoundError) {
      // A human must create the bridge; no error backoff, a slow look again instead.
      found.missingBridge = err.bridge;
      const wasStalled = vnet.status?.conditions?.some(
        (c) =>
          c.type === StalledCondition && c.status === 'True' && c.reason === BridgeNotFoundReason,
      );
      found.network = await host.verbs.observeNetwork(scope.libvirtName);
      if (!wasStalled) {
        const note = `not starting network ${scope.libvirtName}: ${err.message}`;
        record(EventType.Warning, NetworkEventReason.BridgeNotFound, 'Start', note);
      }
      return stop({ requeueAfterMs: pass.deps.bridgeRecheckMs });
    }
    if (err instanceof HypervisorUnreachableError) {
      found.unreachable = err.message;
    } else if (err instanceof NameConflictError) {
      // Appeared between our look and our write: same as found foreign.
      found.ownership = 'foreign';
      throw (found.failure = new TerminalError(err.message, {
        reason: NameConflictReason,
        cause: err,
      }));
    } else {
      found.error = { reason: LibvirtErrorReason, message: messageOf(err) };
      record(EventType.Warning, NetworkEventReason.LibvirtError, 'Reconcile', messageOf(err));
    }
    throw (found.failure = err);
  }
  return { requeueAfterMs: pass.deps.resyncMs };
};

/** The phases of a pass over a VirtNetwork that is not being deleted, in order. */
export const normalPhases: ReadonlyArray<Phase<NetworkPass>> = [
  waitForHypervisor,
  observeLibvirt,
  checkOwnership,
  ensureNetwork,
];
