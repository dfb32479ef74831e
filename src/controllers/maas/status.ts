// MAAS status, pure: the lab's MaasReachable/DhcpConfigured/ImagesSynced conditions from what
// the lab's MAAS phase found, whether the lab must wait for MAAS or for its nodes' Enlisted,
// and a node's Enlisted condition and status.maas from what enlistment found.
import {
  DhcpConfiguredCondition,
  EnlistedCondition,
  ImagesImportingReason,
  ImagesSyncedCondition,
  MaasNotReadyReason,
  MaasReachableCondition,
  MaasReadyReason,
  MaasUnauthorizedReason,
  MaasUnreachableReason,
  MaasWaitingReason,
  NodesNotEnlistedReason,
  type Condition,
  type MaasNode,
  type NodeMaasStatus,
  type SecretKeyRef,
} from '../../api/v1alpha1/index.js';
import type { Machine } from '../../maas/resources.js';
import type { ConditionInput } from '../../runtime/index.js';
import type { ConditionPlan, Why } from '../common/conditions.js';

/** The lab's MAAS conditions, in the order they are reported. */
export const LabMaasConditionTypes = [
  MaasReachableCondition,
  DhcpConfiguredCondition,
  ImagesSyncedCondition,
] as const;

/** What one lab pass learned from MAAS, step by step; each step needs the one before. */
export type LabMaasOutcome =
  /** MAAS was not asked: the API key is missing or malformed, or the lab is misdeclared. */
  | { readonly kind: 'notAsked'; readonly why: Why }
  /** No answer, a 5xx or a timeout. */
  | { readonly kind: 'unreachable'; readonly message: string }
  /** 401/403 to the key. */
  | { readonly kind: 'unauthorized'; readonly message: string }
  /** MAAS answered; `dhcp` says how DHCP went, `importing` whether images are still coming. */
  | {
      readonly kind: 'reached';
      readonly version: string;
      readonly dhcp: Why | 'configured';
      readonly importing?: boolean;
    };

const waiting = (type: string, on: string): ConditionInput => ({
  type,
  status: 'False',
  reason: MaasWaitingReason,
  message: `waiting for ${on}`,
});

/** MaasReachable, DhcpConfigured and ImagesSynced, in that order, for an outcome. */
export function labMaasConditions(outcome: LabMaasOutcome): ConditionInput[] {
  const [reachable, dhcp, images] = LabMaasConditionTypes;
  switch (outcome.kind) {
    case 'notAsked':
      return [
        { type: reachable, status: 'Unknown', ...outcome.why },
        waiting(dhcp, reachable),
        waiting(images, reachable),
      ];
    case 'unreachable':
    case 'unauthorized': {
      const reason =
        outcome.kind === 'unreachable' ? MaasUnreachableReason : MaasUnauthorizedReason;
      return [
        { type: reachable, status: 'False', reason, message: outcome.message },
        waiting(dhcp, reachable),
        waiting(images, reachable),
      ];
    }
    case 'reached': {
      const reached: ConditionInput = {
        type: reachable,
        status: 'True',
        reason: MaasReadyReason,
        message: `MAAS ${outcome.version}`,
      };
      const dhcpCondition: ConditionInput =
        outcome.dhcp === 'configured'
          ? { type: dhcp, status: 'True', reason: MaasReadyReason, message: 'MAAS serves DHCP' }
          : { type: dhcp, status: 'False', ...outcome.dhcp };
      const imagesCondition: ConditionInput =
        outcome.importing === undefined
          ? waiting(images, dhcp)
          : outcome.importing
            ? {
                type: images,
                status: 'False',
                reason: ImagesImportingReason,
                message: 'MAAS is importing boot images',
              }
            : {
                type: images,
                status: 'True',
                reason: MaasReadyReason,
                message: 'boot images synced',
              };
      return [reached, dhcpCondition, imagesCondition];
    }
  }
}

/**
 * The plan for the lab's MAAS conditions: set from this pass's outcome, left as they are when
 * the pass did not get to MAAS, removed from a lab without MAAS.
 */
export function labMaasPlan(hasMaas: boolean, outcome: LabMaasOutcome | undefined): ConditionPlan {
  if (!hasMaas) return { set: [], remove: [...LabMaasConditionTypes] };
  return { set: outcome ? labMaasConditions(outcome) : [], remove: [] };
}

/** Why the lab is not Ready on MAAS's account: the first MAAS condition not True, if any. */
export function labMaasWaiting(
  conditions: readonly (Pick<Condition, 'type' | 'status' | 'reason'> & { message?: string })[],
): Why | undefined {
  for (const type of LabMaasConditionTypes) {
    const c = conditions.find((x) => x.type === type);
    if (c?.status !== 'True') {
      return {
        reason: MaasNotReadyReason,
        message: `${type} is ${c ? `${c.status} (${c.reason}: ${c.message})` : 'not reported yet'}`,
      };
    }
  }
  return undefined;
}

/** Whether a node says Enlisted=True. */
export const isEnlisted = (node: Readonly<MaasNode>): boolean =>
  node.status?.conditions?.some((c) => c.type === EnlistedCondition && c.status === 'True') ===
  true;

/** Why a lab waits for its nodes' enlistment: the names not Enlisted yet, if any. */
export function nodesNotEnlisted(nodes: readonly Readonly<MaasNode>[]): Why | undefined {
  const names = nodes.filter((n) => !isEnlisted(n)).map((n) => n.metadata?.name ?? '');
  if (names.length === 0) return undefined;
  const shown =
    names.length > 5
      ? `${names.slice(0, 5).join(', ')} and ${names.length - 5} more`
      : names.join(', ');
  return { reason: NodesNotEnlistedReason, message: `waiting for MAAS to know ${shown}` };
}

/** What enlisting a node found. */
export type EnlistOutcome =
  | { readonly kind: 'enlisted'; readonly machine: Readonly<Machine>; readonly created: boolean }
  | { readonly kind: 'notEnlisted'; readonly why: Why }
  | { readonly kind: 'unreachable'; readonly message: string }
  | { readonly kind: 'unauthorized'; readonly message: string };

/** The node's Enlisted condition for an outcome. */
export function enlistedCondition(outcome: EnlistOutcome): ConditionInput {
  switch (outcome.kind) {
    case 'enlisted':
      return {
        type: EnlistedCondition,
        status: 'True',
        reason: MaasReadyReason,
        message: `MAAS machine ${outcome.machine.systemId} (${outcome.machine.statusName})`,
      };
    case 'notEnlisted':
      return { type: EnlistedCondition, status: 'False', ...outcome.why };
    case 'unreachable':
      return {
        type: EnlistedCondition,
        status: 'False',
        reason: MaasUnreachableReason,
        message: outcome.message,
      };
    case 'unauthorized':
      return {
        type: EnlistedCondition,
        status: 'False',
        reason: MaasUnauthorizedReason,
        message: outcome.message,
      };
  }
}

/**
 * The node's status.maas after an outcome: MAAS's view of an enlisted machine; the last known
 * view while MAAS cannot be asked (we cannot see, it is not gone); only where to find MAAS
 * when there is no machine.
 */
export function nodeMaasStatus(
  previous: NodeMaasStatus | undefined,
  outcome: EnlistOutcome,
  endpoint: { readonly url: string; readonly apiKeySecretRef: SecretKeyRef },
): NodeMaasStatus {
  const where = { url: endpoint.url, apiKeySecretRef: endpoint.apiKeySecretRef };
  if (outcome.kind === 'enlisted') {
    const m = outcome.machine;
    return {
      systemId: m.systemId,
      statusName: m.statusName,
      statusMessage: m.statusMessage.slice(0, 1024),
      powerState: m.powerState,
      ...where,
    };
  }
  if (outcome.kind === 'unreachable' || outcome.kind === 'unauthorized') {
    return { ...previous, ...where };
  }
  return where;
}
