// The Redfish BMC driven by real clients over loopback: sushy (OpenStack's Redfish library, the
// one Ironic uses) through test/support/sushy-client.py, and curl for the raw protocol. Two
// systems under different credentials, and a third the backend has but nobody listed.
import { clientEnv, runTool } from '../../support/bmc-clients.js';
import { mkdtempSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { LoginThrottle } from '../../../src/bmc/auth.js';
import type { BmcSystemEntry } from '../../../src/bmc/backend.js';
import {
  generateBmcCertificate,
  startRedfishBmc,
  type RedfishBmc,
} from '../../../src/bmc/redfish/index.js';
import { FakeBmcBackend } from '../../fakes/bmc-backend.js';

const A = '6f1c2a0e-0000-4000-8000-00000000000a';
const B = '6f1c2a0e-0000-4000-8000-00000000000b';
const Hidden = '6f1c2a0e-0000-4000-8000-0000000000cc';
const alice = { username: 'alice', password: 'alpha-secret' };
const bob = { username: 'bob', password: 'bravo-secret' };
const python = '/usr/bin/python3';
const sushyScript = join(import.meta.dirname, '../../support/sushy-client.py');
const run = runTool;

const hasSushy = async (): Promise<boolean> =>
  existsSync(python) && (await run(python, ['-c', 'import sushy'])).code === 0;
const hasCurl = async (): Promise<boolean> => (await run('curl', ['--version'])).code === 0;

interface CurlAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
  json: () => Record<string, unknown>;
}

describe('bmc/redfish with real clients', function () {
  this.timeout(120_000);
  let dir: string;
  let caPath: string;
  let tls: { certPem: string; keyPem: string };
  const backend = new FakeBmcBackend();
  let entries: BmcSystemEntry[];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'maaslab-redfish-'));
    tls = await generateBmcCertificate({
      commonName: 'hv-test',
      ipAddresses: ['127.0.0.1'],
      dnsNames: ['localhost'],
      validDays: 1,
    });
    caPath = join(dir, 'bmc.pem');
    writeFileSync(caPath, tls.certPem);
    backend.add(A, 'node-a', 'Off');
    backend.add(B, 'node-b', 'On');
    backend.add(Hidden, 'node-hidden', 'On');
    entries = [
      { id: A, credentials: alice },
      { id: B, credentials: bob },
    ];
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function curl(
    bmc: RedfishBmc,
    path: string,
    args: string[] = [],
    from?: string,
  ): Promise<CurlAnswer> {
    const res = await run(
      'curl',
      [
        '-sS',
        '-i',
        '--cacert',
        caPath,
        ...(from ? ['--interface', from] : []),
        ...args,
        bmc.url + path,
      ],
      undefined,
      clientEnv(),
    );
    if (res.code !== 0) throw new Error(`curl failed (${res.code}): ${res.stderr}`);
    const split = res.stdout.indexOf('\r\n\r\n');
    const head = res.stdout.slice(0, split).split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of head.slice(1)) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
    }
    const body = res.stdout.slice(split + 4);
    return {
      status: Number(head[0]?.split(' ')[1]),
      headers,
      body,
      json: () => JSON.parse(body) as Record<string, unknown>,
    };
  }
  const basic = (c: { username: string; password: string }): string[] => [
    '-u',
    `${c.username}:${c.password}`,
  ];
  const jsonBody = (value: unknown): string[] => [
    '-H',
    'Content-Type: application/json',
    '--data-binary',
    JSON.stringify(value),
  ];

  async function sushy(
    bmc: RedfishBmc,
    request: object,
  ): Promise<{ results: unknown[]; error?: string; message?: string }> {
    const res = await run(
      python,
      [sushyScript],
      JSON.stringify({
        url: bmc.url,
        verify: bmc.url.startsWith('https') ? caPath : false,
        system: null,
        ...request,
      }),
      clientEnv(),
    );
    if (res.code !== 0) throw new Error(`sushy client failed: ${res.stderr}`);
    return JSON.parse(res.stdout) as { results: unknown[]; error?: string };
  }

  describe('over HTTPS', () => {
    let bmc: RedfishBmc;
    before(async () => {
      bmc = await startRedfishBmc({
        host: '127.0.0.1',
        port: 0,
        tls,
        systems: () => entries,
        backend,
      });
    });
    after(() => bmc.close());

    for (const auth of ['basic', 'session'] as const) {
      it(`sushy (${auth} auth) lists only alice's system, resets it each way and sets its boot override`, async function () {
        if (!(await hasSushy())) this.skip(); // python3-sushy is not installed
        const listed = await sushy(bmc, { ...alice, auth, steps: [['list']] });
        expect(listed.error).to.equal(undefined, listed.message);
        expect(listed.results[0]).to.deep.equal([`/redfish/v1/Systems/${A}`]);

        const system = `/redfish/v1/Systems/${A}`;
        backend.actions.length = 0;
        const steps = [
          ['power'],
          ['reset', 'On'],
          ['power'],
          ['reset', 'GracefulRestart'],
          ['reset', 'ForceRestart'],
          ['reset', 'PowerCycle'],
          ['reset', 'GracefulShutdown'],
          ['power'],
          ['reset', 'PushPowerButton'],
          ['power'],
          ['reset', 'ForceOff'],
          ['power'],
          ['boot', 'Pxe', 'Once', null],
          ['boot_state'],
          ['boot', 'Hdd', 'Continuous', 'UEFI'],
          ['boot_state'],
          ['boot', 'Cd', 'Once', 'Legacy'],
          ['boot', 'None', 'Disabled', null],
          ['boot_state'],
        ];
        const out = await sushy(bmc, { ...alice, auth, system, steps });
        expect(out.error).to.equal(undefined, out.message);
        expect(out.results.slice(0, 19)).to.deep.equal([
          'Off',
          'ok',
          'On',
          'ok',
          'ok',
          'ok',
          'ok',
          'Off',
          'ok',
          'On',
          'ok',
          'Off',
          'ok',
          ['Pxe', 'Once', 'Legacy'],
          'ok',
          ['Hdd', 'Continuous', 'UEFI'],
          'ok',
          'ok',
          ['None', 'Disabled', 'Legacy'],
        ]);
        expect(backend.actions.map((a) => a.action)).to.deep.equal([
          'On',
          'GracefulRestart',
          'ForceRestart',
          'PowerCycle',
          'GracefulShutdown',
          'PushPowerButton',
          'ForceOff',
          'boot',
          'boot',
          'boot',
          'boot',
        ]);
        for (const a of backend.actions) {
          expect(a.id).to.equal(A);
          expect(a.source.protocol).to.equal('redfish');
          expect(a.source.user).to.equal('alice');
          expect(a.source.remote).to.match(/^127\.0\.0\.1:\d+$/);
        }
        expect(backend.actions[7]?.boot).to.deep.equal({
          target: 'Pxe',
          enabled: 'Once',
          mode: 'Legacy',
        });
        expect(backend.actions[8]?.boot).to.deep.equal({
          target: 'Hdd',
          enabled: 'Continuous',
          mode: 'UEFI',
        });
        if (auth === 'session') {
          expect(out.results[19])
            .to.have.property('session')
            .that.matches(/^\/redfish\/v1\/SessionService\/Sessions\/[0-9a-f]{32}$/);
        }
      });
    }

    it("sushy sees bob's system only with bob's credentials, and fails on wrong ones", async function () {
      if (!(await hasSushy())) this.skip();
      const listed = await sushy(bmc, { ...bob, auth: 'basic', steps: [['list']] });
      expect(listed.results[0]).to.deep.equal([`/redfish/v1/Systems/${B}`]);
      const other = await sushy(bmc, {
        ...bob,
        auth: 'basic',
        system: `/redfish/v1/Systems/${A}`,
        steps: [['power']],
      });
      expect(other.error).to.equal('ResourceNotFoundError');
      const wrong = await sushy(bmc, {
        username: 'bob',
        password: 'nope',
        auth: 'session',
        steps: [['list']],
      });
      expect(wrong.error).to.equal('AccessError');
    });

    it('curl: the root is anonymous, everything else needs valid credentials (401 + WWW-Authenticate)', async function () {
      if (!(await hasCurl())) this.skip(); // curl is not installed
      const root = await curl(bmc, '/redfish/v1/');
      expect(root.status).to.equal(200);
      expect(root.headers['odata-version']).to.equal('4.0');
      expect(root.headers['content-type']).to.equal('application/json; charset=utf-8');
      expect(root.json()).to.have.nested.property(
        'Links.Sessions.@odata\\.id',
        '/redfish/v1/SessionService/Sessions',
      );
      expect((await curl(bmc, '/redfish')).json()).to.deep.equal({ v1: '/redfish/v1/' });
      for (const args of [
        [],
        ['-u', 'alice:wrong'],
        ['-u', 'nobody:alpha-secret'],
        ['-H', 'Authorization: Basic !!!'],
      ]) {
        const res = await curl(bmc, '/redfish/v1/Systems', args);
        expect(res.status, args.join(' ')).to.equal(401);
        expect(res.headers['www-authenticate']).to.match(/^Basic realm=/);
        expect(res.json()).to.have.nested.property('error.code');
      }
    });

    it("curl: another user's system, a hidden one and an unknown id are all 404; trailing slashes work", async function () {
      if (!(await hasCurl())) this.skip();
      for (const id of [
        B,
        Hidden,
        '00000000-0000-0000-0000-000000000000',
        A.toUpperCase(),
        `..%2F${A}`,
      ]) {
        expect((await curl(bmc, `/redfish/v1/Systems/${id}`, basic(alice))).status, id).to.equal(
          404,
        );
      }
      for (const path of [
        '/redfish/v1',
        '/redfish/v1/',
        '/redfish/v1/Systems',
        '/redfish/v1/Systems/',
        `/redfish/v1/Systems/${A}`,
        `/redfish/v1/Systems/${A}/`,
        '/redfish/v1/SessionService/',
        '/redfish/',
      ]) {
        expect((await curl(bmc, path, basic(alice))).status, path).to.equal(200);
      }
      const col = (await curl(bmc, '/redfish/v1/Systems/', basic(bob))).json();
      expect(col['Members']).to.deep.equal([{ '@odata.id': `/redfish/v1/Systems/${B}` }]);
    });

    it('curl: ETag and If-Match on PATCH (match 200, * 200, mismatch 412), bad values 400, 405 with Allow', async function () {
      if (!(await hasCurl())) this.skip();
      const path = `/redfish/v1/Systems/${B}`;
      const got = await curl(bmc, path, basic(bob));
      const etag = got.headers['etag'] as string;
      expect(etag).to.match(/^"[0-9a-f]+"$/);
      expect(got.json()['@odata.etag']).to.equal(etag);
      const patch = (ifMatch: string, body: unknown) =>
        curl(bmc, path, [
          ...basic(bob),
          '-X',
          'PATCH',
          '-H',
          `If-Match: ${ifMatch}`,
          ...jsonBody(body),
        ]);
      const ok = await patch(etag, {
        Boot: { BootSourceOverrideTarget: 'Pxe', BootSourceOverrideEnabled: 'Once' },
      });
      expect(ok.status).to.equal(200);
      expect(ok.headers['etag']).to.not.equal(etag);
      const stale = await patch(etag, { Boot: { BootSourceOverrideTarget: 'Hdd' } });
      expect(stale.status).to.equal(412);
      expect(stale.json())
        .to.have.nested.property('error.code')
        .that.matches(/PreconditionFailed$/);
      expect((await patch('*', { Boot: { BootSourceOverrideTarget: 'Hdd' } })).status).to.equal(
        200,
      );
      expect((await backend.describe(B))?.boot).to.deep.equal({
        target: 'Hdd',
        enabled: 'Once',
        mode: 'Legacy',
      });
      const bad = await patch('*', { Boot: { BootSourceOverrideTarget: 'Floppy' } });
      expect(bad.status).to.equal(400);
      const info = (bad.json()['error'] as Record<string, unknown>)[
        '@Message.ExtendedInfo'
      ] as Array<Record<string, unknown>>;
      expect(info[0]?.['MessageId']).to.match(/^Base\.1\.\d+\.\d+\.PropertyValueNotInList$/);
      const malformed = await curl(bmc, path, [
        ...basic(bob),
        '-X',
        'PATCH',
        '--data-binary',
        '{"Boot":',
      ]);
      expect(malformed.status).to.equal(400);
      expect(malformed.json())
        .to.have.nested.property('error.code')
        .that.matches(/MalformedJSON$/);
      const del = await curl(bmc, path, [...basic(bob), '-X', 'DELETE']);
      expect(del.status).to.equal(405);
      expect(del.headers['allow']).to.equal('GET, HEAD, PATCH');
      const reset = await curl(bmc, `${path}/Actions/ComputerSystem.Reset`, [
        ...basic(bob),
        ...jsonBody({ ResetType: 'Nmi' }),
      ]);
      expect(reset.status).to.equal(400);
      expect(reset.body).to.contain('ActionParameterNotSupported');
      const restartOff = await curl(bmc, `/redfish/v1/Systems/${B}/Actions/ComputerSystem.Reset/`, [
        ...basic(bob),
        ...jsonBody({ ResetType: 'ForceOff' }),
      ]);
      expect(restartOff.status).to.equal(204);
      const conflict = await curl(bmc, `/redfish/v1/Systems/${B}/Actions/ComputerSystem.Reset`, [
        ...basic(bob),
        ...jsonBody({ ResetType: 'ForceRestart' }),
      ]);
      expect(conflict.status).to.equal(409);
    });

    it('curl: a session is created, used with X-Auth-Token, deleted, and its token then refused', async function () {
      if (!(await hasCurl())) this.skip();
      const login = await curl(
        bmc,
        '/redfish/v1/SessionService/Sessions',
        jsonBody({ UserName: 'alice', Password: 'alpha-secret' }),
      );
      expect(login.status).to.equal(201);
      const token = login.headers['x-auth-token'] as string;
      const location = login.headers['location'] as string;
      expect(token).to.match(/^[A-Za-z0-9_-]{43}$/);
      expect(location).to.match(/^\/redfish\/v1\/SessionService\/Sessions\/[0-9a-f]{32}$/);
      const withToken = ['-H', `X-Auth-Token: ${token}`];
      expect((await curl(bmc, `/redfish/v1/Systems/${A}`, withToken)).status).to.equal(200);
      expect((await curl(bmc, `/redfish/v1/Systems/${B}`, withToken)).status).to.equal(404);
      expect((await curl(bmc, location, withToken)).json()).to.include({
        UserName: 'alice',
        Password: null,
      });
      expect((await curl(bmc, location, basic(bob))).status).to.equal(404); // not bob's session
      expect((await curl(bmc, location, [...withToken, '-X', 'DELETE'])).status).to.equal(204);
      expect((await curl(bmc, `/redfish/v1/Systems/${A}`, withToken)).status).to.equal(401);
      const wrong = await curl(
        bmc,
        '/redfish/v1/SessionService/Sessions',
        jsonBody({ UserName: 'alice', Password: 'x' }),
      );
      expect(wrong.status).to.equal(401);
    });

    it('a changed Secret revokes a live session at once', async function () {
      if (!(await hasCurl())) this.skip();
      const login = await curl(
        bmc,
        '/redfish/v1/SessionService/Sessions',
        jsonBody({ UserName: 'bob', Password: 'bravo-secret' }),
      );
      const withToken = ['-H', `X-Auth-Token: ${login.headers['x-auth-token']}`];
      expect((await curl(bmc, `/redfish/v1/Systems/${B}`, withToken)).status).to.equal(200);
      const saved = entries;
      entries = [
        entries[0] as BmcSystemEntry,
        { id: B, credentials: { username: 'bob', password: 'rotated' } },
      ];
      try {
        expect((await curl(bmc, `/redfish/v1/Systems/${B}`, withToken)).status).to.equal(401);
      } finally {
        entries = saved;
      }
    });
  });

  it('serves plain HTTP when no certificate is given (sushy and curl)', async function () {
    if (!(await hasCurl()) || !(await hasSushy())) this.skip();
    const bmc = await startRedfishBmc({
      host: '127.0.0.1',
      port: 0,
      systems: () => entries,
      backend,
    });
    try {
      expect(bmc.url).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect((await curl(bmc, '/redfish/v1/Systems', basic(alice))).status).to.equal(200);
      const out = await sushy(bmc, { ...alice, auth: 'session', steps: [['list'], ['power']] });
      expect(out.error).to.equal(undefined, out.message);
      expect(out.results[0]).to.deep.equal([`/redfish/v1/Systems/${A}`]);
    } finally {
      await bmc.close();
    }
  });

  it('throttles a flood of wrong passwords from one source while another source is served, and survives malformed requests', async function () {
    if (!(await hasCurl())) this.skip();
    const throttle = new LoginThrottle({ maxFailures: 3, windowMs: 60_000, lockoutMs: 60_000 });
    const bmc = await startRedfishBmc({
      host: '127.0.0.1',
      port: 0,
      tls,
      systems: () => entries,
      backend,
      throttle,
    });
    try {
      // The attacker connects from 127.0.0.2 (still loopback, to 127.0.0.1): a second real source.
      const probe = await run(
        'curl',
        [
          '-sS',
          '-o',
          '/dev/null',
          '--interface',
          '127.0.0.2',
          '--cacert',
          caPath,
          bmc.url + '/redfish/v1/',
        ],
        undefined,
        clientEnv(),
      );
      if (probe.code !== 0) this.skip(); // cannot bind 127.0.0.2 here
      const attacker = '127.0.0.2';
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++)
        statuses.push(
          (await curl(bmc, '/redfish/v1/Systems', ['-u', 'alice:guess' + i], attacker)).status,
        );
      expect(statuses).to.deep.equal([401, 401, 401, 429, 429, 429]);
      const locked = await curl(bmc, '/redfish/v1/Systems', basic(alice), attacker);
      expect(locked.status).to.equal(429);
      expect(Number(locked.headers['retry-after'])).to.be.within(1, 60);
      expect((await curl(bmc, '/redfish/v1/Systems', basic(alice))).status).to.equal(200);

      // Malformed HTTP, an oversized body and broken JSON: each answered, the server lives on.
      const raw = await new Promise<string>((resolve) => {
        const socket = connect(bmc.port, '127.0.0.1');
        let data = '';
        socket.on('data', (d) => (data += d.toString()));
        socket.on('close', () => resolve(data));
        socket.on('error', () => resolve(data));
        socket.end('GARBAGE \x00\x01 NOT HTTP\r\n\r\n');
      });
      // Not TLS: the server answers with a TLS alert (or nothing) and closes; no HTTP reaches it.
      expect(raw).to.not.contain('200 OK');
      const huge = await curl(bmc, `/redfish/v1/Systems/${A}`, [
        ...basic(alice),
        '-X',
        'PATCH',
        '-H',
        'Content-Type: application/json',
        '--data-binary',
        'x'.repeat(100_000),
      ]);
      expect(huge.status).to.equal(413);
      const deep = await curl(bmc, `/redfish/v1/Systems/${A}`, [
        ...basic(alice),
        '-X',
        'PATCH',
        '-H',
        'Content-Type: application/json',
        '--data-binary',
        '{"Boot":' + '['.repeat(20_000) + ']'.repeat(20_000) + '}',
      ]);
      expect(deep.status).to.equal(400);
      expect((await curl(bmc, `/redfish/v1/Systems/${A}`, basic(alice))).status).to.equal(200);
    } finally {
      await bmc.close();
    }
  });
});
