// A domain's state as the verbs and the inventory name it, and which states count as active
// or running for them.
import { DomainState } from '../constants.js';
import type { DomainStateName } from './types.js';

/** virDomainState as virsh names it. */
export const STATE_NAMES: Readonly<Record<DomainState, DomainStateName>> = {
  [DomainState.Nostate]: 'nostate',
  [DomainState.Running]: 'running',
  [DomainState.Blocked]: 'blocked',
  [DomainState.Paused]: 'paused',
  [DomainState.Shutdown]: 'shutdown',
  [DomainState.Shutoff]: 'shutoff',
  [DomainState.Crashed]: 'crashed',
  [DomainState.Pmsuspended]: 'pmsuspended',
};

/** Running, as far as a guest can be asked to do something: its vCPUs are not stopped. */
export const isRunning = (state: DomainStateName): boolean =>
  state === 'running' || state === 'blocked';

/** Active: the domain has a QEMU process (virDomainIsActive), whatever its guest is doing. */
export const ACTIVE_STATES: ReadonlySet<DomainStateName> = new Set([
  'running',
  'blocked',
  'paused',
  'shutdown',
  'crashed',
  'pmsuspended',
]);
