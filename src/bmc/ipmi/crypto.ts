// Cipher suite 3's algorithms (IPMI v2.0 §13.28–§13.32): RAKP-HMAC-SHA1 for the key exchange,
// HMAC-SHA1-96 for integrity and AES-CBC-128 for confidentiality. Pure functions of their inputs;
// the formulas are the spec's, with its "m" (remote console) and "c" (managed system) spelled out.
import { createCipheriv, createDecipheriv, createHmac, timingSafeEqual } from 'node:crypto';

/** HMAC-SHA1-96: the integrity code and RAKP 4's check value are the first 12 bytes. */
export const INTEGRITY_CODE_LENGTH = 12;
const AES_BLOCK = 16;

export function hmacSha1(key: Buffer, ...parts: Buffer[]): Buffer {
  const mac = createHmac('sha1', key);
  for (const part of parts) mac.update(part);
  return mac.digest();
}

/** What both ends of a RAKP exchange know once RAKP 1 has been answered. */
export interface RakpExchange {
  /** The remote console's session id (SIDm in the spec). */
  readonly consoleSessionId: number;
  /** The BMC's session id (SIDc). */
  readonly bmcSessionId: number;
  /** The remote console's random number Rm (16 bytes). */
  readonly consoleRandom: Buffer;
  /** The BMC's random number Rc (16 bytes). */
  readonly bmcRandom: Buffer;
  /** The BMC's GUID (16 bytes). */
  readonly bmcGuid: Buffer;
  /** RAKP 1's role byte, lookup bit included (ROLEm). */
  readonly role: number;
  readonly username: Buffer;
}

function u32le(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(value >>> 0, 0);
  return b;
}

function roleAndName(x: RakpExchange): Buffer {
  return Buffer.concat([Buffer.from([x.role, x.username.length]), x.username]);
}

/** RAKP 2's key exchange authentication code: HMAC(Kuid) of SIDm, SIDc, Rm, Rc, GUIDc, ROLEm, ULENGTHm, UNAMEm. */
export function rakp2AuthCode(kuid: Buffer, x: RakpExchange): Buffer {
  return hmacSha1(
    kuid,
    u32le(x.consoleSessionId),
    u32le(x.bmcSessionId),
    x.consoleRandom,
    x.bmcRandom,
    x.bmcGuid,
    roleAndName(x),
  );
}

/** RAKP 3's code, which the console sends: HMAC(Kuid) of Rc, SIDm, ROLEm, ULENGTHm, UNAMEm. */
export function rakp3AuthCode(kuid: Buffer, x: RakpExchange): Buffer {
  return hmacSha1(kuid, x.bmcRandom, u32le(x.consoleSessionId), roleAndName(x));
}

/** The session integrity key: HMAC(Kg) of Rm, Rc, ROLEm, ULENGTHm, UNAMEm (Kg = Kuid when no BMC key). */
export function sessionIntegrityKey(kg: Buffer, x: RakpExchange): Buffer {
  return hmacSha1(kg, x.consoleRandom, x.bmcRandom, roleAndName(x));
}

/** RAKP 4's integrity check value: HMAC(SIK) of Rm, SIDc, GUIDc, truncated to 96 bits. */
export function rakp4CheckValue(sik: Buffer, x: RakpExchange): Buffer {
  return hmacSha1(sik, x.consoleRandom, u32le(x.bmcSessionId), x.bmcGuid).subarray(
    0,
    INTEGRITY_CODE_LENGTH,
  );
}

export interface SessionKeys {
  /** K1: the HMAC-SHA1-96 integrity key. */
  readonly integrityKey: Buffer;
  /** The first 16 bytes of K2: the AES-128 key. */
  readonly aesKey: Buffer;
}

/** K1 = HMAC(SIK, 20 × 0x01), K2 = HMAC(SIK, 20 × 0x02) (IPMI v2.0 §13.32). */
export function deriveSessionKeys(sik: Buffer): SessionKeys {
  const k1 = hmacSha1(sik, Buffer.alloc(20, 0x01));
  const k2 = hmacSha1(sik, Buffer.alloc(20, 0x02));
  return { integrityKey: k1, aesKey: k2.subarray(0, 16) };
}

export function integrityCode(integrityKey: Buffer, signed: Buffer): Buffer {
  return hmacSha1(integrityKey, signed).subarray(0, INTEGRITY_CODE_LENGTH);
}

export function integrityCodeMatches(integrityKey: Buffer, signed: Buffer, code: Buffer): boolean {
  if (code.length !== INTEGRITY_CODE_LENGTH) return false;
  return timingSafeEqual(integrityCode(integrityKey, signed), code);
}

/**
 * AES-CBC-128 payload (IPMI v2.0 §13.29): IV, then the encrypted plaintext followed by pad
 * bytes 1, 2, 3, … and the pad length, so the encrypted part is whole blocks.
 */
export function encryptPayload(aesKey: Buffer, iv: Buffer, plaintext: Buffer): Buffer {
  const padLength = (AES_BLOCK - ((plaintext.length + 1) % AES_BLOCK)) % AES_BLOCK;
  const pad = Buffer.alloc(padLength + 1);
  for (let i = 0; i < padLength; i++) pad.writeUInt8(i + 1, i);
  pad.writeUInt8(padLength, padLength);
  const cipher = createCipheriv('aes-128-cbc', aesKey, iv).setAutoPadding(false);
  return Buffer.concat([iv, cipher.update(Buffer.concat([plaintext, pad])), cipher.final()]);
}

/** The plaintext, or undefined when the length or the confidentiality trailer is wrong. */
export function decryptPayload(aesKey: Buffer, payload: Buffer): Buffer | undefined {
  const encrypted = payload.length - AES_BLOCK;
  if (encrypted < AES_BLOCK || encrypted % AES_BLOCK !== 0) return undefined;
  const decipher = createDecipheriv('aes-128-cbc', aesKey, payload.subarray(0, AES_BLOCK));
  decipher.setAutoPadding(false);
  const clear = Buffer.concat([decipher.update(payload.subarray(AES_BLOCK)), decipher.final()]);
  const padLength = clear.readUInt8(clear.length - 1);
  if (padLength >= AES_BLOCK) return undefined;
  const end = clear.length - 1 - padLength;
  for (let i = 0; i < padLength; i++) {
    if (clear.readUInt8(end + i) !== i + 1) return undefined;
  }
  return clear.subarray(0, end);
}
