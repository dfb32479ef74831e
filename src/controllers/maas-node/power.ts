// The power phase of a MaasNode pass: one powerAction per pass from runStrategy, haltMode and
// the observed state — start, restore from managed save, ACPI shutdown (destroy after the
// grace period; the pass requeues for exactly then), destroy, managed save, or a power-cycle
// reboot for a new restartToken (then status.lastRestartToken). Once remembers its start in
// the `maaslab.dev/started-once` annotation. The decision itself is pure (desired.ts).
import { defaultRunStrategy, type HaltMode, type RunStrategy } from '../../api/v1alpha1/index.js';
import type { ObservedDomain } from '../../libvirt/hypervisor/index.js';
import { DomainEventType } from '../../libvirt/index.js';
import { EventType, toRfc3339Seconds } from '../../runtime/index.js';
import { next, type Phase } from '../common/phases.js';
import {
  DEFAULTS,
  powerAction,
  remainingShutdownMs,
  type PowerAction,
  type PowerObservation,
} from './desired.js';
import { NodeEventReason } from './events.js';
import { withOwnEvents } from './own-events.js';
import type { NodePass } from './pass.js';
import { STARTED_ONCE_ANNOTATION } from './scope.js';
import { definedProps } from '../../util/defined-props.js';

/** The lifecycle events of a start, in the order libvirt sends them. */
const STARTS: readonly DomainEventType[] = [DomainEventType.Resumed, DomainEventType.Started];

/** What each power action is called in events. */
const powerEvent: Readonly<Record<Exclude<PowerAction, 'none'>, [reason: string, note: string]>> = {
  start: [NodeEventReason.Started, 'started the domain'],
  restore: [NodeEventReason.Restored, 'started the domain from its managed save image'],
  shutdown: [NodeEventReason.ShutdownRequested, 'asked the guest to shut down (ACPI)'],
  destroy: [NodeEventReason.Destroyed, 'powered the domain off'],
  managedSave: [NodeEventReason.Saved, 'saved the domain memory and stopped it'],
  reboot: [NodeEventReason.Rebooted, 'power-cycled the domain for a new restartToken'],
};

/**
 * One power action, unless a VirtNetwork the node uses is not Ready; asks to be requeued for
 * the end of a shutdown's grace period.
 */
export const power: Phase<NodePass> = async (pass) => {
  if (pass.networksWait !== undefined) return next;
  const ms = await powerOnce(pass);
  return ms === undefined ? next : { requeueAfterMs: ms };
};

async function powerOnce(pass: NodePass): Promise<number | undefined> {
  const { scope, found, host, deps, signal, lookups } = pass;
  const { node, domainName, owner } = scope;
  const domain = found.domain;
  if (!domain || !host) return undefined;
  const { verbs } = host;
  const { memory, clock, annotate } = deps;
  const created = pass.created === true;
  const uid = node.metadata?.uid ?? '';
  const runStrategy: RunStrategy = node.spec.runStrategy ?? defaultRunStrategy(node.spec.bmc);
  const haltMode: HaltMode = node.spec.haltMode ?? DEFAULTS.haltMode;
  const token = node.spec.restartToken;
  const isOff = domain.state === 'shutoff' || domain.state === 'crashed';
  if (isOff) memory.shutdownEnded(uid);
  const requestedAt = memory.shutdownRequestedAt(uid);
  const startedOnce = node.metadata?.annotations?.[STARTED_ONCE_ANNOTATION] !== undefined;
  const observed: PowerObservation = definedProps({
    state: domain.state,
    hasManagedSave: domain.hasManagedSave,
    startedOnce,
    restartTokenChanged: !created && (token ?? '') !== (found.lastRestartToken ?? ''),
    shutdownRequestedAt: requestedAt,
    now: clock.now(),
    shutdownTimeoutMs: deps.shutdownTimeoutMs,
  });
  const action = powerAction(runStrategy, haltMode, observed);
  // A boot from off is a fresh start, so the token in force is the current one; Halted
  // records it too (powerAction never reboots a halted node).
  const putInForce = (): void => {
    if (token === undefined) return;
    found.lastRestartToken = token;
    memory.putRestartTokenInForce(uid, token);
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
  // The events of our own start, destroy and power-cycle wake no pass: this one reads after.
  // QEMU starts a domain paused and resumes it, so Resumed comes just before Started (the
  // test driver sends Started alone; see OwnEvents.consume).
  const own = <T extends { readonly changed: boolean }>(
    events: readonly DomainEventType[],
    call: () => Promise<T>,
  ): Promise<T> => withOwnEvents(deps.ownEvents, node.spec.hypervisor, domainName, events, call);
  switch (action) {
    case 'start': {
      const { changed } = await own(STARTS, () => verbs.start(domainName, owner, lookups));
      if (changed) pass.startedAsRead = domain;
      break;
    }
    case 'restore':
      await own(STARTS, () => verbs.startFromManagedSave(domainName, owner, lookups));
      break;
    case 'shutdown':
      await verbs.shutdown(domainName, owner, lookups);
      memory.shutdownRequested(uid, clock.now());
      break;
    case 'destroy':
      await own([DomainEventType.Stopped], () => verbs.destroy(domainName, owner, lookups));
      memory.shutdownEnded(uid);
      break;
    case 'managedSave':
      // The pass's signal (the reconcile timeout, the shard's loss, shutdown) cancels a save
      // that runs long; the domain then keeps running and the next pass tries again.
      await verbs.managedSave(domainName, owner, {
        signal,
        onProgress: ({ done, total }) =>
          pass.log.debug('Saving memory', { domain: domainName, done, total }),
      });
      break;
    case 'reboot':
      await own([DomainEventType.Stopped, ...STARTS], () =>
        verbs.reboot(domainName, owner, undefined, lookups),
      );
      putInForce();
      break;
  }
  if ((action === 'start' || action === 'restore') && runStrategy === 'Once' && !startedOnce) {
    await annotate(node, STARTED_ONCE_ANNOTATION, toRfc3339Seconds(clock.now()), signal);
  }
  found.powerChanged = true;
  const [reason, note] = powerEvent[action];
  pass.record(EventType.Normal, reason, action, `${note} (${domainName})`);
  if (action === 'shutdown') {
    const timeout = remainingShutdownMs({ ...observed, shutdownRequestedAt: clock.now() });
    return Math.max(1, timeout);
  }
  return undefined;
}

/**
 * The power decision the node would take next, from the domain as this pass leaves it: what
 * the node still wants (Starting, halting), for the report. A graceful shutdown in progress
 * is waiting, not a new action.
 */
export function nextPower(pass: NodePass, after: ObservedDomain): PowerAction {
  const { node } = pass.scope;
  const { memory, clock, shutdownTimeoutMs } = pass.deps;
  const requestedAt = memory.shutdownRequestedAt(node.metadata?.uid ?? '');
  const wants = powerAction(
    node.spec.runStrategy ?? defaultRunStrategy(node.spec.bmc),
    node.spec.haltMode ?? DEFAULTS.haltMode,
    definedProps({
      state: after.state,
      hasManagedSave: after.hasManagedSave,
      // Decided this pass; only the power state matters for "wants".
      startedOnce: true,
      restartTokenChanged: false,
      shutdownRequestedAt: requestedAt,
      now: clock.now(),
      shutdownTimeoutMs,
    }),
  );
  return wants === 'none' && requestedAt !== undefined ? 'shutdown' : wants;
}
