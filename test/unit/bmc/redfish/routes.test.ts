// The router without sockets: authentication, scoping to unlocked systems, 404/405, PATCH
// validation, Reset and the backend's typed errors.
import { expect } from 'chai';
import { LoginThrottle } from '../../../../src/bmc/auth.js';
import {
  dispatch,
  type RedfishContext,
  type RedfishRequest,
} from '../../../../src/bmc/redfish/routes.js';
import { SessionStore } from '../../../../src/bmc/redfish/sessions.js';
import { validateReset, validateSystemPatch } from '../../../../src/bmc/redfish/validation.js';
import { FakeBmcBackend, NoBootOverride } from '../../../fakes/bmc-backend.js';

const A = '6f1c2a0e-0000-4000-8000-00000000000a';
const B = '6f1c2a0e-0000-4000-8000-00000000000b';
const alice = 'Basic ' + Buffer.from('alice:a').toString('base64');

function setup(): { ctx: RedfishContext; backend: FakeBmcBackend } {
  const backend = new FakeBmcBackend();
  backend.add(A, 'a', 'On');
  backend.add(B, 'b', 'Off');
  const ctx: RedfishContext = {
    systems: () => [
      { id: A, credentials: { username: 'alice', password: 'a' } },
      { id: B, credentials: { username: 'bob', password: 'b' } },
    ],
    backend,
    sessions: new SessionStore(),
    throttle: new LoginThrottle({ maxFailures: 3 }),
    serviceUuid: 'u',
    realm: 'r',
  };
  return { ctx, backend };
}

const req = (
  method: string,
  target: string,
  extra: Partial<RedfishRequest> = {},
): RedfishRequest => ({
  method,
  target,
  authorization: alice,
  remoteAddress: '127.0.0.1',
  remotePort: 4242,
  ...extra,
});
const body = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

describe('bmc/redfish/routes', () => {
  it('serves every resource with and without a trailing slash', async () => {
    const { ctx } = setup();
    for (const path of [
      '/redfish',
      '/redfish/v1',
      '/redfish/v1/Systems',
      `/redfish/v1/Systems/${A}`,
      '/redfish/v1/SessionService',
      '/redfish/v1/SessionService/Sessions',
    ]) {
      expect((await dispatch(ctx, req('GET', path))).status, path).to.equal(200);
      expect((await dispatch(ctx, req('GET', path + '/'))).status, path + '/').to.equal(200);
    }
  });

  it('lets only the root through without credentials; unknown paths are 401 before 404', async () => {
    const { ctx } = setup();
    expect(
      (await dispatch(ctx, req('GET', '/redfish/v1/', { authorization: undefined }))).status,
    ).to.equal(200);
    const denied = await dispatch(
      ctx,
      req('GET', '/redfish/v1/Nope', { authorization: undefined }),
    );
    expect(denied.status).to.equal(401);
    expect(denied.headers['WWW-Authenticate']).to.match(/^Basic realm="r"/);
    expect((await dispatch(ctx, req('GET', '/redfish/v1/Nope'))).status).to.equal(404);
  });

  it("hides other users' systems as 404, before 405", async () => {
    const { ctx } = setup();
    expect((await dispatch(ctx, req('GET', `/redfish/v1/Systems/${B}`))).status).to.equal(404);
    expect((await dispatch(ctx, req('DELETE', `/redfish/v1/Systems/${B}`))).status).to.equal(404);
    const col = await dispatch(ctx, req('GET', '/redfish/v1/Systems'));
    expect((col.body as { Members: unknown[] }).Members).to.deep.equal([
      { '@odata.id': `/redfish/v1/Systems/${A}` },
    ]);
  });

  it('answers 405 with Allow', async () => {
    const { ctx } = setup();
    const res = await dispatch(ctx, req('PUT', `/redfish/v1/Systems/${A}`));
    expect(res.status).to.equal(405);
    expect(res.headers['Allow']).to.equal('GET, HEAD, PATCH');
    expect(
      (await dispatch(ctx, req('GET', `/redfish/v1/Systems/${A}/Actions/ComputerSystem.Reset`)))
        .headers['Allow'],
    ).to.equal('POST');
    expect(
      (await dispatch(ctx, req('DELETE', '/redfish/v1/', { authorization: undefined }))).status,
    ).to.equal(405);
  });

  it('resets through the backend with the source, maps conflicts to 409 and unknown types to 400', async () => {
    const { ctx, backend } = setup();
    const reset = `/redfish/v1/Systems/${A}/Actions/ComputerSystem.Reset`;
    expect(
      (await dispatch(ctx, req('POST', reset, { body: body({ ResetType: 'ForceOff' }) }))).status,
    ).to.equal(204);
    expect(backend.actions).to.deep.equal([
      {
        id: A,
        action: 'ForceOff',
        source: { protocol: 'redfish', remote: '127.0.0.1:4242', user: 'alice' },
      },
    ]);
    expect(
      (await dispatch(ctx, req('POST', reset, { body: body({ ResetType: 'ForceRestart' }) })))
        .status,
    ).to.equal(409);
    expect(
      (await dispatch(ctx, req('POST', reset, { body: body({ ResetType: 'Nmi' }) }))).status,
    ).to.equal(400);
    expect((await dispatch(ctx, req('POST', reset, { body: Buffer.from('{') }))).status).to.equal(
      400,
    );
    backend.remove(A);
    expect(
      (await dispatch(ctx, req('POST', reset, { body: body({ ResetType: 'On' }) }))).status,
    ).to.equal(404);
  });

  it('PATCH honours If-Match and sets the boot override', async () => {
    const { ctx, backend } = setup();
    const path = `/redfish/v1/Systems/${A}`;
    const etag = (await dispatch(ctx, req('GET', path))).headers['ETag'];
    const patch = {
      Boot: { BootSourceOverrideTarget: 'Pxe', BootSourceOverrideEnabled: 'Continuous' },
    };
    expect(
      (await dispatch(ctx, req('PATCH', path, { ifMatch: '"stale"', body: body(patch) }))).status,
    ).to.equal(412);
    const ok = await dispatch(ctx, req('PATCH', path, { ifMatch: etag, body: body(patch) }));
    expect(ok.status).to.equal(200);
    expect(ok.headers['ETag']).to.not.equal(etag);
    expect((await backend.describe(A))?.boot).to.deep.equal({
      ...NoBootOverride,
      target: 'Pxe',
      enabled: 'Continuous',
    });
  });

  it('a locked-out source gets 429 with Retry-After, even with good credentials; others are served', async () => {
    const { ctx } = setup();
    const bad = 'Basic ' + Buffer.from('alice:x').toString('base64');
    for (let i = 0; i < 3; i++)
      expect(
        (
          await dispatch(
            ctx,
            req('GET', '/redfish/v1/Systems', { authorization: bad, remoteAddress: '10.0.0.9' }),
          )
        ).status,
      ).to.equal(401);
    const locked = await dispatch(
      ctx,
      req('GET', '/redfish/v1/Systems', { remoteAddress: '10.0.0.9' }),
    );
    expect(locked.status).to.equal(429);
    expect(Number(locked.headers['Retry-After'])).to.be.greaterThan(0);
    expect((await dispatch(ctx, req('GET', '/redfish/v1/Systems'))).status).to.equal(200);
  });

  describe('validation', () => {
    it('validateSystemPatch: wrong values, types, unknown and read-only properties are refused', () => {
      const ids = (v: ReturnType<typeof validateSystemPatch>) =>
        v.ok ? [] : v.problems.map((p) => p.id);
      expect(
        ids(validateSystemPatch({ Boot: { BootSourceOverrideTarget: 'Floppy' } }, NoBootOverride)),
      ).to.deep.equal(['PropertyValueNotInList']);
      expect(
        ids(validateSystemPatch({ Boot: { BootSourceOverrideEnabled: 1 } }, NoBootOverride)),
      ).to.deep.equal(['PropertyValueTypeError']);
      expect(ids(validateSystemPatch({ Boot: 'Pxe' }, NoBootOverride))).to.deep.equal([
        'PropertyValueTypeError',
      ]);
      expect(
        ids(validateSystemPatch({ Boot: { __proto__x: 1, toString: 'x' } }, NoBootOverride)),
      ).to.deep.equal(['PropertyUnknown', 'PropertyUnknown']);
      expect(
        ids(
          validateSystemPatch(
            JSON.parse('{"__proto__":{"a":1},"PowerState":"On"}') as Record<string, unknown>,
            NoBootOverride,
          ),
        ),
      ).to.deep.equal(['PropertyUnknown', 'PropertyNotWritable']);
      expect(
        validateSystemPatch({ Boot: { BootSourceOverrideMode: 'UEFI' } }, NoBootOverride),
      ).to.deep.equal({ ok: true, value: { ...NoBootOverride, mode: 'UEFI' } });
    });

    it('validateReset: missing, unknown and wrongly typed ResetType', () => {
      const ids = (v: ReturnType<typeof validateReset>) =>
        v.ok ? [] : v.problems.map((p) => p.id);
      expect(ids(validateReset({}))).to.deep.equal(['ActionParameterMissing']);
      expect(ids(validateReset({ ResetType: ['On'] }))).to.deep.equal([
        'ActionParameterNotSupported',
      ]);
      expect(ids(validateReset({ ResetType: 'On', Extra: 1 }))).to.deep.equal([
        'ActionParameterUnknown',
      ]);
      expect(validateReset({ ResetType: 'PushPowerButton' })).to.deep.equal({
        ok: true,
        value: 'PushPowerButton',
      });
    });
  });
});
