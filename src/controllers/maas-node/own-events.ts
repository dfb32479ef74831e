// The domain lifecycle events a MaasNode pass causes itself: the Defined of its definition,
// the Started of its start, the Stopped of its destroy (the bookkeeping is common/own-events.ts).
import type { DomainEventType } from '../../libvirt/index.js';
import { OwnEvents } from '../common/own-events.js';

export {
  OWN_EVENT_TTL_MS,
  type OwnEventsOptions as OwnDomainEventsOptions,
  withOwnEvents,
} from '../common/own-events.js';

/** Domain events announced by this process's passes, per hypervisor and domain name. */
export class OwnDomainEvents extends OwnEvents<DomainEventType> {}
