import { expect } from 'chai';
import { Registry } from 'prom-client';
import {
  type HttpServer,
  isLoopbackHost,
  parseBindAddress,
  startMetricsServer,
  startProbeServer,
} from '../../../../src/runtime/manager/health.js';
import { createMetricsAuthorizer } from '../../../../src/runtime/manager/metrics-auth.js';
import { loadServingCertificate } from '../../../../src/runtime/certs/serving.js';
import { realClock } from '../../../../src/runtime/clock.js';
import { createRuntimeMetrics } from '../../../../src/runtime/metrics/runtime-metrics.js';
import { createFakeAccessReviewer } from '../../../fakes/access-reviewer.js';
import { httpsGet } from '../../../support/metrics-auth.js';

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

  it('knows loopback bind hosts from the rest', () => {
    for (const h of ['localhost', '127.0.0.1', '127.1.2.3', '::1', '0:0:0:0:0:0:0:1']) {
      expect(isLoopbackHost(h), h).to.equal(true);
    }
    for (const h of [
      undefined,
      '',
      '0.0.0.0',
      '::',
      '10.0.0.1',
      '128.0.0.1',
      'localhost.x',
      'example.com',
    ]) {
      expect(isLoopbackHost(h), String(h)).to.equal(false);
    }
  });

  it('refuses plain HTTP metrics on anything but loopback', async () => {
    const registry = new Registry();
    for (const bindAddress of [':0', '0.0.0.0:0', '[::]:0']) {
      let error: unknown;
      await startMetricsServer({ bindAddress, registry, serving: { secure: false } }).then(
        (s) => servers.push(s),
        (e: unknown) => (error = e),
      );
      expect((error as Error | undefined)?.message, bindAddress).to.contain(
        'must listen on loopback',
      );
    }
    // Disabled is fine either way.
    servers.push(
      await startMetricsServer({ bindAddress: '0', registry, serving: { secure: false } }),
    );
  });

  it('serves /metrics over HTTPS to authorized callers only, and 404s elsewhere without a review', async () => {
    const registry = new Registry();
    createRuntimeMetrics({ registry }).controller('maasnode', 2);
    const reviewer = createFakeAccessReviewer();
    reviewer.users.set('reader', { username: 'prom' });
    reviewer.users.set('other', { username: 'app' });
    reviewer.allowed.add('prom get /metrics');
    const server = await startMetricsServer({
      bindAddress: '127.0.0.1:0',
      registry,
      serving: {
        secure: true,
        certificate: await loadServingCertificate({ clock: realClock }),
        authorizer: createMetricsAuthorizer({ reviewer, clock: realClock }),
      },
    });
    servers.push(server);
    const url = `https://127.0.0.1:${server.port}`;
    expect((await httpsGet(`${url}/other`)).status).to.equal(404);
    expect(reviewer.asked).to.deep.equal([]);
    const ok = await httpsGet(`${url}/metrics`, { authorization: 'Bearer reader' });
    expect(ok.status).to.equal(200);
    expect(ok.body).to.contain(
      'controller_runtime_max_concurrent_reconciles{controller="maasnode"} 2',
    );
    expect(ok.certificate.subjectaltname).to.contain('IP Address:127.0.0.1');
    const anonymous = await httpsGet(`${url}/metrics`);
    expect([anonymous.status, anonymous.headers['www-authenticate'], anonymous.body]).to.deep.equal(
      [401, 'Bearer', 'Unauthorized\n'],
    );
    const other = await httpsGet(`${url}/metrics`, { authorization: 'Bearer other' });
    expect([other.status, other.body]).to.deep.equal([403, 'Authorization denied for user app\n']);
    // A plain HTTP client gets nothing from the TLS port.
    const plain = await fetch(`http://127.0.0.1:${server.port}/metrics`).then(
      (r) => r.status,
      () => 'refused',
    );
    expect(plain).to.not.equal(200);
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
