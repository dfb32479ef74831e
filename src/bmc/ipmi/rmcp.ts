// RMCP framing (DMTF ASF 2.0 §3.2.2) and the two IPMI session wrappers that ride in it: the
// IPMI 1.5 header, which this BMC only ever sees session-less (the discovery commands clients
// send before RMCP+), and the IPMI 2.0 / RMCP+ header (IPMI v2.0 §13.6 and §13.8). Pure
// functions: every parser bounds-checks and returns undefined for anything it cannot read.

export const RMCP_VERSION = 0x06;
/** RMCP sequence number meaning "do not acknowledge" (IPMI never asks for RMCP ACKs). */
export const RMCP_NO_ACK = 0xff;
export const RmcpClass = { Asf: 0x06, Ipmi: 0x07 } as const;

/** Session header "authentication type" byte: 0x00 is IPMI 1.5 without auth, 0x06 is RMCP+. */
export const AUTH_TYPE_NONE = 0x00;
export const AUTH_TYPE_RMCP_PLUS = 0x06;

/** RMCP+ payload types (IPMI v2.0 table 13-16). */
export const PayloadType = {
  Ipmi: 0x00,
  OpenSessionRequest: 0x10,
  OpenSessionResponse: 0x11,
  Rakp1: 0x12,
  Rakp2: 0x13,
  Rakp3: 0x14,
  Rakp4: 0x15,
} as const;

/** The integrity trailer's "next header" byte: always 0x07 (RMCP+). */
export const NEXT_HEADER = 0x07;

/** IPMI messages fit in far less; anything bigger is refused before it is read. */
export const MAX_PAYLOAD = 1024;

export interface RmcpPacket {
  readonly messageClass: number;
  readonly sequence: number;
  readonly body: Buffer;
}

export function parseRmcp(datagram: Buffer): RmcpPacket | undefined {
  if (datagram.length < 4 || datagram.readUInt8(0) !== RMCP_VERSION) return undefined;
  const classByte = datagram.readUInt8(3);
  // Bit 7 marks an RMCP ACK, which carries nothing for us.
  if (classByte & 0x80) return undefined;
  return {
    messageClass: classByte & 0x1f,
    sequence: datagram.readUInt8(2),
    body: datagram.subarray(4),
  };
}

export function encodeRmcp(messageClass: number, body: Buffer, sequence = RMCP_NO_ACK): Buffer {
  return Buffer.concat([Buffer.from([RMCP_VERSION, 0x00, sequence, messageClass]), body]);
}

/** An IPMI 1.5 packet this BMC reads: only auth type NONE, so no auth code field. */
export interface Ipmi15Packet {
  readonly sequence: number;
  readonly sessionId: number;
  readonly message: Buffer;
}

/** The IPMI 1.5 session header (auth type, sequence, session id, length), session-less only. */
export function parseIpmi15(body: Buffer): Ipmi15Packet | undefined {
  if (body.length < 10 || body.readUInt8(0) !== AUTH_TYPE_NONE) return undefined;
  const length = body.readUInt8(9);
  if (body.length < 10 + length) return undefined;
  return {
    sequence: body.readUInt32LE(1),
    sessionId: body.readUInt32LE(5),
    message: body.subarray(10, 10 + length),
  };
}

export function encodeIpmi15(message: Buffer): Buffer {
  const header = Buffer.alloc(10);
  header.writeUInt8(AUTH_TYPE_NONE, 0);
  header.writeUInt8(message.length, 9);
  return Buffer.concat([header, message]);
}

/** An RMCP+ packet as read off the wire, before its integrity is checked or payload decrypted. */
export interface Rmcp2Packet {
  readonly payloadType: number;
  readonly encrypted: boolean;
  readonly authenticated: boolean;
  readonly sessionId: number;
  readonly sequence: number;
  /** The payload as sent (still encrypted when `encrypted`). */
  readonly payload: Buffer;
  /** Bytes the integrity code covers: auth type through next header. */
  readonly signed: Buffer;
  /** The trailing integrity code (empty when not authenticated). */
  readonly authCode: Buffer;
}

const RMCP2_HEADER = 12;

/**
 * The RMCP+ header, payload and (when authenticated) the integrity trailer: pad of 0xFF so that
 * auth type through next header is a multiple of 4, pad length, next header, then `authCodeLength`
 * bytes of integrity code. OEM payloads (type 0x02, with the extra IANA header) are refused.
 */
export function parseRmcp2(body: Buffer, authCodeLength: number): Rmcp2Packet | undefined {
  if (body.length < RMCP2_HEADER || body.readUInt8(0) !== AUTH_TYPE_RMCP_PLUS) return undefined;
  const typeByte = body.readUInt8(1);
  const payloadType = typeByte & 0x3f;
  if (payloadType === 0x02) return undefined;
  const length = body.readUInt16LE(10);
  if (length > MAX_PAYLOAD || body.length < RMCP2_HEADER + length) return undefined;
  const authenticated = (typeByte & 0x40) !== 0;
  const payloadEnd = RMCP2_HEADER + length;
  let signed: Buffer = body.subarray(0, payloadEnd);
  let authCode: Buffer = Buffer.alloc(0);
  if (authenticated) {
    const trailerEnd = body.length - authCodeLength;
    // pad + pad length + next header must end exactly where the auth code starts.
    if (authCodeLength <= 0 || trailerEnd < payloadEnd + 2) return undefined;
    const padLength = body.readUInt8(trailerEnd - 2);
    if (padLength > 3 || payloadEnd + padLength + 2 !== trailerEnd) return undefined;
    if (body.readUInt8(trailerEnd - 1) !== NEXT_HEADER) return undefined;
    for (let i = payloadEnd; i < payloadEnd + padLength; i++) {
      if (body.readUInt8(i) !== 0xff) return undefined;
    }
    if (trailerEnd % 4 !== 0) return undefined;
    signed = body.subarray(0, trailerEnd);
    authCode = body.subarray(trailerEnd);
  } else if (body.length !== payloadEnd) {
    return undefined;
  }
  return {
    payloadType,
    encrypted: (typeByte & 0x80) !== 0,
    authenticated,
    sessionId: body.readUInt32LE(2),
    sequence: body.readUInt32LE(6),
    payload: body.subarray(RMCP2_HEADER, payloadEnd),
    signed,
    authCode,
  };
}

export interface Rmcp2Outgoing {
  readonly payloadType: number;
  readonly sessionId: number;
  readonly sequence: number;
  /** The payload as it goes on the wire (already encrypted when `encrypted`). */
  readonly payload: Buffer;
  readonly encrypted?: boolean;
  /** Computes the integrity code over the signed bytes; absent for an unauthenticated packet. */
  readonly sign?: (signed: Buffer) => Buffer;
}

export function encodeRmcp2(packet: Rmcp2Outgoing): Buffer {
  const header = Buffer.alloc(RMCP2_HEADER);
  header.writeUInt8(AUTH_TYPE_RMCP_PLUS, 0);
  const flags = (packet.encrypted ? 0x80 : 0) | (packet.sign ? 0x40 : 0);
  header.writeUInt8(flags | (packet.payloadType & 0x3f), 1);
  header.writeUInt32LE(packet.sessionId >>> 0, 2);
  header.writeUInt32LE(packet.sequence >>> 0, 6);
  header.writeUInt16LE(packet.payload.length, 10);
  if (!packet.sign) return Buffer.concat([header, packet.payload]);
  const unpadded = RMCP2_HEADER + packet.payload.length + 2;
  const padLength = (4 - (unpadded % 4)) % 4;
  const trailer = Buffer.alloc(padLength + 2, 0xff);
  trailer.writeUInt8(padLength, padLength);
  trailer.writeUInt8(NEXT_HEADER, padLength + 1);
  const signed = Buffer.concat([header, packet.payload, trailer]);
  return Buffer.concat([signed, packet.sign(signed)]);
}

/** ASF presence ping → pong (ASF 2.0 §3.2.4), so `ipmiping`-style discovery sees a BMC. */
const ASF_IANA = 4542;
const ASF_PING = 0x80;
const ASF_PONG = 0x40;

export function asfPong(body: Buffer): Buffer | undefined {
  if (body.length < 8 || body.readUInt32BE(0) !== ASF_IANA || body.readUInt8(4) !== ASF_PING) {
    return undefined;
  }
  const pong = Buffer.alloc(8 + 16);
  pong.writeUInt32BE(ASF_IANA, 0);
  pong.writeUInt8(ASF_PONG, 4);
  pong.writeUInt8(body.readUInt8(5), 5); // message tag echoed
  pong.writeUInt8(16, 7);
  pong.writeUInt32BE(ASF_IANA, 8);
  pong.writeUInt8(0x81, 16); // supported entities: IPMI, ASF 1.0
  return pong;
}
