// The phases of a MaasNode pass once the node is being deleted: destroy and undefine the
// domain with its managed save image, snapshot metadata and NVRAM (deleteDomain), delete the
// volumes whose deletionPolicy is Delete, and forget the node. The finalizer is dropped
// last, after the report (reconciler.ts). A foreign domain of our name and its disks are left
// alone; a Hypervisor resource that is gone leaves nothing we could reach to clean up.
import { serveBmc } from './bmc.js';
import { HypervisorUnreachableError, NameConflictError } from '../../libvirt/hypervisor/index.js';
import { EventType } from '../../runtime/index.js';
import { ShardLostError } from '../common/hypervisor-registry.js';
import { next, type Phase } from '../common/phases.js';
import { DEFAULTS, desiredVolumes, nvramVolume, type DesiredVolume } from './desired.js';
import { NodeEventReason } from './events.js';
import type { NodePass } from './pass.js';
import type { NodeScope } from './scope.js';
import { definedProps } from '../../util/defined-props.js';

/** The volumes of a node, also when a clone's source is gone (then from its status). */
export function volumesOf(scope: NodeScope): DesiredVolume[] {
  const { node, hypervisor } = scope;
  const spec = hypervisor?.spec ?? { uri: '' };
  if (node.spec.cloneFrom === undefined || scope.cloneSource !== undefined) {
    return desiredVolumes(
      node,
      definedProps({ hypervisor: spec, kvm: false, cloneSource: scope.cloneSource }),
    );
  }
  const pool = spec.storagePool ?? DEFAULTS.storagePool;
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

/** Ours to delete: the domain (not a foreign one), then the Delete-policy volumes. */
const deleteFromHost: Phase<NodePass> = async (pass) => {
  const { scope, found } = pass;
  const { hypervisor } = scope;
  found.volumesReady = true;
  found.volumes = volumesOf(scope);
  if (hypervisor === undefined) {
    // Nothing to look at, nothing to report: the node is gone in a moment.
    pass.unreported = true;
    return next;
  }
  const verbs = pass.deps.hypervisorFor(hypervisor);
  try {
    const change = await verbs.deleteDomain(scope.domainName, scope.owner);
    if (change.changed) {
      const note = `destroyed and undefined domain ${scope.domainName}`;
      pass.record(EventType.Normal, NodeEventReason.DomainDeleted, 'Delete', note);
    }
  } catch (err) {
    // Not ours to report on any more: the new lease holder does.
    if (err instanceof ShardLostError) throw err;
    // A foreign domain of our name: neither it nor the disks it may use are ours.
    if (err instanceof NameConflictError) return next;
    if (err instanceof HypervisorUnreachableError) found.unreachable = err.message;
    throw (found.failure = err);
  }
  // A UEFI node's NVRAM goes with it: undefining removed the file the domain named, and this
  // removes one left by a domain undefined elsewhere (only ever after our own domain, or
  // none, was found under the node's name).
  const nvram = nvramVolume(scope.node, { hypervisor: hypervisor.spec });
  const doomed = [
    ...found.volumes
      .filter((v) => v.deletionPolicy === 'Delete')
      .map((v) => ({ pool: v.pool, name: v.name })),
    ...(nvram ? [{ pool: nvram.pool, name: nvram.name, madeOutside: true }] : []),
  ];
  try {
    const result = await verbs.deleteVolumes(doomed);
    if (result.changed) {
      const note = `deleted volumes ${result.deleted.join(', ')}`;
      pass.record(EventType.Normal, NodeEventReason.VolumesDeleted, 'Delete', note);
    }
  } catch (err) {
    if (err instanceof ShardLostError) throw err;
    throw (found.failure = err);
  }
  return next;
};

/** The node is gone once the finalizer is: forget it, and let the finalizer go. */
const release: Phase<NodePass> = async (pass) => {
  pass.deps.memory.forget(pass.scope.node.metadata?.uid ?? '');
  pass.released = true;
  return next;
};

/** The phases of a pass over a node being deleted, in order. */
export const deletePhases: ReadonlyArray<Phase<NodePass>> = [serveBmc, deleteFromHost, release];
