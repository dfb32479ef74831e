// Holding a lab's MaasNodes while a capture or a restore acts on their domains: the hold is an
// annotation (HoldAnnotation) the MaasNode controller honours by taking no action, and
// acknowledges by reporting Reconciling=True, reason Held, with the holder's name. Until every
// node has acknowledged, a pass of the node's own could still start a domain the holder just
// stopped, so the holder waits for the acknowledgements before it touches libvirt.
import {
  HeldReason,
  heldMessage,
  HoldAnnotation,
  ReconcilingCondition,
  type MaasNode,
} from '../../api/v1alpha1/index.js';

/** Sets (a string) or removes (null) one annotation of a node; a merge patch. */
export type Annotate = (
  node: Readonly<MaasNode>,
  key: string,
  value: string | null,
  signal: AbortSignal,
) => Promise<void>;

/** The holder of `node`, if any. */
export const holderOf = (node: Readonly<MaasNode>): string | undefined => {
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
