// A minimal remote console for the responder's unit tests and bench/bmc.ts: it builds RMCP+
// packets and checks the BMC's answers with its own HMAC/AES code straight from the spec's
// formulas (IPMI v2.0 §13.31–§13.32), so the tests do not grade the BMC's crypto with the
// BMC's crypto. It talks to anything that answers a datagram: an IpmiResponder in-process, or
// a BMC's UDP socket through udpPeer().
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import type { PacketSource } from '../../src/bmc/ipmi/session.js';

/** What the console sends packets to: an IpmiResponder, or a BMC's socket (udpPeer). */
export interface IpmiPeer {
  handle(datagram: Buffer, source: PacketSource): Promise<Buffer | undefined>;
}

/**
 * A BMC's UDP port as an IpmiPeer: each handle() sends one datagram from one local socket and
 * resolves with the next datagram back (one request in flight per peer, as a console does), or
 * undefined after `timeoutMs`. The source argument is ignored: the socket is the source.
 */
export async function udpPeer(
  host: string,
  port: number,
  timeoutMs = 2000,
): Promise<IpmiPeer & { close(): Promise<void> }> {
  const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  let waiting: ((reply: Buffer | undefined) => void) | undefined;
  socket.on('message', (reply) => {
    const w = waiting;
    waiting = undefined;
    w?.(reply);
  });
  await new Promise<void>((resolve) => socket.connect(port, host, resolve));
  return {
    handle(datagram) {
      if (waiting) return Promise.reject(new Error('one request at a time on an IPMI peer'));
      return new Promise<Buffer | undefined>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting = undefined;
          resolve(undefined);
        }, timeoutMs);
        waiting = (reply) => {
          clearTimeout(timer);
          resolve(reply);
        };
        socket.send(datagram, (err) => {
          if (!err) return;
          clearTimeout(timer);
          waiting = undefined;
          reject(err);
        });
      });
    },
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

export const source = { ip: '192.0.2.10', remote: '192.0.2.10:40000' };

const sha1 = (key: Buffer, ...parts: Buffer[]): Buffer => {
  const h = createHmac('sha1', key);
  parts.forEach((p) => h.update(p));
  return h.digest();
};
const le32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};

export function rmcp(body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0x06, 0x00, 0xff, 0x07]), body]);
}

/** An unauthenticated RMCP+ packet (handshake or pre-session). */
export function plain(payloadType: number, payload: Buffer, sessionId = 0, sequence = 0): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt8(0x06, 0);
  h.writeUInt8(payloadType, 1);
  h.writeUInt32LE(sessionId, 2);
  h.writeUInt32LE(sequence, 6);
  h.writeUInt16LE(payload.length, 10);
  return rmcp(Buffer.concat([h, payload]));
}

/** The RMCP+ payload of a reply, unauthenticated. */
export function payloadOf(reply: Buffer | undefined): Buffer {
  if (!reply) throw new Error('no reply');
  const length = reply.readUInt16LE(4 + 10);
  return reply.subarray(16, 16 + length);
}

export function ipmiRequest(
  netFn: number,
  cmd: number,
  data: number[] | Buffer,
  rqSeq = 1,
): Buffer {
  const sum = (b: number[]): number => (0x100 - (b.reduce((a, x) => a + x, 0) & 0xff)) & 0xff;
  const head = [0x20, netFn << 2];
  const body = [0x81, rqSeq << 2, cmd, ...data];
  return Buffer.from([...head, sum(head), ...body, sum(body)]);
}

export interface ConsoleSession {
  bmcSessionId: number;
  consoleSessionId: number;
  k1: Buffer;
  aesKey: Buffer;
  sequence: number;
  sik: Buffer;
}

export interface LoginResult {
  rakp2Status: number;
  rakp4Status?: number;
  session?: ConsoleSession;
}

/** Opens a session as a console would; checks RAKP 2 and RAKP 4 with independent formulas. */
export async function login(
  bmc: IpmiPeer,
  username: string,
  password: string,
  from = source,
  role = 0x14,
): Promise<LoginResult> {
  const consoleSessionId = 0xa0a1a2a3;
  const open = Buffer.alloc(32);
  open.writeUInt8(0x07, 0);
  open.writeUInt8(role & 0x0f, 1);
  open.writeUInt32LE(consoleSessionId, 4);
  Buffer.from([0, 0, 0, 8, 1, 0, 0, 0, 1, 0, 0, 8, 1, 0, 0, 0, 2, 0, 0, 8, 1, 0, 0, 0]).copy(
    open,
    8,
  );
  const openReply = payloadOf(await bmc.handle(plain(0x10, open), from));
  if (openReply.readUInt8(1) !== 0) return { rakp2Status: -openReply.readUInt8(1) };
  const bmcSessionId = openReply.readUInt32LE(8);
  const rm = randomBytes(16);
  const user = Buffer.from(username);
  const rakp1 = Buffer.concat([
    Buffer.from([0x08, 0, 0, 0]),
    le32(bmcSessionId),
    rm,
    Buffer.from([role, 0, 0, user.length]),
    user,
  ]);
  const rakp2 = payloadOf(await bmc.handle(plain(0x12, rakp1), from));
  const rakp2Status = rakp2.readUInt8(1);
  if (rakp2Status !== 0) return { rakp2Status };
  const rc = rakp2.subarray(8, 24);
  const guid = rakp2.subarray(24, 40);
  const kuid = Buffer.from(password);
  const nameTail = Buffer.concat([Buffer.from([role, user.length]), user]);
  const expected2 = sha1(kuid, le32(consoleSessionId), le32(bmcSessionId), rm, rc, guid, nameTail);
  if (!expected2.equals(rakp2.subarray(40))) {
    // What the real clients do: a RAKP 2 they cannot verify ends the login, no RAKP 3.
    return { rakp2Status, rakp4Status: -1 };
  }
  const code3 = sha1(kuid, rc, le32(consoleSessionId), nameTail);
  const rakp3 = Buffer.concat([Buffer.from([0x09, 0, 0, 0]), le32(bmcSessionId), code3]);
  const rakp4 = payloadOf(await bmc.handle(plain(0x14, rakp3), from));
  const rakp4Status = rakp4.readUInt8(1);
  if (rakp4Status !== 0) return { rakp2Status, rakp4Status };
  const sik = sha1(kuid, rm, rc, nameTail);
  const icv = sha1(sik, rm, le32(bmcSessionId), guid).subarray(0, 12);
  if (!icv.equals(rakp4.subarray(8))) throw new Error('RAKP 4 check value is wrong');
  return {
    rakp2Status,
    rakp4Status,
    session: {
      bmcSessionId,
      consoleSessionId,
      sik,
      k1: sha1(sik, Buffer.alloc(20, 1)),
      aesKey: sha1(sik, Buffer.alloc(20, 2)).subarray(0, 16),
      sequence: 0,
    },
  };
}

/** A session packet: AES-CBC-128 with the spec's 1, 2, 3… pad, then HMAC-SHA1-96. */
export function sealed(s: ConsoleSession, message: Buffer, sequence?: number): Buffer {
  const padLength = (16 - ((message.length + 1) % 16)) % 16;
  const pad = Buffer.from([...Array.from({ length: padLength }, (_, i) => i + 1), padLength]);
  const iv = randomBytes(16);
  const c = createCipheriv('aes-128-cbc', s.aesKey, iv).setAutoPadding(false);
  const payload = Buffer.concat([iv, c.update(Buffer.concat([message, pad])), c.final()]);
  s.sequence = sequence ?? s.sequence + 1;
  const h = Buffer.alloc(12);
  h.writeUInt8(0x06, 0);
  h.writeUInt8(0xc0, 1);
  h.writeUInt32LE(s.bmcSessionId, 2);
  h.writeUInt32LE(s.sequence, 6);
  h.writeUInt16LE(payload.length, 10);
  const unpadded = 12 + payload.length + 2;
  const integrityPad = (4 - (unpadded % 4)) % 4;
  const trailer = Buffer.from([...Array<number>(integrityPad).fill(0xff), integrityPad, 0x07]);
  const signed = Buffer.concat([h, payload, trailer]);
  return rmcp(Buffer.concat([signed, sha1(s.k1, signed).subarray(0, 12)]));
}

/** The IPMI message in a sealed reply, its integrity and session id checked. */
export function unseal(s: ConsoleSession, reply: Buffer | undefined): Buffer {
  if (!reply) throw new Error('no reply');
  const body = reply.subarray(4);
  if (body.readUInt32LE(2) !== s.consoleSessionId) throw new Error('wrong session id');
  if ((body.readUInt8(1) & 0xc0) !== 0xc0) throw new Error('reply not sealed');
  const signed = body.subarray(0, body.length - 12);
  if (
    !sha1(s.k1, signed)
      .subarray(0, 12)
      .equals(body.subarray(body.length - 12))
  ) {
    throw new Error('bad integrity code on the reply');
  }
  const payload = body.subarray(12, 12 + body.readUInt16LE(10));
  const d = createDecipheriv('aes-128-cbc', s.aesKey, payload.subarray(0, 16)).setAutoPadding(
    false,
  );
  const clear = Buffer.concat([d.update(payload.subarray(16)), d.final()]);
  return clear.subarray(0, clear.length - 1 - clear.readUInt8(clear.length - 1));
}

/** Completion code and data of an IPMI response message. */
export function responseOf(message: Buffer): { cc: number; data: Buffer } {
  return { cc: message.readUInt8(6), data: message.subarray(7, message.length - 1) };
}
