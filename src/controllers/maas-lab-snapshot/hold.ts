// Holding a lab's MaasNodes while a capture or a restore acts on their domains: the hold is an
// annotation (HoldAnnotation) the MaasNode controller honours by taking no action, and
// acknowledges by reporting Reconciling=True, reason Held, with the holder's name. Until every
// node has acknowledged, a pass of the node's own could still start a domain the holder just
// stopped, so the holder waits for the acknowledgements before it touches libvirt.
//
// A lab's MAAS controller VM is no MaasNode: the MaasLab controller makes it. A capture holds
// it with the same annotation on the MaasLab, which the MaasLab controller honours by leaving
// the controller VM alone (no define, start or volume) and acknowledges in ControllerReady
// (False, reason Held, the same message). A restore needs no annotation for it: the MaasLab
// controller runs the restore itself and leaves its controller VM alone meanwhile
// (controllerHoldOf).
import {
  ControllerReadyCondition,
  HeldReason,
  heldMessage,
  HoldAnnotation,
  ReconcilingCondition,
  type MaasLab,
  type MaasNode,
} from '../../api/v1alpha1/index.js';
import { restoreHolder } from './desired.js';

/** Sets (a string) or removes (null) one annotation of a node or lab; a merge patch. */
export type Annotate = (
  node: Readonly<MaasNode | MaasLab>,
  key: string,
  value: string | null,
  signal: AbortSignal,
) => Promise<void>;

/** The holder of `node` (or of a lab's controller VM), if any. */
export const holderOf = (node: Readonly<MaasNode | MaasLab>): string | undefined => {
  const h = node.metadata?.annotations?.[HoldAnnotation];
  return h === undefined || h === '' ? undefined : h;
};

/** True when the node's controller has reported that `holder` holds it. */
export function holdAcknowledged(node: Readonly<MaasNode>, holder: string): boolean {
  const c = node.status?.conditions?.find((x) => x.type === ReconcilingCondition);
  return c?.status === 'True' && c.reason === HeldReason && c.message === heldMessage(holder);
}

/** Which nodes another holder has: the lab is busy with another capture or restore. */
export const heldByOthers = (
  nodes: ReadonlyArray<Readonly<MaasNode>>,
  holder: string,
): Array<Readonly<MaasNode>> =>
  nodes.filter((n) => {
    const h = holderOf(n);
    return h !== undefined && h !== holder;
  });

/**
 * Puts `holder`'s hold on every node that lacks it; true once every node has acknowledged
 * it (the caller may then act on their domains).
 */
export async function holdAll(
  nodes: ReadonlyArray<Readonly<MaasNode>>,
  holder: string,
  annotate: Annotate,
  signal: AbortSignal,
): Promise<boolean> {
  for (const n of nodes) {
    if (holderOf(n) !== holder) await annotate(n, HoldAnnotation, holder, signal);
  }
  return nodes.every((n) => holdAcknowledged(n, holder));
}

/** Removes `holder`'s hold from every node that carries it (another holder's stays). */
export async function releaseAll(
  nodes: ReadonlyArray<Readonly<MaasNode>>,
  holder: string,
  annotate: Annotate,
  signal: AbortSignal,
): Promise<number> {
  let released = 0;
  for (const n of nodes) {
    if (holderOf(n) !== holder) continue;
    await annotate(n, HoldAnnotation, null, signal);
    released += 1;
  }
  return released;
}

/** True when the lab's controller has reported that `holder` holds its controller VM. */
export function labHoldAcknowledged(lab: Readonly<MaasLab>, holder: string): boolean {
  const c = lab.status?.conditions?.find((x) => x.type === ControllerReadyCondition);
  return c?.status === 'False' && c.reason === HeldReason && c.message === heldMessage(holder);
}

/** Whether a lab has a controller VM a capture must hold. */
export const hasControllerVm = (lab: Readonly<MaasLab>): boolean =>
  lab.spec.maas?.controller !== undefined;

/**
 * The phases of status.restore in which a restore is under way: it holds the lab's members
 * (Pending only waits for its snapshot or for another holder, and holds nothing).
 */
const RESTORE_ACTIVE = new Set(['Holding', 'Stopping', 'Restoring', 'Starting']);

/**
 * Who else is acting on the lab as a whole, seen by `holder`: another holder's annotation on
 * the lab (a capture holding its controller VM), or a restore under way that is not
 * `holder`'s. Undefined when nobody is.
 */
export function labBusyWith(lab: Readonly<MaasLab>, holder: string): string | undefined {
  const annotated = holderOf(lab);
  if (annotated !== undefined && annotated !== holder) return annotated;
  const r = lab.status?.restore;
  const want = lab.spec.restoreFrom;
  if (r === undefined || want === undefined || r.token !== want.token) return undefined;
  if (!RESTORE_ACTIVE.has(r.phase ?? '')) return undefined;
  const restoring = restoreHolder(lab.metadata?.name ?? '', r.token);
  return restoring === holder ? undefined : restoring;
}

/**
 * Puts `holder`'s hold on the lab's controller VM (the annotation on the lab) when the lab
 * has one; true once the lab's controller has acknowledged it (or there is nothing to hold).
 */
export async function holdLab(
  lab: Readonly<MaasLab>,
  holder: string,
  annotate: Annotate,
  signal: AbortSignal,
): Promise<boolean> {
  if (!hasControllerVm(lab)) return true;
  if (holderOf(lab) !== holder) await annotate(lab, HoldAnnotation, holder, signal);
  return labHoldAcknowledged(lab, holder);
}

/** Removes `holder`'s hold from the lab, if it carries it (another holder's stays). */
export async function releaseLab(
  lab: Readonly<MaasLab>,
  holder: string,
  annotate: Annotate,
  signal: AbortSignal,
): Promise<boolean> {
  if (holderOf(lab) !== holder) return false;
  await annotate(lab, HoldAnnotation, null, signal);
  return true;
}

/**
 * Who holds the lab's controller VM in this pass of the MaasLab controller, or undefined when
 * its controller phase may act: a capture's annotation on the lab, else the lab's own restore
 * while it holds its members (`restoring`, set by the restore phase until it releases the
 * controller's wave). Pure: the MaasLab controller's decision, unit-tested apart.
 */
export function controllerHoldOf(
  lab: Readonly<MaasLab>,
  restoring: string | undefined,
): string | undefined {
  if (!hasControllerVm(lab)) return undefined;
  return holderOf(lab) ?? restoring;
}
