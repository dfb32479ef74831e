// What the MaasLab controller remembers between passes (see common/expectations.ts for the
// rules): when this process last wrote each lab's status, so that a building lab's progress
// (its Ready node count) is written at most once per interval. Nothing else outlives a pass.
//
// Keyed by `namespace/name`, not by UID (rule 2): a lab has no finalizer, so it is usually
// gone before a pass sees it being deleted, and the pass that finds it gone knows only its
// key. The UID is kept in the slot instead, so a lab deleted and recreated under the same
// name still starts clean.
import type { MaasLab } from '../../api/v1alpha1/index.js';
import { requestFor, requestKey } from '../../runtime/index.js';
import { createExpectations } from '../common/expectations.js';

/** The MaasLab controller's memory, by lab key. */
export interface LabMemory {
  /**
   * When this process last wrote the lab's status (clock ms), or undefined. Lost on restart:
   * the next progress write goes out at once, which costs one write.
   */
  lastStatusWrite(lab: Readonly<MaasLab>): number | undefined;
  /** This process wrote the lab's status at `at`. */
  statusWritten(lab: Readonly<MaasLab>, at: number): void;
  /** The lab `key` (`namespace/name`) is gone: forget it. */
  forget(key: string): void;
  /** Labs remembered (for tests). */
  size(): number;
}

/** The slot kept per lab key: the write's time and the UID of the lab it was for. */
interface LabSlots {
  statusWrite: { readonly uid: string; readonly at: number };
}

/** An empty memory; one per reconciler. */
export function createLabMemory(): LabMemory {
  const labs = createExpectations<LabSlots>();
  const keyOf = (lab: Readonly<MaasLab>): string => requestKey(requestFor(lab));
  return {
    lastStatusWrite(lab) {
      const write = labs.get(keyOf(lab), 'statusWrite');
      return write !== undefined && write.uid === (lab.metadata?.uid ?? '') ? write.at : undefined;
    },
    statusWritten: (lab, at) =>
      labs.set(keyOf(lab), 'statusWrite', { uid: lab.metadata?.uid ?? '', at }),
    forget: (key) => labs.forget(key),
    size: () => labs.size(),
  };
}
