// A long libvirt job with progress and cancellation (issue 11), the way a MAAS controller's base
// image reaches a hypervisor (issue 12): bytes fetched over HTTP (a server on loopback) are
// streamed into a new pool volume on a private libvirtd (virStorageVolUpload), hashed on the
// way. The volume is read back from libvirt (virStorageVolDownload) and compared; a wrong
// SHA-256, a short body and an abort each leave no volume behind. hashVolume reads a volume back
// the same way and tells a whole base from one a stopped upload left half-written.
import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { expect } from 'chai';
import {
  ChecksumMismatchError,
  type Connection,
  type ConnectionPool,
  createConnectionPool,
  createLibvirtHypervisor,
  type JobProgress,
  type LibvirtHypervisor,
  UploadSizeMismatchError,
} from '../../../src/libvirt/index.js';
import { type PrivateLibvirtd, startPrivateLibvirtd } from '../../support/libvirtd.js';

const POOL = 'upload-it';
const IMAGE = randomBytes(3 * 1024 * 1024 + 12_345);
const IMAGE_SHA256 = createHash('sha256').update(IMAGE).digest('hex');

describe('Hypervisor.uploadVolume on a private libvirtd: progress, checksum, cancellation', function () {
  this.timeout(120_000);
  let lv: PrivateLibvirtd;
  let pool: ConnectionPool<Connection>;
  let hv: LibvirtHypervisor;
  let server: Server;
  let base = '';

  /** The image over HTTP, as a controller's `image.url` would serve it, paced in chunks. */
  const body = async (path = '/image.img'): Promise<AsyncIterable<Uint8Array>> => {
    const res = await fetch(`${base}${path}`);
    expect(res.status).to.equal(200);
    return Readable.fromWeb(res.body as WebReadableStream<Uint8Array>);
  };
  const volumeNames = async (): Promise<string[]> =>
    (await lv.virsh(['vol-list', '--pool', POOL]))
      .split('\n')
      .map((l) => l.trim())
      // virsh -q prints no header; without -q, skip it.
      .filter((l) => l !== '' && !l.startsWith('Name') && !l.startsWith('---'))
      .map((l) => l.split(/\s+/)[0] ?? '');

  before(async () => {
    lv = await startPrivateLibvirtd();
    pool = createConnectionPool();
    hv = createLibvirtHypervisor({ uri: lv.uri, name: 'upload', connections: pool });
    await hv.ensurePool({ name: POOL, path: join(lv.dir, 'upload-pool') });
    server = createServer((req, res) => {
      const data = req.url === '/short.img' ? IMAGE.subarray(0, 1024 * 1024) : IMAGE;
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      // Several writes, so the upload sees several chunks.
      for (let i = 0; i < data.length; i += 256 * 1024) res.write(data.subarray(i, i + 256 * 1024));
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no address');
    base = `http://127.0.0.1:${address.port}`;
  });

  after(async () => {
    await new Promise<void>((resolve) => server?.close(() => resolve()));
    await hv?.close();
    await pool?.close();
    await lv?.stop();
  });

  it('streams the image into a new volume, reporting progress, and libvirt holds the same bytes', async () => {
    const progress: JobProgress[] = [];
    const volume = await hv.uploadVolume(
      { pool: POOL, name: 'base.img', sizeBytes: IMAGE.length, sha256: IMAGE_SHA256 },
      await body(),
      { onProgress: (p) => progress.push(p) },
    );
    expect(volume.capacityBytes).to.equal(IMAGE.length);
    expect(progress.length).to.be.greaterThan(1);
    expect(progress.at(-1)).to.deep.equal({ done: IMAGE.length, total: IMAGE.length });
    for (let i = 1; i < progress.length; i++) {
      expect(progress[i]!.done).to.be.greaterThan(progress[i - 1]!.done);
    }
    // Read back through libvirt itself, not our own code.
    const back = join(lv.dir, 'back.img');
    await lv.virsh(['vol-download', '--pool', POOL, 'base.img', back]);
    expect(
      createHash('sha256')
        .update(await readFile(back))
        .digest('hex'),
    ).to.equal(IMAGE_SHA256);
  });

  it('hashVolume reads a volume back: the whole image, a half-written one, none at all', async () => {
    const progress: JobProgress[] = [];
    expect(await hv.hashVolume(POOL, 'base.img', { onProgress: (p) => progress.push(p) })).to.equal(
      IMAGE_SHA256,
    );
    expect(progress.at(-1)).to.deep.equal({ done: IMAGE.length, total: IMAGE.length });
    // What an upload stopped part-way leaves, made with virsh: the volume at its full capacity,
    // only its first MiB written.
    const part = join(lv.dir, 'part.img');
    await writeFile(part, IMAGE.subarray(0, 1024 * 1024));
    await lv.virsh(['vol-create-as', POOL, 'half.img', String(IMAGE.length), '--format', 'raw']);
    await lv.virsh(['vol-upload', '--pool', POOL, 'half.img', part]);
    const half = await hv.hashVolume(POOL, 'half.img');
    expect(half).to.match(/^[0-9a-f]{64}$/);
    expect(half).to.not.equal(IMAGE_SHA256);
    await lv.virsh(['vol-delete', '--pool', POOL, 'half.img']);
    expect(await hv.hashVolume(POOL, 'no-such.img')).to.equal(undefined);
    expect(await hv.hashVolume('no-such-pool', 'base.img')).to.equal(undefined);
  });

  it('removes the volume when the SHA-256 does not match', async () => {
    let thrown: unknown;
    try {
      await hv.uploadVolume(
        { pool: POOL, name: 'bad-sum.img', sizeBytes: IMAGE.length, sha256: '0'.repeat(64) },
        await body(),
      );
    } catch (err) {
      thrown = err;
    }
    expect(thrown).to.be.instanceOf(ChecksumMismatchError);
    expect((thrown as ChecksumMismatchError).actual).to.equal(IMAGE_SHA256);
    expect(await volumeNames()).to.deep.equal(['base.img']);
  });

  it('removes the volume when the body is shorter than announced', async () => {
    let thrown: unknown;
    try {
      await hv.uploadVolume(
        { pool: POOL, name: 'short.img', sizeBytes: IMAGE.length },
        await body('/short.img'),
      );
    } catch (err) {
      thrown = err;
    }
    expect(thrown).to.be.instanceOf(UploadSizeMismatchError);
    expect(await volumeNames()).to.deep.equal(['base.img']);
  });

  it('aborts mid-stream on its signal and removes the volume', async () => {
    const abort = new AbortController();
    let seen = 0;
    let thrown: unknown;
    try {
      await hv.uploadVolume(
        { pool: POOL, name: 'aborted.img', sizeBytes: IMAGE.length, sha256: IMAGE_SHA256 },
        await body(),
        {
          signal: abort.signal,
          onProgress: (p) => {
            seen = p.done;
            if (p.done >= 512 * 1024) abort.abort(new Error('stopped by the test'));
          },
        },
      );
    } catch (err) {
      thrown = err;
    }
    expect(String(thrown)).to.contain('stopped by the test');
    expect(seen).to.be.lessThan(IMAGE.length);
    expect(await volumeNames()).to.deep.equal(['base.img']);
  });
});
