// One MaasLab pass: its scope, its desired children, what its phases found (the report reads
// that and nothing else), and what the phases share. Built fresh by every pass and dropped at
// its end; what outlives a pass is in memory.ts.
import type { Client, EventType, Logger } from '../../runtime/index.js';
import type { Why } from '../common/conditions.js';
import type { ControllerDeps, ControllerFindings } from '../maas/controller-vm.js';
import type { LabMaasDeps, LabMaasFindings } from '../maas/lab.js';
import type { LabChildren, MacCollision } from './desired.js';
import type { LabRestoreDeps, RestoreStatus } from './restore.js';
import type { LabScope } from './scope.js';

/** What the phases found that the report must show. */
export interface Findings {
  /** Progress needs a human: HypervisorNotFound, MacCollision, NameConflict. */
  stalled?: Why;
  /** An API call failed this pass and will be retried. */
  error?: Why;
  /**
   * The error the pass ended with, once a phase has turned it into findings above: the
   * report shows it. An error no phase classified is not reported.
   */
  failure?: unknown;
  /** What the MAAS phase found (a lab with spec.maas whose pass got that far). */
  maas?: LabMaasFindings;
  /** What the controller phase found (a lab with spec.maas.controller that got that far). */
  controller?: ControllerFindings;
  /** status.restore as the restore phase left it (absent: the last one stands). */
  restore?: RestoreStatus;
  /** A restore is in progress: Reconciling=True, reason Restoring. */
  restoring?: Why;
  /** spec.restoreFrom cannot be restored into this lab: Stalled, reason RestoreRefused. */
  restoreRefused?: Why;
  /** The lab's ready snapshots and their bytes (status.snapshots). */
  snapshots?: { count: number; bytes: number };
}

/** What the phases use besides the pass itself; the same for every pass. */
export interface LabDeps {
  /** Server-side apply and delete of the children. */
  readonly client: Pick<Client, 'apply' | 'delete'>;
  /** MAAS: the API key, clients, the memory of the last look (absent: MAAS is not asked). */
  readonly maas?: LabMaasDeps;
  /** libvirt, Secrets and downloads for spec.maas.controller (absent: no controller is built). */
  readonly controller?: ControllerDeps;
  /** Restores (spec.restoreFrom); absent: never restored (unit tests of other phases). */
  readonly restore?: LabRestoreDeps;
}

/** One pass over one MaasLab. */
export interface LabPass {
  /** What the pass read from the caches; the phases record their writes in it. */
  readonly scope: LabScope;
  /** The children the lab's spec asks for (pure, desired.ts). */
  readonly desired: LabChildren;
  /** Aborts on shutdown or the per-pass timeout. */
  readonly signal: AbortSignal;
  /** The pass's logger (controller, kind, namespace, name, reconcileID). */
  readonly log: Logger;
  /** What the phases share. */
  readonly deps: LabDeps;
  /** What the phases found; the report's only input besides the scope and desired. */
  readonly found: Findings;
  /** Records an event about the lab. */
  readonly record: (type: EventType, reason: string, action: string, note: string) => void;
  /** MAC collisions the lab yields on: the colliding nodes are not applied. */
  blocking: readonly MacCollision[];
  /** Children of the lab's names that it does not control (`Kind name`), never touched. */
  readonly conflicts: string[];
  /**
   * The holder of this lab's restore while it holds the controller VM (from holding the
   * members until it releases the controller's wave): the controller phase stands still.
   */
  restoreHoldsController?: string;
}
