// One MaasNode pass: its scope, what its phases found (the report reads that and nothing
// else), the pass's Normal events told as one, and what the phases share. Built fresh by
// every pass and dropped at its end; what outlives a pass is in memory.ts.
import type { BootOverride } from '../../bmc/backend.js';
import type { BmcEndpoints, BmcService } from '../../bmc/service.js';
import type { MaasNode } from '../../api/v1alpha1/index.js';
import type { Hypervisor, ObservedDomain, PassLookups } from '../../libvirt/hypervisor/index.js';
import type { ParsedVolume } from '../../libvirt/xml/index.js';
import { type Clock, type EventRecorder, EventType, type Logger } from '../../runtime/index.js';
import type { Why } from '../common/conditions.js';
import type { DesiredVolume, OwnedDomain, PowerAction } from './desired.js';
import type { NodeMemory } from './memory.js';
import type { OwnDomainEvents } from './own-events.js';
import type { NodeScope } from './scope.js';

/** What the phases found that the report must show. */
export interface Findings {
  /** libvirt did not answer: the message. */
  unreachable?: string;
  /** Progress needs a human: Stalled. */
  stalled?: Why;
  /** A libvirt call failed and will be retried. */
  error?: Why;
  /** Waiting on something outside the node (networks, clone source): Reconciling. */
  waiting?: Why;
  /**
   * VirtNetworks the cache does not show Ready yet that libvirt showed running as their spec
   * asks (normal.ts, confirmNetworksInLibvirt): the node does not wait for them.
   */
  networksRunning?: readonly string[];
  /** Every volume exists. */
  volumesReady: boolean;
  /** The domain as last read (or as just defined). */
  domain?: ObservedDomain;
  /** The volumes the node has. */
  volumes: readonly DesiredVolume[];
  /** The volumes that exist, with their path and capacity, keyed by volume name. */
  observedVolumes?: ReadonlyMap<string, ParsedVolume>;
  /** Changes the running domain gets only after a restart. */
  pendingRestart: readonly string[];
  /** The next power decision, from the last observation: what the node still wants. */
  next: PowerAction;
  /** The restart token in force (status.lastRestartToken). */
  lastRestartToken?: string;
  /** This pass started, stopped, saved or rebooted the domain: observe it again. */
  powerChanged?: boolean;
  /** With spec.bmc: where the BMC serves, or why it does not (bmc.ts). */
  bmc?: BmcFindings;
  /**
   * The error the pass ended with, once a phase has turned it into findings above (Unknown,
   * Stalled, LibvirtError): the report shows it. An error no phase classified is not
   * reported: the findings would claim what was never observed.
   */
  failure?: unknown;
}

/** What the phases use besides the pass itself; the same for every pass. */
export interface NodeDeps {
  /** The libvirt verbs of a Hypervisor resource. */
  readonly hypervisorFor: (resource: NonNullable<NodeScope['hypervisor']>) => Hypervisor;
  /** Sets one annotation on the node (runStrategy Once). */
  readonly annotate: (
    node: Readonly<MaasNode>,
    key: string,
    value: string,
    signal: AbortSignal,
  ) => Promise<void>;
  /** Time for the shutdown grace period and the started-once stamp. */
  readonly clock: Pick<Clock, 'now'>;
  /** What outlives a pass. */
  readonly memory: NodeMemory;
  /** The domain events the passes cause themselves, which wake no pass (own-events.ts). */
  readonly ownEvents: OwnDomainEvents;
  /** Period of the full look at a settled node. */
  readonly resyncMs: number;
  /** Grace period of haltMode Shutdown before the domain is destroyed (default 120 s). */
  readonly shutdownTimeoutMs?: number;
  /** The virtual BMCs this process serves; without it, spec.bmc is reported not served. */
  readonly bmc?: BmcService;
  /** Reads a Secret in the node's namespace (the BMC credentials); undefined when missing. */
  readonly readSecret?: (
    namespace: string,
    name: string,
    signal: AbortSignal,
  ) => Promise<Readonly<Record<string, string>> | undefined>;
}

/** What the BMC phase found. */
export type BmcFindings =
  | { readonly serving: BmcEndpoints; readonly boot?: BootOverride; readonly user: string }
  | { readonly serving?: undefined; readonly reason: string; readonly message: string };

/** The libvirt side of a pass, once the host answered. */
export interface HostView {
  /** The host's verbs. */
  readonly verbs: Hypervisor;
  /** What the node's domain should be. */
  readonly desired: OwnedDomain;
  /** The domain as the pass first read it (undefined: absent). */
  readonly domain: ObservedDomain | undefined;
}

/** One pass over one MaasNode. */
export interface NodePass {
  /** What the pass read from the caches (with the written node). */
  readonly scope: NodeScope;
  /** Aborts on shutdown or the per-pass timeout. */
  readonly signal: AbortSignal;
  /** The pass's logger (controller, kind, namespace, name, reconcileID). */
  readonly log: Logger;
  /** What the phases share. */
  readonly deps: NodeDeps;
  /** What the phases found; the report's only input besides the scope. */
  readonly found: Findings;
  /**
   * The pass's domain lookups: the verbs it calls look its domain up once and read its stamp
   * once; disposed when the pass ends.
   */
  readonly lookups: PassLookups;
  /** Records an event about the node; Normal ones are told together when the pass ends. */
  readonly record: (type: EventType, reason: string, action: string, note: string) => void;
  /** Set once libvirt answered (normal passes). */
  host?: HostView;
  /** The networks hold back the power step: the reason. */
  networksWait?: Why;
  /** This pass defined the domain. */
  created?: boolean;
  /**
   * The domain this pass read, or defined (justDefined), and then started from off (no
   * managed save): its definition, persistence and managed save image are as read or as
   * defined, so the look after reads only its state and live definition.
   */
  startedAsRead?: ObservedDomain;
  /** No status is written for this pass (a deletion with no Hypervisor to look at). */
  unreported?: boolean;
  /** The delete phases are done: the finalizer goes, after the report. */
  released?: boolean;
}

/** One Normal event of a pass, told with the pass's others when it ends. */
interface PassStep {
  readonly reason: string;
  readonly action: string;
  readonly note: string;
}

/**
 * The events of one pass: Warnings go out at once; Normal ones are held and told as one
 * Event when the pass ends (`flush`) — a pass that creates the volumes, defines the domain
 * and starts it says so once, not three times (each Event is a write the API server and etcd
 * pay for, and a lab of 100 nodes makes 100 of each).
 */
export function passEvents(
  events: Pick<EventRecorder, 'record'>,
  regarding: Readonly<MaasNode>,
): { record: NodePass['record']; flush: () => void } {
  const steps: PassStep[] = [];
  return {
    record(type, reason, action, note) {
      if (type === EventType.Normal) steps.push({ reason, action, note });
      else events.record({ regarding, type, reason, action, note });
    },
    flush() {
      const last = steps.at(-1);
      if (!last) return;
      events.record({
        regarding,
        type: EventType.Normal,
        reason: last.reason,
        action: last.action,
        note: steps.map((s) => s.note).join('; '),
      });
    },
  };
}
