// Builds a self-signed certificate with @peculiar/x509. Only self-signed-worker.ts imports
// this file, in a worker thread of its own (self-signed.ts says why): the operator's main
// isolate never loads @peculiar/x509.
//
// @peculiar/x509 builds the certificate on WebCrypto (node:crypto's webcrypto), so no
// OpenSSL binary or hand-written ASN.1 is needed.
import 'reflect-metadata'; // @peculiar/x509's dependency injection (tsyringe) needs it loaded first
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { CertificateKeyPair, SelfSignedCertificateRequest } from './self-signed.js';

const ecdsaP256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;

/** The certificate's subject, with the CN's special characters escaped (RFC 4514). */
function subjectName(commonName: string): string {
  return `CN=${commonName.replace(/([,+"\\<>;=#])/g, '\\$1')}`;
}

/**
 * Generates an ECDSA P-256 self-signed server certificate with the given SANs, the serverAuth
 * extended key usage, digitalSignature key usage and CA:false.
 */
export async function buildSelfSignedCertificate(
  req: SelfSignedCertificateRequest,
): Promise<CertificateKeyPair> {
  /** Node's WebCrypto, typed as the library expects (our lib setting has no DOM types). */
  const crypto = webcrypto as unknown as NonNullable<
    Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[1]
  >;
  const keys = await crypto.subtle.generateKey(ecdsaP256, true, ['sign', 'verify']);
  const notBefore = req.notBefore ?? new Date();
  const notAfter = new Date(notBefore.getTime() + req.validDays * 86_400_000);
  const altNames: x509.JsonGeneralName[] = [
    ...req.dnsNames.map((value) => ({ type: 'dns' as const, value })),
    ...req.ipAddresses.map((value) => ({ type: 'ip' as const, value })),
  ];
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: Buffer.from(crypto.getRandomValues(new Uint8Array(16)))
        .toString('hex')
        .replace(/^[89a-f]/, '1'), // positive: the first bit of a DER integer is its sign
      name: subjectName(req.commonName),
      notBefore,
      notAfter,
      keys,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension(altNames),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  const pkcs8 = await crypto.subtle.exportKey('pkcs8', keys.privateKey);
  return {
    certPem: cert.toString('pem'),
    keyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY'),
  };
}
