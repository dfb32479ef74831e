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
  /**
   * Whether the base volume of `spec`, found on `key`'s hypervisor, holds the whole image:
   * `done` at once when this process wrote it or checked it before; else its bytes are read
   * back and hashed in the background (`running`, with progress). A volume whose SHA-256 is
   * not spec.sha256 was left half-written (an operator stopped mid-download: the volume
   * exists from the first byte on, and libvirt cannot rename one into place when it is
   * whole). It is deleted, and the state is `failed` with a retryAt of now, so that the next
   * `ensure` downloads it again.
   */
  verify(key: string, hv: Hypervisor, spec: ImageDownloadSpec): DownloadState;
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

  async function check(job: Job, hv: Hypervisor, spec: ImageDownloadSpec, signal: AbortSignal) {
    const actual = await hv.hashVolume(spec.pool, spec.volume, {
      signal,
      onProgress: (p) => (job.state = { state: 'running', ...p }),
    });
    const wanted = spec.sha256.toLowerCase();
    if (actual === wanted) {
      job.state = { state: 'done', total: job.state.state === 'running' ? job.state.total : 0 };
      return;
    }
    if (actual !== undefined) await hv.deleteVolumes([{ pool: spec.pool, name: spec.volume }]);
    job.state = {
      state: 'failed',
      kind: 'error',
      message:
        actual === undefined
          ? `base volume ${spec.volume} disappeared while it was checked`
          : `base volume ${spec.volume} was incomplete (sha256 ${actual}, not ${wanted}): removed, to be downloaded again`,
      retryAt: now(),
    };
  }

  /** Runs `work` for `job` in the background, abortable by close(). */
  function background(
    key: string,
    job: Job,
    work: (signal: AbortSignal) => Promise<void>,
    onError: (err: unknown) => void,
  ): void {
    const abort = new AbortController();
    aborts.add(abort);
    work(abort.signal)
      .catch(onError)
      .finally(() => {
        aborts.delete(abort);
        opts.onSettled?.(key);
      });
  }

  return {
    peek: (key, spec) => jobs.get(`${key}/${spec.pool}/${spec.volume}`)?.state,
    verify(key, hv, spec) {
      const id = `${key}/${spec.pool}/${spec.volume}`;
      const existing = jobs.get(id);
      if (existing !== undefined) {
        const s = existing.state;
        if (s.state !== 'failed' || now() < s.retryAt) return s;
      }
      const job: Job = { state: { state: 'running', done: 0, total: 0 }, failures: 0 };
      jobs.set(id, job);
      background(
        key,
        job,
        (signal) => check(job, hv, spec, signal),
        (err: unknown) => {
          job.state = {
            state: 'failed',
            kind: 'error',
            message: `checking base volume ${spec.volume}: ${err instanceof Error ? err.message : String(err)}`,
            retryAt: now() + 10_000,
          };
        },
      );
      return job.state;
    },
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
      background(
        key,
        job,
        async (signal) => {
          await run(job, hv, spec, signal);
          job.failures = 0;
        },
        (err: unknown) => {
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
        },
      );
      return job.state;
    },
    close() {
      for (const a of aborts) a.abort();
    },
  };
}
