// How many connections the REST client keeps to a server: requests share a bounded set
// (transport.ts, maxConnections), and watches, which hold theirs open, go over their own.
// Against a loopback HTTP server that counts the connections it accepts.
import { expect } from 'chai';
import { setTimeout as delay } from 'node:timers/promises';
import { createRestClient } from '../../../../src/runtime/client/rest.js';
import { createManager } from '../../../../src/runtime/manager/manager.js';
import { DEFAULT_MAX_CONNECTIONS } from '../../../../src/runtime/client/transport.js';
import { LEASE, loopbackApi } from './loopback-api.js';

/**
 * A server that answers a watch with headers and then silence, and any other request after
 * `delayMs`; it counts connections and the most requests in flight.
 */
async function countingServer(delayMs: number) {
  const flight = { inFlight: 0, maxInFlight: 0 };
  const api = await loopbackApi((url, res, held) => {
    if (url.searchParams.get('watch') === 'true') {
      held.add(res);
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.write('');
      return;
    }
    flight.inFlight++;
    flight.maxInFlight = Math.max(flight.maxInFlight, flight.inFlight);
    setTimeout(() => {
      flight.inFlight--;
      res
        .writeHead(200, { 'Content-Type': 'application/json' })
        .end(JSON.stringify({ kind: 'Lease', metadata: { name: url.pathname.split('/').pop() } }));
    }, delayMs);
  });
  return { ...api, flight };
}

const getLease = (rest: ReturnType<typeof createRestClient>, name: string) =>
  rest.request<{ metadata: { name: string } }>({ method: 'GET', ref: { ...LEASE, name } });

describe('runtime/client transport connections', () => {
  it('refuses a maxConnections that is not positive (Node would read 0 as no limit)', () => {
    for (const maxConnections of [0, -1, Number.NaN]) {
      expect(
        () => createRestClient({ server: 'http://127.0.0.1:1' }, { maxConnections }),
        String(maxConnections),
      ).to.throw(RangeError, /maxConnections must be positive/);
    }
  });

  it('carries a burst of requests over at most maxConnections connections, all answered', async () => {
    const api = await countingServer(20);
    try {
      const rest = createRestClient({ server: api.url }, { maxConnections: 3 });
      const names = Array.from({ length: 24 }, (_, i) => `l${i}`);
      const got = await Promise.all(names.map((n) => getLease(rest, n)));
      expect(got.map((l) => l.metadata.name)).to.deep.equal(names);
      // Discovery's connection is one of the three, kept alive and reused.
      expect(api.counts.connections).to.be.at.most(3);
      expect(api.flight.maxInFlight).to.equal(3);
    } finally {
      await api.close();
    }
  });

  it(`bounds requests at ${DEFAULT_MAX_CONNECTIONS} connections by default`, async () => {
    const api = await countingServer(20);
    try {
      const rest = createRestClient({ server: api.url });
      await Promise.all(Array.from({ length: 100 }, (_, i) => getLease(rest, `l${i}`)));
      expect(api.counts.connections).to.be.at.most(DEFAULT_MAX_CONNECTIONS);
      expect(api.flight.maxInFlight).to.equal(DEFAULT_MAX_CONNECTIONS);
    } finally {
      await api.close();
    }
  });

  it('gives watches connections of their own: open watches never hold up a request', async () => {
    const api = await countingServer(5);
    try {
      const rest = createRestClient({ server: api.url }, { maxConnections: 1 });
      const watches = await Promise.all(
        [1, 2, 3].map((rv) =>
          rest.watch(
            LEASE,
            { resourceVersion: String(rv) },
            { onEvent: () => undefined, onDone: () => undefined },
          ),
        ),
      );
      try {
        // Three silent watches are open; requests still go, one connection at a time.
        const got = await Promise.race([
          Promise.all(['a', 'b', 'c'].map((n) => getLease(rest, n))),
          delay(5000).then(() => 'stuck' as const),
        ]);
        expect(got).to.not.equal('stuck');
        // One request connection (discovery's, reused) and one per watch.
        expect(api.counts.connections).to.equal(4);
        expect(api.flight.maxInFlight).to.equal(1);
      } finally {
        for (const w of watches) w.stop();
      }
    } finally {
      await api.close();
    }
  });

  it("keeps the manager's Leases off the request connections: a renewal never waits behind a burst", async () => {
    // Requests for Leases named hold-* are never answered; any other Lease is not found.
    let leaseGets = 0;
    const api = await loopbackApi((url, res, held) => {
      const name = url.pathname.split('/').pop() ?? '';
      if (name.startsWith('hold-')) {
        held.add(res);
        return;
      }
      leaseGets++;
      res
        .writeHead(404, { 'Content-Type': 'application/json' })
        .end(JSON.stringify({ kind: 'Status', code: 404, reason: 'NotFound' }));
    });
    const { held } = api;
    const abort = new AbortController();
    try {
      const manager = createManager({
        restConfig: { server: api.url },
        namespace: 'ns',
        metricsBindAddress: '0',
        healthProbeBindAddress: '0',
      });
      // Every request connection taken by a request that does not end.
      const burst = Array.from({ length: DEFAULT_MAX_CONNECTIONS + 4 }, (_, i) =>
        manager.rest
          .request({ method: 'GET', ref: { ...LEASE, name: `hold-${i}` }, signal: abort.signal })
          .catch(() => undefined),
      );
      for (let i = 0; i < 100 && held.size < DEFAULT_MAX_CONNECTIONS; i++) await delay(10);
      expect(held.size).to.equal(DEFAULT_MAX_CONNECTIONS);
      const got = await Promise.race([
        manager.leaseStore.get('shard-0'),
        // Loopback answers in milliseconds; queued behind the burst it never would.
        delay(1500).then(() => 'stuck' as const),
      ]);
      expect(got).to.equal(undefined);
      expect(leaseGets).to.equal(1);
      abort.abort();
      await Promise.all(burst);
    } finally {
      abort.abort();
      await api.close();
    }
  });
});
