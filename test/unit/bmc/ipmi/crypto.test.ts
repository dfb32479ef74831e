// Cipher suite 3's functions against values computed here straight from the spec's formulas
// (IPMI v2.0 §13.31–§13.32) with node:crypto, and the AES-CBC-128 confidentiality trailer.
import { expect } from 'chai';
import { createCipheriv, createDecipheriv, createHmac } from 'node:crypto';
import {
  type RakpExchange,
  decryptPayload,
  deriveSessionKeys,
  encryptPayload,
  integrityCode,
  integrityCodeMatches,
  rakp2AuthCode,
  rakp3AuthCode,
  rakp4CheckValue,
  sessionIntegrityKey,
} from '../../../../src/bmc/ipmi/crypto.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s/g, ''), 'hex');
const exchange: RakpExchange = {
  consoleSessionId: 0x11223344,
  bmcSessionId: 0xa1b2c3d4,
  consoleRandom: hex('000102030405060708090a0b0c0d0e0f'),
  bmcRandom: hex('f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff'),
  bmcGuid: hex('00112233445566778899aabbccddeeff'),
  role: 0x14,
  username: Buffer.from('maas'),
};
const kuid = Buffer.from('pa55word');
const mac = (key: Buffer, hexData: string): Buffer =>
  createHmac('sha1', key).update(hex(hexData)).digest();

describe('bmc/ipmi crypto', () => {
  it('computes RAKP 2 over SIDm, SIDc, Rm, Rc, GUIDc, ROLEm, ULENGTHm, UNAMEm (session ids LE)', () => {
    const expected = mac(
      kuid,
      '44332211 d4c3b2a1 000102030405060708090a0b0c0d0e0f f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff' +
        '00112233445566778899aabbccddeeff 14 04 6d616173',
    );
    expect(rakp2AuthCode(kuid, exchange).toString('hex')).to.equal(expected.toString('hex'));
  });

  it('computes RAKP 3 over Rc, SIDm, ROLEm, ULENGTHm, UNAMEm', () => {
    const expected = mac(kuid, 'f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff 44332211 14 04 6d616173');
    expect(rakp3AuthCode(kuid, exchange).equals(expected)).to.equal(true);
  });

  it('derives SIK, K1, K2 and the RAKP 4 check value as the spec says', () => {
    const sik = mac(
      kuid,
      '000102030405060708090a0b0c0d0e0f f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff 14 04 6d616173',
    );
    expect(sessionIntegrityKey(kuid, exchange).equals(sik)).to.equal(true);
    const keys = deriveSessionKeys(sik);
    expect(keys.integrityKey.equals(mac(sik, '01'.repeat(20)))).to.equal(true);
    expect(keys.aesKey.equals(mac(sik, '02'.repeat(20)).subarray(0, 16))).to.equal(true);
    const icv = mac(
      sik,
      '000102030405060708090a0b0c0d0e0f d4c3b2a1 00112233445566778899aabbccddeeff',
    );
    expect(rakp4CheckValue(sik, exchange).equals(icv.subarray(0, 12))).to.equal(true);
  });

  it('matches a published HMAC-SHA1 vector (RFC 2202 case 2), truncated to 96 bits', () => {
    const code = integrityCode(Buffer.from('Jefe'), Buffer.from('what do ya want for nothing?'));
    expect(code.toString('hex')).to.equal('effcdf6ae5eb2fa2d27416d5');
    expect(
      integrityCodeMatches(Buffer.from('Jefe'), Buffer.from('what do ya want for nothing?'), code),
    ).to.equal(true);
    expect(integrityCodeMatches(Buffer.from('Jefe'), Buffer.from('x'), code)).to.equal(false);
    expect(integrityCodeMatches(Buffer.from('Jefe'), Buffer.from('x'), Buffer.alloc(3))).to.equal(
      false,
    );
  });

  it('pads AES-CBC-128 payloads with 1, 2, 3, … and the pad length, in whole blocks', () => {
    const key = hex('000102030405060708090a0b0c0d0e0f');
    const iv = hex('0f0e0d0c0b0a09080706050403020100');
    for (const size of [0, 1, 14, 15, 16, 17, 31, 100]) {
      const plaintext = Buffer.alloc(size, 0xab);
      const payload = encryptPayload(key, iv, plaintext);
      expect(payload.subarray(0, 16).equals(iv)).to.equal(true);
      expect((payload.length - 16) % 16).to.equal(0);
      const d = createDecipheriv('aes-128-cbc', key, iv).setAutoPadding(false);
      const clear = Buffer.concat([d.update(payload.subarray(16)), d.final()]);
      const padLength = clear.readUInt8(clear.length - 1);
      expect(clear.length).to.equal(size + padLength + 1);
      expect([...clear.subarray(size, size + padLength)]).to.deep.equal(
        Array.from({ length: padLength }, (_, i) => i + 1),
      );
      expect(decryptPayload(key, payload)?.equals(plaintext)).to.equal(true);
    }
  });

  it('refuses AES payloads of a wrong length or with a wrong confidentiality trailer', () => {
    const key = Buffer.alloc(16, 7);
    const iv = Buffer.alloc(16, 1);
    expect(decryptPayload(key, Buffer.alloc(0))).to.equal(undefined);
    expect(decryptPayload(key, Buffer.alloc(16))).to.equal(undefined);
    expect(decryptPayload(key, Buffer.alloc(40))).to.equal(undefined);
    const encrypt = (block: Buffer): Buffer => {
      const c = createCipheriv('aes-128-cbc', key, iv).setAutoPadding(false);
      return Buffer.concat([iv, c.update(block), c.final()]);
    };
    expect(decryptPayload(key, encrypt(Buffer.alloc(16, 0xff)))).to.equal(undefined); // pad 255
    const wrongPad = Buffer.alloc(16);
    wrongPad.writeUInt8(2, 15); // says 2 pad bytes, which are 0, 0 and not 1, 2
    expect(decryptPayload(key, encrypt(wrongPad))).to.equal(undefined);
  });
});
