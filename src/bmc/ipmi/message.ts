// The IPMI LAN message inside a session payload (IPMI v2.0 §13.8, figure 13-4): responder and
// requester addresses, net function, two checksums, the command and its data. Pure functions.

/** Net functions this BMC answers (requests; the response's is one more). */
export const NetFn = { Chassis: 0x00, App: 0x06 } as const;

/** The BMC's own slave address and the remote console's software id (IPMI v2.0 §5.5). */
export const BMC_ADDRESS = 0x20;

export interface IpmiRequest {
  readonly rsAddr: number;
  readonly netFn: number;
  readonly rsLun: number;
  readonly rqAddr: number;
  readonly rqSeq: number;
  readonly rqLun: number;
  readonly cmd: number;
  readonly data: Buffer;
}

/** Two's complement checksum: the bytes plus it sum to zero modulo 256. */
export function checksum(bytes: Buffer): number {
  let sum = 0;
  for (const b of bytes) sum = (sum + b) & 0xff;
  return (0x100 - sum) & 0xff;
}

/** A request message, or undefined when it is too short, a response, or a checksum is wrong. */
export function parseIpmiRequest(message: Buffer): IpmiRequest | undefined {
  if (message.length < 7) return undefined;
  if (checksum(message.subarray(0, 2)) !== message.readUInt8(2)) return undefined;
  const body = message.subarray(3, message.length - 1);
  if (checksum(body) !== message.readUInt8(message.length - 1)) return undefined;
  const netFnLun = message.readUInt8(1);
  const netFn = netFnLun >> 2;
  // An odd net function is a response; nobody should send this BMC one.
  if (netFn & 1) return undefined;
  const seqLun = message.readUInt8(4);
  return {
    rsAddr: message.readUInt8(0),
    netFn,
    rsLun: netFnLun & 0x03,
    rqAddr: message.readUInt8(3),
    rqSeq: seqLun >> 2,
    rqLun: seqLun & 0x03,
    cmd: message.readUInt8(5),
    data: message.subarray(6, message.length - 1),
  };
}

/** The response to `request`: completion code first, then `data`. */
export function encodeIpmiResponse(
  request: IpmiRequest,
  completionCode: number,
  data: Buffer,
): Buffer {
  const head = Buffer.from([request.rqAddr, ((request.netFn | 1) << 2) | request.rqLun]);
  const body = Buffer.concat([
    Buffer.from([
      request.rsAddr,
      ((request.rqSeq << 2) | request.rsLun) & 0xff,
      request.cmd,
      completionCode,
    ]),
    data,
  ]);
  return Buffer.concat([head, Buffer.from([checksum(head)]), body, Buffer.from([checksum(body)])]);
}

/** A request message as a client would build it (for the tests and fuzzers). */
export function encodeIpmiRequest(
  r: Omit<IpmiRequest, 'rsAddr' | 'rqAddr' | 'rsLun' | 'rqLun'> & Partial<IpmiRequest>,
): Buffer {
  const head = Buffer.from([r.rsAddr ?? BMC_ADDRESS, ((r.netFn << 2) | (r.rsLun ?? 0)) & 0xff]);
  const body = Buffer.concat([
    Buffer.from([r.rqAddr ?? 0x81, ((r.rqSeq << 2) | (r.rqLun ?? 0)) & 0xff, r.cmd]),
    r.data,
  ]);
  return Buffer.concat([head, Buffer.from([checksum(head)]), body, Buffer.from([checksum(body)])]);
}
