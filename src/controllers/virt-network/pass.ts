// One VirtNetwork pass: its scope, what its phases found (the report reads that and nothing
// else), and what the phases share. Built fresh by every pass and dropped at its end; the
// VirtNetwork controller keeps nothing between passes but the network events its own passes
// announced (deps.ownEvents).
import type { Hypervisor, ObservedNetwork } from '../../libvirt/hypervisor/index.js';
import type { NetworkEventLifecycleType } from '../../libvirt/index.js';
import type { OwnEvents } from '../common/own-events.js';
import type { EventType, Logger } from '../../runtime/index.js';
import type { Verdict, Why } from '../common/conditions.js';
import type { Ownership } from '../common/ownership.js';
import type { NetworkScope } from './scope.js';

/** What the phases found that the report must show. */
export interface Findings {
  /** The Hypervisor gate held the pass (missing, unreachable, not Ready): shown as is. */
  gated?: Verdict;
  /** libvirt did not answer this pass: the message. */
  unreachable?: string;
  /** Whose the libvirt network of our name is. */
  ownership: Ownership;
  /** The network as last observed (after acting). */
  network?: ObservedNetwork;
  /** A libvirt call failed (retried). */
  error?: Why;
  /** Mode bridge, and the host bridge of this name does not exist (network not started). */
  missingBridge?: string;
  /**
   * The error the pass ended with, once a phase has turned it into findings above: the
   * report shows it. An error no phase classified is not reported: the findings would claim
   * what was never observed.
   */
  failure?: unknown;
}

/** What the phases use besides the pass itself; the same for every pass. */
export interface NetworkDeps {
  /** The libvirt verbs of a Hypervisor resource. */
  readonly hypervisorFor: (resource: NonNullable<NetworkScope['hypervisor']>) => Hypervisor;
  /** Period of the full look at a settled network. */
  readonly resyncMs: number;
  /** Wait before looking again for a missing host bridge. */
  readonly bridgeRecheckMs: number;
  /** The network events passes cause themselves, which wake no pass (common/own-events.ts). */
  readonly ownEvents: OwnEvents<NetworkEventLifecycleType>;
}

/** The libvirt side of a pass, once the host answered. */
export interface HostView {
  /** The host's verbs. */
  readonly verbs: Hypervisor;
  /** The network as the pass first read it (undefined: absent). */
  readonly observed: ObservedNetwork | undefined;
}

/** One pass over one VirtNetwork. */
export interface NetworkPass {
  /** What the pass read from the caches (with the written VirtNetwork). */
  readonly scope: NetworkScope;
  /** Aborts on shutdown or the per-pass timeout. */
  readonly signal: AbortSignal;
  /** The pass's logger (controller, kind, namespace, name, reconcileID). */
  readonly log: Logger;
  /** What the phases share. */
  readonly deps: NetworkDeps;
  /** What the phases found; the report's only input besides the scope. */
  readonly found: Findings;
  /** Records an event about the VirtNetwork. */
  readonly record: (type: EventType, reason: string, action: string, note: string) => void;
  /** Set once libvirt answered (normal passes). */
  host?: HostView;
  /** No status is written for this pass (a deletion with no Hypervisor to look at). */
  unreported?: boolean;
  /** The delete phases are done: the finalizer goes, after the report. */
  released?: boolean;
}
