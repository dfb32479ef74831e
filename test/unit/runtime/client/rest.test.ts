import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { type Server as HttpsServer, createServer as createHttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { RestConfig } from '../../../../src/runtime/client/kubeconfig.js';
import {
  ContentType,
  type RestClient,
  createRestClient,
  instrumentRestClient,
  isConflict,
  isGone,
  isNotFound,
} from '../../../../src/runtime/client/rest.js';

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly contentType: string | undefined;
  readonly body: string;
}

/** A loopback stand-in for the API server: discovery for coordination.k8s.io/v1 and scripted replies. */
async function fakeApiServer(
  reply: (req: Seen, res: ServerResponse) => void,
): Promise<{ server: Server; url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const s = {
        method: req.method ?? '',
        url: req.url ?? '',
        contentType: req.headers['content-type'],
        body,
      };
      if (s.url === '/apis/coordination.k8s.io/v1') {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(
          JSON.stringify({
            kind: 'APIResourceList',
            groupVersion: 'coordination.k8s.io/v1',
            resources: [{ name: 'leases', namespaced: true, kind: 'Lease', verbs: [] }],
          }),
        );
        return;
      }
      seen.push(s);
      reply(s, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${port}`, seen };
}

const kubeConfigFor = (server: string): RestConfig => ({ server, token: 't' });

const json = (res: ServerResponse, code: number, body: unknown): void => {
  res.writeHead(code, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
};

describe('runtime/rest', () => {
  let server: Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    server = undefined;
  });

  const LEASE = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace: 'ns' };

  it('sends the explicit content type and raw JSON, and returns raw JSON (MicroTime kept as text)', async () => {
    const api = await fakeApiServer((s, res) =>
      json(res, 200, {
        ...LEASE,
        metadata: { name: 'l' },
        spec: { renewTime: '2026-01-01T00:00:00.123456Z' },
      }),
    );
    server = api.server;
    const rest: RestClient = createRestClient(kubeConfigFor(api.url));
    const out = await rest.request<{ spec: { renewTime: unknown } }>({
      method: 'PATCH',
      ref: { ...LEASE, name: 'l' },
      subresource: 'status',
      query: { fieldManager: 'maaslab', force: true, skipped: undefined },
      body: { spec: { renewTime: '2026-01-01T00:00:00.123456Z' } },
      contentType: ContentType.MergePatch,
    });
    expect(out.spec.renewTime).to.equal('2026-01-01T00:00:00.123456Z');
    expect(api.seen[0]).to.deep.include({
      method: 'PATCH',
      url: '/apis/coordination.k8s.io/v1/namespaces/ns/leases/l/status?fieldManager=maaslab&force=true',
      contentType: 'application/merge-patch+json',
      body: '{"spec":{"renewTime":"2026-01-01T00:00:00.123456Z"}}',
    });
  });

  it('throws ApiException with the HTTP code, classified by isNotFound/isConflict/isGone', async () => {
    let code = 404;
    const api = await fakeApiServer((_s, res) => json(res, code, { kind: 'Status', code }));
    server = api.server;
    const rest = createRestClient(kubeConfigFor(api.url));
    const fail = async (): Promise<unknown> =>
      rest.request({ method: 'GET', ref: { ...LEASE, name: 'l' } }).then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(isNotFound(await fail())).to.equal(true);
    code = 409;
    expect(isConflict(await fail())).to.equal(true);
    code = 410;
    expect(isGone(await fail())).to.equal(true);
    expect(isNotFound(new Error('x'))).to.equal(false);
  });

  it('watches with bookmarks on and delivers events until stopped', async () => {
    const api = await fakeApiServer((_s, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.write(
        JSON.stringify({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '7' } } }) + '\n',
      );
    });
    server = api.server;
    const rest = createRestClient(kubeConfigFor(api.url));
    const events: string[] = [];
    let done = false;
    const handle = await rest.watch(
      LEASE,
      { resourceVersion: '5', fieldSelector: 'metadata.name=l' },
      {
        onEvent: (type, obj) => events.push(`${type}@${obj.metadata?.resourceVersion ?? ''}`),
        onDone: () => (done = true),
      },
    );
    for (let i = 0; i < 100 && events.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    handle.stop();
    expect(events).to.deep.equal(['BOOKMARK@7']);
    const url = new URL(api.seen[0]?.url ?? '', api.url);
    expect(url.pathname).to.equal('/apis/coordination.k8s.io/v1/namespaces/ns/leases');
    expect(Object.fromEntries(url.searchParams)).to.deep.equal({
      watch: 'true',
      resourceVersion: '5',
      fieldSelector: 'metadata.name=l',
      allowWatchBookmarks: 'true',
      // Every watch carries a server-side timeout (the default when the caller names none).
      timeoutSeconds: '300',
    });
    expect(done).to.equal(false);
  });
});

describe('runtime/rest instrumentRestClient', () => {
  const failing = (err: unknown): RestClient => ({
    request: () => Promise.reject(err),
    path: () => Promise.resolve('/x'),
    watch: () => Promise.reject(err),
  });

  it('counts successes as 2xx, API errors by code and transport errors as <error>', async () => {
    const seen: string[] = [];
    const observe = (method: string, code: string): void => void seen.push(`${method} ${code}`);
    const ok = instrumentRestClient(
      {
        request: <T>() => Promise.resolve({} as T),
        path: () => Promise.resolve('/x'),
        watch: () => Promise.resolve({ stop: () => undefined }),
      },
      observe,
    );
    const ref = { apiVersion: 'v1', kind: 'ConfigMap', namespace: 'ns', name: 'a' };
    await ok.request({ method: 'PATCH', ref });
    await ok.watch(ref, {}, { onEvent: () => undefined, onDone: () => undefined });
    const conflict = instrumentRestClient(
      failing(Object.assign(new Error('x'), { code: 409 })),
      observe,
    );
    await conflict.request({ method: 'PUT', ref }).catch(() => undefined);
    const down = instrumentRestClient(failing(new Error('ECONNREFUSED')), observe);
    await down.request({ method: 'GET', ref }).catch(() => undefined);
    await down
      .watch(ref, {}, { onEvent: () => undefined, onDone: () => undefined })
      .catch(() => undefined);
    expect(seen).to.deep.equal([
      'PATCH 2xx',
      'WATCH 2xx',
      'PUT 409',
      'GET <error>',
      'WATCH <error>',
    ]);
    expect(await ok.path(ref)).to.equal('/x');
  });

  it('rethrows the original error', async () => {
    const err = new Error('boom');
    const c = instrumentRestClient(failing(err), () => undefined);
    let caught: unknown;
    await c
      .request({ method: 'GET', ref: { apiVersion: 'v1', kind: 'Pod' } })
      .catch((e: unknown) => (caught = e));
    expect(caught).to.equal(err);
  });
});

/** /api/v1's discovery document, with the one resource the TLS tests ask for. */
const CORE_DISCOVERY = {
  kind: 'APIResourceList',
  groupVersion: 'v1',
  resources: [{ name: 'namespaces', namespaced: false, kind: 'Namespace', verbs: [] }],
};
/** What the TLS tests' server answers for namespace n. */
const NAMESPACE_N = { kind: 'Namespace', metadata: { name: 'n' } };

describe('runtime/rest over TLS', () => {
  it('reuses one TLS connection across requests', async function () {
    this.timeout(30_000);
    const dir = mkdtempSync(join(tmpdir(), 'maaslab-rest-tls-'));
    try {
      const { cert, key } = selfSignedCert(dir);
      const server = createHttpsServer({ key, cert }, (req, res) => {
        req.resume();
        req.on('end', () =>
          req.url === '/api/v1' ? json(res, 200, CORE_DISCOVERY) : json(res, 200, NAMESPACE_N),
        );
      });
      const { url, handshakes } = await listenCountingHandshakes(server);
      try {
        const rest = createRestClient({ server: url, caData: cert.toString(), token: 't' });
        // The first request also asks for discovery (/api/v1), on the same connection.
        const ref = { apiVersion: 'v1', kind: 'Namespace', name: 'n' };
        for (let i = 0; i < 20; i++) await rest.request({ method: 'GET', ref });
        // One keep-alive Agent: discovery and all 20 requests share a connection.
        // client-node made a handshake per request (21).
        expect(handshakes()).to.equal(1);
      } finally {
        server.closeAllConnections();
        await new Promise((r) => server.close(r));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('presents the client certificate on each of several connections opened at once', async function () {
    this.timeout(30_000);
    const dir = mkdtempSync(join(tmpdir(), 'maaslab-rest-mtls-'));
    try {
      // The certificate is the server's, the client's and the CA of both.
      const { cert, key } = selfSignedCert(dir);
      const subjects: string[] = [];
      /** Once set, answers wait until this many requests are in: that many need as many connections. */
      let gate = 0;
      const server = createHttpsServer(
        { key, cert, ca: cert, requestCert: true, rejectUnauthorized: true },
        (req, res) => {
          subjects.push(String((req.socket as TLSSocket).getPeerCertificate().subject?.CN));
          req.resume();
          const answer = (): void => json(res, 200, NAMESPACE_N);
          if (req.url === '/api/v1') {
            json(res, 200, CORE_DISCOVERY);
          } else {
            held.push(answer);
            if (held.length >= gate) for (const waiting of held.splice(0)) waiting();
          }
        },
      );
      const held: (() => void)[] = [];
      const { url, handshakes } = await listenCountingHandshakes(server);
      try {
        const rest = createRestClient({
          server: url,
          caData: cert.toString(),
          clientCertificateData: cert.toString(),
          clientKeyData: key.toString(),
        });
        const ref = { apiVersion: 'v1', kind: 'Namespace', name: 'n' };
        await rest.request({ method: 'GET', ref });
        gate = 4;
        await Promise.all([1, 2, 3, 4].map(() => rest.request({ method: 'GET', ref })));
        expect(handshakes()).to.equal(4);
        expect(subjects).to.have.length(6);
        expect(new Set(subjects)).to.deep.equal(new Set(['127.0.0.1']));
      } finally {
        server.closeAllConnections();
        await new Promise((r) => server.close(r));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** A throw-away self-signed P-256 certificate for 127.0.0.1, written into `dir`. */
function selfSignedCert(dir: string): { cert: Buffer; key: Buffer } {
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  return { cert: readFileSync(join(dir, 'cert.pem')), key: readFileSync(join(dir, 'key.pem')) };
}

/** Starts `server` on a free loopback port: its URL, and how many TLS handshakes it has done. */
async function listenCountingHandshakes(
  server: HttpsServer,
): Promise<{ url: string; handshakes: () => number }> {
  let handshakes = 0;
  server.on('secureConnection', () => void handshakes++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    handshakes: () => handshakes,
  };
}
