// The metrics server's certificate: the files a Secret mounts (cert-manager's tls.crt and
// tls.key, as Kubebuilder's --metrics-cert-path/-name/-key), read again when they change, or a
// self-signed one made at start when none is given. controller-runtime's certwatcher polls
// every 10 s besides fsnotify; we only poll: a Secret volume's update is an atomic symlink
// swap that a file watch on the old inode would miss anyway.
import { createPublicKey, createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock, Timer } from '../clock.js';
import { type CertificateKeyPair, generateSelfSignedCertificate } from './self-signed.js';

/** Where a mounted certificate and key are: `dir/certName` and `dir/keyName`. */
export interface CertificateFiles {
  readonly dir: string;
  /** Default `tls.crt` (a kubernetes.io/tls Secret's key). */
  readonly certName?: string;
  /** Default `tls.key`. */
  readonly keyName?: string;
}

/** controller-runtime's certwatcher interval. */
export const CERT_POLL_INTERVAL_MS = 10_000;

/** How long the generated certificate lasts: a year, as a restart makes a new one anyway. */
const SELF_SIGNED_VALID_DAYS = 365;

/**
 * Reads `files` and checks that they are a certificate and its key (TLS would otherwise fail
 * only at the first handshake, long after a bad mount could have been reported).
 */
export async function readCertificateFiles(files: CertificateFiles): Promise<CertificateKeyPair> {
  const certFile = join(files.dir, files.certName ?? 'tls.crt');
  const keyFile = join(files.dir, files.keyName ?? 'tls.key');
  const [certPem, keyPem] = await Promise.all([
    readFile(certFile, 'utf8'),
    readFile(keyFile, 'utf8'),
  ]);
  let matches: boolean;
  try {
    const cert = new X509Certificate(certPem);
    const fromKey = createPublicKey(createPrivateKey(keyPem)).export({
      format: 'der',
      type: 'spki',
    });
    matches = cert.publicKey.export({ format: 'der', type: 'spki' }).equals(fromKey);
  } catch (err) {
    throw new Error(`${certFile} and ${keyFile} are not a PEM certificate and key`, {
      cause: err,
    });
  }
  if (!matches) throw new Error(`the key in ${keyFile} is not the key of ${certFile}`);
  return { certPem, keyPem };
}

/** The certificate a server presents, and its updates. */
export interface ServingCertificate {
  /** The pair in use now. */
  current(): CertificateKeyPair;
  /** Calls `fn` with each new pair (mounted files only); returns a stop function. */
  watch(fn: (pair: CertificateKeyPair) => void): () => void;
}

/** Options for {@link loadServingCertificate}. */
export interface ServingCertificateOptions {
  /** Mounted files; without them a self-signed certificate is made. */
  readonly files?: CertificateFiles;
  /** SANs of the self-signed certificate (default `localhost`, 127.0.0.1, ::1). */
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
  readonly clock: Clock;
  /** Poll interval for mounted files (default {@link CERT_POLL_INTERVAL_MS}). */
  readonly pollMs?: number;
  /** Told about a changed pair that cannot be used (the old one stays). */
  readonly onError?: (err: unknown) => void;
}

/** Loads the mounted pair (throws when it is unusable) or makes a self-signed one. */
export async function loadServingCertificate(
  opts: ServingCertificateOptions,
): Promise<ServingCertificate> {
  const files = opts.files;
  if (!files) {
    const pair = await generateSelfSignedCertificate({
      commonName: 'maaslab-operator-metrics',
      dnsNames: opts.dnsNames ?? ['localhost'],
      ipAddresses: opts.ipAddresses ?? ['127.0.0.1', '::1'],
      validDays: SELF_SIGNED_VALID_DAYS,
    });
    return { current: () => pair, watch: () => () => undefined };
  }
  let pair = await readCertificateFiles(files);
  return {
    current: () => pair,
    watch(fn) {
      let timer: Timer | undefined;
      let stopped = false;
      const poll = (): void => {
        timer = opts.clock.setTimer(opts.pollMs ?? CERT_POLL_INTERVAL_MS, () => {
          readCertificateFiles(files).then(
            (next) => {
              if (stopped) return;
              if (next.certPem !== pair.certPem || next.keyPem !== pair.keyPem) {
                pair = next;
                fn(next);
              }
              poll();
            },
            (err: unknown) => {
              // A rotation writes both files; a poll between the two sees a mismatch and
              // keeps the old pair until the next poll.
              opts.onError?.(err);
              if (!stopped) poll();
            },
          );
        });
      };
      poll();
      return () => {
        stopped = true;
        timer?.cancel();
      };
    },
  };
}
