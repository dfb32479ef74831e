// certs: serving certificates — a self-signed one made in memory, or a mounted pair that is
// read again when it rotates (controller-runtime's certwatcher).
export type { CertificateKeyPair, SelfSignedCertificateRequest } from './self-signed.js';
export { generateSelfSignedCertificate } from './self-signed.js';
export type { CertificateFiles, ServingCertificate, ServingCertificateOptions } from './serving.js';
export { CERT_POLL_INTERVAL_MS, loadServingCertificate, readCertificateFiles } from './serving.js';
