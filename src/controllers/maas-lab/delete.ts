// The phases of a MaasLab pass once the lab is being deleted. The children (VirtNetworks,
// MaasNodes, Secrets) carry a controller owner reference and garbage collection deletes them
// with the lab. A lab with a MAAS controller VM holds a finalizer for what garbage collection
// cannot reach, in libvirt: its domain, overlay and seed volumes (controller-vm.ts). Such a lab
// deletes its nodes itself first and waits for them: each node's finalizer deletes its machine
// from the controller's MAAS, which needs that MAAS running and the API key Secret the lab owns.
// Left to garbage collection, the nodes would go only after the lab, and with them the key,
// and MAAS would already be gone. The report says Terminating.
import { GroupVersionKinds, MaasNodeKind } from '../../api/v1alpha1/index.js';
import { EventType, isDeleting } from '../../runtime/index.js';
import { CONTROLLER_FINALIZER, deleteController } from '../maas/controller-vm.js';
import { next, type Phase, stop } from '../common/phases.js';
import { LabEventReason } from './events.js';
import type { LabPass } from './pass.js';

/**
 * A node whose finalizer is slow to finish is looked at again after this long even without an
 * event (its removal is one: the lab owns its nodes).
 */
export const NODES_GONE_RECHECK_MS = 5_000;

const holdsController = (pass: LabPass): boolean =>
  pass.deps.controller !== undefined &&
  pass.scope.lab.metadata?.finalizers?.includes(CONTROLLER_FINALIZER) === true;

/** The lab's nodes, each deleted once, before its MAAS goes; the pass waits while any is left. */
const deleteNodesBeforeController: Phase<LabPass> = async (pass) => {
  if (!holdsController(pass)) return next;
  const { scope, deps, signal } = pass;
  const ref = { apiVersion: GroupVersionKinds.MaasNode.apiVersion, kind: MaasNodeKind };
  const deleted: string[] = [];
  for (const [name, node] of scope.nodes) {
    if (isDeleting(node)) continue;
    if (
      await deps.client.delete({ ...ref, namespace: scope.lab.metadata?.namespace, name }, signal)
    )
      deleted.push(name);
  }
  if (deleted.length > 0) {
    const note = `deleted MaasNodes ${deleted.join(', ')} before the MAAS controller`;
    pass.record(EventType.Normal, LabEventReason.NodesDeleted, 'Delete', note);
  }
  return scope.nodes.size > 0 ? stop({ requeueAfterMs: NODES_GONE_RECHECK_MS }) : next;
};

/** The controller VM's domain and volumes, then its finalizer. */
const deleteControllerVm: Phase<LabPass> = async (pass) => {
  const { deps, scope, signal } = pass;
  if (deps.controller === undefined) return next;
  await deleteController(scope.lab, scope.hypervisor, deps.controller, signal);
  return next;
};

/** The phases of a pass over a lab being deleted, in order. */
export const deletePhases: ReadonlyArray<Phase<LabPass>> = [
  deleteNodesBeforeController,
  deleteControllerVm,
];
