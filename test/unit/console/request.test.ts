import { expect } from 'chai';
import {
  CONSOLE_UPGRADE_PROTOCOL,
  consolePath,
  errorResponse,
  parseConsoleRequest,
  type ConsoleRequestLine,
} from '../../../src/console/index.js';

const good = (over: Partial<ConsoleRequestLine> = {}): ConsoleRequestLine => ({
  method: 'GET',
  url: consolePath('lab-a', 'node-1', 'console'),
  headers: { connection: ['Upgrade'], upgrade: [CONSOLE_UPGRADE_PROTOCOL] },
  ...over,
});

const statusOf = (req: ConsoleRequestLine): number | 'ok' => {
  const p = parseConsoleRequest(req);
  return p.ok ? 'ok' : p.refusal.status;
};

describe('console/request', () => {
  it('routes console and vnc of a node', () => {
    expect(parseConsoleRequest(good())).to.deep.equal({
      ok: true,
      target: { namespace: 'lab-a', name: 'node-1', kind: 'console' },
    });
    const vnc = parseConsoleRequest(good({ url: consolePath('lab-a', 'n.1', 'vnc') }));
    expect(vnc).to.deep.equal({
      ok: true,
      target: { namespace: 'lab-a', name: 'n.1', kind: 'vnc' },
    });
  });

  it('accepts header tokens in any case and Connection as a list', () => {
    expect(
      statusOf(
        good({ headers: { connection: ['keep-alive, UPGRADE'], upgrade: ['Maaslab-Stream'] } }),
      ),
    ).to.equal('ok');
  });

  const hostile: [string, Partial<ConsoleRequestLine>, number][] = [
    ['no URL', { url: undefined }, 400],
    [
      'an absolute URL',
      { url: 'http://evil/apis/maaslab.dev/v1alpha1/namespaces/a/maasnodes/b/console' },
      400,
    ],
    ['a query', { url: `${consolePath('a', 'b', 'console')}?x=1` }, 400],
    ['a fragment', { url: `${consolePath('a', 'b', 'console')}#x` }, 400],
    [
      'percent-escapes',
      { url: '/apis/maaslab.dev/v1alpha1/namespaces/a/maasnodes/%2e%2e/console' },
      400,
    ],
    ['dot segments', { url: '/apis/maaslab.dev/v1alpha1/namespaces/a/maasnodes/../console' }, 400],
    ['a dot name', { url: consolePath('a', '.', 'console') }, 400],
    ['an upper-case name', { url: consolePath('a', 'Node', 'console') }, 400],
    ['a namespace with a dot', { url: consolePath('a.b', 'n', 'console') }, 400],
    ['a 64-character namespace', { url: consolePath('a'.repeat(64), 'n', 'console') }, 400],
    ['a 254-character name', { url: consolePath('a', 'a'.repeat(254), 'console') }, 400],
    ['an overlong target', { url: `/${'a'.repeat(600)}` }, 414],
    [
      'another resource',
      { url: '/apis/maaslab.dev/v1alpha1/namespaces/a/maaslabs/b/console' },
      404,
    ],
    [
      'another subresource',
      { url: consolePath('a', 'b', 'console').replace(/console$/, 'exec') },
      404,
    ],
    ['a trailing slash', { url: `${consolePath('a', 'b', 'console')}/` }, 404],
    ['the API root', { url: '/' }, 404],
    ['an extra segment', { url: `${consolePath('a', 'b', 'console')}/x` }, 404],
    ['a double slash', { url: '/apis/maaslab.dev/v1alpha1/namespaces//maasnodes/b/console' }, 404],
    ['POST', { method: 'POST' }, 405],
    ['no method', { method: undefined }, 405],
    ['no Upgrade header', { headers: { connection: ['Upgrade'] } }, 426],
    ['no Connection header', { headers: { upgrade: [CONSOLE_UPGRADE_PROTOCOL] } }, 426],
    [
      'Connection without upgrade',
      { headers: { connection: ['close'], upgrade: [CONSOLE_UPGRADE_PROTOCOL] } },
      426,
    ],
    ['websocket', { headers: { connection: ['Upgrade'], upgrade: ['websocket'] } }, 400],
    [
      'two Upgrade headers',
      { headers: { connection: ['Upgrade'], upgrade: [CONSOLE_UPGRADE_PROTOCOL, 'h2c'] } },
      400,
    ],
    [
      'an Upgrade list',
      { headers: { connection: ['Upgrade'], upgrade: [`${CONSOLE_UPGRADE_PROTOCOL}, h2c`] } },
      400,
    ],
    [
      'garbage in Upgrade',
      { headers: { connection: ['Upgrade'], upgrade: ['\u0000\u00ff'] } },
      400,
    ],
  ];
  for (const [name, over, status] of hostile) {
    it(`refuses ${name} with ${status}`, () => {
      expect(statusOf(good(over))).to.equal(status);
    });
  }

  it('error messages quote nothing the caller sent', () => {
    const p = parseConsoleRequest(good({ url: consolePath('a', '<script>', 'console') }));
    expect(p.ok).to.equal(false);
    if (!p.ok) expect(p.refusal.message).to.not.include('<script>');
  });

  it('errorResponse is a whole HTTP/1.1 response that closes; 426 names the protocol', () => {
    const r = errorResponse(403, 'Forbidden: no');
    expect(r).to.match(/^HTTP\/1\.1 403 Forbidden\r\n/);
    expect(r).to.include('Content-Length: 14\r\n');
    expect(r).to.include('Connection: close\r\n\r\nForbidden: no\n');
    expect(errorResponse(426, 'x')).to.include(`Upgrade: ${CONSOLE_UPGRADE_PROTOCOL}\r\n`);
  });
});
