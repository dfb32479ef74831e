// What a virtual BMC (Redfish or IPMI) asks of the machine behind it. The protocol servers in
// redfish/ and ipmi/ speak the wire formats and know nothing of libvirt or Kubernetes; the
// operator gives them a BmcBackend that acts on the node's libvirt domain through the
// operator's own connection and records each action in the node's status. Tests give them an
// in-memory one (test/fakes/bmc-backend.ts).

/** A system's power as a BMC reports it (Redfish PowerState; IPMI's "power is on"). */
export type BmcPowerState = 'On' | 'Off';

/**
 * What a BMC client may ask of the power, in Redfish's words (ResetType); IPMI's chassis
 * control maps onto them: power up = On, power down = ForceOff, power cycle = PowerCycle,
 * hard reset = ForceRestart, soft shutdown = GracefulShutdown.
 */
export const PowerActions = [
  'On',
  'ForceOff',
  'GracefulShutdown',
  'GracefulRestart',
  'ForceRestart',
  'PushPowerButton',
  'PowerCycle',
] as const;
export type PowerAction = (typeof PowerActions)[number];

/** Where the next boots go when overridden (Redfish BootSourceOverrideTarget). */
export const BootTargets = ['None', 'Pxe', 'Hdd', 'Cd'] as const;
export type BootTarget = (typeof BootTargets)[number];

/** For how long (Redfish BootSourceOverrideEnabled; IPMI's "persistent" flag). */
export const BootOverrideModes = ['Disabled', 'Once', 'Continuous'] as const;
export type BootOverrideMode = (typeof BootOverrideModes)[number];

/** Firmware interface of the override (Redfish BootSourceOverrideMode; IPMI's EFI bit). */
export const BootFirmwareModes = ['Legacy', 'UEFI'] as const;
export type BootFirmwareMode = (typeof BootFirmwareModes)[number];

/** A boot source override: desired state the node's reconciler honours, never reverts. */
export interface BootOverride {
  readonly target: BootTarget;
  readonly enabled: BootOverrideMode;
  readonly mode: BootFirmwareMode;
}

/** Who asked, for the node's status.bmc.lastAction and the logs. */
export interface BmcActionSource {
  readonly protocol: 'redfish' | 'ipmi';
  /** The client's address, `ip:port`. */
  readonly remote: string;
  readonly user: string;
}

/** A system as its BMC shows it. */
export interface BmcSystemView {
  /** The libvirt domain's UUID: the Redfish System id. */
  readonly id: string;
  /** The MaasNode's name (Redfish Name, IPMI has none). */
  readonly name: string;
  readonly powerState: BmcPowerState;
  readonly boot: BootOverride;
  /** Static facts for Redfish's ComputerSystem (and IPMI's Get Device ID aux data). */
  readonly vcpus: number;
  readonly memoryMiB: number;
}

/** The user name and password a BMC accepts; from the node's credentials Secret. */
export interface BmcCredentials {
  readonly username: string;
  readonly password: string;
}

/** A system that asked for a BMC: its id and the credentials that unlock it. */
export interface BmcSystemEntry {
  readonly id: string;
  readonly credentials: BmcCredentials;
}

/**
 * The machine behind a BMC. Every method takes the system id (domain UUID); an id the backend
 * does not serve yields undefined (describe) or throws BmcSystemNotFoundError (actions).
 */
export interface BmcBackend {
  describe(id: string): Promise<BmcSystemView | undefined>;
  power(id: string, action: PowerAction, source: BmcActionSource): Promise<void>;
  setBootOverride(id: string, boot: BootOverride, source: BmcActionSource): Promise<void>;
}

/** The system id names nothing this backend serves (gone, or never asked for a BMC). */
export class BmcSystemNotFoundError extends Error {
  constructor(readonly id: string) {
    super(`no system ${id}`);
    this.name = 'BmcSystemNotFoundError';
  }
}

/** The action cannot be done in the system's present state (e.g. a restart while it is off). */
export class BmcActionConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BmcActionConflictError';
  }
}
