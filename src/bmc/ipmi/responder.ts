// One BMC's packet handler: a datagram and its source in, the datagram to send back (or nothing)
// out. It routes RMCP to ASF ping, session-less discovery, the RMCP+ handshake or an active
// session's command, and carries out the command's effect on the backend. It never throws: a
// packet it cannot read is dropped, and a backend failure becomes a completion code.
import { createHash } from 'node:crypto';
import type { LoginThrottle } from '../auth.js';
import type { BmcActionSource, BmcBackend, BmcCredentials } from '../backend.js';
import { type BootParameterState, InitialBootParameterState } from './boot-options.js';
import {
  type CommandResult,
  completionCodeForError,
  handlePreSessionCommand,
  handleSessionCommand,
} from './commands.js';
import { INTEGRITY_CODE_LENGTH } from './crypto.js';
import { encodeIpmiResponse, parseIpmiRequest } from './message.js';
import { parseOpenSessionRequest, parseRakp1, parseRakp3 } from './rakp.js';
import {
  AUTH_TYPE_NONE,
  AUTH_TYPE_RMCP_PLUS,
  PayloadType,
  RmcpClass,
  asfPong,
  encodeIpmi15,
  encodeRmcp,
  encodeRmcp2,
  parseIpmi15,
  parseRmcp,
  parseRmcp2,
} from './rmcp.js';
import { type PacketSource, type Session, type SessionLimits, SessionTable } from './session.js';

export interface IpmiLog {
  warn(msg: string, meta?: object): void;
  debug(msg: string, meta?: object): void;
}

export interface IpmiResponderOptions {
  readonly systemId: string;
  readonly credentials: () => BmcCredentials | undefined;
  readonly backend: BmcBackend;
  readonly throttle: LoginThrottle;
  readonly log?: IpmiLog;
  readonly now?: () => number;
  readonly limits?: Partial<SessionLimits>;
  readonly randomBytes?: (size: number) => Buffer;
}

/** The BMC GUID in RAKP 2 and Get System GUID: stable per system, derived from its id. */
export function bmcGuidFor(systemId: string): Buffer {
  return createHash('sha256').update(`maaslab-ipmi:${systemId}`).digest().subarray(0, 16);
}

export class IpmiResponder {
  readonly sessions: SessionTable;
  private bootParameters: BootParameterState = InitialBootParameterState;
  private readonly bmcGuid: Buffer;

  constructor(private readonly opts: IpmiResponderOptions) {
    this.bmcGuid = bmcGuidFor(opts.systemId);
    this.sessions = new SessionTable({
      credentials: opts.credentials,
      throttle: opts.throttle,
      bmcGuid: this.bmcGuid,
      ...(opts.limits ? { limits: opts.limits } : {}),
      ...(opts.now ? { now: opts.now } : {}),
      ...(opts.randomBytes ? { randomBytes: opts.randomBytes } : {}),
      warn: (msg, meta) => opts.log?.warn(msg, { systemId: opts.systemId, ...meta }),
    });
  }

  /** The reply to `datagram` from `source`, or undefined to stay silent. Never throws. */
  async handle(datagram: Buffer, source: PacketSource): Promise<Buffer | undefined> {
    try {
      return await this.route(datagram, source);
    } catch (error) {
      this.opts.log?.warn('IPMI packet handling failed', {
        systemId: this.opts.systemId,
        remote: source.remote,
        error: String(error),
      });
      return undefined;
    }
  }

  private async route(datagram: Buffer, source: PacketSource): Promise<Buffer | undefined> {
    const rmcp = parseRmcp(datagram);
    if (!rmcp) return undefined;
    if (rmcp.messageClass === RmcpClass.Asf) {
      const pong = asfPong(rmcp.body);
      return pong && encodeRmcp(RmcpClass.Asf, pong, rmcp.sequence);
    }
    if (rmcp.messageClass !== RmcpClass.Ipmi || rmcp.body.length === 0) return undefined;
    const authType = rmcp.body.readUInt8(0);
    if (authType === AUTH_TYPE_NONE) return this.preSession15(rmcp.body);
    if (authType !== AUTH_TYPE_RMCP_PLUS) return undefined;
    const packet = parseRmcp2(rmcp.body, INTEGRITY_CODE_LENGTH);
    if (!packet) return undefined;
    const wrap = (body: Buffer | undefined): Buffer | undefined =>
      body && encodeRmcp(RmcpClass.Ipmi, body);
    const handshake = (payloadType: number, payload: Buffer | undefined): Buffer | undefined =>
      payload && wrap(encodeRmcp2({ payloadType, sessionId: 0, sequence: 0, payload }));
    if (packet.payloadType !== PayloadType.Ipmi) {
      // Handshake messages travel outside any session, unauthenticated and in the clear.
      if (packet.sessionId !== 0 || packet.authenticated || packet.encrypted) return undefined;
      switch (packet.payloadType) {
        case PayloadType.OpenSessionRequest: {
          const req = parseOpenSessionRequest(packet.payload);
          return (
            req &&
            handshake(PayloadType.OpenSessionResponse, this.sessions.openSession(req, source))
          );
        }
        case PayloadType.Rakp1: {
          const msg = parseRakp1(packet.payload);
          return msg && handshake(PayloadType.Rakp2, this.sessions.rakp1(msg, source));
        }
        case PayloadType.Rakp3: {
          const msg = parseRakp3(packet.payload);
          return msg && handshake(PayloadType.Rakp4, this.sessions.rakp3(msg, source));
        }
        default:
          return undefined;
      }
    }
    if (packet.sessionId === 0) {
      if (packet.authenticated || packet.encrypted) return undefined;
      const response = this.preSessionMessage(packet.payload);
      return response && handshake(PayloadType.Ipmi, response);
    }
    const opened = this.sessions.open(packet, source);
    if (!opened) return undefined;
    const response = await this.sessionMessage(opened.session, opened.payload, source);
    if (!response) return undefined;
    const sealed = this.sessions.seal(opened.session, PayloadType.Ipmi, response.message);
    if (response.close) this.sessions.close(opened.session.bmcSessionId);
    return wrap(sealed);
  }

  /** IPMI 1.5 framing is read only session-less: discovery, and refusing 1.5 sessions. */
  private preSession15(body: Buffer): Buffer | undefined {
    const packet = parseIpmi15(body);
    if (!packet || packet.sessionId !== 0) return undefined;
    const response = this.preSessionMessage(packet.message);
    return response && encodeRmcp(RmcpClass.Ipmi, encodeIpmi15(response));
  }

  private preSessionMessage(message: Buffer): Buffer | undefined {
    const req = parseIpmiRequest(message);
    if (!req) return undefined;
    const result = handlePreSessionCommand(req);
    return result && encodeIpmiResponse(req, result.completionCode, result.data ?? Buffer.alloc(0));
  }

  private async sessionMessage(
    session: Session,
    message: Buffer,
    source: PacketSource,
  ): Promise<{ message: Buffer; close: boolean } | undefined> {
    const req = parseIpmiRequest(message);
    if (!req) return undefined;
    const view = await this.opts.backend.describe(this.opts.systemId);
    const result = handleSessionCommand(req, {
      privilege: session.privilege,
      maxPrivilege: session.maxPrivilege,
      bmcSessionId: session.bmcSessionId,
      view,
      bootParameters: this.bootParameters,
      bmcGuid: this.bmcGuid,
    });
    const completionCode = await this.applyEffect(result, session, source);
    if (completionCode === 0) {
      if (result.bootParameters) this.bootParameters = result.bootParameters;
      if (result.privilege !== undefined) session.privilege = result.privilege;
    }
    const data = completionCode === 0 ? (result.data ?? Buffer.alloc(0)) : Buffer.alloc(0);
    return {
      message: encodeIpmiResponse(req, completionCode, data),
      close: completionCode === 0 && result.closeSession === true,
    };
  }

  /** Carries out the command's backend effect; the completion code it ends with. */
  private async applyEffect(
    result: CommandResult,
    session: Session,
    source: PacketSource,
  ): Promise<number> {
    const effect = result.effect;
    if (!effect || result.completionCode !== 0) return result.completionCode;
    const actionSource: BmcActionSource = {
      protocol: 'ipmi',
      remote: source.remote,
      user: session.username,
    };
    try {
      if (effect.kind === 'power') {
        await this.opts.backend.power(this.opts.systemId, effect.action, actionSource);
      } else {
        await this.opts.backend.setBootOverride(this.opts.systemId, effect.boot, actionSource);
      }
      return 0;
    } catch (error) {
      const code = completionCodeForError(error);
      this.opts.log?.[code === 0xff ? 'warn' : 'debug']('IPMI action failed', {
        systemId: this.opts.systemId,
        effect,
        remote: source.remote,
        error: String(error),
      });
      return code;
    }
  }
}
