import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import {
  type CertificateKeyPair,
  generateSelfSignedCertificate,
} from '../../../../src/runtime/certs/self-signed.js';
import {
  loadServingCertificate,
  readCertificateFiles,
} from '../../../../src/runtime/certs/serving.js';
import { realClock } from '../../../../src/runtime/clock.js';
import { createFakeClock } from '../../../fakes/clock.js';
import { waitFor } from '../../../support/wait.js';

const pair = (cn: string): Promise<CertificateKeyPair> =>
  generateSelfSignedCertificate({
    commonName: cn,
    dnsNames: ['metrics.example'],
    ipAddresses: [],
    validDays: 1,
  });

describe('runtime/certs/serving', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'maaslab-certs-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const put = async (p: CertificateKeyPair, names = { cert: 'tls.crt', key: 'tls.key' }) => {
    await writeFile(join(dir, names.cert), p.certPem);
    await writeFile(join(dir, names.key), p.keyPem);
  };

  it('makes a self-signed certificate for loopback when none is mounted', async () => {
    const c = await loadServingCertificate({ clock: realClock });
    const x = new X509Certificate(c.current().certPem);
    expect(x.subject).to.equal('CN=maaslab-operator-metrics');
    expect(x.subjectAltName).to.equal(
      'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1',
    );
    expect(x.checkPrivateKey((await import('node:crypto')).createPrivateKey(c.current().keyPem))).to
      .be.true;
  });

  it('reads a mounted pair under the given names, and refuses a wrong key or junk', async () => {
    const a = await pair('a');
    const b = await pair('b');
    await put(a, { cert: 'cert.pem', key: 'key.pem' });
    expect(
      await readCertificateFiles({ dir, certName: 'cert.pem', keyName: 'key.pem' }),
    ).to.deep.equal(a);
    await put({ certPem: a.certPem, keyPem: b.keyPem });
    let error: unknown;
    await readCertificateFiles({ dir }).catch((e: unknown) => (error = e));
    expect((error as Error).message).to.contain('is not the key of');
    await put({ certPem: 'not a certificate', keyPem: a.keyPem });
    await readCertificateFiles({ dir }).catch((e: unknown) => (error = e));
    expect((error as Error).message).to.contain('are not a PEM certificate and key');
    await rm(join(dir, 'tls.key'));
    await readCertificateFiles({ dir }).catch((e: unknown) => (error = e));
    expect((error as NodeJS.ErrnoException).code).to.equal('ENOENT');
  });

  it('picks up a rotated pair at the next poll, and keeps the old one through a half-written rotation', async () => {
    const clock = createFakeClock();
    const a = await pair('a');
    const b = await pair('b');
    await put(a);
    const errors: unknown[] = [];
    const c = await loadServingCertificate({
      files: { dir },
      clock,
      pollMs: 1000,
      onError: (e) => errors.push(e),
    });
    const seen: string[] = [];
    const stop = c.watch((p) => seen.push(new X509Certificate(p.certPem).subject));
    // Unchanged files: no news.
    await clock.tickAsync(1000);
    await waitFor(() => clock.pendingTimers() === 1, { timeoutMs: 5000, intervalMs: 5 });
    expect(seen).to.deep.equal([]);
    // Half a rotation: the new certificate, the old key.
    await writeFile(join(dir, 'tls.crt'), b.certPem);
    await clock.tickAsync(1000);
    await waitFor(() => errors.length === 1, { timeoutMs: 5000, intervalMs: 5 });
    expect(c.current()).to.deep.equal(a);
    // The key follows: the next poll takes the pair.
    await writeFile(join(dir, 'tls.key'), b.keyPem);
    await waitFor(() => clock.pendingTimers() === 1, { timeoutMs: 5000, intervalMs: 5 });
    await clock.tickAsync(1000);
    await waitFor(() => seen.length === 1, { timeoutMs: 5000, intervalMs: 5 });
    expect(seen).to.deep.equal(['CN=b']);
    expect(c.current()).to.deep.equal(b);
    stop();
    await waitFor(() => clock.pendingTimers() === 0, { timeoutMs: 5000, intervalMs: 5 });
  });
});
