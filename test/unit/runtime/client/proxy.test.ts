// The proxy decision (Go's httpproxy.FromEnvironment, which client-go uses), rule by rule,
// with hostile and edge-case input; and the transport through a loopback proxy.
import { expect } from 'chai';
import { type Server, createServer } from 'node:http';
import {
  type AddressInfo,
  type Server as NetServer,
  type Socket,
  createServer as createNetServer,
} from 'node:net';
import {
  isLoopbackAddress,
  parseNoProxy,
  parseProxyUrl,
  proxyConfigFromEnvironment,
  proxyFor,
  splitHostPort,
} from '../../../../src/runtime/client/proxy.js';
import { createRestClient } from '../../../../src/runtime/client/rest.js';
import { startConnectProxy } from '../../../support/connect-proxy.js';

const via = (env: Record<string, string>, target: string): string | undefined =>
  proxyFor(proxyConfigFromEnvironment(env), new URL(target))?.href;

describe('runtime/proxy', () => {
  describe('which variable', () => {
    it('HTTPS_PROXY for https, HTTP_PROXY for http; upper case first, empty is unset', () => {
      const env = { HTTPS_PROXY: 'http://s:1', HTTP_PROXY: 'http://p:2' };
      expect(via(env, 'https://api.example:6443')).to.equal('http://s:1/');
      expect(via(env, 'http://api.example:8080')).to.equal('http://p:2/');
      expect(via({ https_proxy: 'http://lower:1' }, 'https://a.example')).to.equal(
        'http://lower:1/',
      );
      expect(
        via({ HTTPS_PROXY: 'http://u:1', https_proxy: 'http://l:1' }, 'https://a.example'),
      ).to.equal('http://u:1/');
      expect(via({ HTTPS_PROXY: '', https_proxy: 'http://l:1' }, 'https://a.example')).to.equal(
        'http://l:1/',
      );
      expect(via({ HTTP_PROXY: 'http://p:2' }, 'https://a.example')).to.equal(undefined);
      expect(via({}, 'https://a.example')).to.equal(undefined);
    });

    it('refuses HTTP_PROXY in a CGI environment, as Go does; HTTPS_PROXY still applies', () => {
      const cgi = { HTTP_PROXY: 'http://p:2', HTTPS_PROXY: 'http://s:1', REQUEST_METHOD: 'GET' };
      expect(() => via(cgi, 'http://a.example')).to.throw(/CGI/);
      expect(via(cgi, 'https://a.example')).to.equal('http://s:1/');
    });
  });

  describe('parseProxyUrl', () => {
    it('reads a bare host:port as http, keeps schemes and credentials, gives up on junk', () => {
      expect(parseProxyUrl('proxy:3128')?.href).to.equal('http://proxy:3128/');
      expect(parseProxyUrl('10.0.0.1:3128')?.href).to.equal('http://10.0.0.1:3128/');
      expect(parseProxyUrl('[fd00::1]:3128')?.host).to.equal('[fd00::1]:3128');
      expect(parseProxyUrl('http://u:p%40ss@proxy:8080')?.password).to.equal('p%40ss');
      expect(parseProxyUrl('socks5://s:1080')?.protocol).to.equal('socks5:');
      expect(parseProxyUrl('')).to.equal(undefined);
      expect(parseProxyUrl('http://[::1')).to.equal(undefined);
      expect(parseProxyUrl('%%%')).to.equal(undefined);
    });
  });

  describe('splitHostPort (Go net.SplitHostPort)', () => {
    it('splits names, IPv4 and bracketed IPv6; no port or a bare IPv6 is no split', () => {
      expect(splitHostPort('a.example:80')).to.deep.equal({ host: 'a.example', port: '80' });
      expect(splitHostPort('a.example:')).to.deep.equal({ host: 'a.example', port: '' });
      expect(splitHostPort('[::1]:443')).to.deep.equal({ host: '::1', port: '443' });
      expect(splitHostPort('a.example')).to.equal(undefined);
      expect(splitHostPort('::1')).to.equal(undefined);
      expect(splitHostPort('[::1]')).to.equal(undefined);
      expect(splitHostPort('[::1')).to.equal(undefined);
    });
  });

  describe('NO_PROXY', () => {
    const bypass = (noProxy: string, host: string, port = '443'): boolean =>
      parseNoProxy(noProxy)(host, port);

    it('never proxies localhost or loopback, whatever NO_PROXY says (Go hard-codes it)', () => {
      for (const host of [
        'localhost',
        'LOCALHOST',
        '127.0.0.1',
        '127.1.2.3',
        '::1',
        '[::1]',
        '::ffff:127.0.0.1',
      ]) {
        expect(bypass('', host), host).to.equal(true);
      }
      expect(isLoopbackAddress('128.0.0.1')).to.equal(false);
      expect(isLoopbackAddress('localhost')).to.equal(false); // a name, not an address
      // Not loopback: 0.0.0.0, a name that merely looks local, ::.
      for (const host of ['0.0.0.0', 'localhost.example', 'my-localhost', '::', '::2']) {
        expect(bypass('', host), host).to.equal(false);
      }
    });

    it('"*" bypasses everything, even among other entries', () => {
      expect(bypass('*', 'api.example')).to.equal(true);
      expect(bypass('a.example, * ,b.example', '10.1.1.1')).to.equal(true);
      // Only the whole entry: `*x` is a domain, not a wildcard.
      expect(bypass('*x', 'api.example')).to.equal(false);
    });

    it('domains match themselves and subdomains; a leading dot or *. only subdomains', () => {
      expect(bypass('example.com', 'example.com')).to.equal(true);
      expect(bypass('example.com', 'api.example.com')).to.equal(true);
      expect(bypass('example.com', 'badexample.com')).to.equal(false);
      expect(bypass('.example.com', 'example.com')).to.equal(false);
      expect(bypass('.example.com', 'a.b.example.com')).to.equal(true);
      expect(bypass('*.example.com', 'example.com')).to.equal(false);
      expect(bypass('*.example.com', 'x.example.com')).to.equal(true);
      expect(bypass(' Example.COM ', 'API.example.com')).to.equal(true);
      // Internationalised names compare in their ASCII form.
      expect(bypass('bücher.de', 'xn--bcher-kva.de')).to.equal(true);
      expect(bypass('xn--bcher-kva.de', 'www.bücher.de')).to.equal(true);
      // A domain entry never matches an IP address.
      expect(bypass('10.0.0.1.example', '10.0.0.1')).to.equal(false);
    });

    it('ports narrow an entry; no port means any port', () => {
      expect(bypass('example.com:6443', 'example.com', '6443')).to.equal(true);
      expect(bypass('example.com:6443', 'example.com', '443')).to.equal(false);
      expect(bypass('10.0.0.1:6443', '10.0.0.1', '6443')).to.equal(true);
      expect(bypass('10.0.0.1:6443', '10.0.0.1', '443')).to.equal(false);
      expect(bypass('[fd00::1]:6443', 'fd00::1', '6443')).to.equal(true);
      expect(bypass('[fd00::1]:6443', '[fd00::1]', '80')).to.equal(false);
      // An empty port part (`host:`) is any port, as Go splits it.
      expect(bypass('example.com:', 'example.com', '1')).to.equal(true);
    });

    it('IP addresses and CIDRs, IPv4 and IPv6, IPv4-mapped too', () => {
      expect(bypass('10.0.0.0/8', '10.200.3.4')).to.equal(true);
      expect(bypass('10.0.0.0/8', '11.0.0.1')).to.equal(false);
      expect(bypass('10.1.2.3/8', '10.9.9.9')).to.equal(true); // host bits are masked, as in Go
      expect(bypass('fd00::/8', 'fd12::1')).to.equal(true);
      expect(bypass('fd00::/8', 'fe80::1')).to.equal(false);
      expect(bypass('192.168.1.1', '::ffff:192.168.1.1')).to.equal(true);
      expect(bypass('0.0.0.0/0', '8.8.8.8')).to.equal(true);
      expect(bypass('::/0', '2001:db8::1')).to.equal(true);
      expect(bypass('192.168.1.1', '192.168.1.2')).to.equal(false);
    });

    it('ignores hostile and malformed entries without throwing or matching too much', () => {
      const junk = [
        ',,, ,',
        ':80',
        '[]:80',
        '10.0.0.0/33',
        '10.0.0.0/-1',
        '10.0.0.0/8x',
        '::/129',
        '/8',
        '.',
        '*.',
        '[',
        ']',
        '\u0000',
        'a'.repeat(10_000),
        '%zz',
        'http://example.com',
      ].join(',');
      const rule = parseNoProxy(junk);
      for (const host of ['api.example', '10.0.0.1', 'fd00::1', 'example.com']) {
        expect(rule(host, '443'), host).to.equal(false);
      }
      // A single dot matches every name ending in a dot only, not every name.
      expect(parseNoProxy('.')('api.example', '443')).to.equal(false);
    });

    it('applies to the request URL with its default port filled in', () => {
      const env = { HTTPS_PROXY: 'http://s:1', NO_PROXY: 'api.example:443,other.example:80' };
      expect(via(env, 'https://api.example')).to.equal(undefined);
      expect(via(env, 'https://api.example:6443')).to.equal('http://s:1/');
      expect(
        via({ HTTP_PROXY: 'http://p:1', NO_PROXY: 'other.example:80' }, 'http://other.example'),
      ).to.equal(undefined);
      expect(
        via({ HTTPS_PROXY: 'http://s:1', no_proxy: 'fd00::1' }, 'https://[fd00::1]:6443'),
      ).to.equal(undefined);
      // Brackets without a port make a name, which never matches an address (Go's quirk).
      expect(
        via({ HTTPS_PROXY: 'http://s:1', no_proxy: '[fd00::1]' }, 'https://[fd00::1]:6443'),
      ).to.equal('http://s:1/');
    });
  });

  describe('the transport through a loopback proxy', () => {
    let target: Server | undefined;
    let hole: { server: NetServer; sockets: Socket[] } | undefined;
    afterEach(async () => {
      target?.closeAllConnections();
      await new Promise((r) => (target ? target.close(r) : r(undefined)));
      hole?.sockets.forEach((s) => s.destroy());
      await new Promise((r) => (hole ? hole.server.close(r) : r(undefined)));
      target = undefined;
      hole = undefined;
    });

    it('sends http targets to the proxy as absolute URLs, with Proxy-Authorization from its userinfo', async () => {
      target = createServer((req, res) => {
        req.resume();
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(
          req.url === '/api/v1'
            ? JSON.stringify({
                resources: [{ name: 'namespaces', namespaced: false, kind: 'Namespace' }],
              })
            : JSON.stringify({
                kind: 'Namespace',
                metadata: { name: 'n' },
                seen: req.headers.host,
              }),
        );
      });
      await new Promise<void>((r) => target?.listen(0, '127.0.0.1', r));
      const port = (target.address() as AddressInfo).port;
      const proxy = await startConnectProxy();
      try {
        const proxyUrl = new URL(proxy.url);
        proxyUrl.username = 'op';
        proxyUrl.password = 's3cr%40t';
        // 0.0.0.0 is not loopback for the proxy rule; the test proxy maps it to 127.0.0.1.
        const rest = createRestClient(
          { server: `http://0.0.0.0:${port}` },
          { env: { HTTP_PROXY: proxyUrl.href } },
        );
        const ns = await rest.request<{ seen: string }>({
          method: 'GET',
          ref: { apiVersion: 'v1', kind: 'Namespace', name: 'n' },
        });
        expect(ns.seen).to.equal(`0.0.0.0:${port}`);
        expect(proxy.requests).to.deep.equal([
          `http://0.0.0.0:${port}/api/v1`,
          `http://0.0.0.0:${port}/api/v1/namespaces/n`,
        ]);
        expect(proxy.authorizations[0]).to.equal(
          `Basic ${Buffer.from('op:s3cr@t').toString('base64')}`,
        );
      } finally {
        await proxy.close();
      }
    });

    it('a proxy that refuses CONNECT is a clear error naming the proxy, never a direct connection', async () => {
      const proxy = await startConnectProxy({});
      try {
        const rest = createRestClient(
          { server: 'https://api.maaslab.test:6443' },
          { env: { HTTPS_PROXY: `${proxy.url.replace('http://', 'http://user:pw@')}` } },
        );
        let caught: unknown;
        await rest
          .request({ method: 'GET', ref: { apiVersion: 'v1', kind: 'Namespace', name: 'n' } })
          .catch((e: unknown) => (caught = e));
        expect(String(caught)).to.match(
          /proxy http:\/\/127\.0\.0\.1:\d+ refused CONNECT api\.maaslab\.test:6443: HTTP 502/,
        );
        expect(String(caught)).not.to.contain('pw');
        expect(proxy.connects).to.deep.equal(['api.maaslab.test:6443']);
      } finally {
        await proxy.close();
      }
    });

    it('a proxy that never answers CONNECT times out with the request deadline', async () => {
      const sockets: Socket[] = [];
      const server = createNetServer((s) => void sockets.push(s));
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      hole = { server, sockets };
      const rest = createRestClient(
        { server: 'https://api.maaslab.test:6443', timeoutMs: 300 },
        { env: { HTTPS_PROXY: `127.0.0.1:${(server.address() as AddressInfo).port}` } },
      );
      let caught: unknown;
      await rest
        .request({ method: 'GET', ref: { apiVersion: 'v1', kind: 'Namespace', name: 'n' } })
        .catch((e: unknown) => (caught = e));
      expect((caught as Error).name).to.equal('TimeoutError');
      expect(sockets.length).to.equal(1);
    });

    it('refuses proxies it cannot speak (https://, socks5://) when the client is made', () => {
      for (const p of ['https://proxy.example:443', 'socks5://proxy.example:1080']) {
        expect(() =>
          createRestClient({ server: 'https://api.example:6443' }, { env: { HTTPS_PROXY: p } }),
        ).to.throw(/only http:\/\/ proxies are supported/);
      }
      // A bypassed target never needs the proxy, so it is not refused.
      expect(() =>
        createRestClient(
          { server: 'https://api.example:6443' },
          { env: { HTTPS_PROXY: 'socks5://p:1', NO_PROXY: 'api.example' } },
        ),
      ).not.to.throw();
    });
  });
});
