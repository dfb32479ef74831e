// The operator's /metrics as installed: a child process with exactly deploy/base's RBAC, serving
// HTTPS, asking the real kube-apiserver (TokenReview, SubjectAccessReview) about every caller.
// Callers are real ServiceAccounts with tokens from the TokenRequest API, as kubelet mounts
// them: one bound to ClusterRole maaslab-metrics-reader gets the metrics, everyone else 401 or
// 403. Then a mounted certificate (--metrics-cert-path) is served and its rotation picked up,
// and plain HTTP anywhere but loopback is refused at start.
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import {
  type RestClient,
  createRestClient,
  generateSelfSignedCertificate,
} from '../../../src/runtime/index.js';
import { controlPlane } from '../../support/controlplane.js';
import {
  METRICS_READER_ROLE,
  type TestServiceAccount,
  createServiceAccountWithToken,
  httpsGet,
  pemOf,
} from '../../support/metrics-auth.js';
import { type TestNamespace, createTestNamespace } from '../../support/namespace.js';
import {
  type OperatorProcess,
  applyOperatorRbac,
  freePort,
  startOperator,
} from '../../support/operator.js';
import { waitFor } from '../../support/wait.js';

describe('metrics: HTTPS, TokenReview and SubjectAccessReview against kube-apiserver', function () {
  this.timeout(300_000);
  let admin: RestClient;
  let scratch: string;
  let opNs: TestNamespace;
  let saNs: TestNamespace;
  let operator: OperatorProcess | undefined;
  let reader: TestServiceAccount;
  let stranger: TestServiceAccount;
  const op = (): OperatorProcess => {
    if (!operator) throw new Error('operator not started');
    return operator;
  };

  before(async function () {
    this.timeout(240_000);
    const cp = controlPlane();
    admin = createRestClient(cp.restConfig('admin'));
    scratch = await mkdtemp(join(tmpdir(), 'maaslab-metrics-auth-'));
    opNs = await createTestNamespace(cp.kubeConfig('admin'), 'metrics-auth-operator');
    saNs = await createTestNamespace(cp.kubeConfig('admin'), 'metrics-auth-scrapers');
    await applyOperatorRbac(cp.adminKubeconfig, opNs.name, scratch);
    reader = await createServiceAccountWithToken(admin, saNs.name, 'reader', METRICS_READER_ROLE);
    stranger = await createServiceAccountWithToken(admin, saNs.name, 'stranger');
    operator = await startOperator({
      kubeconfig: cp.operatorKubeconfig,
      namespace: opNs.name,
      logFile: join(scratch, 'operator.log'),
      secureMetrics: true,
    });
  });

  after(async function () {
    this.timeout(120_000);
    await operator?.stop();
    await reader?.cleanup();
    await stranger?.cleanup();
    await saNs?.delete();
    await opNs?.delete();
    if (process.env.MAASLAB_KEEP_E2E) console.log(`      kept ${scratch}`);
    else await rm(scratch, { recursive: true, force: true });
  });

  it('serves HTTPS with a self-signed certificate valid for 127.0.0.1, and nothing in plain HTTP', async () => {
    expect(op().metricsUrl).to.match(/^https:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const first = await httpsGet(op().metricsUrl, { authorization: `Bearer ${reader.token}` });
    expect(first.status).to.equal(200);
    const cert = new X509Certificate(first.certificate.raw);
    expect(cert.subject).to.equal('CN=maaslab-operator-metrics');
    expect(cert.issuer).to.equal(cert.subject);
    expect(cert.subjectAltName).to.include('IP Address:127.0.0.1');
    // Pinning the presented certificate verifies it, host name included.
    const pinned = await httpsGet(op().metricsUrl, {
      authorization: `Bearer ${reader.token}`,
      ca: pemOf(first.certificate),
    });
    expect(pinned.status).to.equal(200);
    // An HTTP client on the HTTPS port gets no metrics.
    const plain = await fetch(op().metricsUrl.replace('https:', 'http:')).then(
      async (r) => `${r.status} ${await r.text()}`,
      (err: unknown) => `refused: ${(err as Error).message}`,
    );
    expect(plain).not.to.contain('controller_runtime');
  });

  it('answers 200 with the metrics to a token bound to maaslab-metrics-reader', async () => {
    const res = await httpsGet(op().metricsUrl, { authorization: `Bearer ${reader.token}` });
    expect(res.status).to.equal(200);
    expect(res.headers['content-type']).to.contain('text/plain');
    expect(res.body).to.contain('controller_runtime_reconcile_total');
    expect(res.body).to.contain('rest_client_requests_total');
    expect(res.body).to.contain('process_resident_memory_bytes');
    // The scheme is case-insensitive, as the API server reads it.
    const lower = await httpsGet(op().metricsUrl, { authorization: `bearer ${reader.token}` });
    expect(lower.status).to.equal(200);
  });

  it('answers 401 without a token, with a garbage or foreign-audience token, and to other schemes', async () => {
    const audience = await admin.request<{ status?: { token?: string } }>({
      method: 'POST',
      ref: { apiVersion: 'v1', kind: 'ServiceAccount', namespace: saNs.name, name: 'reader' },
      subresource: 'token',
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: { audiences: ['not-the-api-server'], expirationSeconds: 600 },
      },
    });
    const cases: Array<[string, string | readonly string[] | undefined]> = [
      ['anonymous', undefined],
      ['empty header', ''],
      ['garbage token', 'Bearer not-a-real-token'],
      // A well-formed JWT signed by nobody the API server trusts.
      [
        'forged JWT',
        `Bearer ${Buffer.from('{"alg":"RS256","kid":"x"}').toString('base64url')}.${Buffer.from(
          JSON.stringify({ sub: `system:serviceaccount:${saNs.name}:reader` }),
        ).toString('base64url')}.c2lnbmF0dXJl`,
      ],
      ['another audience', `Bearer ${audience.status?.token ?? 'missing'}`],
      ['Basic scheme', `Basic ${Buffer.from('admin:admin').toString('base64')}`],
      ['token without scheme', reader.token],
      ['two tokens in one header', `Bearer ${reader.token} ${reader.token}`],
      ['two Authorization headers', [`Bearer ${reader.token}`, `Bearer ${reader.token}`]],
      ['a token with characters no token has', `Bearer ${reader.token.slice(0, 20)}!$%`],
    ];
    for (const [what, authorization] of cases) {
      const res = await httpsGet(op().metricsUrl, {
        ...(authorization !== undefined && { authorization }),
      });
      expect(res.status, what).to.equal(401);
      expect(res.headers['www-authenticate'], what).to.equal('Bearer');
      expect(res.body, what).to.equal('Unauthorized\n');
    }
  });

  it('answers 403 to a valid token without get /metrics, and to a reader using another verb', async () => {
    const res = await httpsGet(op().metricsUrl, { authorization: `Bearer ${stranger.token}` });
    expect(res.status).to.equal(403);
    expect(res.body).to.equal(`Authorization denied for user ${stranger.user}\n`);
    const post = await httpsGet(op().metricsUrl, {
      authorization: `Bearer ${reader.token}`,
      method: 'POST',
    });
    expect(post.status).to.equal(403);
  });

  it('answers 431 to a huge header and 404 off /metrics, without asking anyone', async () => {
    // Node's HTTP parser refuses headers over 16 KiB before our handler runs: it answers 431
    // and closes, and a client still writing its header may see the reset before the answer.
    const huge = await httpsGet(op().metricsUrl, {
      authorization: `Bearer ${'a'.repeat(20_000)}`,
    }).catch((err: NodeJS.ErrnoException) => err);
    expect(huge instanceof Error ? huge.code : huge.status).to.be.oneOf([431, 'ECONNRESET']);
    expect((await httpsGet(op().metricsUrl.replace('/metrics', '/debug/pprof'))).status).to.equal(
      404,
    );
    // Still serving after all of that.
    const after = await httpsGet(op().metricsUrl, { authorization: `Bearer ${reader.token}` });
    expect(after.status).to.equal(200);
  });

  it('refuses to start with plain HTTP on anything but loopback', async () => {
    const port = await freePort();
    const refused = await startOperator({
      kubeconfig: controlPlane().operatorKubeconfig,
      namespace: opNs.name,
      logFile: join(scratch, 'refused.log'),
      args: ['--metrics-bind-address', `0.0.0.0:${port}`],
      waitReady: false,
    });
    const code = await refused.exited;
    expect(code).to.not.equal(0);
    expect(await readFile(join(scratch, 'refused.log'), 'utf8')).to.contain(
      'without authentication',
    );
  });

  describe('with a mounted certificate (--metrics-cert-path)', () => {
    let certDir: string;
    let mounted: OperatorProcess | undefined;
    /** Writes a pair as a Secret volume update does: new files, then a rename into place. */
    const install = async (name: string): Promise<string> => {
      const pair = await generateSelfSignedCertificate({
        commonName: name,
        dnsNames: ['maaslab-operator-metrics.maaslab-system.svc'],
        ipAddresses: ['127.0.0.1'],
        validDays: 1,
      });
      await writeFile(join(certDir, 'next.crt'), pair.certPem);
      await writeFile(join(certDir, 'next.key'), pair.keyPem);
      await rename(join(certDir, 'next.key'), join(certDir, 'tls.key'));
      await rename(join(certDir, 'next.crt'), join(certDir, 'tls.crt'));
      return pair.certPem;
    };

    before(async function () {
      this.timeout(240_000);
      certDir = join(scratch, 'metrics-tls');
      await rm(certDir, { recursive: true, force: true });
      await import('node:fs/promises').then((fs) => fs.mkdir(certDir));
      await install('mounted-one');
      mounted = await startOperator({
        kubeconfig: controlPlane().operatorKubeconfig,
        namespace: opNs.name,
        logFile: join(scratch, 'mounted.log'),
        secureMetrics: true,
        args: ['--metrics-cert-path', certDir],
      });
    });
    after(async () => {
      await mounted?.stop();
    });

    it('serves the mounted certificate, and the next one once it is rotated', async () => {
      const url = mounted!.metricsUrl;
      const first = await httpsGet(url, { authorization: `Bearer ${reader.token}` });
      expect(first.status).to.equal(200);
      expect(new X509Certificate(first.certificate.raw).subject).to.equal('CN=mounted-one');
      const nextPem = await install('mounted-two');
      // Polled every 10 s (controller-runtime's certwatcher interval).
      await waitFor(
        async () =>
          new X509Certificate(
            (await httpsGet(url, { authorization: `Bearer ${reader.token}` })).certificate.raw,
          ).subject === 'CN=mounted-two',
        { timeoutMs: 30_000, intervalMs: 500, description: 'the rotated certificate served' },
      );
      // Pinned to the new certificate, the request verifies and is authorized as before.
      const pinned = await httpsGet(url, { authorization: `Bearer ${reader.token}`, ca: nextPem });
      expect(pinned.status).to.equal(200);
      expect(pinned.body).to.contain('controller_runtime_reconcile_total');
    });
  });
});
