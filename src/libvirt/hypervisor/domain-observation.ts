// What a look at a domain found, as the verbs return it (ObservedDomain), from the reads of
// Domain.observe (all of it) or Domain.observeLive (state and live definition, the rest known
// from the caller's read before its own start). Pure: the reads are the caller's.
import type { Domain, DomainLiveObservation, DomainObservation } from '../domain.js';
import { parseDomainXml } from '../xml/index.js';
import { definedProps } from '../../util/defined-props.js';
import { ACTIVE_STATES, STATE_NAMES } from './domain-states.js';
import type { ObservedDomain } from './types.js';

/**
 * The `op` label of Domain.observe's calls: the C functions it makes, in order, so the
 * libvirt-calls metric still says what was asked of libvirtd.
 */
export const OBSERVE_DOMAIN_OP =
  'virDomainGetState+virDomainIsPersistent+virDomainHasManagedSaveImage+virDomainGetXMLDesc';

/** The `op` label of Domain.observeLive's calls (a look that knows the definition unchanged). */
export const OBSERVE_DOMAIN_LIVE_OP = 'virDomainGetState+virDomainGetXMLDesc';

/** The handle's own facts (no libvirt call: the handle holds them). */
type DomainHandle = Pick<Domain, 'getName' | 'getUUIDString' | 'getID'>;

/** The live definition while the domain is active (a crashed one QEMU may still hold). */
function liveOf(seen: DomainLiveObservation): ObservedDomain['live'] {
  return ACTIVE_STATES.has(STATE_NAMES[seen.state]) && seen.liveXml !== null
    ? parseDomainXml(seen.liveXml)
    : undefined;
}

/** A whole look (Domain.observe) at `dom`. */
export function observedDomain(dom: DomainHandle, seen: DomainObservation): ObservedDomain {
  const inactive = parseDomainXml(seen.inactiveXml);
  return definedProps({
    name: dom.getName(),
    uuid: dom.getUUIDString(),
    id: dom.getID(),
    owner: inactive.owner,
    state: STATE_NAMES[seen.state],
    reason: seen.reason,
    hasManagedSave: seen.hasManagedSave,
    persistent: seen.persistent,
    inactive,
    live: liveOf(seen),
  });
}

/**
 * A look at `dom` after the caller's own start (Domain.observeLive): its state, ID and live
 * definition are read; its stamp, definition, persistence and managed save image are
 * `since`'s, which a start leaves as they were. `since` may be what the caller's own
 * definition left (no UUID yet): the UUID is the handle's. Its definition is passed on as it
 * is, unread: a lazy one (a just-defined domain's) is parsed only if someone reads it.
 */
export function observedAfterStart(
  dom: DomainHandle,
  seen: DomainLiveObservation,
  since: ObservedDomain,
): ObservedDomain {
  const observed = definedProps({
    name: since.name,
    uuid: dom.getUUIDString(),
    id: dom.getID(),
    owner: since.owner,
    state: STATE_NAMES[seen.state],
    reason: seen.reason,
    hasManagedSave: since.hasManagedSave,
    persistent: since.persistent,
    live: liveOf(seen),
  });
  return Object.defineProperty(observed, 'inactive', {
    enumerable: true,
    get: () => since.inactive,
  }) as ObservedDomain;
}
