// MAAS desired state, pure: the lab's PXE network and what MAAS must serve on it (subnet
// CIDR, gateway, dynamic range), the power address MAAS's virsh driver can use, the power
// parameters of a node, the create request of its machine, and the mark that tells our
// machines from everyone else's. No I/O, no clock.
import {
  DefaultApiKeySecretKey,
  DefaultMaasArchitecture,
  LibvirtDhcpConflictReason,
  NoPxeSubnetReason,
  type HypervisorSpec,
  type LabNetwork,
  type MaasLab,
  type MaasNode,
  type MaasNodeStatus,
  type SecretKeyRef,
} from '../../api/v1alpha1/index.js';
import type { CreateMachineRequest } from '../../maas/client.js';
import type { Machine } from '../../maas/resources.js';
import type { Why } from '../common/conditions.js';

/** The lab network of the node template's first interface: the one nodes PXE-boot on. */
export function pxeNetworkOf(lab: Readonly<MaasLab>): LabNetwork | undefined {
  const first = lab.spec.nodes.template?.interfaces?.[0]?.network;
  return first === undefined ? undefined : lab.spec.networks?.find((n) => n.name === first);
}

/**
 * Why a lab with MAAS cannot be configured as declared, or undefined: MAAS serves DHCP on the
 * PXE network, so libvirt's dnsmasq must not (two DHCP servers on one segment race each other
 * and PXE boots at random); and MAAS needs the subnet to find its VLAN.
 */
export function labMaasProblem(lab: Readonly<MaasLab>): Why | undefined {
  if (lab.spec.maas === undefined) return undefined;
  const pxe = pxeNetworkOf(lab);
  if (pxe?.ipv4 === undefined) {
    return {
      reason: NoPxeSubnetReason,
      message:
        "MAAS serves DHCP on the PXE network (the node template's first interface): give that lab network an ipv4 address and prefixLength",
    };
  }
  if (pxe.ipv4.dhcp !== undefined) {
    return {
      reason: LibvirtDhcpConflictReason,
      message: `lab network ${pxe.name} has libvirt DHCP (ipv4.dhcp) while MAAS serves DHCP there: remove ipv4.dhcp from it, or remove spec.maas`,
    };
  }
  return undefined;
}

const toInt = (ip: string): number =>
  ip.split('.').reduce((acc, part) => acc * 256 + Number(part), 0);
const toIp = (n: number): string =>
  [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');

/** The subnet an address and prefix length are in, as MAAS writes CIDRs (`10.77.0.0/24`). */
export function subnetCidr(address: string, prefixLength: number): string {
  const size = 2 ** (32 - prefixLength);
  return `${toIp(Math.floor(toInt(address) / size) * size)}/${prefixLength}`;
}

/**
 * The default dynamic range: the upper half of the subnet without its broadcast address
 * (a /24 at 10.77.0.0 gives .128–.254), leaving the lower half for MAAS's static addresses.
 * The host's own address is moved out of the range's way when it falls in it.
 */
export function defaultDynamicRange(
  address: string,
  prefixLength: number,
): { start: string; end: string } {
  const size = 2 ** (32 - prefixLength);
  const network = Math.floor(toInt(address) / size) * size;
  let start = network + size / 2;
  let end = network + size - 2;
  const host = toInt(address);
  if (host === start && start < end) start++;
  else if (host === end && start < end) end--;
  return { start: toIp(start), end: toIp(end) };
}

/** Whether an IPv4 address lies in `cidr`. */
export function inSubnet(ip: string, cidr: string): boolean {
  const [base = '', prefix = '32'] = cidr.split('/');
  const size = 2 ** (32 - Number(prefix));
  return Math.floor(toInt(ip) / size) === Math.floor(toInt(base) / size);
}

/**
 * The libvirt URI MAAS's virsh driver may use for a Hypervisor: spec.maasPowerAddress when
 * set, else spec.uri only when it names a host (MAAS runs elsewhere: `qemu:///system` would
 * be MAAS's own host) and has no query or fragment (the driver refuses `?socket=`,
 * `?keyfile=`, …), and no password in it (MAAS stores the address in clear). Undefined when
 * none qualifies.
 */
export function maasPowerAddress(spec: Readonly<HypervisorSpec>): string | undefined {
  if (spec.maasPowerAddress !== undefined) return spec.maasPowerAddress;
  const uri = spec.uri;
  if (/[\s?#]/.test(uri)) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(uri);
  } catch {
    return undefined;
  }
  if (parsed.hostname === '' || parsed.password !== '') return undefined;
  return uri;
}

/** A node's MAAS power type and `power_parameters_*`, or why it has none. */
export type PowerParameters =
  | {
      readonly ok: true;
      readonly powerType: string;
      readonly parameters: Readonly<Record<string, string>>;
    }
  | { readonly ok: false; readonly missing: 'power' | 'address' | 'password' };

/**
 * MAAS's power parameters from a node's `status.power` (virsh, or its BMC's redfish/ipmi),
 * with the virsh address from {@link maasPowerAddress} and the BMC password read from its
 * Secret (never in status). The names are MAAS's drivers' parameter names.
 */
export function powerParameters(
  power: MaasNodeStatus['power'],
  virshAddress: string | undefined,
  bmcPassword: string | undefined,
): PowerParameters {
  switch (power?.type) {
    case 'virsh':
      if (virshAddress === undefined) return { ok: false, missing: 'address' };
      if (!power.id) return { ok: false, missing: 'power' };
      return {
        ok: true,
        powerType: 'virsh',
        parameters: { power_address: virshAddress, power_id: power.id },
      };
    case 'redfish':
      if (!power.address || !power.user || !power.nodeId) return { ok: false, missing: 'power' };
      if (bmcPassword === undefined) return { ok: false, missing: 'password' };
      return {
        ok: true,
        powerType: 'redfish',
        parameters: {
          power_address: power.address,
          power_user: power.user,
          power_pass: bmcPassword,
          node_id: power.nodeId,
        },
      };
    case 'ipmi':
      if (!power.address || !power.user) return { ok: false, missing: 'power' };
      if (bmcPassword === undefined) return { ok: false, missing: 'password' };
      return {
        ok: true,
        powerType: 'ipmi',
        parameters: {
          power_address: power.address,
          power_user: power.user,
          power_pass: bmcPassword,
          power_driver: power.driver ?? 'LAN_2_0',
          cipher_suite_id: power.cipherSuiteId ?? '3',
          privilege_level: power.privilegeLevel ?? 'OPERATOR',
        },
      };
    default:
      return { ok: false, missing: 'power' };
  }
}

/** The mark in a machine's description that says it is ours, and whose. */
export function ownerMark(node: Readonly<MaasNode>): string {
  const { namespace = '', name = '', uid = '' } = node.metadata ?? {};
  return `maaslab: ${namespace}/${name} uid ${uid}`;
}

/**
 * Whether `machine` is the one this operator made for `node`: its description carries the
 * node's mark (namespace, name and UID). A machine of an earlier object of the same name, or
 * of another operator, is not ours and is never changed or deleted.
 */
export const isOurs = (machine: Readonly<Machine>, node: Readonly<MaasNode>): boolean =>
  machine.description === ownerMark(node);

/** `POST machines/` for a node: MAC, hostname, architecture, power, commission and the mark. */
export function machineRequest(
  lab: Readonly<MaasLab>,
  node: Readonly<MaasNode>,
  mac: string,
  power: { readonly powerType: string; readonly parameters: Readonly<Record<string, string>> },
): CreateMachineRequest {
  return {
    architecture: lab.spec.maas?.architecture ?? DefaultMaasArchitecture,
    macAddresses: [mac],
    hostname: node.metadata?.name ?? '',
    description: ownerMark(node),
    powerType: power.powerType,
    powerParameters: power.parameters,
    commission: lab.spec.maas?.commission ?? true,
  };
}

/** The port MAAS's region API listens on. */
export const MAAS_PORT = 5240;

/** The controller's default address: the subnet's .2 (host .1 is the hypervisor's bridge). */
export function defaultControllerAddress(hostAddress: string, prefixLength: number): string {
  const size = 2 ** (32 - prefixLength);
  return toIp(Math.floor(toInt(hostAddress) / size) * size + 2);
}

/** The Secret the operator keeps a controller lab's API key in: `<lab>-maas-api-key`. */
export const controllerApiKeySecretName = (labName: string): string => `${labName}-maas-api-key`;

/**
 * Where a lab's MAAS is and which Secret holds its key; undefined for a lab without MAAS. A
 * controller lab's MAAS is at the controller's address on the PXE network, with the key the
 * operator obtained from it (undefined while the PXE network has no subnet: the lab is
 * refused then, NoPxeSubnet).
 */
export function maasEndpoint(
  lab: Readonly<MaasLab>,
): { readonly url: string; readonly apiKeySecretRef: Required<SecretKeyRef> } | undefined {
  const controller = lab.spec.maas?.controller;
  if (controller !== undefined) {
    const ipv4 = pxeNetworkOf(lab)?.ipv4;
    if (ipv4 === undefined) return undefined;
    const address = controller.address ?? defaultControllerAddress(ipv4.address, ipv4.prefixLength);
    return {
      url: `http://${address}:${MAAS_PORT}/MAAS`,
      apiKeySecretRef: {
        name: controllerApiKeySecretName(lab.metadata?.name ?? ''),
        key: DefaultApiKeySecretKey,
      },
    };
  }
  const external = lab.spec.maas?.external;
  if (external === undefined) return undefined;
  return {
    url: external.url,
    apiKeySecretRef: {
      name: external.apiKeySecretRef.name,
      key: external.apiKeySecretRef.key ?? DefaultApiKeySecretKey,
    },
  };
}
