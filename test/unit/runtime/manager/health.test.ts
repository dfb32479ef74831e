import { expect } from 'chai';
import { Registry } from 'prom-client';
import {
  type HttpServer,
  parseBindAddress,
  startMetricsServer,
  startProbeServer,
} from '../../../../src/runtime/manager/health.js';
import { createRuntimeMetrics } from '../../../../src/runtime/metrics/runtime-metrics.js';

const get = async (s: HttpServer, path: string): Promise<{ status: number; body: string }> => {
  const res = await fetch(`http://127.0.0.1:${s.port}${path}`);
  return { status: res.status, body: await res.text() };
};

describe('runtime/health', () => {
  const servers: HttpServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  it('parses Go-style bind addresses', () => {
    expect(parseBindAddress(':8080')).to.deep.equal({ port: 8080 });
    expect(parseBindAddress('127.0.0.1:0')).to.deep.equal({ host: '127.0.0.1', port: 0 });
    expect(parseBindAddress('[::1]:8081')).to.deep.equal({ host: '::1', port: 8081 });
    expect(parseBindAddress('0')).to.equal(undefined);
    expect(() => parseBindAddress('8080')).to.throw(TypeError);
    expect(() => parseBindAddress(':99999')).to.throw(RangeError);
  });

  it('serves /healthz always and /readyz only once every check passes', async () => {
    const probe = await startProbeServer({ bindAddress: '127.0.0.1:0' });
    servers.push(probe);
    expect(probe.host).to.equal('127.0.0.1');
    expect(probe.port).to.be.greaterThan(0);
    let synced = false;
    probe.addReadyCheck('informers-synced', () => synced);
    probe.addReadyCheck('throws', () => {
      throw new Error('not yet');
    });
    expect((await get(probe, '/healthz')).status).to.equal(200);
    const notReady = await get(probe, '/readyz');
    expect(notReady.status).to.equal(500);
    expect(notReady.body).to.contain('[-]informers-synced failed').and.contain('[-]throws failed');
    expect((await get(probe, '/readyz/throws')).status).to.equal(500);
    probe.addReadyCheck('throws', () => Promise.resolve());
    synced = true;
    const ready = await get(probe, '/readyz?verbose');
    expect(ready.status).to.equal(200);
    expect(ready.body).to.contain('[+]informers-synced ok');
    expect((await get(probe, '/readyz/informers-synced')).status).to.equal(200);
    expect((await get(probe, '/readyz/nope')).status).to.equal(404);
    expect((await get(probe, '/other')).status).to.equal(404);
  });

  it('serves the registry on /metrics', async () => {
    const registry = new Registry();
    const metrics = createRuntimeMetrics({ registry });
    metrics.controller('maasnode', 2);
    metrics.leaderElection.on('maaslab-hv-hv1');
    const server = await startMetricsServer({
      bindAddress: '127.0.0.1:0',
      registry,
      serving: { secure: false },
    });
    servers.push(server);
    const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.contain('text/plain');
    const body = await res.text();
    expect(body).to.contain(
      'controller_runtime_max_concurrent_reconciles{controller="maasnode"} 2',
    );
    expect(body).to.contain('leader_election_master_status{name="maaslab-hv-hv1"} 1');
    expect((await get(server, '/')).status).to.equal(404);
  });

  it('a disabled server (bind address 0) listens nowhere and closes cleanly', async () => {
    const s = await startProbeServer({ bindAddress: '0' });
    expect(s.port).to.equal(0);
    await s.close();
  });

  it('fails to start on a port in use', async () => {
    const a = await startProbeServer({ bindAddress: '127.0.0.1:0' });
    servers.push(a);
    let caught: unknown;
    await startProbeServer({ bindAddress: `127.0.0.1:${a.port}` }).catch(
      (e: unknown) => (caught = e),
    );
    expect((caught as NodeJS.ErrnoException).code).to.equal('EADDRINUSE');
  });
});
