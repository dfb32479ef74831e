// The console server over real TLS on loopback, with the reviews, the caches and libvirt
// replaced: a table of tokens, a table of nodes, and an attacher that hands out one end of an
// in-memory pipe. Hostile clients write raw bytes on the TLS socket.
import { expect } from 'chai';
import { Duplex, PassThrough } from 'node:stream';
import { connect, type TLSSocket } from 'node:tls';
import type { Hypervisor, MaasNode } from '../../../src/api/v1alpha1/index.js';
import {
  type ConsoleAuthorizer,
  type ConsoleDomain,
  type ConsoleKind,
  type ConsoleServer,
  consolePath,
  startConsoleServer,
} from '../../../src/console/index.js';
import { ErrorDomain, ErrorLevel, ErrorNumber, LibvirtError } from '../../../src/libvirt/index.js';
import { generateSelfSignedCertificate } from '../../../src/runtime/index.js';
import { node } from '../controllers/fixtures.js';
import { waitFor } from '../../support/wait.js';

/** Two connected in-memory duplexes: what one writes, the other reads. */
function pipePair(): [Duplex, Duplex] {
  const aToB = new PassThrough();
  const bToA = new PassThrough();
  const a = Duplex.from({ readable: bToA, writable: aToB });
  const b = Duplex.from({ readable: aToB, writable: bToA });
  return [a, b];
}

const running = (name: string, spec: Partial<MaasNode['spec']> = {}): MaasNode => ({
  ...node(name, spec),
  status: { printableStatus: 'Running' },
});
const hv: Hypervisor = {
  apiVersion: 'maaslab.dev/v1alpha1',
  kind: 'Hypervisor',
  metadata: { name: 'local' },
  spec: { uri: 'qemu:///system' },
} as Hypervisor;

describe('console/server', function () {
  this.timeout(20_000);
  let server: ConsoleServer;
  const nodes = new Map<string, MaasNode>();
  let served = true;
  /** The far ends the attacher handed out, newest last. */
  const far: Duplex[] = [];
  /** The ends the server got. */
  const near: Duplex[] = [];
  const attached: Array<[ConsoleKind, ConsoleDomain]> = [];
  let attachError: Error | undefined;
  const authorize: ConsoleAuthorizer = async (auth, target) => {
    const token = auth?.[0];
    if (token === 'Bearer good') return { allowed: true, user: 'alice' };
    if (token === 'Bearer weak') {
      return { allowed: false, status: 403, message: `Forbidden ${target.kind}`, detail: 'no' };
    }
    return { allowed: false, status: 401, message: 'Unauthorized', detail: 'none' };
  };

  before(async () => {
    const pair = await generateSelfSignedCertificate({
      commonName: 'test',
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1'],
      validDays: 1,
    });
    server = await startConsoleServer({
      bindAddress: '127.0.0.1:0',
      certificate: { current: () => pair, watch: () => () => undefined },
      authorize,
      lookup: (ref) => {
        const n = nodes.get(`${ref.namespace}/${ref.name}`);
        return { node: n, hypervisor: n ? hv : undefined, serves: served };
      },
      attach: async (kind, domain) => {
        if (attachError) throw attachError;
        attached.push([kind, domain]);
        const [mine, other] = pipePair();
        other.on('error', () => undefined);
        far.push(other);
        near.push(mine);
        return mine;
      },
      maxSessions: 2,
      headersTimeoutMs: 1_000,
    });
  });
  after(async () => server?.close());
  beforeEach(() => {
    nodes.clear();
    nodes.set('maas/n1', running('n1'));
    served = true;
    attachError = undefined;
  });

  const open = (): Promise<TLSSocket> =>
    new Promise((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port: server.port, rejectUnauthorized: false }, () =>
        resolve(s),
      );
      s.once('error', reject);
    });

  /** Sends `raw` and collects everything until the server closes. */
  const exchange = async (raw: string | Buffer): Promise<string> => {
    const s = await open();
    let got = '';
    s.on('data', (d: Buffer) => (got += d.toString('latin1')));
    s.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => s.once('close', () => resolve()));
    s.write(raw);
    await closed;
    return got;
  };
  const request = (path: string, headers: Record<string, string> = {}, method = 'GET'): string =>
    `${method} ${path} HTTP/1.1\r\nHost: x\r\n` +
    Object.entries({
      Connection: 'Upgrade',
      Upgrade: 'maaslab-stream',
      Authorization: 'Bearer good',
      ...headers,
    })
      .filter(([, v]) => v !== '')
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('') +
    '\r\n';
  const statusLine = (res: string): string => res.split('\r\n')[0] ?? '';

  it('switches protocols and moves bytes both ways, including bytes sent with the request', async () => {
    const s = await open();
    let got = '';
    s.on('data', (d: Buffer) => (got += d.toString('latin1')));
    s.write(request(consolePath('maas', 'n1', 'console')) + 'early');
    await waitFor(() => got.includes('\r\n\r\n') || undefined, { timeoutMs: 5000, intervalMs: 10 });
    expect(statusLine(got)).to.equal('HTTP/1.1 101 Switching Protocols');
    expect(got).to.include('Upgrade: maaslab-stream');
    expect(attached.at(-1)).to.deep.equal([
      'console',
      { uri: 'qemu:///system', domain: 'maas.n1', hypervisor: 'local' },
    ]);
    const remote = far.at(-1)!;
    let fromClient = '';
    remote.on('data', (d: Buffer) => (fromClient += d.toString()));
    s.write('hello');
    await waitFor(() => fromClient === 'earlyhello' || undefined, {
      timeoutMs: 5000,
      intervalMs: 10,
    });
    remote.write('from guest');
    await waitFor(() => got.endsWith('from guest') || undefined, {
      timeoutMs: 5000,
      intervalMs: 10,
    });
    expect(server.sessions()).to.equal(1);
    // The client leaving ends the session and closes the libvirt side.
    s.destroy();
    await waitFor(() => near.at(-1)!.destroyed || undefined, { timeoutMs: 5000, intervalMs: 10 });
    await waitFor(() => server.sessions() === 0 || undefined, { timeoutMs: 5000, intervalMs: 10 });
  });

  it('the libvirt side ending (the domain stopped) closes the client connection', async () => {
    const s = await open();
    s.on('data', () => undefined);
    const closed = new Promise<void>((resolve) => s.once('close', () => resolve()));
    s.write(request(consolePath('maas', 'n1', 'vnc')));
    await waitFor(() => (attached.at(-1)?.[0] === 'vnc' && far.length > 0) || undefined, {
      timeoutMs: 5000,
      intervalMs: 10,
    });
    far.at(-1)!.end();
    await closed;
  });

  const refusals: [string, () => string, RegExp][] = [
    [
      'no token',
      () => request(consolePath('maas', 'n1', 'console'), { Authorization: '' }),
      / 401 /,
    ],
    [
      'a token without the permission',
      () => request(consolePath('maas', 'n1', 'vnc'), { Authorization: 'Bearer weak' }),
      / 403 /,
    ],
    [
      'an unknown node (after authorization)',
      () => request(consolePath('maas', 'ghost', 'console')),
      / 404 /,
    ],
    ['a bad name', () => request(consolePath('maas', 'UPPER', 'console')), / 400 /],
    [
      'a traversal',
      () => request('/apis/maaslab.dev/v1alpha1/namespaces/maas/maasnodes/../../console'),
      / 40[04] /,
    ],
    [
      'a percent-escape',
      () => request('/apis/maaslab.dev/v1alpha1/namespaces/maas/maasnodes/n%31/console'),
      / 400 /,
    ],
    ['another path', () => request('/metrics'), / 404 /],
    ['POST', () => request(consolePath('maas', 'n1', 'console'), {}, 'POST'), / 405 /],
    [
      'websocket',
      () => request(consolePath('maas', 'n1', 'console'), { Upgrade: 'websocket' }),
      / 400 /,
    ],
    [
      'no upgrade at all',
      () => request(consolePath('maas', 'n1', 'console'), { Connection: '', Upgrade: '' }),
      / 426 /,
    ],
    [
      'oversize headers',
      () => request(consolePath('maas', 'n1', 'console'), { 'X-Pad': 'a'.repeat(20_000) }),
      / 431 /,
    ],
    ['a garbage request line', () => '\u0000\u0001 nonsense\r\n\r\n', / 400 /],
  ];
  for (const [name, raw, status] of refusals) {
    it(`refuses ${name} with a clear status, and attaches nothing`, async () => {
      const before = attached.length;
      const res = await exchange(raw());
      expect(statusLine(res)).to.match(status);
      expect(attached.length).to.equal(before);
    });
  }

  it('an unauthorized caller learns nothing about which nodes exist (401/403 before 404)', async () => {
    const ghost = await exchange(
      request(consolePath('maas', 'ghost', 'console'), { Authorization: 'Bearer weak' }),
    );
    expect(statusLine(ghost)).to.match(/ 403 /);
  });

  it('a node that is not running, or not served by this replica, is 409 with why', async () => {
    nodes.set('maas/off', { ...node('off'), status: { printableStatus: 'Stopped' } });
    const off = await exchange(request(consolePath('maas', 'off', 'console')));
    expect(statusLine(off)).to.match(/ 409 /);
    expect(off).to.include('is not running (status: Stopped)');
    served = false;
    const other = await exchange(request(consolePath('maas', 'n1', 'console')));
    expect(statusLine(other)).to.match(/ 409 /);
    expect(other).to.include('does not serve');
  });

  it('a node without VNC is 409 for vnc', async () => {
    nodes.set('maas/novnc', running('novnc', { vnc: { enabled: false } }));
    const res = await exchange(request(consolePath('maas', 'novnc', 'vnc')));
    expect(statusLine(res)).to.match(/ 409 /);
  });

  it('libvirt failures: a domain that is not running is 409, anything else 502 with the reason', async () => {
    attachError = new LibvirtError(
      ErrorNumber.OperationInvalid,
      ErrorDomain.Qemu,
      ErrorLevel.Error,
      'not running',
    );
    expect(statusLine(await exchange(request(consolePath('maas', 'n1', 'console'))))).to.match(
      / 409 /,
    );
    attachError = new LibvirtError(
      ErrorNumber.SystemError,
      ErrorDomain.Rpc,
      ErrorLevel.Error,
      'no fd passing',
    );
    const res = await exchange(request(consolePath('maas', 'n1', 'vnc')));
    expect(statusLine(res)).to.match(/ 502 /);
    expect(res).to.include('no fd passing');
  });

  it('a client that never finishes its request head is cut off', async () => {
    const res = await exchange(
      `GET ${consolePath('maas', 'n1', 'console')} HTTP/1.1\r\nHost: x\r\n`,
    );
    expect(res === '' || / 408 | 400 /.test(statusLine(res))).to.equal(true);
  });

  it('caps concurrent sessions (503), and close() ends them all', async () => {
    const sockets: TLSSocket[] = [];
    for (let i = 0; i < 2; i++) {
      const s = await open();
      s.on('data', () => undefined);
      s.write(request(consolePath('maas', 'n1', 'console')));
      sockets.push(s);
    }
    await waitFor(() => server.sessions() === 2 || undefined, { timeoutMs: 5000, intervalMs: 10 });
    const third = await exchange(request(consolePath('maas', 'n1', 'console')));
    expect(statusLine(third)).to.match(/ 503 /);
    for (const s of sockets) s.destroy();
    await waitFor(() => server.sessions() === 0 || undefined, { timeoutMs: 5000, intervalMs: 10 });
  });
});
