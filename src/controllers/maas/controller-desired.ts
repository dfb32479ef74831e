// The MAAS controller VM's desired state, pure: where its base image lives (one read-only
// volume per hypervisor and image, named after the image's sha256, so labs share it), its
// qcow2 overlay, its seed ISO volume, its libvirt domain (disk first, the seed as a CD-ROM,
// a NIC on the PXE network and one on the uplink, the serial console logged to a file), its
// cloud-init seed input, the Secrets' names and the MAAS URL at its address. No I/O, no
// clock, no randomness: the password and the instance id come in from the caller.
import {
  ControllerDefaults,
  DefaultApiKeySecretKey,
  MaasLabKind,
  NoPxeSubnetReason,
  type HypervisorSpec,
  type LabNetwork,
  type MaasController,
  type MaasLab,
} from '../../api/v1alpha1/index.js';
import type { OwnedDomainDescription } from '../../libvirt/hypervisor/types.js';
import type { OwnerMetadata } from '../../libvirt/xml/index.js';
import type { ControllerSeedInput } from '../../maas/controller/seed.js';
import type { Why } from '../common/conditions.js';
import { parseQuantity } from '../common/quantity.js';
import { controllerPxeMac, controllerVmName, labNetworkName } from '../maas-lab/desired.js';
import { defaultMac } from '../maas-node/desired.js';
import { libvirtNetworkName } from '../virt-network/desired.js';
import {
  MAAS_PORT,
  controllerApiKeySecretName,
  defaultControllerAddress,
  pxeNetworkOf,
} from './desired.js';
import { definedProps } from '../../util/defined-props.js';

export { MAAS_PORT, defaultControllerAddress } from './desired.js';

/** Why a controller lab cannot be built as declared: an address or uplink that cannot work. */
export const ControllerMisdeclaredReason = 'ControllerMisdeclared';
/** The key of each Secret the operator writes for a controller lab. */
export const AdminUsernameKey = 'username';
export const AdminPasswordKey = 'password';

/** Where the controller's base image comes from. */
export type BaseImage =
  /** Download `url` once per hypervisor into `volume` of `pool`, checking `sha256`. */
  | {
      readonly kind: 'download';
      readonly pool: string;
      readonly volume: string;
      readonly url: string;
      readonly sha256: string;
    }
  /** A volume the user put there. */
  | { readonly kind: 'volume'; readonly pool: string; readonly volume: string };

/** Everything the controller phase makes, resolved from the lab and its Hypervisor. */
export interface ControllerPlan {
  /** libvirt domain: `<namespace>.<lab>-maas`, beside the nodes' `<namespace>.<node>`. */
  readonly domainName: string;
  /** The VM's host name (and MAAS's name for itself): `<lab>-maas`, one DNS label. */
  readonly hostname: string;
  /** The pool the overlay and the seed go to: the Hypervisor's storagePool. */
  readonly pool: string;
  readonly base: BaseImage;
  /** The thin qcow2 overlay: `<domain>-disk.qcow2`, `diskBytes` large. */
  readonly overlayVolume: string;
  readonly diskBytes: number;
  /** The NoCloud seed ISO: `<domain>-seed.iso`. */
  readonly seedVolume: string;
  /** The serial log's file name, in the pool's directory (a path the hypervisor has). */
  readonly consoleLogName: string;
  readonly vcpus: number;
  readonly memoryBytes: number;
  readonly channel: string;
  /** Its address on the PXE network and the subnet's prefix length. */
  readonly address: string;
  readonly prefixLength: number;
  /** The PXE network's host address: its gateway without an uplink, and its DNS. */
  readonly pxeHostAddress: string;
  /** libvirt network names and the MACs of the two NICs. */
  readonly pxeNetwork: string;
  readonly pxeMac: string;
  readonly uplink?: { readonly network: string; readonly mac: string; readonly dns?: string };
  /** `http://<address>:5240/MAAS`. */
  readonly maasUrl: string;
  /** The admin Secret: spec.maas.controller.adminSecretRef, else `<lab>-maas-admin`. */
  readonly adminSecretName: string;
  /** Whether the operator makes the admin Secret (no adminSecretRef). */
  readonly generateAdminSecret: boolean;
  /** The API key Secret the operator writes: `<lab>-maas-api-key`, key `api-key`. */
  readonly apiKeySecretName: string;
  readonly sshAuthorizedKeys: readonly string[];
}

const toInt = (ip: string): number =>
  ip.split('.').reduce((acc, part) => acc * 256 + Number(part), 0);
const toIp = (n: number): string =>
  [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');

/**
 * The base volume of an image, per hypervisor and pool: `maaslab-base-<sha256>.qcow2`. The
 * full digest, so two images never share a name and a lab that asks for the same image as
 * another finds it there, downloaded once.
 */
export function baseVolumeName(sha256: string): string {
  return `maaslab-base-${sha256.toLowerCase()}.qcow2`;
}

/** The lab's controller, or undefined for a lab without one. */
export const controllerOf = (lab: Readonly<MaasLab>): MaasController | undefined =>
  lab.spec.maas?.controller;

/**
 * Why the controller cannot be built as declared, or undefined: its address must be a host
 * address of the PXE subnet other than the hypervisor's own, and the uplink must be another
 * network than the PXE one (MAAS serves DHCP there, the uplink takes DHCP).
 */
export function controllerProblem(lab: Readonly<MaasLab>): Why | undefined {
  const controller = controllerOf(lab);
  if (controller === undefined) return undefined;
  const pxe = pxeNetworkOf(lab);
  if (pxe?.ipv4 === undefined) {
    return {
      reason: NoPxeSubnetReason,
      message:
        "the MAAS controller needs the PXE network's IPv4 subnet: give that lab network an ipv4 address and prefixLength",
    };
  }
  const { address: host, prefixLength } = pxe.ipv4;
  const address = controller.address ?? defaultControllerAddress(host, prefixLength);
  const size = 2 ** (32 - prefixLength);
  const network = Math.floor(toInt(host) / size) * size;
  const a = toInt(address);
  const misdeclared = (message: string): Why => ({ reason: ControllerMisdeclaredReason, message });
  if (Math.floor(a / size) * size !== network) {
    return misdeclared(
      `maas.controller.address ${address} is outside the PXE network ${pxe.name} (${toIp(network)}/${prefixLength})`,
    );
  }
  if (a === network || a === network + size - 1 || a === toInt(host)) {
    return misdeclared(
      `maas.controller.address ${address} is the network, broadcast or host address of ${pxe.name}; pick a free host address`,
    );
  }
  if (controller.uplink !== undefined && controller.uplink === pxe.name) {
    return misdeclared(
      `maas.controller.uplink ${controller.uplink} is the PXE network; name a network with outbound access`,
    );
  }
  return undefined;
}

/** The owner stamp of the controller's domain: the lab. Throws when metadata lacks identity. */
export function controllerOwner(lab: Readonly<MaasLab>): OwnerMetadata {
  const { namespace, name, uid } = lab.metadata ?? {};
  if (!namespace || !name || !uid) {
    throw new TypeError('MaasLab needs metadata.namespace, name and uid');
  }
  return { kind: MaasLabKind, namespace, name, uid };
}

/**
 * The plan for a lab's controller on a Hypervisor, or undefined for a lab without one (or
 * with a problem: see {@link controllerProblem}, which callers check first).
 */
export function controllerPlan(
  lab: Readonly<MaasLab>,
  hypervisor: Readonly<HypervisorSpec>,
): ControllerPlan | undefined {
  const controller = controllerOf(lab);
  const pxe = pxeNetworkOf(lab);
  if (controller === undefined || pxe?.ipv4 === undefined || controllerProblem(lab)) {
    return undefined;
  }
  const { namespace = '', name = '' } = lab.metadata ?? {};
  const vmName = controllerVmName(lab);
  const domainName = `${namespace}.${vmName}`;
  const pool = hypervisor.storagePool ?? 'default';
  const image = controller.image;
  const base: BaseImage =
    image.url !== undefined && image.sha256 !== undefined
      ? {
          kind: 'download',
          pool,
          volume: baseVolumeName(image.sha256),
          url: image.url,
          sha256: image.sha256.toLowerCase(),
        }
      : { kind: 'volume', pool: image.pool ?? pool, volume: image.volume ?? '' };
  const { address: host, prefixLength } = pxe.ipv4;
  const address = controller.address ?? defaultControllerAddress(host, prefixLength);
  // Defined: the lab has a controller (checked above). Part of the lab's MAC collision check.
  const pxeMac = controllerPxeMac(lab) ?? '';
  const uplinkNet: LabNetwork | undefined =
    controller.uplink === undefined
      ? undefined
      : lab.spec.networks?.find((n) => n.name === controller.uplink);
  const libvirtName = (short: string): string =>
    libvirtNetworkName(namespace, labNetworkName(name, short));
  return {
    domainName,
    hostname: vmName.slice(0, 63).replace(/-+$/, ''),
    pool,
    base,
    overlayVolume: `${domainName}-disk.qcow2`,
    diskBytes: parseQuantity(controller.diskSize ?? ControllerDefaults.diskSize),
    seedVolume: `${domainName}-seed.iso`,
    consoleLogName: `${domainName}.console.log`,
    vcpus: controller.vcpus ?? ControllerDefaults.vcpus,
    memoryBytes:
      Math.ceil(parseQuantity(controller.memory ?? ControllerDefaults.memory) / 1024) * 1024,
    channel: controller.channel ?? ControllerDefaults.channel,
    address,
    prefixLength,
    pxeHostAddress: host,
    pxeNetwork: libvirtName(pxe.name),
    pxeMac,
    ...(uplinkNet && {
      uplink: {
        network: libvirtName(uplinkNet.name),
        mac: defaultMac(namespace, vmName, 1),
        ...definedProps({ dns: uplinkNet.ipv4?.address }),
      },
    }),
    maasUrl: `http://${address}:${MAAS_PORT}/MAAS`,
    adminSecretName: controller.adminSecretRef?.name ?? `${name}-maas-admin`,
    generateAdminSecret: controller.adminSecretRef === undefined,
    apiKeySecretName: controllerApiKeySecretName(name),
    sshAuthorizedKeys: controller.sshAuthorizedKeys ?? [],
  };
}

/** The API key Secret of a controller lab, as status.maas.apiKeySecretRef names it. */
export const controllerApiKeyRef = (
  plan: Pick<ControllerPlan, 'apiKeySecretName'>,
): { readonly name: string; readonly key: string } => ({
  name: plan.apiKeySecretName,
  key: DefaultApiKeySecretKey,
});

/**
 * The controller's domain: it boots its disk (the overlay; GRUB from the image, no direct
 * kernel boot), has the seed ISO as a SCSI CD-ROM (virtio-scsi: cloud kernels have no AHCI
 * driver for a SATA drive), a NIC on the PXE network first and one on the uplink, no VNC
 * (the serial console is the console, logged to `consoleLogPath`), and the lab's stamp.
 */
export function controllerDomain(
  plan: ControllerPlan,
  owner: OwnerMetadata,
  opts: { readonly kvm: boolean; readonly consoleLogPath: string },
): OwnedDomainDescription {
  return {
    name: plan.domainName,
    title: `MAAS controller of lab ${owner.namespace ?? ''}/${owner.name}`,
    type: opts.kvm ? 'kvm' : 'qemu',
    memoryBytes: plan.memoryBytes,
    vcpus: plan.vcpus,
    arch: 'x86_64',
    firmware: 'bios',
    bootOrder: ['disk'],
    disks: [{ pool: plan.pool, volume: plan.overlayVolume, format: 'qcow2', bus: 'virtio' }],
    cdroms: [{ bus: 'scsi', source: { pool: plan.pool, volume: plan.seedVolume } }],
    interfaces: [
      { mac: plan.pxeMac, network: plan.pxeNetwork, model: 'virtio' },
      ...(plan.uplink
        ? [{ mac: plan.uplink.mac, network: plan.uplink.network, model: 'virtio' as const }]
        : []),
    ],
    serialLogFile: opts.consoleLogPath,
    owner,
  };
}

/**
 * The seed input for the controller: the lab's address, channel, keys and MAAS URL, the
 * admin from its Secret. Without an uplink the PXE network's host is the gateway; DNS is the
 * uplink's host (libvirt's dnsmasq forwards) or the PXE host.
 */
export function controllerSeedInput(
  plan: ControllerPlan,
  admin: { readonly username: string; readonly password: string },
  instanceId: string,
): ControllerSeedInput {
  return {
    instanceId,
    hostname: plan.hostname,
    channel: plan.channel,
    maasUrl: plan.maasUrl,
    address: `${plan.address}/${plan.prefixLength}`,
    pxeMac: plan.pxeMac,
    ...(plan.uplink
      ? { uplinkMac: plan.uplink.mac, dns: [plan.uplink.dns ?? plan.pxeHostAddress] }
      : { gateway: plan.pxeHostAddress, dns: [plan.pxeHostAddress] }),
    admin,
    sshAuthorizedKeys: plan.sshAuthorizedKeys,
  };
}

/** The seed's cloud-init instance id: per lab object, so a new lab is a new instance. */
export const controllerInstanceId = (lab: Readonly<MaasLab>): string =>
  `maaslab-${lab.metadata?.uid ?? ''}`;

/** The console log's path: beside the seed volume, in the pool's directory. */
export function consoleLogPath(seedVolumePath: string, plan: ControllerPlan): string {
  const slash = seedVolumePath.lastIndexOf('/');
  return `${slash < 0 ? '.' : seedVolumePath.slice(0, slash)}/${plan.consoleLogName}`;
}
