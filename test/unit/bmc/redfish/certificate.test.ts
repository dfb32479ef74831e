// The BMC's self-signed certificate, read back with node:crypto's own X509Certificate.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { expect } from 'chai';
import { generateBmcCertificate } from '../../../../src/bmc/redfish/certificate.js';

describe('bmc/redfish/certificate', () => {
  it('names the CN and the SANs, serves TLS servers, and its key matches', async () => {
    const notBefore = new Date('2030-01-01T00:00:00Z');
    const { certPem, keyPem } = await generateBmcCertificate({
      commonName: 'hv-1, "lab"',
      ipAddresses: ['127.0.0.1', '10.0.0.5', '::1'],
      dnsNames: ['hv-1.lab', 'localhost'],
      validDays: 30,
      notBefore,
    });
    const cert = new X509Certificate(certPem);
    expect(cert.subject).to.contain('hv-1');
    expect(cert.subjectAltName).to.include('DNS:hv-1.lab');
    expect(cert.subjectAltName).to.include('DNS:localhost');
    expect(cert.subjectAltName).to.include('IP Address:127.0.0.1');
    expect(cert.subjectAltName).to.include('IP Address:10.0.0.5');
    expect(cert.checkIP('127.0.0.1')).to.equal('127.0.0.1');
    expect(cert.checkHost('hv-1.lab')).to.equal('hv-1.lab');
    expect(cert.checkHost('evil.example')).to.equal(undefined);
    expect(cert.keyUsage).to.deep.equal(['1.3.6.1.5.5.7.3.1']); // serverAuth
    expect(cert.ca).to.equal(false);
    expect(new Date(cert.validFrom).getTime()).to.equal(notBefore.getTime());
    expect(new Date(cert.validTo).getTime()).to.equal(notBefore.getTime() + 30 * 86_400_000);
    const key = createPrivateKey(keyPem);
    expect(key.asymmetricKeyType).to.equal('ec');
    expect(cert.checkPrivateKey(key)).to.equal(true);
    expect(cert.verify(cert.publicKey)).to.equal(true); // self-signed
  });

  it('gives each certificate its own key and serial', async () => {
    const req = { commonName: 'x', ipAddresses: [], dnsNames: ['x'], validDays: 1 };
    const [a, b] = await Promise.all([generateBmcCertificate(req), generateBmcCertificate(req)]);
    const ca = new X509Certificate(a.certPem);
    const cb = new X509Certificate(b.certPem);
    expect(ca.serialNumber).to.not.equal(cb.serialNumber);
    expect(ca.checkPrivateKey(createPrivateKey(b.keyPem))).to.equal(false);
  });

  it('refuses a validity that is not positive', async () => {
    const req = { commonName: 'x', ipAddresses: [], dnsNames: [], validDays: 0 };
    let error: unknown;
    await generateBmcCertificate(req).catch((e: unknown) => (error = e));
    expect(error).to.be.instanceOf(RangeError);
  });
});
