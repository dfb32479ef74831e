// The phases of a MaasLab pass once the lab is being deleted. The children (VirtNetworks,
// MaasNodes, Secrets) carry a controller owner reference and garbage collection deletes them
// with the lab. A lab with a MAAS controller VM holds a finalizer for what garbage collection
// cannot reach, in libvirt: its domain, overlay and seed volumes (controller-vm.ts). The
// report says Terminating.
import { deleteController } from '../maas/controller-vm.js';
import { next, type Phase } from '../common/phases.js';
import type { LabPass } from './pass.js';

/** The controller VM's domain and volumes, then its finalizer. */
const deleteControllerVm: Phase<LabPass> = async (pass) => {
  const { deps, scope, signal } = pass;
  if (deps.controller === undefined) return next;
  await deleteController(scope.lab, scope.hypervisor, deps.controller, signal);
  return next;
};

/** The phases of a pass over a lab being deleted, in order. */
export const deletePhases: ReadonlyArray<Phase<LabPass>> = [deleteControllerVm];
