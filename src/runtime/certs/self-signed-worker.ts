// The worker thread of generateSelfSignedCertificate (self-signed.ts): builds one certificate
// from its workerData and posts it back; a failure ends the thread with the error, which the
// Worker's 'error' event hands to the caller.
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parentPort, workerData } from 'node:worker_threads';
import type { SelfSignedCertificateRequest } from './self-signed.js';
import type * as Build from './self-signed-build.js';

if (!parentPort) throw new Error('self-signed-worker runs as a worker thread only');
// The builder beside this file, named with this file's extension: under tsx (the unit tests)
// a worker runs the .ts sources without tsx's resolver, so `./self-signed-build.js` would not
// be found; compiled, both are .js.
const { buildSelfSignedCertificate } = (await import(
  `./self-signed-build${extname(fileURLToPath(import.meta.url))}`
)) as typeof Build;
parentPort.postMessage(
  await buildSelfSignedCertificate(workerData as SelfSignedCertificateRequest),
);
