// The BMC phase of a MaasNode pass: a node with spec.bmc gets its virtual BMC served by this
// process (src/bmc/service.ts) at the Hypervisor's spec.bmc address, with the credentials of
// its Secret; a node without one (or being deleted) has it released. What the phase finds
// becomes status.bmc, the BmcReady condition and status.power (status.ts).
import {
  BmcCredentialsInvalidReason,
  BmcDefaults,
  BmcListenFailedReason,
  BmcNotConfiguredReason,
  BmcPortsExhaustedReason,
  hasBmc,
  type MaasNode,
} from '../../api/v1alpha1/index.js';
import type { BootOverride } from '../../bmc/backend.js';
import { NoBootOverride } from '../../bmc/boot.js';
import { BmcListenError, BmcPortsExhaustedError, type BmcListenConfig } from '../../bmc/service.js';
import { next, type Phase } from '../common/phases.js';
import { parseQuantity } from '../common/quantity.js';
import type { NodeDeps, NodePass } from './pass.js';
import { definedProps } from '../../util/defined-props.js';

const keyOf = (node: Readonly<MaasNode>): string =>
  `${node.metadata?.namespace ?? ''}/${node.metadata?.name ?? ''}`;

/** How soon a pass comes back for the UUID of a domain it just defined. */
const UUID_RECHECK_MS = 1000;

/** IPMI keys are at most 20 bytes (IPMI v2.0, 13.31): a longer password cannot work there. */
const IPMI_MAX_PASSWORD_BYTES = 20;

/** The boot override in force: this process's newer value, else the status's. */
export function bootOverrideFor(
  node: Readonly<MaasNode>,
  deps: NodeDeps,
): BootOverride | undefined {
  if (!hasBmc(node.spec.bmc)) return undefined;
  return deps.bmc?.bootOverrideOf(keyOf(node)) ?? node.status?.bmc?.bootOverride;
}

/** Serves the node's BMC, or releases it; never fails the pass (BmcReady says why). */
export const serveBmc: Phase<NodePass> = async (pass) => {
  const { scope, deps, found, signal } = pass;
  const { node, hypervisor } = scope;
  const key = keyOf(node);
  const bmc = node.spec.bmc;
  if (!hasBmc(bmc) || scope.deleting) {
    await deps.bmc?.release(key);
    return next;
  }
  const type = bmc?.type === 'ipmi' ? 'ipmi' : 'redfish';
  const listenSpec = hypervisor?.spec.bmc;
  const domain = found.domain;
  const verbs = pass.host?.verbs;
  if (!deps.bmc || !listenSpec || !hypervisor) {
    found.bmc = {
      reason: BmcNotConfiguredReason,
      message: `Hypervisor ${node.spec.hypervisor} has no spec.bmc.listenAddress: set it to serve BMCs`,
    };
    return next;
  }
  if (!domain || !verbs || !pass.host) return next;
  // A domain this pass defined has no UUID yet (libvirt's to give): the System id needs one.
  if (domain.uuid === '') return { requeueAfterMs: UUID_RECHECK_MS };
  const secretName = bmc?.credentialsSecretRef?.name ?? '';
  const secret = await deps.readSecret?.(node.metadata?.namespace ?? '', secretName, signal);
  const username = secret?.['username'];
  const password = secret?.['password'];
  if (!username || !password) {
    found.bmc = {
      reason: BmcCredentialsInvalidReason,
      message: secret
        ? `Secret ${secretName} needs non-empty keys username and password`
        : `Secret ${secretName} not found`,
    };
    await deps.bmc.release(key);
    return next;
  }
  if (type === 'ipmi' && Buffer.byteLength(password) > IPMI_MAX_PASSWORD_BYTES) {
    found.bmc = {
      reason: BmcCredentialsInvalidReason,
      message: `an IPMI password is at most ${IPMI_MAX_PASSWORD_BYTES} bytes; Secret ${secretName}'s is longer`,
    };
    await deps.bmc.release(key);
    return next;
  }
  const listen: BmcListenConfig = {
    address: listenSpec.listenAddress,
    redfishPort: listenSpec.redfishPort ?? BmcDefaults.redfishPort,
    redfishScheme: listenSpec.redfishScheme ?? 'https',
    ipmiPortRange: listenSpec.ipmiPortRange ?? BmcDefaults.ipmiPortRange,
  };
  const previousIpmiPort = node.status?.bmc?.ipmi?.port;
  try {
    const serving = await deps.bmc.ensure({
      key,
      name: node.metadata?.name ?? '',
      type,
      systemId: domain.uuid,
      hypervisor: node.spec.hypervisor,
      listen,
      credentials: { username, password },
      ...definedProps({ previousIpmiPort }),
      boot: node.status?.bmc?.bootOverride ?? NoBootOverride,
      verbs,
      definition: pass.host.desired,
      specBootOrder: node.spec.bootOrder ?? ['network', 'disk'],
      domainName: scope.domainName,
      owner: scope.owner,
      vcpus: node.spec.vcpus ?? 1,
      memoryMiB: Math.round(parseQuantity(node.spec.memory ?? '1Gi') / 2 ** 20),
    });
    const boot = deps.bmc.bootOverrideOf(key);
    found.bmc = definedProps({ serving, user: username, boot });
  } catch (err) {
    if (err instanceof BmcPortsExhaustedError) {
      found.bmc = { reason: BmcPortsExhaustedReason, message: err.message };
    } else if (err instanceof BmcListenError) {
      found.bmc = { reason: BmcListenFailedReason, message: err.message };
    } else {
      throw err;
    }
  }
  return next;
};
