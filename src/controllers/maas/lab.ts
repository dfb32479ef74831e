// The MaasLab's MAAS phase: read the API key, ask MAAS its version, configure DHCP on the PXE
// network's VLAN (gateway, dynamic range, dhcp_on with the rack as primary), and ask whether
// boot images are still importing. Each step needs the one before; what it found becomes the
// lab's MaasReachable/DhcpConfigured/ImagesSynced (status.ts). MAAS is asked at most once per
// FRESH_MS while all is well, with backoff while it cannot be reached, and not again for
// UNAUTHORIZED_MS after a 401 unless the lab or its key's Secret changes: lab passes come with
// every child's change, and none of them should turn into a request storm.
import {
  DhcpRejectedReason,
  MaasApiKeyInvalidReason,
  MaasSubnetNotFoundReason,
  MaasUnauthorizedReason,
  MaasUnreachableReason,
  type LabMaasStatus,
  type MaasLab,
} from '../../api/v1alpha1/index.js';
import {
  MaasBadRequestError,
  MaasUnauthorizedError,
  isRetryableMaasError,
} from '../../maas/errors.js';
import type { MaasClient } from '../../maas/client.js';
import type { Why } from '../common/conditions.js';
import { clientFor, readApiKey, type MaasAccess } from './access.js';
import {
  defaultDynamicRange,
  labMaasProblem,
  maasEndpoint,
  pxeNetworkOf,
  subnetCidr,
} from './desired.js';
import type { LabMaasOutcome } from './status.js';

/** While all is well, MAAS is asked again after this long (a drift check, a sync finishing). */
export const FRESH_MS = 60_000;
/** While images import, asked again after this long. */
export const IMPORTING_MS = 15_000;
/** After a 401, the same key is not tried again for this long. */
export const UNAUTHORIZED_MS = 300_000;
/** Backoff while MAAS cannot be reached: 1 s doubling to this. */
export const MAX_BACKOFF_MS = 60_000;

/** What the MAAS phase tells the lab's report. */
export interface LabMaasFindings {
  readonly outcome: LabMaasOutcome;
  /** status.maas. */
  readonly status: LabMaasStatus;
  /** Progress needs a human: a malformed or rejected key, a misdeclared lab. */
  readonly stalled?: Why;
  /** Retried by itself (MAAS unreachable): Reconciling with this reason. */
  readonly retrying?: Why;
  /** When to look again. */
  readonly requeueAfterMs: number;
}

/** What one lab's last look at MAAS was; safe to lose (the next pass asks again). */
interface Remembered {
  readonly inputs: string;
  readonly findings: LabMaasFindings;
  readonly until: number;
  readonly failures: number;
}

/** The MAAS phase's memory across passes, per lab UID. */
export interface LabMaasMemory {
  get(uid: string): Remembered | undefined;
  set(uid: string, value: Remembered): void;
  forget(uid: string): void;
}

export function createLabMaasMemory(): LabMaasMemory {
  const map = new Map<string, Remembered>();
  return {
    get: (uid) => map.get(uid),
    set: (uid, value) => void map.set(uid, value),
    forget: (uid) => void map.delete(uid),
  };
}

/** What the lab's MAAS phase needs. */
export interface LabMaasDeps {
  readonly access: MaasAccess;
  readonly memory: LabMaasMemory;
  readonly now: () => number;
}

/**
 * Looks at (and configures) the lab's MAAS, unless the last look is still good. Undefined for
 * a lab without MAAS. Never throws for MAAS's faults: they are findings.
 */
export async function reconcileLabMaas(
  lab: Readonly<MaasLab>,
  deps: LabMaasDeps,
  signal: AbortSignal,
): Promise<LabMaasFindings | undefined> {
  const endpoint = maasEndpoint(lab);
  if (endpoint === undefined) return undefined;
  const uid = lab.metadata?.uid ?? '';
  const namespace = lab.metadata?.namespace ?? '';
  const status: LabMaasStatus = { url: endpoint.url, apiKeySecretRef: endpoint.apiKeySecretRef };
  const problem = labMaasProblem(lab);
  if (problem) {
    return {
      outcome: { kind: 'notAsked', why: problem },
      status,
      stalled: problem,
      requeueAfterMs: 0,
    };
  }
  const key = await readApiKey(deps.access, namespace, endpoint.apiKeySecretRef, signal);
  const made = 'key' in key ? clientFor(deps.access, endpoint.url, key.key) : key;
  if ('problem' in made) {
    const why = { reason: MaasApiKeyInvalidReason, message: made.problem };
    return { outcome: { kind: 'notAsked', why }, status, stalled: why, requeueAfterMs: 0 };
  }
  // The same lab generation and key (not the key itself: it stays out of memory) as last time.
  const inputs = `${lab.metadata?.generation ?? 0}\n${'key' in key ? key.key.length : 0}:${hashOf('key' in key ? key.key : '')}`;
  const now = deps.now();
  const last = deps.memory.get(uid);
  if (last && last.inputs === inputs && now < last.until) {
    return { ...last.findings, requeueAfterMs: last.until - now };
  }
  const findings = await askMaas(
    lab,
    made.client,
    status,
    signal,
    last?.inputs === inputs ? (last?.failures ?? 0) : 0,
  );
  const failures = findings.retrying ? (last?.failures ?? 0) + 1 : 0;
  deps.memory.set(uid, { inputs, findings, until: now + findings.requeueAfterMs, failures });
  return findings;
}

/** A short, non-reversible fingerprint of the key, so a changed Secret is noticed. */
function hashOf(text: string): string {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619) >>> 0;
  return h.toString(16);
}

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

async function askMaas(
  lab: Readonly<MaasLab>,
  client: MaasClient,
  base: LabMaasStatus,
  signal: AbortSignal,
  failures: number,
): Promise<LabMaasFindings> {
  let status = base;
  try {
    const version = (await client.version({ signal })).version;
    status = { ...status, version };
    const dhcp = await configureDhcp(lab, client, signal);
    if (dhcp.rack) status = { ...status, rackSystemId: dhcp.rack };
    if (dhcp.why) {
      return {
        outcome: { kind: 'reached', version, dhcp: dhcp.why },
        status,
        requeueAfterMs: FRESH_MS,
      };
    }
    const importing = await client.bootResourcesIsImporting({ signal });
    return {
      outcome: { kind: 'reached', version, dhcp: 'configured', importing },
      status,
      requeueAfterMs: importing ? IMPORTING_MS : FRESH_MS,
    };
  } catch (err) {
    if (signal.aborted) throw err;
    if (err instanceof MaasUnauthorizedError) {
      const why = {
        reason: MaasUnauthorizedReason,
        message: `MAAS refused the API key (${err.status}); fix Secret ${base.apiKeySecretRef?.name}`,
      };
      return {
        outcome: { kind: 'unauthorized', message: why.message },
        status,
        stalled: why,
        requeueAfterMs: UNAUTHORIZED_MS,
      };
    }
    // Unreachable, or an answer we cannot read: both are retried with backoff.
    const message = `${isRetryableMaasError(err) ? '' : 'unexpected answer: '}${messageOf(err)}`;
    return {
      outcome: { kind: 'unreachable', message },
      status,
      retrying: { reason: MaasUnreachableReason, message },
      requeueAfterMs: Math.min(1000 * 2 ** failures, MAX_BACKOFF_MS),
    };
  }
}

/**
 * DHCP on the PXE network: the subnet of its CIDR, its gateway (the host's address), the
 * dynamic range (created when no dynamic range of those bounds exists), then dhcp_on with the
 * rack as primary (a primary rack already set is kept). MAAS's 400s become `why`.
 */
async function configureDhcp(
  lab: Readonly<MaasLab>,
  client: MaasClient,
  signal: AbortSignal,
): Promise<{ readonly rack?: string; readonly why?: Why }> {
  const ipv4 = pxeNetworkOf(lab)?.ipv4;
  if (ipv4 === undefined)
    return { why: { reason: MaasSubnetNotFoundReason, message: 'no PXE subnet' } };
  const cidr = subnetCidr(ipv4.address, ipv4.prefixLength);
  const [racks, subnets] = [
    await client.listRackControllers({ signal }),
    await client.listSubnets({ signal }),
  ];
  const subnet = subnets.find((s) => s.cidr === cidr);
  const rack = subnet?.vlan.primaryRack ?? racks[0]?.systemId;
  if (subnet === undefined || rack === undefined) {
    const missing = subnet === undefined ? `a subnet ${cidr}` : 'a rack controller';
    return {
      ...(rack && { rack }),
      why: {
        reason: MaasSubnetNotFoundReason,
        message: `MAAS has no ${missing}: the rack must have an interface on the lab's PXE network`,
      },
    };
  }
  const range =
    lab.spec.maas?.dhcp?.dynamicRange ?? defaultDynamicRange(ipv4.address, ipv4.prefixLength);
  try {
    if (subnet.gatewayIp !== ipv4.address) {
      await client.updateSubnet(subnet.id, { gatewayIp: ipv4.address }, { signal });
    }
    const ranges = await client.listIpRanges({ signal });
    const has = ranges.some(
      (r) =>
        r.subnetId === subnet.id &&
        r.type === 'dynamic' &&
        r.startIp === range.start &&
        r.endIp === range.end,
    );
    if (!has) {
      await client.createIpRange(
        { type: 'dynamic', startIp: range.start, endIp: range.end, subnet: subnet.id },
        { signal },
      );
    }
    const vlan = subnet.vlan;
    if (!vlan.dhcpOn || vlan.primaryRack !== rack) {
      await client.updateVlan(
        vlan.fabricId,
        vlan.vid,
        { dhcpOn: true, primaryRack: rack },
        { signal },
      );
    }
  } catch (err) {
    if (err instanceof MaasBadRequestError) {
      return { rack, why: { reason: DhcpRejectedReason, message: err.message } };
    }
    throw err;
  }
  return { rack };
}
