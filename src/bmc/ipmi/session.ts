// RMCP+ sessions: the Open Session / RAKP state machine (IPMI v2.0 §13.17–§13.23), the keys it
// yields, the inbound sequence-number window and the limits (how many, how long idle). One table
// per BMC. Everything that arrives is bounded: the table never holds more than `maxSessions`, and a
// half-open session older than `handshakeTimeoutMs` is gone.
import { randomBytes as nodeRandomBytes } from 'node:crypto';
import { constantTimeEqual, type LoginThrottle } from '../auth.js';
import type { BmcCredentials } from '../backend.js';
import {
  type RakpExchange,
  type SessionKeys,
  decryptPayload,
  deriveSessionKeys,
  encryptPayload,
  integrityCode,
  integrityCodeMatches,
  rakp2AuthCode,
  rakp3AuthCode,
  rakp4CheckValue,
  sessionIntegrityKey,
} from './crypto.js';
import {
  CipherSuite3,
  type OpenSessionRequest,
  type Rakp1,
  type Rakp3,
  RmcpStatus,
  encodeOpenSessionResponse,
  encodeRakp2,
  encodeRakp4,
} from './rakp.js';
import { type Rmcp2Packet, encodeRmcp2 } from './rmcp.js';

/** Privilege levels (IPMI v2.0 table 22-28's encoding). */
export const Privilege = { Callback: 1, User: 2, Operator: 3, Administrator: 4, Oem: 5 } as const;

/** IPMI keys are 20 bytes: a longer password cannot be one (IPMI v2.0 §13.31, Kuid). */
export const MAX_PASSWORD_BYTES = 20;

export interface SessionLimits {
  /** Sessions (half-open and active) held at once. Default 8. */
  readonly maxSessions: number;
  /** An active session silent for this long is closed. Default 60 s. */
  readonly idleTimeoutMs: number;
  /** A session that has not finished RAKP within this is dropped. Default 10 s. */
  readonly handshakeTimeoutMs: number;
}

export const DefaultSessionLimits: SessionLimits = {
  maxSessions: 8,
  idleTimeoutMs: 60_000,
  handshakeTimeoutMs: 10_000,
};

/** Where a packet came from: `ip` keys the login throttle, `remote` (ip:port) binds a session. */
export interface PacketSource {
  readonly ip: string;
  readonly remote: string;
}

interface Handshake {
  readonly exchange: RakpExchange;
  readonly kuid: Buffer;
  readonly privilege: number;
}

export interface Session {
  readonly bmcSessionId: number;
  readonly consoleSessionId: number;
  readonly source: PacketSource;
  readonly createdAt: number;
  state: 'opened' | 'rakp2-sent' | 'active';
  lastActivity: number;
  handshake?: Handshake;
  keys?: SessionKeys;
  username: string;
  maxPrivilege: number;
  privilege: number;
  /** Highest inbound sequence number seen, and a bitmap of the 32 below it (bit 0 = highest). */
  highestSequence: number;
  seenMask: number;
  outboundSequence: number;
}

/** Sequence numbers accepted ahead of, and remembered behind, the highest seen. */
const SEQUENCE_WINDOW = 32;

/**
 * Whether `sequence` is new for `session` (not zero, not replayed, not far ahead), recording it
 * when it is. IPMI v2.0 §6.12.13 asks for a sliding window; 32 either side is generous.
 */
export function acceptSequence(session: Session, sequence: number): boolean {
  if (sequence === 0) return false;
  if (session.highestSequence === 0) {
    session.highestSequence = sequence;
    session.seenMask = 1;
    return true;
  }
  const ahead = (sequence - session.highestSequence) >>> 0;
  if (ahead >= 1 && ahead <= SEQUENCE_WINDOW) {
    session.seenMask = ahead >= 32 ? 1 : ((session.seenMask << ahead) | 1) >>> 0;
    session.highestSequence = sequence;
    return true;
  }
  const behind = (session.highestSequence - sequence) >>> 0;
  if (behind >= 1 && behind < 32) {
    const bit = (1 << behind) >>> 0;
    if (session.seenMask & bit) return false;
    session.seenMask = (session.seenMask | bit) >>> 0;
    return true;
  }
  return false;
}

export interface SessionTableOptions {
  readonly credentials: () => BmcCredentials | undefined;
  readonly throttle: LoginThrottle;
  readonly bmcGuid: Buffer;
  readonly limits?: Partial<SessionLimits>;
  readonly now?: () => number;
  readonly randomBytes?: (size: number) => Buffer;
  readonly warn?: (msg: string, meta?: object) => void;
}

export class SessionTable {
  private readonly sessions = new Map<number, Session>();
  private readonly limits: SessionLimits;
  private readonly now: () => number;
  private readonly random: (size: number) => Buffer;

  constructor(private readonly opts: SessionTableOptions) {
    this.limits = { ...DefaultSessionLimits, ...opts.limits };
    this.now = opts.now ?? Date.now;
    this.random = opts.randomBytes ?? nodeRandomBytes;
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Drops sessions past their idle or handshake timeout (run before each lookup). */
  sweep(): void {
    const now = this.now();
    for (const s of this.sessions.values()) {
      const limit =
        s.state === 'active' ? this.limits.idleTimeoutMs : this.limits.handshakeTimeoutMs;
      if (now - s.lastActivity >= limit) this.drop(s);
    }
  }

  /**
   * Removes a session that did not close itself. One left after RAKP 2 counts as a failed login:
   * a console that cannot verify RAKP 2 (a wrong password) just stops, sending no RAKP 3, so an
   * abandoned handshake is the only sign of it (ipmitool 1.8.19 and FreeIPMI 1.6 both do this).
   */
  private drop(session: Session): void {
    this.sessions.delete(session.bmcSessionId);
    if (session.state === 'rakp2-sent') this.opts.throttle.failed(session.source.ip);
  }

  /** Open Session Request → Response: only cipher suite 3's algorithms, room permitting. */
  openSession(req: OpenSessionRequest, source: PacketSource): Buffer {
    this.sweep();
    const refuse = (status: number): Buffer =>
      encodeOpenSessionResponse({ tag: req.tag, status, consoleSessionId: req.consoleSessionId });
    if (req.auth !== CipherSuite3.auth) return refuse(RmcpStatus.NoCipherSuiteMatch);
    if (req.integrity !== CipherSuite3.integrity) return refuse(RmcpStatus.NoCipherSuiteMatch);
    if (req.confidentiality !== CipherSuite3.confidentiality) {
      return refuse(RmcpStatus.NoCipherSuiteMatch);
    }
    if (req.requestedPrivilege > Privilege.Oem) return refuse(RmcpStatus.InvalidRole);
    if (req.requestedPrivilege === Privilege.Oem) return refuse(RmcpStatus.UnauthorizedRole);
    if (!this.opts.throttle.check(source.ip).allowed) {
      return refuse(RmcpStatus.InsufficientResources);
    }
    if (this.sessions.size >= this.limits.maxSessions && !this.evictOldestHandshake()) {
      return refuse(RmcpStatus.InsufficientResources);
    }
    const now = this.now();
    const session: Session = {
      bmcSessionId: this.newSessionId(),
      consoleSessionId: req.consoleSessionId,
      source,
      createdAt: now,
      state: 'opened',
      lastActivity: now,
      username: '',
      maxPrivilege: req.requestedPrivilege === 0 ? Privilege.Administrator : req.requestedPrivilege,
      privilege: Privilege.User,
      highestSequence: 0,
      seenMask: 0,
      outboundSequence: 0,
    };
    this.sessions.set(session.bmcSessionId, session);
    return encodeOpenSessionResponse({
      tag: req.tag,
      status: RmcpStatus.Ok,
      consoleSessionId: req.consoleSessionId,
      privilege: session.maxPrivilege,
      bmcSessionId: session.bmcSessionId,
    });
  }

  /** RAKP 1 → RAKP 2: name-only lookup of the one user; an unknown name is a failed login. */
  rakp1(msg: Rakp1, source: PacketSource): Buffer {
    const session = this.sessions.get(msg.bmcSessionId);
    if (!session || session.state === 'active' || session.source.remote !== source.remote) {
      return encodeRakp2({
        tag: msg.tag,
        status: RmcpStatus.InvalidSessionId,
        consoleSessionId: 0,
      });
    }
    const refuse = (status: number): Buffer => {
      this.sessions.delete(session.bmcSessionId);
      return encodeRakp2({ tag: msg.tag, status, consoleSessionId: session.consoleSessionId });
    };
    const requested = msg.role & 0x0f;
    if (requested > Privilege.Oem || (msg.role & 0xe0) !== 0) return refuse(RmcpStatus.InvalidRole);
    if (requested === Privilege.Oem) return refuse(RmcpStatus.UnauthorizedRole);
    if (!this.opts.throttle.check(source.ip).allowed) return refuse(RmcpStatus.UnauthorizedName);
    const credentials = this.opts.credentials();
    const known =
      credentials !== undefined && constantTimeEqual(msg.username, credentials.username);
    if (!credentials || !known) {
      this.opts.throttle.failed(source.ip);
      return refuse(RmcpStatus.UnauthorizedName);
    }
    const kuid = Buffer.from(credentials.password, 'utf8');
    if (kuid.length > MAX_PASSWORD_BYTES) {
      this.opts.warn?.('IPMI login refused: the password is longer than 20 bytes', {
        remote: source.remote,
      });
      return refuse(RmcpStatus.IllegalParameter);
    }
    const exchange: RakpExchange = {
      consoleSessionId: session.consoleSessionId,
      bmcSessionId: session.bmcSessionId,
      consoleRandom: msg.consoleRandom,
      bmcRandom: this.random(16),
      bmcGuid: this.opts.bmcGuid,
      role: msg.role,
      username: msg.username,
    };
    const granted = requested === 0 ? session.maxPrivilege : requested;
    session.handshake = { exchange, kuid, privilege: Math.min(granted, session.maxPrivilege) };
    session.username = msg.username.toString('utf8');
    session.state = 'rakp2-sent';
    session.lastActivity = this.now();
    return encodeRakp2({
      tag: msg.tag,
      status: RmcpStatus.Ok,
      consoleSessionId: session.consoleSessionId,
      bmcRandom: exchange.bmcRandom,
      bmcGuid: exchange.bmcGuid,
      authCode: rakp2AuthCode(kuid, exchange),
    });
  }

  /**
   * RAKP 3 → RAKP 4, or nothing when the console itself reports a failure. A wrong code (the
   * console does not know the password) or a console-reported failure is a failed login.
   */
  rakp3(msg: Rakp3, source: PacketSource): Buffer | undefined {
    const session = this.sessions.get(msg.bmcSessionId);
    const handshake = session?.handshake;
    if (
      !session ||
      !handshake ||
      session.state !== 'rakp2-sent' ||
      session.source.remote !== source.remote
    ) {
      return encodeRakp4({
        tag: msg.tag,
        status: RmcpStatus.InvalidSessionId,
        consoleSessionId: 0,
      });
    }
    const fail = (): void => {
      this.sessions.delete(session.bmcSessionId);
      this.opts.throttle.failed(source.ip);
    };
    if (msg.status !== RmcpStatus.Ok) {
      fail();
      return undefined;
    }
    const expected = rakp3AuthCode(handshake.kuid, handshake.exchange);
    if (!constantTimeEqual(msg.authCode, expected)) {
      fail();
      return encodeRakp4({
        tag: msg.tag,
        status: RmcpStatus.InvalidIntegrityCheckValue,
        consoleSessionId: session.consoleSessionId,
      });
    }
    const sik = sessionIntegrityKey(handshake.kuid, handshake.exchange);
    session.keys = deriveSessionKeys(sik);
    session.maxPrivilege = handshake.privilege;
    session.privilege = handshake.privilege;
    session.state = 'active';
    session.lastActivity = this.now();
    this.opts.throttle.succeeded(source.ip);
    return encodeRakp4({
      tag: msg.tag,
      status: RmcpStatus.Ok,
      consoleSessionId: session.consoleSessionId,
      checkValue: rakp4CheckValue(sik, handshake.exchange),
    });
  }

  /**
   * The active session an inbound packet belongs to and its decrypted payload, or undefined when
   * it is not authenticated and encrypted, fails its integrity check, or replays a sequence number.
   */
  open(
    packet: Rmcp2Packet,
    source: PacketSource,
  ): { session: Session; payload: Buffer } | undefined {
    this.sweep();
    const session = this.sessions.get(packet.sessionId);
    if (!session?.keys || session.state !== 'active' || session.source.remote !== source.remote) {
      return undefined;
    }
    if (!packet.authenticated || !packet.encrypted) return undefined;
    if (!integrityCodeMatches(session.keys.integrityKey, packet.signed, packet.authCode)) {
      return undefined;
    }
    const payload = decryptPayload(session.keys.aesKey, packet.payload);
    if (!payload) return undefined;
    if (!acceptSequence(session, packet.sequence)) return undefined;
    session.lastActivity = this.now();
    return { session, payload };
  }

  /** An encrypted, authenticated RMCP+ body carrying `plaintext` to the session's console. */
  seal(session: Session, payloadType: number, plaintext: Buffer): Buffer {
    const keys = session.keys;
    if (!keys) throw new Error('seal: the session has no keys yet');
    session.outboundSequence = (session.outboundSequence + 1) >>> 0 || 1;
    return encodeRmcp2({
      payloadType,
      sessionId: session.consoleSessionId,
      sequence: session.outboundSequence,
      payload: encryptPayload(keys.aesKey, this.random(16), plaintext),
      encrypted: true,
      sign: (signed) => integrityCode(keys.integrityKey, signed),
    });
  }

  get(bmcSessionId: number): Session | undefined {
    return this.sessions.get(bmcSessionId);
  }

  close(bmcSessionId: number): void {
    this.sessions.delete(bmcSessionId);
  }

  private evictOldestHandshake(): boolean {
    for (const s of this.sessions.values()) {
      if (s.state !== 'active') {
        this.drop(s);
        return true;
      }
    }
    return false;
  }

  private newSessionId(): number {
    for (;;) {
      const id = this.random(4).readUInt32LE(0);
      if (id !== 0 && !this.sessions.has(id)) return id;
    }
  }
}
