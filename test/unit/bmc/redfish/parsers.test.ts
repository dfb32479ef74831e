// Hostile input for the parsers that see attacker-controlled bytes: Basic auth headers,
// session tokens, JSON bodies and request paths.
import { expect } from 'chai';
import {
  isWellFormedSessionToken,
  parseBasicAuthorization,
} from '../../../../src/bmc/redfish/auth.js';
import { routeOf } from '../../../../src/bmc/redfish/paths.js';
import { MaxBodyBytes, parseJsonObject } from '../../../../src/bmc/redfish/request-body.js';

const b64 = (s: string | Buffer): string => Buffer.from(s).toString('base64');
const uuid = '6f1c2a0e-0000-4000-8000-00000000000a';

describe('bmc/redfish parsers', () => {
  describe('parseBasicAuthorization', () => {
    it('reads a well-formed header, splitting at the first colon', () => {
      expect(parseBasicAuthorization(`Basic ${b64('admin:pa:ss')}`)).to.deep.equal({
        username: 'admin',
        password: 'pa:ss',
      });
      expect(parseBasicAuthorization(`basic ${b64('admin:')}`)).to.deep.equal({
        username: 'admin',
        password: '',
      });
      expect(parseBasicAuthorization(`BASIC ${b64('jürgen:pässwörd')}`)).to.deep.equal({
        username: 'jürgen',
        password: 'pässwörd',
      });
    });

    it('refuses anything malformed', () => {
      const hostile = [
        undefined,
        '',
        'Basic',
        'Basic ',
        `Bearer ${b64('admin:x')}`,
        `Basic ${b64('no-colon')}`,
        `Basic ${b64(':password-without-user')}`,
        'Basic !!!not-base64!!!',
        'Basic YWRtaW46eA', // unpadded
        `Basic ${b64('admin:x')}extra`,
        `Basic ${b64('admin:x')} trailing`,
        `Basic ${b64(Buffer.from([0x61, 0x3a, 0xff, 0xfe]))}`, // not UTF-8
        `Basic ${b64('ad\u0000min:x')}`,
        `Basic ${b64('a'.repeat(5000) + ':x')}`, // huge
        'Basic ' + 'A'.repeat(1_000_000),
      ];
      for (const header of hostile)
        expect(parseBasicAuthorization(header), String(header).slice(0, 40)).to.equal(undefined);
    });
  });

  describe('isWellFormedSessionToken', () => {
    it('accepts only 43 base64url characters', () => {
      expect(isWellFormedSessionToken('A'.repeat(43))).to.equal(true);
      expect(isWellFormedSessionToken('a-_0'.repeat(10) + 'abc')).to.equal(true);
      for (const token of [
        undefined,
        '',
        'A'.repeat(42),
        'A'.repeat(44),
        'A'.repeat(42) + '=',
        'A'.repeat(42) + '/',
        'A'.repeat(42) + 'é',
        ' ' + 'A'.repeat(42),
        'A'.repeat(100_000),
      ]) {
        expect(isWellFormedSessionToken(token)).to.equal(false);
      }
    });
  });

  describe('parseJsonObject', () => {
    it('reads an object', () => {
      expect(parseJsonObject(Buffer.from('{"ResetType":"On"}'))).to.deep.equal({
        ok: true,
        value: { ResetType: 'On' },
      });
    });

    it('refuses empty, huge, non-UTF-8, non-object and deeply nested bodies', () => {
      const hostile = [
        undefined,
        Buffer.alloc(0),
        Buffer.from('{"a":"' + 'x'.repeat(MaxBodyBytes) + '"}'),
        Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]),
        Buffer.from('[1,2]'),
        Buffer.from('"On"'),
        Buffer.from('null'),
        Buffer.from('{"Boot":'),
        Buffer.from('{"a":' + '['.repeat(10_000) + ']'.repeat(10_000) + '}'),
        Buffer.from('{"a":' + '{"b":'.repeat(17) + '1' + '}'.repeat(17) + '}'),
      ];
      for (const body of hostile)
        expect(parseJsonObject(body).ok, String(body).slice(0, 30)).to.equal(false);
    });

    it('keeps __proto__ an own property and pollutes nothing', () => {
      const parsed = parseJsonObject(
        Buffer.from('{"__proto__":{"polluted":true},"constructor":{"prototype":{"x":1}}}'),
      );
      expect(parsed.ok).to.equal(true);
      expect(({} as Record<string, unknown>)['polluted']).to.equal(undefined);
      if (parsed.ok) expect(Object.keys(parsed.value)).to.deep.equal(['__proto__', 'constructor']);
    });
  });

  describe('routeOf', () => {
    it('names every resource, with or without one trailing slash, query ignored', () => {
      const cases: Array<[string, unknown]> = [
        ['/redfish', { kind: 'versions' }],
        ['/redfish/', { kind: 'versions' }],
        ['/redfish/v1', { kind: 'root' }],
        ['/redfish/v1/', { kind: 'root' }],
        ['/redfish/v1/Systems', { kind: 'systems' }],
        ['/redfish/v1/Systems/?$expand=.', { kind: 'systems' }],
        [`/redfish/v1/Systems/${uuid}`, { kind: 'system', id: uuid }],
        [`/redfish/v1/Systems/${uuid}/`, { kind: 'system', id: uuid }],
        [`/redfish/v1/Systems/${uuid.toUpperCase()}`, { kind: 'system', id: uuid.toUpperCase() }], // the router then finds no such id: 404
        [`/redfish/v1/Systems/${uuid}/Actions/ComputerSystem.Reset`, { kind: 'reset', id: uuid }],
        [`/redfish/v1/Systems/${uuid}/Actions/ComputerSystem.Reset/`, { kind: 'reset', id: uuid }],
        ['/redfish/v1/SessionService', { kind: 'sessionService' }],
        ['/redfish/v1/SessionService/Sessions/', { kind: 'sessions' }],
        ['/redfish/v1/SessionService/Sessions/abc', { kind: 'session', id: 'abc' }],
      ];
      for (const [path, route] of cases) expect(routeOf(path), path).to.deep.equal(route);
    });

    it('names nothing for traversal, encoded slashes, empty segments and junk', () => {
      const hostile = [
        '',
        'redfish/v1',
        '/',
        '/redfish//v1',
        '/redfish/v1//',
        '/redfish/v2/',
        '/REDFISH/v1/',
        '/redfish/v1/Systems/..',
        '/redfish/v1/Systems/..%2F',
        '/redfish/v1/Systems/%2e%2e',
        `/redfish/v1/Systems/..%2F${uuid}`,
        `/redfish/v1/Systems/${uuid}%2FActions%2FComputerSystem.Reset`,
        `/redfish/v1/Systems/${uuid}%5C`,
        '/redfish/v1/Systems/%00',
        '/redfish/v1/Systems/%E0%A4%A',
        '/redfish/v1/Systems/%',
        '/redfish/v1/Systems/./',
        '/redfish/v1/Systems/a/b',
        '/redfish/v1/Systems/' + 'a'.repeat(1000),
        '/redfish/v1/Managers',
      ];
      for (const path of hostile) expect(routeOf(path), path).to.equal(undefined);
    });
  });
});
