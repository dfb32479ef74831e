// The REST client through an HTTP CONNECT proxy in front of the real kube-apiserver: with
// HTTPS_PROXY set, requests and watches tunnel through it (TLS end to end, the API server's
// certificate checked as usual); NO_PROXY matches, localhost and loopback go direct. Every
// byte stays on loopback: the test proxy connects only to 127.0.0.1, and the targets are
// names it maps there (kubernetes.default.svc, in the serving certificate) or 0.0.0.0, which
// Linux connects to the local host and which, unlike 127.0.0.1, is no loopback address for
// the proxy rules.
import { expect } from 'chai';
import type { RestConfig } from '../../../../src/runtime/client/kubeconfig.js';
import { type RestClient, createRestClient } from '../../../../src/runtime/client/rest.js';
import { type ConnectProxy, startConnectProxy } from '../../../support/connect-proxy.js';
import { controlPlane } from '../../../support/controlplane.js';
import { type TestNamespace, createTestNamespace } from '../../../support/namespace.js';
import { waitFor } from '../../../support/wait.js';

const CONFIG_MAP = { apiVersion: 'v1', kind: 'ConfigMap' } as const;

describe('runtime/rest through an HTTP CONNECT proxy (real API server)', () => {
  let proxy: ConnectProxy;
  let ns: TestNamespace;
  let port: string;
  let admin: RestConfig;

  /** The admin config with the server's host replaced (the port and credentials kept). */
  const at = (host: string, extra: Partial<RestConfig> = {}): RestConfig => ({
    ...admin,
    server: `https://${host}:${port}`,
    ...extra,
  });
  const list = (rest: RestClient): Promise<{ items: unknown[] }> =>
    rest.request({ method: 'GET', ref: { ...CONFIG_MAP, namespace: ns.name } });

  before(async () => {
    admin = controlPlane().restConfig('admin');
    port = new URL(admin.server).port;
    ns = await createTestNamespace(controlPlane().kubeConfig('admin'), 'rt-proxy');
  });
  after(async () => {
    await ns.delete();
  });
  beforeEach(async () => {
    proxy = await startConnectProxy();
  });
  afterEach(async () => {
    await proxy.close();
  });

  it('with HTTPS_PROXY, requests and a watch tunnel through it; requests share a kept-alive tunnel', async function () {
    this.timeout(60_000);
    const rest = createRestClient(at('kubernetes.default.svc'), {
      env: { HTTPS_PROXY: proxy.url },
    });
    for (let i = 0; i < 5; i++) await list(rest);
    // Discovery and five lists: one tunnel, kept alive.
    expect(proxy.connects).to.deep.equal([`kubernetes.default.svc:${port}`]);
    const events: string[] = [];
    const handle = await rest.watch(
      { ...CONFIG_MAP, namespace: ns.name },
      { timeoutSeconds: 30 },
      {
        onEvent: (type, obj) => void events.push(`${type} ${obj.metadata?.name ?? ''}`),
        onDone: () => undefined,
      },
    );
    try {
      await rest.request({
        method: 'POST',
        ref: { ...CONFIG_MAP, namespace: ns.name },
        body: { ...CONFIG_MAP, metadata: { name: 'through-proxy' }, data: { a: '1' } },
      });
      await waitFor(() => events.includes('ADDED through-proxy'), { timeoutMs: 20_000 });
    } finally {
      handle.stop();
    }
    // The watch holds its own tunnel; every connection went through the proxy, none direct.
    expect(proxy.connects.length).to.be.within(2, 3);
    expect(new Set(proxy.connects)).to.deep.equal(new Set([`kubernetes.default.svc:${port}`]));
    expect(proxy.requests).to.deep.equal([]);
  });

  it('reads HTTPS_PROXY from the process environment by default', async () => {
    const saved = process.env.HTTPS_PROXY;
    process.env.HTTPS_PROXY = proxy.url;
    try {
      await list(createRestClient(at('kubernetes.default.svc')));
    } finally {
      if (saved === undefined) delete process.env.HTTPS_PROXY;
      else process.env.HTTPS_PROXY = saved;
    }
    expect(proxy.connects).to.deep.equal([`kubernetes.default.svc:${port}`]);
  });

  it('NO_PROXY matches (address, CIDR, address:port, *) connect directly; another port does not', async () => {
    // 0.0.0.0 is not in the certificate: check it against `localhost`, which is.
    const direct = at('0.0.0.0', { tlsServerName: 'localhost' });
    for (const noProxy of ['0.0.0.0', '0.0.0.0/8', `0.0.0.0:${port}`, 'example.com, *']) {
      await list(createRestClient(direct, { env: { HTTPS_PROXY: proxy.url, NO_PROXY: noProxy } }));
      expect(proxy.connects, noProxy).to.deep.equal([]);
    }
    await list(
      createRestClient(direct, { env: { HTTPS_PROXY: proxy.url, no_proxy: '0.0.0.0:1' } }),
    );
    expect(proxy.connects).to.deep.equal([`0.0.0.0:${port}`]);
  });

  it('never proxies a loopback address or localhost, as Go and client-go do not', async () => {
    for (const host of ['127.0.0.1', 'localhost']) {
      await list(createRestClient(at(host), { env: { HTTPS_PROXY: proxy.url } }));
    }
    expect(proxy.connects).to.deep.equal([]);
  });

  it("checks the API server's certificate inside the tunnel: a name it does not carry fails", async () => {
    const rest = createRestClient(at('0.0.0.0'), { env: { HTTPS_PROXY: proxy.url } });
    let caught: unknown;
    await list(rest).catch((e: unknown) => (caught = e));
    expect(String((caught as { code?: string }).code ?? caught)).to.match(
      /ERR_TLS_CERT_ALTNAME_INVALID|altnames/i,
    );
    expect(proxy.connects).to.deep.equal([`0.0.0.0:${port}`]);
  });
});
