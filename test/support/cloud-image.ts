// The small Debian cloud image the MAAS controller tests boot: built from Debian packages by
// hack/build-cloud-image.sh (cached per machine, keyed by its inputs) and, for tests of the
// operator's image download, served over HTTP on 127.0.0.1.
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { basename, dirname, join } from 'node:path';
import { repoRoot } from './controlplane.js';

/** The build script; it must run as root (mmdebstrap's root mode). */
export const BUILD_CLOUD_IMAGE_SCRIPT = join(repoRoot, 'hack', 'build-cloud-image.sh');

/** A built image, as the script's info.json describes it. */
export interface CloudImage {
  /** The qcow2 file (build/cloud-image/, a hard link to the cache where it can be). */
  readonly path: string;
  /** SHA-256 of the file, lowercase hex. */
  readonly sha256: string;
  /** Size of the file in bytes: what an upload sends. */
  readonly sizeBytes: number;
  /** The disk's size as the guest sees it. */
  readonly virtualSizeBytes: number;
  /** The cache key (a hash of the script, the package list, the Debian release and GRUB's version). */
  readonly key: string;
  /** Debian release, e.g. `bookworm`. */
  readonly suite: string;
  /** The kernel release inside, e.g. `6.1.0-57-cloud-amd64`. */
  readonly kernel: string;
  /** UUID of the root file system (the kernel's `root=UUID=`). */
  readonly fsUuid: string;
  /** The packages asked for (their dependencies come too). */
  readonly packages: readonly string[];
  /** How many packages the image holds. */
  readonly packagesInstalled: number;
  /** Seconds the build took when it was made (not now: see `cached`). */
  readonly buildSeconds: number;
  /** Whether this call found it in the cache. */
  readonly cached: boolean;
  /** Milliseconds this call took: the whole build, or the hash and copy of a warm run. */
  readonly elapsedMs: number;
}

/**
 * Builds the image, or takes it from the cache, and describes it. Needs root; on a fresh
 * Debian machine the script installs its own tools (mmdebstrap, qemu-utils, grub-pc-bin…)
 * with apt. A cold build takes a few minutes: give the caller's hook a timeout to match.
 */
export async function ensureCloudImage(
  opts: { readonly timeoutMs?: number } = {},
): Promise<CloudImage> {
  if (process.getuid?.() !== 0) {
    throw new Error('ensureCloudImage needs root: mmdebstrap runs in root mode');
  }
  const t0 = performance.now();
  const { stdout, stderr } = await runScript(['build'], opts.timeoutMs ?? 1_200_000);
  const infoPath = stdout.trim().split('\n').at(-1) ?? '';
  if (!infoPath.endsWith('info.json')) {
    throw new Error(`${BUILD_CLOUD_IMAGE_SCRIPT} printed no info.json path; stderr:\n${stderr}`);
  }
  const info = JSON.parse(await readFile(infoPath, 'utf8')) as Omit<
    CloudImage,
    'path' | 'cached' | 'elapsedMs'
  > & { readonly file: string };
  const path = join(dirname(infoPath), info.file);
  const size = (await stat(path)).size;
  if (size !== info.sizeBytes) {
    throw new Error(`${path} has ${size} bytes, info.json says ${info.sizeBytes}`);
  }
  return {
    path,
    sha256: info.sha256,
    sizeBytes: info.sizeBytes,
    virtualSizeBytes: info.virtualSizeBytes,
    key: info.key,
    suite: info.suite,
    kernel: info.kernel,
    fsUuid: info.fsUuid,
    packages: info.packages,
    packagesInstalled: info.packagesInstalled,
    buildSeconds: info.buildSeconds,
    cached: /^cloud-image: cached /m.test(stderr),
    elapsedMs: performance.now() - t0,
  };
}

function runScript(
  args: readonly string[],
  timeoutMs: number,
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(BUILD_CLOUD_IMAGE_SCRIPT, [...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, so a timeout stops mmdebstrap and apt with it.
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGTERM');
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) {
        resolve({ stdout, stderr });
        return;
      }
      const tail = stderr.trim().split('\n').slice(-40).join('\n');
      reject(
        new Error(
          `${BUILD_CLOUD_IMAGE_SCRIPT} ${args.join(' ')} failed (${signal ?? `exit ${code}`}` +
            `${signal === 'SIGTERM' ? `, after ${timeoutMs} ms` : ''}); stderr tail:\n${tail}`,
        ),
      );
    });
  });
}

/** A file served over HTTP on 127.0.0.1. */
export interface FileServer extends AsyncDisposable {
  /** `http://127.0.0.1:<port>/<file name>`. */
  readonly url: string;
  /** GET requests answered with the file so far (HEAD not counted). */
  readonly downloads: number;
  close(): Promise<void>;
}

/**
 * Serves one file at `/<its name>` on 127.0.0.1 (an ephemeral port), the way a web server
 * serves a cloud image: GET and HEAD with Content-Length, 404 for any other path, 405 for
 * other methods. For tests of the operator's image download (`spec.maas.controller.image.url`).
 */
export async function serveFile(path: string): Promise<FileServer> {
  const name = basename(path);
  const size = (await stat(path)).size;
  let downloads = 0;
  const server = createServer((req, res) => {
    if (req.url !== `/${name}`) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': String(size),
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    downloads++;
    createReadStream(path)
      .on('error', (err) => res.destroy(err))
      .pipe(res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  const close = (): Promise<void> =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return {
    url: `http://127.0.0.1:${address.port}/${name}`,
    get downloads() {
      return downloads;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
