// The RMCP+ session set-up payloads (IPMI v2.0 §13.17–§13.23): Open Session Request/Response
// and RAKP messages 1 to 4. Pure codecs; what to answer is decided in session.ts.

/** RMCP+ status codes (IPMI v2.0 table 13-15) this BMC sends. */
export const RmcpStatus = {
  Ok: 0x00,
  InsufficientResources: 0x01,
  InvalidSessionId: 0x02,
  InvalidAuthAlgorithm: 0x04,
  InvalidIntegrityAlgorithm: 0x05,
  InvalidRole: 0x09,
  UnauthorizedRole: 0x0a,
  InvalidNameLength: 0x0c,
  UnauthorizedName: 0x0d,
  InvalidIntegrityCheckValue: 0x0f,
  InvalidConfidentialityAlgorithm: 0x10,
  NoCipherSuiteMatch: 0x11,
  IllegalParameter: 0x12,
} as const;

/** Cipher suite 3: RAKP-HMAC-SHA1, HMAC-SHA1-96, AES-CBC-128 (IPMI v2.0 table 22-20). */
export const CipherSuite3 = { id: 3, auth: 0x01, integrity: 0x01, confidentiality: 0x01 } as const;

export interface OpenSessionRequest {
  readonly tag: number;
  readonly requestedPrivilege: number;
  readonly consoleSessionId: number;
  readonly auth: number;
  readonly integrity: number;
  readonly confidentiality: number;
}

/** One 8-byte algorithm payload: type, reserved ×2, length 8, algorithm, reserved ×3. */
function algorithm(payload: Buffer, offset: number, type: number): number | undefined {
  if (payload.readUInt8(offset) !== type || payload.readUInt8(offset + 3) !== 8) return undefined;
  return payload.readUInt8(offset + 4) & 0x3f;
}

export function parseOpenSessionRequest(payload: Buffer): OpenSessionRequest | undefined {
  if (payload.length !== 32) return undefined;
  const auth = algorithm(payload, 8, 0x00);
  const integrity = algorithm(payload, 16, 0x01);
  const confidentiality = algorithm(payload, 24, 0x02);
  if (auth === undefined || integrity === undefined || confidentiality === undefined) {
    return undefined;
  }
  return {
    tag: payload.readUInt8(0),
    requestedPrivilege: payload.readUInt8(1) & 0x0f,
    consoleSessionId: payload.readUInt32LE(4),
    auth,
    integrity,
    confidentiality,
  };
}

function algorithmPayload(type: number, value: number): Buffer {
  return Buffer.from([type, 0, 0, 8, value, 0, 0, 0]);
}

/** A refusal carries only tag, status and the console's session id (IPMI v2.0 table 13-10). */
export function encodeOpenSessionResponse(r: {
  tag: number;
  status: number;
  consoleSessionId: number;
  privilege?: number;
  bmcSessionId?: number;
}): Buffer {
  const ok = r.status === RmcpStatus.Ok;
  const out = Buffer.alloc(ok ? 36 : 8);
  out.writeUInt8(r.tag, 0);
  out.writeUInt8(r.status, 1);
  out.writeUInt8(ok ? (r.privilege ?? 0) : 0, 2);
  out.writeUInt32LE(r.consoleSessionId >>> 0, 4);
  if (!ok) return out;
  out.writeUInt32LE((r.bmcSessionId ?? 0) >>> 0, 8);
  algorithmPayload(0x00, CipherSuite3.auth).copy(out, 12);
  algorithmPayload(0x01, CipherSuite3.integrity).copy(out, 20);
  algorithmPayload(0x02, CipherSuite3.confidentiality).copy(out, 28);
  return out;
}

export interface Rakp1 {
  readonly tag: number;
  readonly bmcSessionId: number;
  readonly consoleRandom: Buffer;
  /** The whole role byte: bit 4 is name-only lookup, bits 3:0 the requested privilege. */
  readonly role: number;
  readonly username: Buffer;
}

export function parseRakp1(payload: Buffer): Rakp1 | undefined {
  if (payload.length < 28) return undefined;
  const nameLength = payload.readUInt8(27);
  if (nameLength > 16 || payload.length !== 28 + nameLength) return undefined;
  return {
    tag: payload.readUInt8(0),
    bmcSessionId: payload.readUInt32LE(4),
    consoleRandom: Buffer.from(payload.subarray(8, 24)),
    role: payload.readUInt8(24),
    username: Buffer.from(payload.subarray(28)),
  };
}

/** The 8 bytes RAKP 2 and RAKP 4 start with: tag, status, 2 reserved, the console's session id. */
function rakpReplyHead(tag: number, status: number, consoleSessionId: number): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt8(tag, 0);
  head.writeUInt8(status, 1);
  head.writeUInt32LE(consoleSessionId >>> 0, 4);
  return head;
}

export function encodeRakp2(r: {
  tag: number;
  status: number;
  consoleSessionId: number;
  bmcRandom?: Buffer;
  bmcGuid?: Buffer;
  authCode?: Buffer;
}): Buffer {
  const head = rakpReplyHead(r.tag, r.status, r.consoleSessionId);
  if (r.status !== RmcpStatus.Ok) return head;
  return Buffer.concat([
    head,
    r.bmcRandom ?? Buffer.alloc(16),
    r.bmcGuid ?? Buffer.alloc(16),
    r.authCode ?? Buffer.alloc(0),
  ]);
}

export interface Rakp3 {
  readonly tag: number;
  readonly status: number;
  readonly bmcSessionId: number;
  readonly authCode: Buffer;
}

export function parseRakp3(payload: Buffer): Rakp3 | undefined {
  if (payload.length < 8 || payload.length > 8 + 64) return undefined;
  return {
    tag: payload.readUInt8(0),
    status: payload.readUInt8(1),
    bmcSessionId: payload.readUInt32LE(4),
    authCode: Buffer.from(payload.subarray(8)),
  };
}

export function encodeRakp4(r: {
  tag: number;
  status: number;
  consoleSessionId: number;
  checkValue?: Buffer;
}): Buffer {
  const head = rakpReplyHead(r.tag, r.status, r.consoleSessionId);
  if (r.status !== RmcpStatus.Ok) return head;
  return Buffer.concat([head, r.checkValue ?? Buffer.alloc(0)]);
}
