// The packet handler end to end, without a socket: RMCP+ logins checked by an independent
// console (console.ts), the commands' effects on a FakeBmcBackend, and hostile input (wrong
// session ids, replays, bad integrity, truncation, random bytes, Open Session floods).
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { LoginThrottle } from '../../../../src/bmc/auth.js';
import { IpmiResponder } from '../../../../src/bmc/ipmi/responder.js';
import { FakeBmcBackend } from '../../../fakes/bmc-backend.js';
import {
  type ConsoleSession,
  ipmiRequest,
  login,
  payloadOf,
  plain,
  responseOf,
  rmcp,
  sealed,
  source,
  unseal,
} from '../../../support/ipmi-console.js';

const SYSTEM = '6f1c2a57-0000-4000-8000-000000000001';

function setup(
  opts: {
    password?: string;
    throttle?: LoginThrottle;
    now?: () => number;
    maxSessions?: number;
  } = {},
) {
  const backend = new FakeBmcBackend();
  backend.add(SYSTEM, 'node-1');
  const warnings: string[] = [];
  const bmc = new IpmiResponder({
    systemId: SYSTEM,
    credentials: () => ({ username: 'maas', password: opts.password ?? 'pa55word' }),
    backend,
    throttle: opts.throttle ?? new LoginThrottle(),
    log: { warn: (m) => warnings.push(m), debug: () => undefined },
    ...(opts.now ? { now: opts.now } : {}),
    limits: { maxSessions: opts.maxSessions ?? 4 },
  });
  return { backend, bmc, warnings };
}

async function loggedIn(bmc: IpmiResponder): Promise<ConsoleSession> {
  const result = await login(bmc, 'maas', 'pa55word');
  if (!result.session) throw new Error(`login failed: ${JSON.stringify(result)}`);
  return result.session;
}

async function command(
  bmc: IpmiResponder,
  s: ConsoleSession,
  netFn: number,
  cmd: number,
  data: number[] = [],
) {
  return responseOf(unseal(s, await bmc.handle(sealed(s, ipmiRequest(netFn, cmd, data)), source)));
}

describe('bmc/ipmi responder', () => {
  describe('pre-session discovery', () => {
    it('answers Get Channel Authentication Capabilities in IPMI 1.5 framing: RMCP+ only', async () => {
      const { bmc } = setup();
      const msg = ipmiRequest(0x06, 0x38, [0x8e, 0x04]);
      const v15 = Buffer.concat([Buffer.alloc(9), Buffer.from([msg.length]), msg]);
      const reply = await bmc.handle(rmcp(v15), source);
      expect(reply).to.not.equal(undefined);
      const { cc, data } = responseOf(reply!.subarray(4 + 10));
      expect(cc).to.equal(0);
      expect(data.readUInt8(1)).to.equal(0x80); // extended caps, no IPMI 1.5 auth types
      expect(data.readUInt8(3)).to.equal(0x02); // IPMI 2.0 connections only
    });

    it('lists cipher suite 3 alone in Get Channel Cipher Suites', async () => {
      const { bmc } = setup();
      const reply = await bmc.handle(
        plain(0x00, ipmiRequest(0x06, 0x54, [0x0e, 0x00, 0x80])),
        source,
      );
      const { cc, data } = responseOf(payloadOf(reply));
      expect(cc).to.equal(0);
      expect([...data]).to.deep.equal([0x01, 0xc0, 0x03, 0x01, 0x41, 0x81]);
      const page2 = await bmc.handle(
        plain(0x00, ipmiRequest(0x06, 0x54, [0x0e, 0x00, 0x81])),
        source,
      );
      expect([...responseOf(payloadOf(page2)).data]).to.deep.equal([0x01]);
    });

    it('refuses IPMI 1.5 session set-up (Get Session Challenge, Activate Session) with 0xC1', async () => {
      const { bmc } = setup();
      for (const cmd of [0x39, 0x3a]) {
        const msg = ipmiRequest(0x06, cmd, Buffer.alloc(17));
        const v15 = Buffer.concat([Buffer.alloc(9), Buffer.from([msg.length]), msg]);
        expect(responseOf((await bmc.handle(rmcp(v15), source))!.subarray(14)).cc).to.equal(0xc1);
      }
    });

    it('answers an ASF presence ping with a pong', async () => {
      const { bmc } = setup();
      const ping = Buffer.from([0x06, 0, 0xff, 0x06, 0, 0, 0x11, 0xbe, 0x80, 0x42, 0, 0]);
      const pong = await bmc.handle(ping, source);
      expect(pong!.readUInt8(8)).to.equal(0x40);
      expect(pong!.readUInt8(9)).to.equal(0x42);
    });
  });

  describe('login', () => {
    it('opens a session whose RAKP 2, RAKP 4 and keys match the spec formulas', async () => {
      const { bmc } = setup();
      const s = await loggedIn(bmc);
      const { cc, data } = await command(bmc, s, 0x06, 0x01);
      expect(cc).to.equal(0);
      expect(data.readUInt8(4)).to.equal(0x02); // IPMI 2.0
    });

    it('refuses cipher suites other than 3 with "no cipher suite match"', async () => {
      const { bmc } = setup();
      const open = Buffer.alloc(32);
      open.writeUInt32LE(1, 4);
      Buffer.from([0, 0, 0, 8, 0, 0, 0, 0, 1, 0, 0, 8, 0, 0, 0, 0, 2, 0, 0, 8, 0, 0, 0, 0]).copy(
        open,
        8,
      );
      const reply = payloadOf(await bmc.handle(plain(0x10, open), source));
      expect(reply.readUInt8(1)).to.equal(0x11);
      expect(bmc.sessions.size).to.equal(0);
    });

    it('answers an unknown user with "unauthorized name" and counts it as a failed login', async () => {
      const throttle = new LoginThrottle({ maxFailures: 2 });
      const { bmc } = setup({ throttle });
      expect((await login(bmc, 'root', 'pa55word')).rakp2Status).to.equal(0x0d);
      expect((await login(bmc, 'admin', 'pa55word')).rakp2Status).to.equal(0x0d);
      expect(throttle.check(source.ip).allowed).to.equal(false);
      // Locked out: refused at Open Session even with the right password; others are served.
      expect((await login(bmc, 'maas', 'pa55word')).rakp2Status).to.equal(-0x01);
      const other = { ip: '192.0.2.99', remote: '192.0.2.99:623' };
      expect((await login(bmc, 'maas', 'pa55word', other)).session).to.not.equal(undefined);
      expect(bmc.sessions.size).to.equal(1);
    });

    it('refuses a wrong RAKP 3 code with "invalid integrity check value"', async () => {
      const { bmc, backend } = setup();
      const open = Buffer.alloc(32);
      open.writeUInt32LE(7, 4);
      Buffer.from([0, 0, 0, 8, 1, 0, 0, 0, 1, 0, 0, 8, 1, 0, 0, 0, 2, 0, 0, 8, 1, 0, 0, 0]).copy(
        open,
        8,
      );
      const id = payloadOf(await bmc.handle(plain(0x10, open), source)).readUInt32LE(8);
      const rakp1 = Buffer.alloc(28 + 4);
      rakp1.writeUInt32LE(id, 4);
      rakp1.writeUInt8(0x14, 24);
      rakp1.writeUInt8(4, 27);
      rakp1.write('maas', 28);
      expect(payloadOf(await bmc.handle(plain(0x12, rakp1), source)).readUInt8(1)).to.equal(0);
      const rakp3 = Buffer.concat([Buffer.from([0, 0, 0, 0]), Buffer.alloc(4), randomBytes(20)]);
      rakp3.writeUInt32LE(id, 4);
      expect(payloadOf(await bmc.handle(plain(0x14, rakp3), source)).readUInt8(1)).to.equal(0x0f);
      expect(bmc.sessions.size).to.equal(0);
      expect(backend.actions).to.deep.equal([]);
    });

    it('counts a handshake abandoned after RAKP 2 (a wrong password) as a failed login', async () => {
      let now = 1_000_000;
      const throttle = new LoginThrottle({ maxFailures: 2, now: () => now });
      const { bmc } = setup({ throttle, now: () => now });
      expect((await login(bmc, 'maas', 'wrong')).rakp4Status).to.equal(-1);
      expect((await login(bmc, 'maas', 'wrong')).rakp4Status).to.equal(-1);
      now += 11_000;
      expect((await login(bmc, 'maas', 'pa55word')).rakp2Status).to.equal(-0x01);
    });

    it('refuses a password longer than 20 bytes (it cannot be an IPMI key) and says why', async () => {
      const { bmc, warnings } = setup({ password: 'x'.repeat(21) });
      expect((await login(bmc, 'maas', 'x'.repeat(21))).rakp2Status).to.equal(0x12);
      expect(warnings.join()).to.match(/longer than 20 bytes/);
    });
  });

  describe('commands', () => {
    it('carries out Chassis Control through the backend, with the source', async () => {
      const { bmc, backend } = setup();
      const s = await loggedIn(bmc);
      expect((await command(bmc, s, 0x00, 0x02, [0x01])).cc).to.equal(0);
      expect((await command(bmc, s, 0x00, 0x01)).data.readUInt8(0) & 1).to.equal(1);
      expect((await command(bmc, s, 0x00, 0x02, [0x03])).cc).to.equal(0);
      expect((await command(bmc, s, 0x00, 0x02, [0x05])).cc).to.equal(0);
      expect((await command(bmc, s, 0x00, 0x02, [0x03])).cc).to.equal(0xd5); // reset while off
      expect((await command(bmc, s, 0x00, 0x02, [0x04])).cc).to.equal(0xcc); // diagnostic NMI
      expect(backend.actions.map((a) => a.action)).to.deep.equal([
        'On',
        'ForceRestart',
        'GracefulShutdown',
      ]);
      expect(backend.actions[0]!.source).to.deep.equal({
        protocol: 'ipmi',
        remote: source.remote,
        user: 'maas',
      });
    });

    it('needs OPERATOR for Chassis Control once the session drops to USER', async () => {
      const { bmc, backend } = setup();
      const s = await loggedIn(bmc);
      expect((await command(bmc, s, 0x06, 0x3b, [0x02])).cc).to.equal(0);
      expect((await command(bmc, s, 0x00, 0x02, [0x01])).cc).to.equal(0xd4);
      expect((await command(bmc, s, 0x06, 0x3b, [0x05])).cc).to.equal(0xcc);
      expect((await command(bmc, s, 0x06, 0x3b, [0x04])).cc).to.equal(0);
      expect(backend.actions).to.deep.equal([]);
    });

    it('sets and reads the boot flags (parameter 5) through the backend', async () => {
      const { bmc, backend } = setup();
      const s = await loggedIn(bmc);
      expect((await command(bmc, s, 0x00, 0x08, [0x05, 0xe0, 0x04, 0, 0, 0])).cc).to.equal(0);
      expect(backend.actions[0]!.boot).to.deep.equal({
        target: 'Pxe',
        enabled: 'Continuous',
        mode: 'UEFI',
      });
      const got = await command(bmc, s, 0x00, 0x09, [0x05, 0, 0]);
      expect([...got.data]).to.deep.equal([0x01, 0x05, 0xe0, 0x04, 0, 0, 0]);
      expect((await command(bmc, s, 0x00, 0x08, [0x05, 0x80, 0x18, 0, 0, 0])).cc).to.equal(0xcc); // BIOS setup
      expect((await command(bmc, s, 0x00, 0x09, [0x07, 0, 0])).cc).to.equal(0x80);
      expect((await command(bmc, s, 0x00, 0x08, [0x04, 0x01, 0x01])).cc).to.equal(0);
      expect([...(await command(bmc, s, 0x00, 0x09, [0x04, 0, 0])).data]).to.deep.equal([
        1, 4, 0, 1,
      ]);
    });

    it('answers other commands with 0xC1', async () => {
      const { bmc } = setup();
      const s = await loggedIn(bmc);
      expect((await command(bmc, s, 0x0a, 0x10)).cc).to.equal(0xc1);
      expect((await command(bmc, s, 0x2c, 0x00, [0x00])).cc).to.equal(0xc1);
    });

    it('closes its own session with Close Session and then ignores it', async () => {
      const { bmc } = setup();
      const s = await loggedIn(bmc);
      const id = Buffer.alloc(4);
      id.writeUInt32LE(s.bmcSessionId);
      expect((await command(bmc, s, 0x06, 0x3c, [...id])).cc).to.equal(0);
      expect(bmc.sessions.size).to.equal(0);
      expect(await bmc.handle(sealed(s, ipmiRequest(0x06, 0x01, [])), source)).to.equal(undefined);
    });
  });

  describe('hostile input', () => {
    it('drops replayed and far-ahead sequence numbers, and sequence number 0', async () => {
      const { bmc } = setup();
      const s = await loggedIn(bmc);
      const packet = sealed(s, ipmiRequest(0x06, 0x01, []));
      expect(await bmc.handle(packet, source)).to.not.equal(undefined);
      expect(await bmc.handle(packet, source)).to.equal(undefined);
      expect(await bmc.handle(sealed(s, ipmiRequest(0x06, 0x01, []), 1000), source)).to.equal(
        undefined,
      );
      expect(await bmc.handle(sealed(s, ipmiRequest(0x06, 0x01, []), 0), source)).to.equal(
        undefined,
      );
      // Out of order but inside the window: accepted once.
      const late = sealed(s, ipmiRequest(0x06, 0x01, []), 5);
      await bmc.handle(sealed(s, ipmiRequest(0x06, 0x01, []), 8), source);
      expect(await bmc.handle(late, source)).to.not.equal(undefined);
      expect(await bmc.handle(late, source)).to.equal(undefined);
    });

    it('drops a wrong session id, a wrong source, a bad integrity code or pad, and plaintext', async () => {
      const { bmc, backend } = setup();
      const s = await loggedIn(bmc);
      const good = sealed(s, ipmiRequest(0x00, 0x02, [0x01]));
      const wrongId = Buffer.from(good);
      wrongId.writeUInt32LE((s.bmcSessionId + 1) >>> 0, 4 + 2);
      expect(await bmc.handle(wrongId, source)).to.equal(undefined);
      expect(await bmc.handle(good, { ip: '192.0.2.11', remote: '192.0.2.11:1' })).to.equal(
        undefined,
      );
      const badCode = Buffer.from(good);
      badCode.writeUInt8(badCode.readUInt8(badCode.length - 1) ^ 1, badCode.length - 1);
      expect(await bmc.handle(badCode, source)).to.equal(undefined);
      const badPad = Buffer.from(good);
      badPad.writeUInt8(3, badPad.length - 14); // pad length that does not match
      expect(await bmc.handle(badPad, source)).to.equal(undefined);
      const clear = plain(0x00, ipmiRequest(0x00, 0x02, [0x01]), s.bmcSessionId, 99);
      expect(await bmc.handle(clear, source)).to.equal(undefined);
      expect(backend.actions).to.deep.equal([]);
    });

    it('drops truncated headers, wrong and huge length fields and bad payload types', async () => {
      const { bmc } = setup();
      const s = await loggedIn(bmc);
      const good = sealed(s, ipmiRequest(0x06, 0x01, []));
      for (let n = 0; n < good.length; n++) {
        expect(await bmc.handle(good.subarray(0, n), source)).to.equal(undefined);
      }
      const huge = Buffer.from(good);
      huge.writeUInt16LE(0xffff, 4 + 10);
      expect(await bmc.handle(huge, source)).to.equal(undefined);
      const short = Buffer.from(good);
      short.writeUInt16LE(3, 4 + 10);
      expect(await bmc.handle(short, source)).to.equal(undefined);
      for (const type of [0x01, 0x02, 0x11, 0x13, 0x15, 0x3f]) {
        expect(await bmc.handle(plain(type, Buffer.alloc(32)), source)).to.equal(undefined);
      }
      const v15Long = rmcp(Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 200, 1, 2]));
      expect(await bmc.handle(v15Long, source)).to.equal(undefined);
    });

    it('survives thousands of random and mutated packets without throwing or keeping sessions', async () => {
      const { bmc, backend } = setup();
      const s = await loggedIn(bmc);
      const seeds = [
        sealed(s, ipmiRequest(0x00, 0x02, [0x01])),
        plain(0x10, Buffer.alloc(32)),
        plain(0x12, Buffer.alloc(40)),
        plain(0x14, Buffer.alloc(28)),
        plain(0x00, ipmiRequest(0x06, 0x38, [0x8e, 4])),
      ];
      for (let i = 0; i < 4000; i++) {
        let packet: Buffer;
        if (i % 2 === 0) {
          packet = randomBytes(i % 300);
        } else {
          packet = Buffer.from(seeds[i % seeds.length]!);
          for (let k = 0; k < 1 + (i % 4); k++) {
            const at = randomBytes(2).readUInt16LE() % packet.length;
            packet.writeUInt8(randomBytes(1).readUInt8(), at);
          }
        }
        await bmc.handle(packet, source);
      }
      expect(bmc.sessions.size).to.be.at.most(4);
      expect(backend.actions.every((a) => a.source.user === 'maas')).to.equal(true);
    });

    it('keeps the session table bounded under an Open Session flood, and a login still works', async () => {
      const { bmc } = setup({ maxSessions: 4 });
      const open = Buffer.alloc(32);
      Buffer.from([0, 0, 0, 8, 1, 0, 0, 0, 1, 0, 0, 8, 1, 0, 0, 0, 2, 0, 0, 8, 1, 0, 0, 0]).copy(
        open,
        8,
      );
      for (let i = 0; i < 2000; i++) {
        open.writeUInt32LE(i, 4);
        await bmc.handle(plain(0x10, open), source);
      }
      expect(bmc.sessions.size).to.equal(4);
      await loggedIn(bmc);
      expect(bmc.sessions.size).to.be.at.most(4);
    });

    it('closes sessions idle for 60 s', async () => {
      let now = 0;
      const { bmc } = setup({ now: () => now });
      const s = await loggedIn(bmc);
      now += 59_000;
      expect(await bmc.handle(sealed(s, ipmiRequest(0x06, 0x01, [])), source)).to.not.equal(
        undefined,
      );
      now += 60_000;
      expect(await bmc.handle(sealed(s, ipmiRequest(0x06, 0x01, [])), source)).to.equal(undefined);
      expect(bmc.sessions.size).to.equal(0);
    });
  });
});
