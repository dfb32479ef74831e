// The self-signed certificate a Redfish BMC serves HTTPS with. The operator keeps it in a
// Secret so it survives restarts (clients that pin it keep working); MAAS and Ironic talk to
// BMCs with verification off or with the pinned certificate, as with real hardware. The
// generator is the runtime's, which the metrics server uses too.
import {
  type CertificateKeyPair,
  type SelfSignedCertificateRequest,
  generateSelfSignedCertificate,
} from '../../runtime/index.js';

/** What a BMC's certificate names and how long it lasts. */
export type BmcCertificateRequest = SelfSignedCertificateRequest;
/** A BMC's certificate and private key, both PEM (the key is PKCS#8). */
export type BmcCertificate = CertificateKeyPair;

/** An ECDSA P-256 self-signed serverAuth certificate with the BMC's SANs. */
export const generateBmcCertificate = (req: BmcCertificateRequest): Promise<BmcCertificate> =>
  generateSelfSignedCertificate(req);
