// The phases of a VirtNetwork pass once it is being deleted: wait while MaasNodes in the
// namespace still name the network, then destroy and undefine it if it is ours (a foreign one
// is left alone). The finalizer is dropped last, after the report (reconciler.ts). A
// Hypervisor resource that is gone has nothing we can clean.
import { NameConflictError } from '../../libvirt/hypervisor/index.js';
import { EventType } from '../../runtime/index.js';
import { ShardLostError } from '../common/hypervisor-registry.js';
import { next, type Phase, stop } from '../common/phases.js';
import { NetworkEventReason } from './events.js';
import type { NetworkPass } from './pass.js';

/** How long a deletion waits before looking again at the MaasNodes that still use it. */
export const IN_USE_RECHECK_MS = 10_000;

/** Refuses while MaasNodes use the network: Deleting, listing them; their deletion wakes us. */
const waitForUsers: Phase<NetworkPass> = async ({ scope, record }) => {
  if (scope.usedBy.length === 0) return next;
  const note = `not deleting the network while MaasNodes use it: ${scope.usedBy.join(', ')}`;
  record(EventType.Warning, NetworkEventReason.InUse, 'Delete', note);
  return stop({ requeueAfterMs: IN_USE_RECHECK_MS });
};

/** Destroys and undefines the network if it is ours, and lets the finalizer go. */
const deleteFromHost: Phase<NetworkPass> = async (pass) => {
  const { scope, found } = pass;
  if (scope.hypervisor === undefined) {
    // Nothing to look at, nothing to report: the VirtNetwork is gone in a moment.
    pass.unreported = true;
    pass.released = true;
    return next;
  }
  try {
    const change = await pass.deps
      .hypervisorFor(scope.hypervisor)
      .deleteNetwork(scope.libvirtName, scope.owner);
    if (change.changed) {
      const note = `destroyed and undefined network ${scope.libvirtName}`;
      pass.record(EventType.Normal, NetworkEventReason.Deleted, 'Delete', note);
    }
  } catch (err) {
    // Not ours to report on any more: the new lease holder does.
    if (err instanceof ShardLostError) throw err;
    // Someone else's network of our name: not ours to delete, and nothing of ours is left.
    if (!(err instanceof NameConflictError)) throw (found.failure = err);
  }
  pass.released = true;
  return next;
};

/** The phases of a pass over a VirtNetwork being deleted, in order. */
export const deletePhases: ReadonlyArray<Phase<NetworkPass>> = [waitForUsers, deleteFromHost];
