// The IPMI commands this BMC answers, as pure functions from a request and what the BMC knows
// (the session's privilege, the system's view, the BMC-local boot parameters) to a completion
// code, response data and, when the command changes something, the effect for the caller to
// carry out. Every other command is answered 0xC1 (invalid command).
import {
  BmcActionConflictError,
  BmcSystemNotFoundError,
  type BmcSystemView,
  type BootOverride,
  type PowerAction,
} from '../backend.js';
import {
  BootParameter,
  type BootParameterState,
  applyLocalParameter,
  decodeBootFlags,
  encodeBootFlags,
  encodeLocalParameter,
} from './boot-options.js';
import { type IpmiRequest, NetFn } from './message.js';
import { CipherSuite3 } from './rakp.js';
import { Privilege } from './session.js';

/** Completion codes (IPMI v2.0 table 5-2) this BMC sends. */
export const CompletionCode = {
  Ok: 0x00,
  /** Set Session Privilege Level: above what the session may have. */
  PrivilegeExceedsLimit: 0x81,
  /** Get/Set System Boot Options: parameter not supported. */
  ParameterNotSupported: 0x80,
  /** Close Session: no such session. */
  InvalidSessionId: 0x87,
  InvalidCommand: 0xc1,
  RequestDataLengthInvalid: 0xc7,
  InvalidDataField: 0xcc,
  DestinationUnavailable: 0xd3,
  InsufficientPrivilege: 0xd4,
  NotSupportedInPresentState: 0xd5,
  Unspecified: 0xff,
} as const;

export const AppCommand = {
  GetDeviceId: 0x01,
  GetSystemGuid: 0x37,
  GetChannelAuthCapabilities: 0x38,
  GetSessionChallenge: 0x39,
  ActivateSession: 0x3a,
  SetSessionPrivilegeLevel: 0x3b,
  CloseSession: 0x3c,
  GetChannelCipherSuites: 0x54,
} as const;

export const ChassisCommand = {
  GetChassisStatus: 0x01,
  ChassisControl: 0x02,
  SetSystemBootOptions: 0x08,
  GetSystemBootOptions: 0x09,
} as const;

/** What a command asks the backend to do; the reply stands only if it succeeds. */
export type CommandEffect =
  | { readonly kind: 'power'; readonly action: PowerAction }
  | { readonly kind: 'boot'; readonly boot: BootOverride };

export interface CommandResult {
  readonly completionCode: number;
  readonly data?: Buffer;
  readonly effect?: CommandEffect;
  readonly bootParameters?: BootParameterState;
  /** Set Session Privilege Level's new level. */
  readonly privilege?: number;
  /** Close Session closed the caller's own session (after this reply). */
  readonly closeSession?: boolean;
}

export interface CommandContext {
  readonly privilege: number;
  readonly maxPrivilege: number;
  readonly bmcSessionId: number;
  readonly view: BmcSystemView | undefined;
  readonly bootParameters: BootParameterState;
  readonly bmcGuid: Buffer;
}

const reply = (completionCode: number, data?: Buffer): CommandResult =>
  data ? { completionCode, data } : { completionCode };

/** Which channel the answer names: the request's, or 1 (this LAN channel) for "current" (0xE). */
function channelOf(byte: number): number {
  const channel = byte & 0x0f;
  return channel === 0x0e ? 1 : channel;
}

/**
 * Get Channel Authentication Capabilities (IPMI v2.0 §22.13): IPMI 2.0 extended capabilities,
 * no IPMI 1.5 authentication types, non-null user names only, IPMI 2.0 connections only.
 */
function channelAuthCapabilities(req: IpmiRequest): CommandResult {
  if (req.data.length < 2) return reply(CompletionCode.RequestDataLengthInvalid);
  const channel = channelOf(req.data.readUInt8(0));
  return reply(CompletionCode.Ok, Buffer.from([channel, 0x80, 0x04, 0x02, 0, 0, 0, 0]));
}

/** Get Channel Cipher Suites (IPMI v2.0 §22.15): one record, cipher suite 3, 16 bytes a page. */
function channelCipherSuites(req: IpmiRequest): CommandResult {
  if (req.data.length < 3) return reply(CompletionCode.RequestDataLengthInvalid);
  const channel = channelOf(req.data.readUInt8(0));
  const listIndex = req.data.readUInt8(2) & 0x3f;
  const byCipherSuite = (req.data.readUInt8(2) & 0x80) !== 0;
  const records = byCipherSuite
    ? Buffer.from([
        0xc0,
        CipherSuite3.id,
        CipherSuite3.auth,
        0x40 | CipherSuite3.integrity,
        0x80 | CipherSuite3.confidentiality,
      ])
    : Buffer.from([
        CipherSuite3.auth,
        0x40 | CipherSuite3.integrity,
        0x80 | CipherSuite3.confidentiality,
      ]);
  const page = records.subarray(Math.min(listIndex * 16, records.length), listIndex * 16 + 16);
  return reply(CompletionCode.Ok, Buffer.concat([Buffer.from([channel]), page]));
}

/**
 * The commands answered outside a session: discovery (authentication capabilities, cipher
 * suites) and IPMI 1.5's session set-up, refused with 0xC1 because this BMC only speaks RMCP+.
 * Anything else outside a session is undefined: dropped unanswered.
 */
export function handlePreSessionCommand(req: IpmiRequest): CommandResult | undefined {
  if (req.netFn !== NetFn.App) return undefined;
  switch (req.cmd) {
    case AppCommand.GetChannelAuthCapabilities:
      return channelAuthCapabilities(req);
    case AppCommand.GetChannelCipherSuites:
      return channelCipherSuites(req);
    case AppCommand.GetSessionChallenge:
    case AppCommand.ActivateSession:
      return reply(CompletionCode.InvalidCommand);
    default:
      return undefined;
  }
}

/** The least privilege each in-session command needs (IPMI v2.0 appendix G). */
function requiredPrivilege(netFn: number, cmd: number): number {
  if (netFn === NetFn.Chassis) {
    return cmd === ChassisCommand.GetChassisStatus ? Privilege.User : Privilege.Operator;
  }
  return cmd === AppCommand.SetSessionPrivilegeLevel || cmd === AppCommand.CloseSession
    ? Privilege.Callback
    : Privilege.User;
}

/** Get Device ID (IPMI v2.0 §20.1): a chassis device speaking IPMI 2.0, no SDRs, firmware 1.0. */
function deviceId(): CommandResult {
  return reply(
    CompletionCode.Ok,
    Buffer.from([0x20, 0x01, 0x01, 0x00, 0x02, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
  );
}

/** Get Chassis Status (IPMI v2.0 §28.2): power on/off, restore policy "previous", no faults. */
function chassisStatus(view: BmcSystemView): CommandResult {
  const power = (view.powerState === 'On' ? 0x01 : 0x00) | 0x20;
  return reply(CompletionCode.Ok, Buffer.from([power, 0x00, 0x00]));
}

/** Chassis Control (IPMI v2.0 §28.3) control values → backend actions. */
const chassisControlActions: Record<number, PowerAction> = {
  0x00: 'ForceOff',
  0x01: 'On',
  0x02: 'PowerCycle',
  0x03: 'ForceRestart',
  0x05: 'GracefulShutdown',
};

function chassisControl(req: IpmiRequest): CommandResult {
  if (req.data.length !== 1) return reply(CompletionCode.RequestDataLengthInvalid);
  const action = chassisControlActions[req.data.readUInt8(0) & 0x0f];
  if (!action) return reply(CompletionCode.InvalidDataField);
  return { completionCode: CompletionCode.Ok, effect: { kind: 'power', action } };
}

function getBootOptions(req: IpmiRequest, ctx: CommandContext, view: BmcSystemView): CommandResult {
  if (req.data.length < 1 || req.data.length > 3) {
    return reply(CompletionCode.RequestDataLengthInvalid);
  }
  const parameter = req.data.readUInt8(0) & 0x7f;
  const data =
    parameter === BootParameter.BootFlags
      ? encodeBootFlags(view.boot)
      : encodeLocalParameter(parameter, ctx.bootParameters);
  if (!data) return reply(CompletionCode.ParameterNotSupported);
  return reply(CompletionCode.Ok, Buffer.concat([Buffer.from([0x01, parameter]), data]));
}

function setBootOptions(req: IpmiRequest, ctx: CommandContext): CommandResult {
  if (req.data.length < 1) return reply(CompletionCode.RequestDataLengthInvalid);
  const parameter = req.data.readUInt8(0) & 0x7f;
  const data = req.data.subarray(1);
  if (parameter === BootParameter.BootFlags) {
    if (data.length !== 5) return reply(CompletionCode.RequestDataLengthInvalid);
    const boot = decodeBootFlags(data);
    if (!boot) return reply(CompletionCode.InvalidDataField);
    return { completionCode: CompletionCode.Ok, effect: { kind: 'boot', boot } };
  }
  const next = applyLocalParameter(parameter, data, ctx.bootParameters);
  if (next === 'length') return reply(CompletionCode.RequestDataLengthInvalid);
  if (next === 'unsupported') return reply(CompletionCode.ParameterNotSupported);
  return { completionCode: CompletionCode.Ok, bootParameters: next };
}

/** Set Session Privilege Level (IPMI v2.0 §22.18): 0 reads the present level. */
function setSessionPrivilege(req: IpmiRequest, ctx: CommandContext): CommandResult {
  if (req.data.length !== 1) return reply(CompletionCode.RequestDataLengthInvalid);
  const requested = req.data.readUInt8(0) & 0x0f;
  if (requested === 0) return reply(CompletionCode.Ok, Buffer.from([ctx.privilege]));
  if (requested < Privilege.User || requested > Privilege.Administrator) {
    return reply(CompletionCode.InvalidDataField);
  }
  if (requested > ctx.maxPrivilege) return reply(CompletionCode.PrivilegeExceedsLimit);
  return {
    completionCode: CompletionCode.Ok,
    data: Buffer.from([requested]),
    privilege: requested,
  };
}

/** Close Session (IPMI v2.0 §22.19): a session may close itself. */
function closeSession(req: IpmiRequest, ctx: CommandContext): CommandResult {
  if (req.data.length < 4) return reply(CompletionCode.RequestDataLengthInvalid);
  if (req.data.readUInt32LE(0) !== ctx.bmcSessionId) return reply(CompletionCode.InvalidSessionId);
  return { completionCode: CompletionCode.Ok, closeSession: true };
}

/** A command inside an active session. */
export function handleSessionCommand(req: IpmiRequest, ctx: CommandContext): CommandResult {
  const known =
    (req.netFn === NetFn.App && (Object.values(AppCommand) as number[]).includes(req.cmd)) ||
    (req.netFn === NetFn.Chassis && (Object.values(ChassisCommand) as number[]).includes(req.cmd));
  if (!known) return reply(CompletionCode.InvalidCommand);
  if (ctx.privilege < requiredPrivilege(req.netFn, req.cmd)) {
    return reply(CompletionCode.InsufficientPrivilege);
  }
  if (req.netFn === NetFn.App) {
    switch (req.cmd) {
      case AppCommand.GetDeviceId:
        return deviceId();
      case AppCommand.GetSystemGuid:
        return reply(CompletionCode.Ok, ctx.bmcGuid);
      case AppCommand.SetSessionPrivilegeLevel:
        return setSessionPrivilege(req, ctx);
      case AppCommand.CloseSession:
        return closeSession(req, ctx);
      default:
        // Discovery works in a session too; IPMI 1.5 set-up does not.
        return handlePreSessionCommand(req) ?? reply(CompletionCode.InvalidCommand);
    }
  }
  if (req.cmd === ChassisCommand.ChassisControl) return chassisControl(req);
  if (req.cmd === ChassisCommand.SetSystemBootOptions) return setBootOptions(req, ctx);
  const view = ctx.view;
  if (!view) return reply(CompletionCode.DestinationUnavailable);
  return req.cmd === ChassisCommand.GetChassisStatus
    ? chassisStatus(view)
    : getBootOptions(req, ctx, view);
}

/** The completion code for a backend action that threw. */
export function completionCodeForError(error: unknown): number {
  if (error instanceof BmcActionConflictError) return CompletionCode.NotSupportedInPresentState;
  if (error instanceof BmcSystemNotFoundError) return CompletionCode.DestinationUnavailable;
  return CompletionCode.Unspecified;
}
