// `console` and `vnc`: argument handling, where the endpoint comes from, the terminal's escape
// and mode, and the local VNC listener, with the endpoint, kubectl and the terminal faked.
import { expect } from 'chai';
import { connect as tcpConnect } from 'node:net';
import { Duplex, PassThrough, Readable } from 'node:stream';
import type { MaasNode } from '../../../src/api/v1alpha1/index.js';
import type { PluginApi } from '../../../src/plugin/api.js';
import type { StreamDeps } from '../../../src/plugin/console-verbs.js';
import {
  forwardedPort,
  parseEndpointUrl,
  podFromHolder,
  portForwardArgs,
} from '../../../src/plugin/endpoint.js';
import type { PortForwardOptions } from '../../../src/plugin/endpoint.js';
import { run, type PluginDeps } from '../../../src/plugin/program.js';
import { parseResponseHead, requestHead } from '../../../src/plugin/stream-client.js';
import type { StreamEndpoint, StreamRequest } from '../../../src/plugin/stream-client.js';
import { attachTerminal, splitAtEscape } from '../../../src/plugin/terminal.js';
import { findViewer, listenVnc } from '../../../src/plugin/vnc.js';
import { standalone } from './fixtures.js';

/** Two connected in-memory duplexes. */
function pipePair(): [Duplex, Duplex] {
  const aToB = new PassThrough();
  const bToA = new PassThrough();
  return [
    Duplex.from({ readable: bToA, writable: aToB }),
    Duplex.from({ readable: aToB, writable: bToA }),
  ];
}

interface World {
  deps: PluginDeps;
  out(): string;
  err(): string;
  opened: Array<[StreamEndpoint, StreamRequest]>;
  forwards: PortForwardOptions[];
  /** The node's side of the last stream opened. */
  node(): Duplex;
}

function world(
  opts: {
    token?: string;
    pod?: string;
    env?: NodeJS.ProcessEnv;
    stdin?: Readable;
    viewer?: boolean;
    signal?: AbortSignal;
  } = {},
): World {
  let out = '';
  let err = '';
  const opened: Array<[StreamEndpoint, StreamRequest]> = [];
  const forwards: PortForwardOptions[] = [];
  const nodes: Duplex[] = [];
  const node: MaasNode = { ...standalone(), status: { printableStatus: 'Running' } };
  const api: PluginApi = {
    namespace: 'lab',
    getNode: async () => node,
    patchNode: async () => node,
    getLab: async () => {
      throw new Error('no');
    },
    labChildren: async () => ({ networks: [], nodes: [] }),
    bearerAuthorization: async () =>
      'token' in opts ? (opts.token ? `Bearer ${opts.token}` : undefined) : 'Bearer t',
    operatorPod: async () => opts.pod,
    patchLab: async () => {
      throw new Error('no lab patches in the console tests');
    },
    getSnapshot: async () => {
      throw new Error('no snapshots in the console tests');
    },
    labSnapshots: async () => [],
    createSnapshot: async () => {
      throw new Error('no snapshots in the console tests');
    },
  };
  const stdout = new PassThrough();
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  const streams: StreamDeps = {
    stdin: (opts.stdin ?? Readable.from([])) as StreamDeps['stdin'],
    stdout,
    env: opts.env ?? {},
    signal: opts.signal ?? new AbortController().signal,
    async openStream(endpoint, req) {
      opened.push([endpoint, req]);
      const [mine, theirs] = pipePair();
      theirs.on('error', () => undefined);
      nodes.push(theirs);
      return mine;
    },
    async portForward(o) {
      forwards.push(o);
      return {
        endpoint: { host: '127.0.0.1', port: 40000, insecureSkipTlsVerify: true },
        close: () => undefined,
      };
    },
    listenVnc,
    findViewer: () =>
      opts.viewer ? { file: '/usr/bin/vncviewer', args: (p) => [`127.0.0.1::${p}`] } : undefined,
    runViewer: async () => 0,
    readFile: () => 'PEM',
  };
  return {
    deps: {
      connect: () => api,
      stdout: (s) => void (out += s),
      stderr: (s) => void (err += s),
      now: () => new Date(),
      sleep: async () => undefined,
      streams: () => streams,
    },
    out: () => out,
    err: () => err,
    opened,
    forwards,
    node: () => nodes.at(-1)!,
  };
}

describe('plugin: console and vnc', () => {
  describe('pure parts', () => {
    it('podFromHolder: the pod before the last underscore, nothing odd', () => {
      expect(podFromHolder('maaslab-operator-7d9f-abcde_0f6c1f7e-1b2c')).to.equal(
        'maaslab-operator-7d9f-abcde',
      );
      expect(podFromHolder(undefined)).to.equal(undefined);
      expect(podFromHolder('')).to.equal(undefined);
      expect(podFromHolder('Bad Pod_x')).to.equal(undefined);
      expect(podFromHolder('../../x_y')).to.equal(undefined);
    });

    it('forwardedPort reads kubectl port-forward', () => {
      expect(forwardedPort('Forwarding from 127.0.0.1:41234 -> 8082')).to.equal(41234);
      expect(forwardedPort('Forwarding from [::1]:41234 -> 8082')).to.equal(undefined);
      expect(forwardedPort('Handling connection for 41234')).to.equal(undefined);
    });

    it('portForwardArgs: loopback only, a port of its choosing, the kubeconfig flags', () => {
      expect(
        portForwardArgs({
          kubectl: 'kubectl',
          kubeconfig: '/k',
          context: 'c',
          namespace: 'maaslab-system',
          pod: 'p',
          remotePort: 8082,
        }),
      ).to.deep.equal([
        '--kubeconfig',
        '/k',
        '--context',
        'c',
        '-n',
        'maaslab-system',
        'port-forward',
        '--address',
        '127.0.0.1',
        'pod/p',
        ':8082',
      ]);
    });

    it('parseEndpointUrl: https://HOST:PORT and nothing else', () => {
      expect(parseEndpointUrl('https://127.0.0.1:8082')).to.deep.equal({
        host: '127.0.0.1',
        port: 8082,
      });
      expect(parseEndpointUrl('https://[::1]:9')).to.deep.equal({ host: '::1', port: 9 });
      for (const bad of [
        'http://a:1',
        'https://u:p@a:1',
        'https://a:1/x',
        'https://a:1?q',
        'nope',
      ]) {
        expect(() => parseEndpointUrl(bad), bad).to.throw(/invalid endpoint/);
      }
    });

    it('requestHead and parseResponseHead', () => {
      const head = requestHead(
        { namespace: 'lab', name: 'n1', kind: 'vnc', authorization: 'Bearer t' },
        'h:1',
      );
      expect(head).to.match(
        /^GET \/apis\/maaslab\.dev\/v1alpha1\/namespaces\/lab\/maasnodes\/n1\/vnc HTTP\/1\.1\r\n/,
      );
      expect(head).to.include('Connection: Upgrade\r\nUpgrade: maaslab-stream\r\n');
      expect(head).to.include('Authorization: Bearer t\r\n');
      const r = parseResponseHead('HTTP/1.1 101 Switching Protocols\r\nUpgrade: maaslab-stream');
      expect(r.status).to.equal(101);
      expect(r.headers.get('upgrade')).to.equal('maaslab-stream');
      expect(() => parseResponseHead('SSH-2.0-OpenSSH')).to.throw(/did not answer with HTTP/);
    });

    it('splitAtEscape: bytes before Ctrl-]', () => {
      expect(splitAtEscape(Buffer.from('ab\x1dcd'))).to.deep.equal({
        before: Buffer.from('ab'),
        escaped: true,
      });
      expect(splitAtEscape(Buffer.from('abc')).escaped).to.equal(false);
    });

    it('findViewer: vncviewer first, then remote-viewer, only executables on the PATH', () => {
      const has = new Set(['/b/remote-viewer', '/a/vncviewer']);
      const found = findViewer('/a:/b', (f) => has.has(f));
      expect(found?.file).to.equal('/a/vncviewer');
      expect(found?.args(5901)).to.deep.equal(['127.0.0.1::5901']);
      expect(findViewer('/b', (f) => has.has(f))?.args(1)).to.deep.equal(['vnc://127.0.0.1:1']);
      expect(findViewer('', () => true)).to.equal(undefined);
    });
  });

  describe('the terminal', () => {
    it('raw mode on a TTY for the session only; Ctrl-] leaves; bytes before it are sent', async () => {
      const [mine, theirs] = pipePair();
      theirs.on('error', () => undefined);
      const input = new PassThrough() as PassThrough & {
        isTTY: boolean;
        setRawMode(r: boolean): void;
      };
      const modes: boolean[] = [];
      input.isTTY = true;
      input.setRawMode = (r) => void modes.push(r);
      const output = new PassThrough();
      let shown = '';
      output.on('data', (d: Buffer) => (shown += d.toString()));
      let sent = '';
      theirs.on('data', (d: Buffer) => (sent += d.toString()));
      mine.pause(); // as openNodeStream hands it over
      const session = attachTerminal(mine, input, output);
      theirs.write('login: ');
      while (shown === '') await new Promise((r) => setTimeout(r, 5));
      input.write('root\r');
      while (sent === '') await new Promise((r) => setTimeout(r, 5));
      input.write('\x1dignored');
      expect(await session).to.equal('escape');
      expect(modes).to.deep.equal([true, false]);
      expect(sent).to.equal('root\r');
      expect(shown).to.equal('login: ');
      expect(mine.destroyed).to.equal(true);
    });

    it('the node side closing ends the session and restores the terminal', async () => {
      const [mine, theirs] = pipePair();
      theirs.on('error', () => undefined);
      const input = new PassThrough() as PassThrough & {
        isTTY: boolean;
        setRawMode(r: boolean): void;
      };
      const modes: boolean[] = [];
      input.isTTY = true;
      input.setRawMode = (r) => void modes.push(r);
      const session = attachTerminal(mine, input, new PassThrough());
      theirs.end();
      expect(await session).to.equal('remote-closed');
      expect(modes).to.deep.equal([true, false]);
    });
  });

  describe('console', () => {
    it('--endpoint: the node, the token, no port-forward; stdin in, console out, stdin end leaves', async () => {
      const stdin = new PassThrough();
      const w = world({ stdin });
      const done = run(
        [
          'console',
          'n1',
          '-n',
          'lab',
          '--endpoint',
          'https://127.0.0.1:9443',
          '--insecure-skip-tls-verify',
        ],
        w.deps,
      );
      await new Promise((r) => setTimeout(r, 20));
      expect(w.opened).to.deep.equal([
        [
          { host: '127.0.0.1', port: 9443, insecureSkipTlsVerify: true },
          { namespace: 'lab', name: 'n1', kind: 'console', authorization: 'Bearer t' },
        ],
      ]);
      let sent = '';
      w.node().on('data', (d: Buffer) => (sent += d.toString()));
      w.node().write('iPXE 1.21\r\n');
      stdin.end('\x02');
      expect(await done, w.err()).to.equal(0);
      expect(w.out()).to.equal('iPXE 1.21\r\n');
      expect(sent).to.equal('\x02');
      expect(w.forwards).to.deep.equal([]);
    });

    it('$MAASLAB_OPERATOR_ENDPOINT is the endpoint when --endpoint is not given', async () => {
      const w = world({ env: { MAASLAB_OPERATOR_ENDPOINT: 'https://localhost:1234' } });
      expect(await run(['console', 'n1'], w.deps), w.err()).to.equal(0);
      expect(w.opened[0]?.[0]).to.deep.include({
        host: 'localhost',
        port: 1234,
        insecureSkipTlsVerify: false,
      });
    });

    it('no endpoint: port-forward to the shard Lease holder in --operator-namespace', async () => {
      const w = world({ pod: 'op-1' });
      expect(
        await run(['--kubeconfig', '/k', 'console', 'n1', '--operator-namespace', 'ops'], w.deps),
        w.err(),
      ).to.equal(0);
      expect(w.forwards).to.deep.equal([
        { kubectl: 'kubectl', kubeconfig: '/k', namespace: 'ops', pod: 'op-1', remotePort: 8082 },
      ]);
      expect(w.opened[0]?.[0]).to.deep.equal({
        host: '127.0.0.1',
        port: 40000,
        insecureSkipTlsVerify: true,
      });
    });

    const failures: [string, Parameters<typeof world>[0], string[], RegExp][] = [
      [
        'no operator pod',
        {},
        ['console', 'n1'],
        /^error: no operator pod serves hypervisor "[^"]+" in namespace "maaslab-system"/,
      ],
      [
        'no bearer token',
        { token: '' },
        ['console', 'n1'],
        /^error: console needs a bearer token in the kubeconfig/,
      ],
      [
        'a bad endpoint',
        {},
        ['console', 'n1', '--endpoint', 'http://x:1'],
        /^error: invalid endpoint 'http:\/\/x:1': use https:\/\//,
      ],
    ];
    for (const [name, o, args, message] of failures) {
      it(`${name}: one error line, exit 1, nothing opened`, async () => {
        const w = world(o);
        expect(await run(args, w.deps)).to.equal(1);
        expect(w.err()).to.match(message);
        expect(w.err().split('\n').length).to.equal(2);
        expect(w.opened).to.deep.equal([]);
      });
    }

    it("a missing node argument is commander's error", async () => {
      const w = world();
      expect(await run(['console'], w.deps)).to.equal(1);
      expect(w.err()).to.match(/missing required argument 'node'/);
    });
  });

  describe('vnc', () => {
    it('listens on 127.0.0.1, prints the address, each connection is one stream; Ctrl-C stops', async () => {
      const stop = new AbortController();
      const w = world({
        signal: stop.signal,
        env: { MAASLAB_OPERATOR_ENDPOINT: 'https://127.0.0.1:1' },
      });
      const done = run(['vnc', 'n1'], w.deps);
      let port = 0;
      for (let i = 0; i < 100 && port === 0; i++) {
        await new Promise((r) => setTimeout(r, 10));
        port = Number(/127\.0\.0\.1:(\d+) /.exec(w.out())?.[1] ?? 0);
      }
      expect(port).to.be.above(0);
      const client = tcpConnect(port, '127.0.0.1');
      const greeting = await new Promise<string>((resolve) => {
        client.once('data', (d: Buffer) => resolve(d.toString()));
        const poll = setInterval(() => {
          if (w.opened.length > 0) {
            clearInterval(poll);
            w.node().write('RFB 003.008\n');
          }
        }, 5);
      });
      expect(greeting).to.equal('RFB 003.008\n');
      expect(w.opened[0]?.[1].kind).to.equal('vnc');
      client.destroy();
      stop.abort();
      expect(await done, w.err()).to.equal(0);
    });

    it('--viewer without a viewer on the PATH: a clear error before anything is opened', async () => {
      const w = world({ env: { MAASLAB_OPERATOR_ENDPOINT: 'https://127.0.0.1:1' } });
      expect(await run(['vnc', 'n1', '--viewer'], w.deps)).to.equal(1);
      expect(w.err()).to.match(
        /^error: no VNC viewer found on the PATH: install vncviewer \(TigerVNC\) or remote-viewer/,
      );
      expect(w.opened).to.deep.equal([]);
    });

    it('--viewer runs the viewer and stops when it exits; --port is checked', async () => {
      const w = world({ viewer: true, env: { MAASLAB_OPERATOR_ENDPOINT: 'https://127.0.0.1:1' } });
      expect(await run(['vnc', 'n1', '--viewer'], w.deps), w.err()).to.equal(0);
      const bad = world();
      expect(await run(['vnc', 'n1', '--port', '70000'], bad.deps)).to.equal(1);
      expect(bad.err()).to.match(/not a port/);
    });
  });
});
