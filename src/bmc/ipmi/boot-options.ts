// System boot options (IPMI v2.0 §28.12–§28.13, table 28-14): the parameters ipmitool's
// `chassis bootdev`/`bootparam` and FreeIPMI's `ipmi-chassis-config` read and write, and how
// parameter 5 (boot flags) maps onto the backend's BootOverride. Pure functions.
import type { BootOverride, BootTarget } from '../backend.js';

export const BootParameter = {
  SetInProgress: 0,
  ValidBitClearing: 3,
  InfoAcknowledge: 4,
  BootFlags: 5,
} as const;

/** The parameters that live only in the BMC (the boot flags live in the backend). */
export interface BootParameterState {
  /** Parameter 0: 0 set complete, 1 set in progress. */
  readonly setInProgress: number;
  /** Parameter 3: which events clear the boot flags' valid bit. */
  readonly validBitClearing: number;
  /** Parameter 4: the boot info acknowledge flags. */
  readonly infoAcknowledge: number;
}

export const InitialBootParameterState: BootParameterState = {
  setInProgress: 0,
  validBitClearing: 0,
  infoAcknowledge: 0,
};

/** Boot device selector, parameter 5 data byte 2 bits 5:2. */
const Device = { None: 0x0, Pxe: 0x1, Disk: 0x2, DiskSafe: 0x3, Cd: 0x5, RemoteCd: 0x9 } as const;

const deviceOfTarget: Record<BootTarget, number> = {
  None: Device.None,
  Pxe: Device.Pxe,
  Hdd: Device.Disk,
  Cd: Device.Cd,
};

const FLAGS_VALID = 0x80;
const FLAGS_PERSISTENT = 0x40;
const FLAGS_EFI = 0x20;

/** Parameter 5's five data bytes for `boot`; the rest of the flags (CMOS clear, locks, …) are 0. */
export function encodeBootFlags(boot: BootOverride): Buffer {
  const overridden = boot.enabled !== 'Disabled' && boot.target !== 'None';
  const first =
    (overridden ? FLAGS_VALID : 0) |
    (boot.enabled === 'Continuous' ? FLAGS_PERSISTENT : 0) |
    (boot.mode === 'UEFI' ? FLAGS_EFI : 0);
  return Buffer.from([first, (overridden ? deviceOfTarget[boot.target] : 0) << 2, 0, 0, 0]);
}

/**
 * The override parameter 5's bytes ask for, or undefined for a device this BMC cannot boot
 * (BIOS setup, floppy, diagnostics). A cleared valid bit or "no override" means Disabled.
 */
export function decodeBootFlags(data: Buffer): BootOverride | undefined {
  if (data.length < 2) return undefined;
  const first = data.readUInt8(0);
  const device = (data.readUInt8(1) >> 2) & 0x0f;
  const mode = first & FLAGS_EFI ? 'UEFI' : 'Legacy';
  if (!(first & FLAGS_VALID) || device === Device.None) {
    return { target: 'None', enabled: 'Disabled', mode };
  }
  const enabled = first & FLAGS_PERSISTENT ? 'Continuous' : 'Once';
  switch (device) {
    case Device.Pxe:
      return { target: 'Pxe', enabled, mode };
    case Device.Disk:
    case Device.DiskSafe:
      return { target: 'Hdd', enabled, mode };
    case Device.Cd:
    case Device.RemoteCd:
      return { target: 'Cd', enabled, mode };
    default:
      return undefined;
  }
}

/** Get System Boot Options' data for a BMC-local parameter, or undefined when it is not one. */
export function encodeLocalParameter(
  parameter: number,
  state: BootParameterState,
): Buffer | undefined {
  switch (parameter) {
    case BootParameter.SetInProgress:
      return Buffer.from([state.setInProgress]);
    case BootParameter.ValidBitClearing:
      return Buffer.from([state.validBitClearing]);
    case BootParameter.InfoAcknowledge:
      // Byte 1 is the write mask, meaningless on read.
      return Buffer.from([0x00, state.infoAcknowledge]);
    default:
      return undefined;
  }
}

/**
 * The state after Set System Boot Options wrote a BMC-local parameter; undefined when the data
 * is the wrong length ('length') or the parameter is not a local one ('unsupported').
 */
export function applyLocalParameter(
  parameter: number,
  data: Buffer,
  state: BootParameterState,
): BootParameterState | 'length' | 'unsupported' {
  switch (parameter) {
    case BootParameter.SetInProgress:
      if (data.length !== 1) return 'length';
      // "Commit write" (2) completes the set at once: every write here takes effect immediately.
      return { ...state, setInProgress: (data.readUInt8(0) & 0x03) === 1 ? 1 : 0 };
    case BootParameter.ValidBitClearing:
      if (data.length !== 1) return 'length';
      return { ...state, validBitClearing: data.readUInt8(0) & 0x1f };
    case BootParameter.InfoAcknowledge: {
      if (data.length !== 2) return 'length';
      const mask = data.readUInt8(0);
      const value = (state.infoAcknowledge & ~mask) | (data.readUInt8(1) & mask);
      return { ...state, infoAcknowledge: value & 0xff };
    }
    default:
      return 'unsupported';
  }
}
