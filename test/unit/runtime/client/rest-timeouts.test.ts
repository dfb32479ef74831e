// Deadlines of the REST client against loopback servers that misbehave on purpose: one that
// accepts connections and never answers (plain HTTP, and HTTPS whose handshake never ends),
// one that answers headers and never the body, and watches that open and go silent. Real
// timers with short deadlines: these are about sockets, not about arithmetic.
import { expect } from 'chai';
import type { Server, ServerResponse } from 'node:http';
import { type Server as NetServer, type Socket, createServer as createNetServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { createInformer } from '../../../../src/runtime/cache/informer.js';
import { createListWatch } from '../../../../src/runtime/cache/list-watch.js';
import {
  DEFAULT_REQUEST_TIMEOUT_MS,
  RequestTimeoutError,
  WatchTimeoutError,
  createRestClient,
} from '../../../../src/runtime/client/rest.js';
import { LEASE, loopbackApi } from './loopback-api.js';

/** A loopback API server whose requests other than discovery go to `handle`. */
const apiServer = (handle: (url: URL, res: ServerResponse) => void) => loopbackApi(handle);

/** A TCP server that accepts connections and never says a byte. */
async function blackHole(): Promise<{ server: NetServer; port: number; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  const server = createNetServer((s) => void sockets.push(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port, sockets };
}

const failure = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => expect.fail('expected a failure'),
    (e: unknown) => e,
  );

describe('runtime/rest timeouts', () => {
  const closers: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
  });
  const closeHttp = (server: Server) => async (): Promise<void> => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  };

  it('defaults to a 30 s request deadline and refuses a non-positive one', () => {
    expect(DEFAULT_REQUEST_TIMEOUT_MS).to.equal(30_000);
    expect(() => createRestClient({ server: 'http://127.0.0.1:1' }, { timeoutMs: 0 })).to.throw(
      RangeError,
    );
  });

  for (const scheme of ['http', 'https'] as const) {
    it(`a ${scheme} server that accepts and never answers fails with RequestTimeoutError, not a hang`, async () => {
      const hole = await blackHole();
      closers.push(async () => {
        hole.sockets.forEach((s) => s.destroy());
        await new Promise((r) => hole.server.close(r));
      });
      // The deadline comes from the RestConfig (client-go's rest.Config.Timeout).
      const rest = createRestClient({
        server: `${scheme}://127.0.0.1:${hole.port}`,
        token: 't',
        timeoutMs: 300,
      });
      const started = Date.now();
      const err = await failure(rest.request({ method: 'GET', ref: { ...LEASE, name: 'l' } }));
      const took = Date.now() - started;
      expect(err).to.be.instanceOf(RequestTimeoutError);
      expect((err as Error).name).to.equal('TimeoutError');
      expect((err as Error).message).to.match(
        /GET \/apis\/coordination\.k8s\.io\/v1: no complete answer within 300 ms \(request timeout\)/,
      );
      expect(took).to.be.within(250, 5000);
      // The server did accept: its connection callback may run after the client's timer on a
      // loaded machine (same process), so wait for it rather than read it at once.
      for (let i = 0; i < 100 && hole.sockets.length === 0; i++) await delay(20);
      expect(hole.sockets.length).to.be.greaterThan(0);
    });
  }

  it('a body that never ends times out too; the options override the config', async () => {
    const api = await apiServer((_url, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.write('{"kind":');
    });
    closers.push(closeHttp(api.server));
    const rest = createRestClient({ server: api.url, timeoutMs: 60_000 }, { timeoutMs: 300 });
    const err = await failure(rest.request({ method: 'GET', ref: { ...LEASE, name: 'l' } }));
    expect(err).to.be.instanceOf(RequestTimeoutError);
    expect((err as RequestTimeoutError).what).to.equal(
      'GET /apis/coordination.k8s.io/v1/namespaces/ns/leases/l',
    );
  });

  it('a body cut off before its end is a transport error at once, never a short body parsed', async () => {
    // The headers promise 200 bytes; 10 come, then the connection drops.
    const api = await apiServer((_url, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': '200' });
      res.write('{"kind":"L', () => res.socket?.destroy());
    });
    closers.push(closeHttp(api.server));
    const rest = createRestClient({ server: api.url }, { timeoutMs: 10_000 });
    const started = Date.now();
    const err = await failure(rest.request({ method: 'GET', ref: { ...LEASE, name: 'l' } }));
    expect(Date.now() - started).to.be.below(5_000);
    expect(err).not.to.be.instanceOf(RequestTimeoutError);
    expect(err).not.to.be.instanceOf(SyntaxError);
    expect((err as NodeJS.ErrnoException).code).to.be.oneOf([
      'ECONNRESET',
      'ERR_STREAM_PREMATURE_CLOSE',
    ]);
  });

  it("the caller's own abort stays an abort, not a timeout", async () => {
    const api = await apiServer(() => undefined);
    closers.push(closeHttp(api.server));
    const rest = createRestClient({ server: api.url }, { timeoutMs: 10_000 });
    const abort = new AbortController();
    const pending = failure(
      rest.request({ method: 'GET', ref: { ...LEASE, name: 'l' }, signal: abort.signal }),
    );
    setTimeout(() => abort.abort(), 100);
    const err = await pending;
    expect(err).not.to.be.instanceOf(RequestTimeoutError);
    expect((err as Error).name).to.equal('AbortError');
  });

  it('a watch whose headers never come fails with RequestTimeoutError', async () => {
    const api = await apiServer(() => undefined);
    closers.push(closeHttp(api.server));
    const rest = createRestClient({ server: api.url }, { timeoutMs: 300 });
    const err = await failure(
      rest.watch(
        LEASE,
        { resourceVersion: '1' },
        { onEvent: () => undefined, onDone: () => undefined },
      ),
    );
    expect(err).to.be.instanceOf(RequestTimeoutError);
    expect((err as Error).message).to.match(/^WATCH .*timeoutSeconds=300.*request timeout/);
  });

  it('ends a watch that goes silent past timeoutSeconds plus the margin; events keep it open', async function () {
    this.timeout(15_000);
    const bookmark = (rv: string): string =>
      JSON.stringify({ type: 'BOOKMARK', object: { metadata: { resourceVersion: rv } } }) + '\n';
    const urls: URL[] = [];
    const api = await apiServer((url, res) => {
      urls.push(url);
      res.writeHead(200, { 'Content-Type': 'application/json' });
      // Three bookmarks 500 ms apart, then nothing, and the connection stays open.
      for (const [i, at] of [0, 500, 1000].entries()) {
        setTimeout(() => res.write(bookmark(String(i + 1))), at);
      }
    });
    closers.push(closeHttp(api.server));
    const rest = createRestClient({ server: api.url }, { watchIdleMarginMs: 200 });
    const events: string[] = [];
    const started = Date.now();
    const ended = await new Promise<{ err: unknown; at: number }>((resolve) => {
      void rest.watch(
        LEASE,
        { resourceVersion: '1', timeoutSeconds: 1 },
        {
          onEvent: (_type, obj) => void events.push(obj.metadata?.resourceVersion ?? ''),
          onDone: (err) => resolve({ err, at: Date.now() - started }),
        },
      );
    });
    expect(urls[0]?.searchParams.get('timeoutSeconds')).to.equal('1');
    expect(events).to.deep.equal(['1', '2', '3']);
    expect(ended.err).to.be.instanceOf(WatchTimeoutError);
    expect((ended.err as Error).name).to.equal('TimeoutError');
    expect((ended.err as Error).message).to.match(/silent for 1200 ms/);
    // The last bookmark at ~1 s, then 1.2 s of silence.
    expect(ended.at).to.be.within(2000, 6000);
  });

  it("the informer's list-watch restarts a watch that went silent, from its resourceVersion", async function () {
    this.timeout(15_000);
    const watches: URL[] = [];
    const lease = (rv: string) => ({
      apiVersion: LEASE.apiVersion,
      kind: 'Lease',
      metadata: { name: 'l', namespace: 'ns', resourceVersion: rv },
    });
    const api = await apiServer((url, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      if (url.searchParams.get('watch') !== 'true') {
        res.end(JSON.stringify({ items: [], metadata: { resourceVersion: '10' } }));
        return;
      }
      watches.push(url);
      // The first watch opens and goes silent for good (a half-open connection); the second
      // one delivers. Headers go out at once, as the API server sends them.
      res.flushHeaders();
      if (watches.length === 2)
        res.write(JSON.stringify({ type: 'ADDED', object: lease('11') }) + '\n');
    });
    closers.push(closeHttp(api.server));
    const rest = createRestClient({ server: api.url }, { watchIdleMarginMs: 300 });
    const informer = createInformer({
      source: createListWatch(rest, { ref: LEASE, timeoutSeconds: 1, random: () => 0 }),
    });
    closers.push(() => informer.stop());
    informer.start();
    await informer.waitForSync();
    const deadline = Date.now() + 8000;
    while (!informer.get('ns/l') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(informer.get('ns/l')?.metadata?.resourceVersion).to.equal('11');
    expect(watches.map((u) => u.searchParams.get('resourceVersion'))).to.deep.equal(['10', '10']);
    // Restarted as a timed-out watch: no relist, no watchdog.
    expect(informer.stats()).to.deep.include({ lists: 1, watches: 2, watchdogRelists: 0 });
  });
});
