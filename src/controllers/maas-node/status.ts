// MaasNode status: the printable status, the status fields read from libvirt, and the
// conditions. Pure: everything comes in already observed (CAPI's *_controller_status.go split).
import {
  HeldReason,
  BmcReadyCondition,
  BmcServingReason,
  hasBmc,
  DeletingReason,
  HaltedReason,
  HypervisorUnreachableReason,
  NameConflictReason,
  NetworkNotReadyReason,
  ProgressingReason,
  ReconciledReason,
  RestartPendingReason,
  RestartRequiredCondition,
  type DomainState,
  type MaasNode,
  type MaasNodePrintableStatus,
  type MaasNodeStatus,
} from '../../api/v1alpha1/index.js';
import type { ObservedDomain } from '../../libvirt/hypervisor/index.js';
import type { ConditionInput } from '../../runtime/index.js';
import type { ParsedDomain, ParsedVolume } from '../../libvirt/xml/index.js';
import {
  applyConditionPlan,
  planFor,
  withCondition,
  type ConditionPlan,
  type Verdict,
  type Why,
} from '../common/conditions.js';
import type { BmcEndpoints } from '../../bmc/service.js';
import { formatBinaryQuantity } from '../common/quantity.js';
import { definedProps } from '../../util/defined-props.js';
import { defaultMac, type DesiredVolume } from './desired.js';
import type { Findings } from './pass.js';
import type { NodeScope } from './scope.js';

/** The VNC listen address when the spec names none (the CRD default). */
const DEFAULT_VNC_LISTEN = '127.0.0.1';

/** What one reconcile pass learned about a node, for its printable status and conditions. */
export interface NodeObservation {
  /** metadata.deletionTimestamp is set. */
  readonly deleting: boolean;
  /** libvirt on the node's hypervisor answered this pass. */
  readonly hypervisorReachable: boolean;
  /** Progress needs a human (NameConflict, HypervisorNotFound, CloneSourceNotFound…). */
  readonly stalled?: Why;
  /** A libvirt call failed this pass and will be retried; reason LibvirtError. */
  readonly error?: Why;
  /** Every VirtNetwork the node uses exists and is Ready on the node's hypervisor. */
  readonly networksReady: boolean;
  /** Names of the VirtNetworks that are not Ready, for the message. */
  readonly networksNotReady?: readonly string[];
  /** Every disk volume exists. */
  readonly volumesReady: boolean;
  /** The domain is defined (and ours). */
  readonly domainDefined: boolean;
  /** The domain state, when defined. */
  readonly state?: DomainState;
  /** The domain has a managed save image. */
  readonly hasManagedSave: boolean;
  /** The run strategy wants the domain running now (the power decision is start/restore). */
  readonly wantsRunning: boolean;
  /** The power decision is to stop it (shutdown/destroy/managedSave), in progress. */
  readonly wantsStopped: boolean;
  /** Changes the running domain only gets after a restart (from diffDomain). */
  readonly pendingRestart: readonly string[];
}

const isUp = (s: DomainState | undefined): boolean =>
  s === 'running' || s === 'blocked' || s === 'shutdown';
const isOff = (s: DomainState | undefined): boolean => s === 'shutoff' || s === 'crashed';

/**
 * First match wins, so the order is the precedence. Deletion trumps everything; then what
 * stops us from knowing (Unknown — never guess); then what needs a human (Failed); then the
 * build steps in the order they happen (Pending on networks, Provisioning volumes and domain,
 * Starting); then the observed state. A guest in the `shutdown` state is still running.
 * Saved comes before Stopped: both are off, but a saved one resumes where it was.
 */
const printableTable: ReadonlyArray<
  readonly [MaasNodePrintableStatus, (o: NodeObservation) => boolean]
> = [
  ['Terminating', (o) => o.deleting],
  ['Unknown', (o) => !o.hypervisorReachable],
  ['Failed', (o) => o.stalled !== undefined],
  ['Pending', (o) => !o.domainDefined && !o.networksReady],
  ['Provisioning', (o) => !o.domainDefined || !o.volumesReady],
  ['Starting', (o) => o.wantsRunning && !isUp(o.state) && o.state !== 'paused'],
  ['Running', (o) => isUp(o.state)],
  ['Paused', (o) => o.state === 'paused' || o.state === 'pmsuspended'],
  ['Saved', (o) => isOff(o.state) && o.hasManagedSave],
  ['Stopped', (o) => isOff(o.state)],
];

/** The one-word status for the Status column; `Unknown` when nothing matches. */
export function printableStatus(o: NodeObservation): MaasNodePrintableStatus {
  return printableTable.find(([, when]) => when(o))?.[0] ?? 'Unknown';
}

/**
 * MAAS's virsh power parameters: the hypervisor URI without its query string or fragment
 * (MAAS's virsh driver takes `qemu+ssh://user@host/system` and rejects extras such as
 * `?socket=` or `?keyfile=`), and the domain name as the power id.
 */
export function powerFor(
  hypervisorUri: string,
  domainName: string,
): { type: 'virsh'; address: string; id: string } {
  const cut = hypervisorUri.search(/[?#]/);
  return {
    type: 'virsh',
    address: cut < 0 ? hypervisorUri : hypervisorUri.slice(0, cut),
    id: domainName,
  };
}

/** BmcReady: present only for a node with spec.bmc. */
export function bmcCondition(
  node: Readonly<MaasNode>,
  found: Findings,
): Omit<ConditionInput, 'type'> | undefined {
  if (!hasBmc(node.spec.bmc)) return undefined;
  const bmc = found.bmc;
  if (bmc?.serving) {
    const where = bmc.serving.redfish
      ? `redfish at ${bmc.serving.redfish.url}Systems/${bmc.serving.redfish.systemId}`
      : `ipmi at ${bmc.serving.ipmi?.address}:${bmc.serving.ipmi?.port}`;
    return { status: 'True', reason: BmcServingReason, message: where };
  }
  if (bmc) return { status: 'False', reason: bmc.reason, message: bmc.message };
  // No finding this pass (no domain yet, host unreachable): what was known stands.
  const known = node.status?.conditions?.find((c) => c.type === BmcReadyCondition);
  if (known) return { status: known.status, reason: known.reason, message: known.message };
  return { status: 'False', reason: ProgressingReason, message: 'waiting for the domain' };
}

type PowerStatus = NonNullable<MaasNodeStatus['power']>;

/**
 * status.bmc and status.power. With a BMC serving, status.power is the MAAS power parameters
 * of that BMC (never the password); otherwise the virsh driver's.
 */
export function bmcFields(
  node: Readonly<MaasNode>,
  found: Findings,
  virsh: PowerStatus | undefined,
): Pick<MaasNodeStatus, 'bmc' | 'power'> {
  const known = node.status?.bmc;
  if (!hasBmc(node.spec.bmc)) return virsh ? { power: virsh } : {};
  const serving = found.bmc?.serving ? found.bmc : undefined;
  const endpoints =
    serving?.serving ?? definedProps({ redfish: known?.redfish, ipmi: known?.ipmi });
  const bmc = {
    ...endpoints,
    ...definedProps({
      bootOverride: serving?.boot ?? known?.bootOverride,
      lastAction: known?.lastAction,
    }),
  };
  const power = serving
    ? bmcPower(serving.serving, serving.user)
    : known
      ? node.status?.power
      : virsh;
  return definedProps({ bmc: Object.keys(bmc).length > 0 ? bmc : undefined, power });
}

/** MAAS's power parameters for a BMC (MAAS's redfish and ipmi drivers). */
export function bmcPower(endpoints: BmcEndpoints, user: string): PowerStatus {
  if (endpoints.redfish) {
    const root = new URL(endpoints.redfish.url);
    return {
      type: 'redfish',
      address: `${root.protocol}//${root.host}`,
      user,
      nodeId: endpoints.redfish.systemId,
    };
  }
  const ipmi = endpoints.ipmi;
  const host = ipmi?.address.includes(':') ? `[${ipmi.address}]` : (ipmi?.address ?? '');
  return {
    type: 'ipmi',
    address: ipmi?.port === 623 ? host : `${host}:${ipmi?.port}`,
    user,
    driver: 'LAN_2_0',
    cipherSuiteId: '3',
    privilegeLevel: 'OPERATOR',
  };
}

/**
 * Where the VNC console is, from live XML (only a running domain has its autoport port).
 * `listen` is the spec's address, used when the XML names none. Undefined without VNC.
 */
export function vncFor(
  parsedLive: ParsedDomain | undefined,
  listen: string,
): MaasNodeStatus['vnc'] | undefined {
  const vnc = parsedLive?.vnc;
  if (vnc === undefined) return undefined;
  const host = vnc.listen ?? listen;
  return {
    host,
    ...(vnc.port !== undefined && { port: vnc.port, display: `${host}:${vnc.port}` }),
  };
}

/**
 * status.interfaces, in spec order: the VirtNetwork name from the spec, the MAC and live
 * bridge from libvirt (matched by MAC; the bridge appears only in live XML).
 */
export function interfacesStatus(
  node: MaasNode,
  desiredMacs: readonly string[],
  parsed: ParsedDomain | undefined,
): NonNullable<MaasNodeStatus['interfaces']> {
  return (node.spec.interfaces ?? []).map((nic, i) => {
    const mac = desiredMacs[i];
    const seen = parsed?.interfaces.find((p) => p.mac !== undefined && p.mac === mac);
    return definedProps({
      name: nic.name,
      network: nic.network,
      mac: seen?.mac,
      bridge: seen?.bridge,
    });
  });
}

/**
 * status.disks, in spec order: volume name from desired state, path and capacity from the
 * parsed volume (keyed by volume name) once it exists.
 */
export function disksStatus(
  volumes: readonly DesiredVolume[],
  observed: ReadonlyMap<string, ParsedVolume>,
): NonNullable<MaasNodeStatus['disks']> {
  return volumes.map((v) => {
    const seen = observed.get(v.name);
    return definedProps({
      name: v.diskName,
      volume: v.name,
      path: seen?.path,
      capacity: seen && formatBinaryQuantity(seen.capacityBytes),
    });
  });
}

function nodeVerdict(o: NodeObservation): Verdict {
  if (o.deleting) {
    return { kind: 'progressing', reason: DeletingReason, message: 'removing the domain' };
  }
  if (!o.hypervisorReachable) {
    return {
      kind: 'unknown',
      reason: HypervisorUnreachableReason,
      message: 'libvirt on the hypervisor cannot be reached',
    };
  }
  if (o.stalled) return { kind: 'stalled', ...o.stalled };
  if (o.error) return { kind: 'progressing', ...o.error };
  if (!o.networksReady) {
    const which = o.networksNotReady?.length ? `: ${o.networksNotReady.join(', ')}` : '';
    return {
      kind: 'progressing',
      reason: NetworkNotReadyReason,
      message: `waiting for networks to be Ready${which}`,
    };
  }
  if (!o.domainDefined || !o.volumesReady) {
    return { kind: 'progressing', reason: ProgressingReason, message: 'creating disks and domain' };
  }
  if (o.wantsRunning || o.wantsStopped) {
    const message = o.wantsRunning ? 'starting the domain' : 'halting the domain';
    return { kind: 'progressing', reason: ProgressingReason, message };
  }
  if (isUp(o.state)) return { kind: 'ready', reason: ReconciledReason, message: '' };
  // Off, paused or saved as declared (Halted, or left so under Manual/Once, by MAAS or a BMC):
  // Ready means "as declared", so kubectl wait, Flux and Argo CD see a settled lab as healthy.
  return {
    kind: 'ready',
    reason: HaltedReason,
    message: `the domain is ${o.hasManagedSave && isOff(o.state) ? 'saved' : (o.state ?? 'off')}`,
  };
}

/**
 * Ready, Reconciling, Stalled and RestartRequired. RestartRequired is abnormal-true: present
 * (True, RestartPending, listing the changes) only while the running domain lags its
 * definition, removed otherwise.
 */
export function nodeConditions(o: NodeObservation): ConditionPlan {
  const restart =
    o.pendingRestart.length > 0 && isUp(o.state)
      ? {
          status: 'True' as const,
          reason: RestartPendingReason,
          message: `restart to apply: ${o.pendingRestart.join('; ')}`,
        }
      : undefined;
  return withCondition(planFor(nodeVerdict(o)), RestartRequiredCondition, restart);
}

/** The observation the status table and conditions read, from what the pass found. */
export function nodeObservation(scope: NodeScope, found: Findings): NodeObservation {
  const d = found.domain;
  const running = found.networksRunning ?? [];
  const notReady = scope.networksNotReady.filter((n) => !running.includes(n));
  return definedProps({
    deleting: scope.deleting,
    hypervisorReachable: found.unreachable === undefined,
    stalled: found.stalled,
    error: found.error,
    networksReady: notReady.length === 0,
    networksNotReady: notReady,
    volumesReady: found.volumesReady,
    domainDefined: d !== undefined,
    state: d?.state,
    hasManagedSave: d?.hasManagedSave ?? false,
    wantsRunning: found.next === 'start' || found.next === 'restore',
    wantsStopped:
      found.next === 'shutdown' || found.next === 'destroy' || found.next === 'managedSave',
    pendingRestart: found.pendingRestart,
  });
}

/**
 * The conditions' plan: nodeConditions, except that a node waiting on something outside it
 * (networks, a clone source, a Hypervisor not Ready) says Ready=False, Reconciling=True with
 * the waiting reason, keeping RestartRequired.
 */
export function nodeConditionPlan(o: NodeObservation, waiting: Why | undefined): ConditionPlan {
  const plan = nodeConditions(o);
  if (!waiting || o.deleting || !o.hypervisorReachable || o.stalled || o.error) return plan;
  const restart = plan.set.find((c) => c.type === RestartRequiredCondition);
  const waits = planFor({ kind: 'progressing', ...waiting });
  return restart
    ? { set: [...waits.set, restart], remove: waits.remove }
    : { set: waits.set, remove: [...waits.remove, RestartRequiredCondition] };
}

/** The MACs the NICs should have, in spec order, as desiredDomain derives them. */
export function desiredMacs(node: Readonly<MaasNode>): string[] {
  const { namespace = '', name = '' } = node.metadata ?? {};
  return (node.spec.interfaces ?? []).map((nic, i) =>
    (nic.mac ?? defaultMac(namespace, name, i)).toLowerCase(),
  );
}

/** Volume facts for status.disks: the live path libvirt resolved, the capacity asked for. */
export function volumeMap(
  volumes: readonly DesiredVolume[],
  domain: ObservedDomain | undefined,
  observed: ReadonlyMap<string, ParsedVolume> | undefined,
): Map<string, ParsedVolume> {
  const map = new Map<string, ParsedVolume>();
  for (const v of volumes) {
    // The pool's own answer (path, real capacity) when this pass read it.
    const seen = observed?.get(v.name);
    if (seen) {
      map.set(v.name, seen);
      continue;
    }
    const disk = (domain?.live ?? domain?.inactive)?.disks.find((d) => d.volume === v.name);
    if (!disk) continue;
    map.set(
      v.name,
      definedProps({
        name: v.name,
        path: disk.path,
        // ensureVolumes never resizes: an existing volume keeps its size, which matches the
        // spec unless someone resized it by hand.
        capacityBytes: v.capacityBytes,
      }),
    );
  }
  return map;
}

/** The status fields libvirt tells: from this pass's look, or the last known ones. */
function libvirtFields(
  node: Readonly<MaasNode>,
  found: Findings,
): Pick<MaasNodeStatus, 'uuid' | 'state' | 'interfaces' | 'disks' | 'vnc'> {
  const looked =
    found.unreachable === undefined &&
    found.stalled?.reason !== NameConflictReason &&
    found.waiting?.reason !== HeldReason;
  if (!looked) {
    // Unreachable (or not ours, or held: the holder acts and we do not look): the last
    // known facts stay; we cannot see, not "gone".
    const { uuid, state, interfaces, disks, vnc } = node.status ?? {};
    return definedProps({ uuid, state, interfaces, disks, vnc });
  }
  const domain = found.domain;
  return definedProps({
    // A domain defined this pass has a UUID only libvirt knows yet.
    uuid: domain?.uuid === '' ? undefined : domain?.uuid,
    state: domain?.state,
    interfaces: interfacesStatus(node, desiredMacs(node), domain?.live ?? domain?.inactive),
    disks: disksStatus(found.volumes, volumeMap(found.volumes, domain, found.observedVolumes)),
    vnc: vncFor(domain?.live, node.spec.vnc?.listen ?? DEFAULT_VNC_LISTEN),
  });
}

/** When the report is made, and whether the pass succeeded. */
export interface ReportContext {
  /** Now, for lastTransitionTime. */
  readonly now: number;
  /** The pass succeeded (or ended in a terminal verdict): observedGeneration advances. */
  readonly succeeded: boolean;
}

/**
 * The whole status of a node after a pass: conditions, printableStatus, where it runs, what
 * libvirt told (or the last known facts when it could not be asked), MAAS's power
 * parameters and the restart token in force. observedGeneration advances only when the pass
 * succeeded.
 */
export function nodeStatus(scope: NodeScope, found: Findings, at: ReportContext): MaasNodeStatus {
  const { node, hypervisor, domainName } = scope;
  const generation = node.metadata?.generation ?? 0;
  const o = nodeObservation(scope, found);
  const conditions = applyConditionPlan(
    node.status?.conditions,
    withCondition(
      nodeConditionPlan(o, found.waiting),
      BmcReadyCondition,
      bmcCondition(node, found),
    ),
    { now: at.now, generation },
  );
  const observedGeneration = at.succeeded ? generation : node.status?.observedGeneration;
  return definedProps({
    observedGeneration,
    conditions,
    printableStatus: printableStatus(o),
    hypervisor: node.spec.hypervisor,
    domainName,
    ...libvirtFields(node, found),
    ...bmcFields(node, found, hypervisor ? powerFor(hypervisor.spec.uri, domainName) : undefined),
    lastRestartToken: found.lastRestartToken,
    // Written by the maas-machine controller (with the Enlisted condition, which
    // applyConditionPlan keeps): carried over, or this merge patch would delete it.
    maas: node.status?.maas,
  });
}
