// Watch predicates for the fan-out mappings (one object waking many): each lets through only
// the changes its targets read, so a status write does not wake a whole hypervisor's objects.
import type { KubernetesObject } from '@kubernetes/client-node';
import { ReadyCondition } from '../../api/v1alpha1/index.js';
import { controllerOf, type Predicate } from '../../runtime/index.js';
import { childState, isReadyAndCurrent, type Observable } from './conditions.js';

const generationOf = (o: Readonly<KubernetesObject>): number | undefined => o.metadata?.generation;

/** The Ready condition's status, reason and message: all a dependant's gate reads. */
const readyOf = (o: Readonly<KubernetesObject>): string => {
  const conditions = (o as { status?: { conditions?: ReadonlyArray<Record<string, unknown>> } })
    .status?.conditions;
  const ready = conditions?.find((c) => c.type === ReadyCondition);
  return ready ? `${String(ready.status)}\n${String(ready.reason)}\n${String(ready.message)}` : '';
};

/**
 * A Hypervisor's changes that its labs, networks and nodes depend on: its spec (generation)
 * and its Ready condition (hypervisorGate). Its inventory (allocated, domains) changes with
 * every node it runs and is read by nobody else.
 */
export const hypervisorGateChanged: Predicate = {
  update: (old, obj) => generationOf(old) !== generationOf(obj) || readyOf(old) !== readyOf(obj),
};

/**
 * The changes a lab's MAC-collision check reads from another lab or a stand-alone node: its
 * spec (generation) and who controls it (a node adopted by a lab stops being stand-alone).
 * Creation and deletion always pass.
 */
export const collisionInputsChanged: Predicate = {
  update: (old, obj) =>
    generationOf(old) !== generationOf(obj) || controllerOf(old)?.uid !== controllerOf(obj)?.uid,
};

/** Spec (generation), Ready at that generation, or deletion changed: what gates read. */
const readinessChanged = (
  old: Readonly<KubernetesObject>,
  obj: Readonly<KubernetesObject>,
): boolean =>
  generationOf(old) !== generationOf(obj) ||
  isReadyAndCurrent(old as Observable) !== isReadyAndCurrent(obj as Observable) ||
  old.metadata?.deletionTimestamp !== obj.metadata?.deletionTimestamp;

/**
 * A VirtNetwork's changes that the MaasNodes on it read (networksNotReady): its spec
 * (generation: the hypervisor it is on), whether it is Ready at its generation, and its
 * deletion. Its other status writes (bridge, DHCP hosts, messages) wake none of its nodes.
 * Its creation wakes them only Ready (an informer's first list): a new VirtNetwork is not
 * Ready yet, so its nodes would wait as before, and a lab creates it with its nodes in one
 * round, while they are in their first pass; each would run a second one, re-reading its
 * domain while libvirt starts the network. Its Ready status, or libvirt's Started event,
 * wakes them when there is something to do.
 */
export const networkGateChanged: Predicate = {
  create: (obj) => isReadyAndCurrent(obj as Observable),
  update: readinessChanged,
};

/**
 * A child's changes its lab reads (labStatus, childAction): its spec (generation) and labels,
 * whether it is Ready at its generation, its kstatus state, and its deletion. A node's status
 * writes that leave those alone (its state, disks, interfaces, messages) wake no lab pass, so
 * a lab of N nodes is not compared N times per node it builds.
 */
export const childStateChanged: Predicate = {
  update: (old, obj) =>
    readinessChanged(old, obj) ||
    childState(old as Observable) !== childState(obj as Observable) ||
    JSON.stringify(old.metadata?.labels) !== JSON.stringify(obj.metadata?.labels) ||
    controllerOf(old)?.uid !== controllerOf(obj)?.uid,
};
