// Enlisting one MaasNode in its lab's MAAS, and taking it out again. The MAC lookup always
// comes first: MAAS's machine create is not idempotent, so a restart, a retry or a response
// lost after MAAS acted must find the machine made before instead of making a second one. A
// machine found under the MAC that does not carry our mark is never changed or deleted.
import {
  EnlistingReason,
  MaasApiKeyInvalidReason,
  MachineRejectedReason,
  MacInUseReason,
  NoPowerAddressReason,
  type Hypervisor,
  type MaasLab,
  type MaasNode,
} from '../../api/v1alpha1/index.js';
import type { MaasClient } from '../../maas/client.js';
import {
  MaasBadRequestError,
  MaasNotFoundError,
  MaasUnauthorizedError,
} from '../../maas/errors.js';
import { desiredMacs } from '../maas-node/status.js';
import { clientFor, readApiKey, type MaasAccess } from './access.js';
import { isOurs, machineRequest, maasPowerAddress, powerParameters } from './desired.js';
import type { EnlistOutcome } from './status.js';

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** Where a node's MAAS is. */
export interface Endpoint {
  readonly url: string;
  readonly apiKeySecretRef: { readonly name: string; readonly key?: string };
}

/** A MAAS client for `endpoint`, or the outcome that says why there is none. */
export async function connect(
  access: MaasAccess,
  namespace: string,
  endpoint: Endpoint,
  signal: AbortSignal,
): Promise<{ readonly client: MaasClient } | { readonly outcome: EnlistOutcome }> {
  const key = await readApiKey(access, namespace, endpoint.apiKeySecretRef, signal);
  const made = 'key' in key ? clientFor(access, endpoint.url, key.key) : key;
  if ('problem' in made) {
    const why = { reason: MaasApiKeyInvalidReason, message: made.problem };
    return { outcome: { kind: 'notEnlisted', why } };
  }
  return made;
}

/** MAAS's faults as outcomes; anything else (an abort, a bug) is rethrown. */
function faultOutcome(err: unknown, signal: AbortSignal): EnlistOutcome {
  if (signal.aborted) throw err;
  if (err instanceof MaasUnauthorizedError) {
    return { kind: 'unauthorized', message: `MAAS refused the API key (${err.status})` };
  }
  return { kind: 'unreachable', message: messageOf(err) };
}

/** What {@link enlist} reads besides the MAAS client. */
export interface EnlistInput {
  readonly lab: Readonly<MaasLab>;
  readonly node: Readonly<MaasNode>;
  readonly hypervisor: Readonly<Hypervisor> | undefined;
  /** The node's BMC password (redfish/ipmi), read from its Secret; undefined for virsh. */
  readonly bmcPassword: string | undefined;
}

/**
 * Finds the node's machine by its PXE NIC's MAC, or creates it: ours → enlisted; someone
 * else's → MacInUse; none → created with the node's power parameters (NoPowerAddress when the
 * virsh driver would have no usable address).
 */
export async function enlist(
  client: MaasClient,
  input: EnlistInput,
  signal: AbortSignal,
): Promise<EnlistOutcome> {
  const { lab, node, hypervisor } = input;
  const mac = desiredMacs(node)[0];
  if (mac === undefined) {
    return notEnlisted(EnlistingReason, 'the node has no NIC to PXE-boot from');
  }
  try {
    const known = await client.machinesByMac(mac, { signal });
    const ours = known.find((m) => isOurs(m, node));
    if (ours) return { kind: 'enlisted', machine: ours, created: false };
    const other = known[0];
    if (other) {
      return notEnlisted(
        MacInUseReason,
        `MAC ${mac} is known to MAAS as machine ${other.systemId} (${other.hostname}), which maaslab did not create; it is left untouched`,
      );
    }
    const status = node.status;
    if (!status?.uuid || !status.power) {
      return notEnlisted(EnlistingReason, 'waiting for the domain and its power parameters');
    }
    const address = hypervisor ? maasPowerAddress(hypervisor.spec) : undefined;
    const power = powerParameters(status.power, address, input.bmcPassword);
    if (!power.ok) {
      if (power.missing === 'address') {
        return notEnlisted(
          NoPowerAddressReason,
          `MAAS's virsh driver needs a libvirt URI it can reach without a query: set Hypervisor ${node.spec.hypervisor} spec.maasPowerAddress (e.g. qemu+ssh://maas@10.77.0.1/system)`,
        );
      }
      const what = power.missing === 'password' ? "the BMC Secret's password" : 'power parameters';
      return notEnlisted(EnlistingReason, `waiting for ${what}`);
    }
    const machine = await client.createMachine(machineRequest(lab, node, mac, power), { signal });
    return { kind: 'enlisted', machine, created: true };
  } catch (err) {
    if (err instanceof MaasBadRequestError) {
      // A MAC taken between our lookup and our create is someone else's: never retried over.
      const reason = err.fields['mac_addresses'] ? MacInUseReason : MachineRejectedReason;
      return notEnlisted(reason, err.message);
    }
    return faultOutcome(err, signal);
  }
}

const notEnlisted = (reason: string, message: string): EnlistOutcome => ({
  kind: 'notEnlisted',
  why: { reason, message },
});

/** What releasing found: done (the finalizer may go), or why not yet. */
export type ReleaseOutcome =
  | { readonly kind: 'released'; readonly deleted: readonly string[] }
  | { readonly kind: 'unreachable'; readonly message: string }
  | { readonly kind: 'unauthorized'; readonly message: string };

/**
 * Deletes the node's machines from MAAS: those under its PXE MAC that carry its mark, and the
 * one status.maas names if it carries the mark. Machines of others are never deleted; a machine
 * already gone is fine.
 */
export async function release(
  client: MaasClient,
  node: Readonly<MaasNode>,
  signal: AbortSignal,
): Promise<ReleaseOutcome> {
  const mac = desiredMacs(node)[0];
  const deleted: string[] = [];
  try {
    const byMac = mac === undefined ? [] : await client.machinesByMac(mac, { signal });
    const ids = new Set(byMac.filter((m) => isOurs(m, node)).map((m) => m.systemId));
    const recorded = node.status?.maas?.systemId;
    if (recorded !== undefined && !byMac.some((m) => m.systemId === recorded)) {
      const machine = await client.readMachine(recorded, { signal }).catch((err: unknown) => {
        if (err instanceof MaasNotFoundError) return undefined;
        throw err;
      });
      if (machine && isOurs(machine, node)) ids.add(machine.systemId);
    }
    for (const id of ids) {
      await client.deleteMachine(id, { signal }).catch((err: unknown) => {
        if (!(err instanceof MaasNotFoundError)) throw err;
      });
      deleted.push(id);
    }
    return { kind: 'released', deleted };
  } catch (err) {
    const fault = faultOutcome(err, signal);
    return fault.kind === 'unauthorized'
      ? fault
      : { kind: 'unreachable', message: fault.kind === 'unreachable' ? fault.message : '' };
  }
}
