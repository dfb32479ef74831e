// Framing round trips (RMCP, IPMI 1.5, RMCP+ with its integrity trailer, the LAN message, the
// session set-up payloads, the boot flags) and the parsers' refusals of malformed input.
import { expect } from 'chai';
import { decodeBootFlags, encodeBootFlags } from '../../../../src/bmc/ipmi/boot-options.js';
import {
  encodeIpmiRequest,
  encodeIpmiResponse,
  parseIpmiRequest,
} from '../../../../src/bmc/ipmi/message.js';
import {
  encodeOpenSessionResponse,
  encodeRakp2,
  parseOpenSessionRequest,
  parseRakp1,
  parseRakp3,
} from '../../../../src/bmc/ipmi/rakp.js';
import {
  encodeIpmi15,
  encodeRmcp,
  encodeRmcp2,
  parseIpmi15,
  parseRmcp,
  parseRmcp2,
} from '../../../../src/bmc/ipmi/rmcp.js';

describe('bmc/ipmi packets', () => {
  it('round-trips RMCP and IPMI 1.5 framing', () => {
    const rmcp = parseRmcp(encodeRmcp(0x07, encodeIpmi15(Buffer.from([1, 2, 3]))));
    expect(rmcp?.messageClass).to.equal(0x07);
    expect([...parseIpmi15(rmcp!.body)!.message]).to.deep.equal([1, 2, 3]);
    expect(parseRmcp(Buffer.from([0x06, 0, 0xff]))).to.equal(undefined);
    expect(parseRmcp(Buffer.from([0x05, 0, 0xff, 0x07]))).to.equal(undefined);
    expect(parseRmcp(Buffer.from([0x06, 0, 0xff, 0x87]))).to.equal(undefined); // an ACK
    expect(parseIpmi15(Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 1]))).to.equal(undefined);
    expect(parseIpmi15(Buffer.from([2, 0, 0, 0, 0, 0, 0, 0, 0, 0]))).to.equal(undefined); // MD5
  });

  it('round-trips RMCP+ packets, signed ones with a 4-byte-aligned trailer', () => {
    for (let size = 0; size < 9; size++) {
      const payload = Buffer.alloc(size, 0x5a);
      const wire = encodeRmcp2({
        payloadType: 0,
        sessionId: 0xdeadbeef,
        sequence: 7,
        payload,
        encrypted: true,
        sign: () => Buffer.alloc(12, 0xee),
      });
      const parsed = parseRmcp2(wire, 12)!;
      expect(parsed.sessionId).to.equal(0xdeadbeef);
      expect(parsed.sequence).to.equal(7);
      expect(parsed.encrypted && parsed.authenticated).to.equal(true);
      expect(parsed.payload.equals(payload)).to.equal(true);
      expect(parsed.signed.length % 4).to.equal(0);
      expect(parsed.authCode.equals(Buffer.alloc(12, 0xee))).to.equal(true);
      const plainWire = encodeRmcp2({ payloadType: 0x10, sessionId: 0, sequence: 0, payload });
      expect(parseRmcp2(plainWire, 12)!.payload.equals(payload)).to.equal(true);
      expect(parseRmcp2(Buffer.concat([plainWire, Buffer.from([0])]), 12)).to.equal(undefined);
    }
  });

  it('refuses RMCP+ packets with a bad integrity pad, next header or OEM payload', () => {
    const sign = (): Buffer => Buffer.alloc(12);
    const wire = encodeRmcp2({
      payloadType: 0,
      sessionId: 1,
      sequence: 1,
      payload: Buffer.alloc(5),
      sign,
    });
    const padAt = 12 + 5;
    const badPadByte = Buffer.from(wire);
    badPadByte.writeUInt8(0x00, padAt);
    expect(parseRmcp2(badPadByte, 12)).to.equal(undefined);
    const badNext = Buffer.from(wire);
    badNext.writeUInt8(0x06, wire.length - 13);
    expect(parseRmcp2(badNext, 12)).to.equal(undefined);
    const oem = Buffer.from(wire);
    oem.writeUInt8(0x42, 1);
    expect(parseRmcp2(oem, 12)).to.equal(undefined);
  });

  it('round-trips IPMI LAN messages and refuses bad checksums and responses', () => {
    const wire = encodeIpmiRequest({ netFn: 0x00, rqSeq: 9, cmd: 0x02, data: Buffer.from([1]) });
    const req = parseIpmiRequest(wire)!;
    expect([req.netFn, req.rqSeq, req.cmd, ...req.data]).to.deep.equal([0, 9, 2, 1]);
    const response = encodeIpmiResponse(req, 0xc1, Buffer.alloc(0));
    expect(response.readUInt8(1) >> 2).to.equal(0x01);
    expect(parseIpmiRequest(response)).to.equal(undefined); // odd net function
    const bad = Buffer.from(wire);
    bad.writeUInt8(bad.readUInt8(bad.length - 1) ^ 0xff, bad.length - 1);
    expect(parseIpmiRequest(bad)).to.equal(undefined);
    expect(parseIpmiRequest(wire.subarray(0, 6))).to.equal(undefined);
  });

  it('parses the session set-up payloads and refuses wrong lengths', () => {
    const open = Buffer.alloc(32);
    open.writeUInt32LE(0x01020304, 4);
    Buffer.from([0, 0, 0, 8, 1, 0, 0, 0, 1, 0, 0, 8, 1, 0, 0, 0, 2, 0, 0, 8, 1, 0, 0, 0]).copy(
      open,
      8,
    );
    expect(parseOpenSessionRequest(open)?.consoleSessionId).to.equal(0x01020304);
    expect(parseOpenSessionRequest(open.subarray(0, 31))).to.equal(undefined);
    const swapped = Buffer.from(open);
    swapped.writeUInt8(0x01, 8); // integrity payload where authentication belongs
    expect(parseOpenSessionRequest(swapped)).to.equal(undefined);
    expect(
      encodeOpenSessionResponse({ tag: 1, status: 0x11, consoleSessionId: 5 }).length,
    ).to.equal(8);
    expect(
      encodeOpenSessionResponse({ tag: 1, status: 0, consoleSessionId: 5, bmcSessionId: 6 }).length,
    ).to.equal(36);
    const rakp1 = Buffer.alloc(28 + 4);
    rakp1.writeUInt8(4, 27);
    expect(parseRakp1(rakp1)?.username.length).to.equal(4);
    rakp1.writeUInt8(200, 27);
    expect(parseRakp1(rakp1)).to.equal(undefined);
    expect(parseRakp1(Buffer.alloc(27))).to.equal(undefined);
    expect(parseRakp3(Buffer.alloc(7))).to.equal(undefined);
    expect(parseRakp3(Buffer.alloc(1000))).to.equal(undefined);
    expect(encodeRakp2({ tag: 0, status: 0x0d, consoleSessionId: 1 }).length).to.equal(8);
  });

  it('maps boot flags to BootOverride and back', () => {
    const cases = [
      { bytes: [0x80, 0x04], boot: { target: 'Pxe', enabled: 'Once', mode: 'Legacy' } },
      { bytes: [0xe0, 0x08], boot: { target: 'Hdd', enabled: 'Continuous', mode: 'UEFI' } },
      { bytes: [0xa0, 0x14], boot: { target: 'Cd', enabled: 'Once', mode: 'UEFI' } },
      { bytes: [0x00, 0x00], boot: { target: 'None', enabled: 'Disabled', mode: 'Legacy' } },
    ] as const;
    for (const c of cases) {
      const data = Buffer.from([...c.bytes, 0, 0, 0]);
      expect(decodeBootFlags(data)).to.deep.equal(c.boot);
      expect([...encodeBootFlags(c.boot)]).to.deep.equal([...data]);
    }
    expect(decodeBootFlags(Buffer.from([0x00, 0x04, 0, 0, 0]))?.enabled).to.equal('Disabled');
    expect(decodeBootFlags(Buffer.from([0x80, 0x0c, 0, 0, 0]))?.target).to.equal('Hdd'); // safe mode
    expect(decodeBootFlags(Buffer.from([0x80, 0x18, 0, 0, 0]))).to.equal(undefined); // BIOS setup
    expect(decodeBootFlags(Buffer.from([0x80]))).to.equal(undefined);
  });
});
