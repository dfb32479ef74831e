// Cloud image downloads into a hypervisor's pool: one at a time per base volume, in the
// background, so a reconcile pass never waits minutes for a download and two labs asking for
// the same image on the same hypervisor share one. The bytes stream from the HTTP response
// into virStorageVolUpload (Hypervisor.uploadVolume), which hashes them as they go and
// removes the volume when the SHA-256 or the size is wrong; nothing touches the local disk.
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { Hypervisor } from '../../libvirt/hypervisor/index.js';
import { ChecksumMismatchError } from '../../libvirt/hypervisor/errors.js';

/** Where an image comes from and where it goes. */
export interface ImageDownloadSpec {
  readonly url: string;
  readonly sha256: string;
  readonly pool: string;
  readonly volume: string;
}

/** A download as the lab phase sees it. */
export type DownloadState =
  | { readonly state: 'running'; readonly done: number; readonly total: number }
  | { readonly state: 'done'; readonly total: number }
  | {
      readonly state: 'failed';
      /** `checksum`: the bytes were not the image asked for; `error`: anything else. */
      readonly kind: 'checksum' | 'error';
      readonly message: string;
      /** The next `ensure` after this time starts it again. */
      readonly retryAt: number;
    };

/** The process's downloads, keyed by hypervisor, pool and volume. */
export interface ImageDownloads {
  /**
   * The download of `spec` to `hv` (key names the hypervisor): started when there is none,
   * or when the last one failed and its retryAt has passed; else as it is.
   */
  ensure(key: string, hv: Hypervisor, spec: ImageDownloadSpec): DownloadState;
  /**
   * The download of `spec` to `key`'s hypervisor as it is, without starting one. The volume
   * exists from the download's first byte on (virStorageVolCreateXML comes before the
   * upload), so whoever finds it must ask here whether it is still being written.
   */
  peek(key: string, spec: ImageDownloadSpec): DownloadState | undefined;
  /** Aborts every running download (shutdown); each removes its partial volume. */
  close(): void;
}

/** What the downloads need; tests inject fetch and time. */
export interface ImageDownloadOptions {
  readonly fetch?: typeof fetch;
  readonly now?: () => number;
  /** After a checksum mismatch, the same image is not fetched again for this long. */
  readonly checksumRetryMs?: number;
  /** After another failure: 10 s doubling to this. */
  readonly maxRetryMs?: number;
  /** Told when a download ends either way, e.g. to wake the labs waiting for it. */
  readonly onSettled?: (key: string) => void;
}

/** An HTTP answer other than 200, or one without a Content-Length. */
export class ImageDownloadError extends Error {
  override readonly name = 'ImageDownloadError';
}

interface Job {
  state: DownloadState;
  failures: number;
}

export function createImageDownloads(opts: ImageDownloadOptions = {}): ImageDownloads {
  const doFetch = opts.fetch ?? fetch;
  const now = opts.now ?? Date.now;
  const checksumRetryMs = opts.checksumRetryMs ?? 300_000;
  const maxRetryMs = opts.maxRetryMs ?? 300_000;
  const jobs = new Map<string, Job>();
  const aborts = new Set<AbortController>();

  async function run(job: Job, hv: Hypervisor, spec: ImageDownloadSpec, signal: AbortSignal) {
    const response = await doFetch(spec.url, { signal, redirect: 'follow' });
    if (response.status !== 200 || response.body === null) {
      await response.body?.cancel().catch(() => undefined);
      throw new ImageDownloadError(`GET ${spec.url}: HTTP ${response.status}`);
    }
    // virStorageVolUpload needs the length up front (the volume's capacity).
    const total = Number(response.headers.get('content-length') ?? NaN);
    if (!Number.isSafeInteger(total) || total <= 0) {
      await response.body.cancel().catch(() => undefined);
      throw new ImageDownloadError(`GET ${spec.url}: no Content-Length`);
    }
    job.state = { state: 'running', done: 0, total };
    await hv.uploadVolume(
      { pool: spec.pool, name: spec.volume, sizeBytes: total, sha256: spec.sha256 },
      Readable.fromWeb(response.body as WebReadableStream<Uint8Array>),
      { signal, onProgress: (p) => (job.state = { state: 'running', ...p }) },
    );
    job.state = { state: 'done', total };
  }

  return {
    peek: (key, spec) => jobs.get(`${key}/${spec.pool}/${spec.volume}`)?.state,
    ensure(key, hv, spec) {
      const id = `${key}/${spec.pool}/${spec.volume}`;
      const existing = jobs.get(id);
      if (existing !== undefined) {
        const s = existing.state;
        // A finished download is asked again only when its volume is gone: fetch it again.
        if (s.state === 'running' || (s.state === 'failed' && now() < s.retryAt)) return s;
      }
      const job: Job = {
        state: { state: 'running', done: 0, total: 0 },
        failures: existing?.failures ?? 0,
      };
      jobs.set(id, job);
      const abort = new AbortController();
      aborts.add(abort);
      run(job, hv, spec, abort.signal)
        .then(() => {
          job.failures = 0;
        })
        .catch((err: unknown) => {
          const checksum = err instanceof ChecksumMismatchError;
          job.failures++;
          const wait = checksum
            ? checksumRetryMs
            : Math.min(10_000 * 2 ** (job.failures - 1), maxRetryMs);
          job.state = {
            state: 'failed',
            kind: checksum ? 'checksum' : 'error',
            message: err instanceof Error ? err.message : String(err),
            retryAt: now() + wait,
          };
        })
        .finally(() => {
          aborts.delete(abort);
          opts.onSettled?.(key);
        });
      return job.state;
    },
    close() {
      for (const a of aborts) a.abort();
    },
  };
}
