// Self-signed serving certificates: the Redfish BMCs' (kept in a Secret so clients that pin it
// keep working) and the metrics server's when none is mounted (made at start, as
// controller-runtime's metrics server does without a CertDir; Prometheus scrapes it with
// insecureSkipVerify, as the Kubebuilder scaffold's ServiceMonitor does, and the bearer token
// does the authenticating).
//
// The certificate is built in a short-lived worker thread (self-signed-worker.ts), not here:
// importing @peculiar/x509 and its dependencies (tsyringe, asn1js, reflect-metadata) keeps
// about 4 MB of module source, code and metadata alive in an isolate for good, and the
// operator needs it once, at start. In the main isolate those 4 MB were a third of the
// live-heap growth since 0680918, and V8 lets the heap grow to a multiple of what is live
// before its next full collection: at 1000 nodes they cost far more than 4 MB of peak RSS
// (bench/RESULTS.md, 2b). A worker's isolate and all it loaded are freed when it ends.
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

/** What the certificate names and how long it lasts. */
export interface SelfSignedCertificateRequest {
  /** The subject's CN, e.g. the hypervisor's name. */
  readonly commonName: string;
  /** IP SANs: the addresses clients connect to. */
  readonly ipAddresses: readonly string[];
  /** DNS SANs. */
  readonly dnsNames: readonly string[];
  readonly validDays: number;
  /** When validity starts; defaults to now (injectable for tests). */
  readonly notBefore?: Date;
}

/** A certificate and its private key, both PEM (the key is PKCS#8). */
export interface CertificateKeyPair {
  readonly certPem: string;
  readonly keyPem: string;
}

/**
 * The worker's file beside this one, with this file's extension: .js when compiled, .ts under
 * tsx (whose loader the worker inherits through execArgv).
 */
const workerUrl = (): URL =>
  new URL(`./self-signed-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url);

/**
 * Generates an ECDSA P-256 self-signed server certificate with the given SANs, the serverAuth
 * extended key usage, digitalSignature key usage and CA:false, in a worker thread that ends
 * with the answer.
 */
export async function generateSelfSignedCertificate(
  req: SelfSignedCertificateRequest,
): Promise<CertificateKeyPair> {
  if (!(req.validDays > 0)) throw new RangeError('validDays must be positive');
  const worker = new Worker(workerUrl(), { workerData: req });
  try {
    return await new Promise<CertificateKeyPair>((resolve, reject) => {
      worker.once('message', (pair: CertificateKeyPair) => resolve(pair));
      worker.once('error', reject);
      worker.once('exit', (code) =>
        reject(new Error(`the certificate worker exited (${code}) without a certificate`)),
      );
    });
  } finally {
    await worker.terminate();
  }
}
