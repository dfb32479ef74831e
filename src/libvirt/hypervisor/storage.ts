// The storage verbs: a running pool, volumes created (empty or cloned) but never changed, what
// exists of them, and deletion of the ones the owner recorded.
import { createHash } from 'node:crypto';
import type { Connection } from '../connection.js';
import { ErrorNumber } from '../constants.js';
import { isLibvirtError, isNotFound } from '../errors.js';
import type { StoragePool } from '../storage-pool.js';
import type { StorageVolume, StorageVolumeFacts } from '../storage-volume.js';
import { buildPoolXml, buildVolumeXml, type ParsedVolume } from '../xml/index.js';
import type { LibvirtCalls } from './calls.js';
import { ChecksumMismatchError, PoolNotFoundError, UploadSizeMismatchError } from './errors.js';
import type {
  Change,
  EnsuredVolumes,
  EnsureVolumesOptions,
  JobOptions,
  PoolSpec,
  VolumeRef,
  VolumeSpec,
  VolumeUpload,
} from './types.js';

/** One native call each (storage-volume.ts facts, storage-pool.ts storageVolLookupFacts). */
const FACTS = 'virStorageVolGetPath+virStorageVolGetInfo';
const LOOKUP_FACTS = 'virStorageVolLookupByName+virStorageVolGetPath+virStorageVolGetInfo';
const CREATE_FACTS = 'virStorageVolCreateXML+virStorageVolGetPath+virStorageVolGetInfo';

/**
 * How libvirt refuses to create a volume whose name the pool holds: STORAGE_VOL_EXIST from the
 * storage driver, OPERATION_FAILED ("storage vol already exists") from the test driver.
 */
const refusedAsExisting = (err: unknown): boolean =>
  isLibvirtError(err, ErrorNumber.StorageVolExist) ||
  isLibvirtError(err, ErrorNumber.OperationFailed);

/** A volume as the verbs report it. */
function parsedVolume(name: string, f: StorageVolumeFacts): ParsedVolume {
  return { name, path: f.path, capacityBytes: f.capacity, allocationBytes: f.allocation };
}

/** The storage verbs of one Hypervisor, on its instrumented calls. */
export class StorageVerbs {
  readonly #calls: LibvirtCalls;
  /** Pool handles of one connection, kept across passes (see #pool). */
  #pools?: { readonly conn: Connection; readonly byName: Map<string, StoragePool> };

  /** Storage verbs over `calls`. */
  constructor(calls: LibvirtCalls) {
    this.#calls = calls;
  }

  async ensurePool(spec: PoolSpec): Promise<Change> {
    const c = await this.#calls.conn();
    const found = await this.#calls.lookup(c, 'virStoragePoolLookupByName', () =>
      c.storagePoolLookupByName(spec.name),
    );
    if (found) {
      using pool = found;
      if (await this.#calls.call(c, 'virStoragePoolIsActive', () => pool.isActive())) {
        return { changed: false };
      }
      await this.#calls.call(c, 'virStoragePoolCreate', () => pool.create());
      return { changed: true };
    }
    if (spec.path === undefined) throw new PoolNotFoundError(spec.name);
    const xml = buildPoolXml({ name: spec.name, type: 'dir', path: spec.path });
    using pool = await this.#calls.call(c, 'virStoragePoolDefineXML', () =>
      c.storagePoolDefineXML(xml),
    );
    // Build creates the directory (an existing one is fine for a dir pool).
    await this.#calls.call(c, 'virStoragePoolBuild', () => pool.build());
    await this.#calls.call(c, 'virStoragePoolCreate', () => pool.create());
    await this.#calls.call(c, 'virStoragePoolSetAutostart', () => pool.setAutostart(true));
    return { changed: true };
  }

  async ensureVolumes(
    volumes: readonly VolumeSpec[],
    opts: EnsureVolumesOptions = {},
  ): Promise<EnsuredVolumes> {
    const c = await this.#calls.conn();
    try {
      return await this.#ensureVolumes(c, volumes, opts);
    } catch (err) {
      // A kept pool handle whose pool was undefined (and maybe defined again) since: look
      // the pools up afresh, once. ensureVolumes is idempotent.
      if (!isLibvirtError(err, ErrorNumber.NoStoragePool)) throw err;
      this.#forgetPools(c);
      return this.#ensureVolumes(c, volumes, opts);
    }
  }

  async #ensureVolumes(
    c: Connection,
    volumes: readonly VolumeSpec[],
    opts: EnsureVolumesOptions,
  ): Promise<EnsuredVolumes> {
    const created: string[] = [];
    const seen: ParsedVolume[] = [];
    const poolOf = (name: string): Promise<StoragePool> => this.#pool(c, name);
    for (const v of volumes) {
      const pool = await poolOf(v.pool);
      if (opts.expectAbsent && !v.cloneFrom) {
        // Created without a look; refused when it exists after all, which the look below
        // then finds (any other failure: the create below fails again and says why).
        const made = await this.#createEmpty(c, pool, v).catch((err: unknown) => {
          if (refusedAsExisting(err)) return undefined;
          throw err;
        });
        if (made) {
          created.push(v.name);
          seen.push(made);
          continue;
        }
      }
      const existing = await this.#volumeIn(c, pool, v.name);
      if (existing) {
        // Never resized or overwritten: an existing volume may hold an installed system.
        existing.volume.free();
        seen.push(existing.facts);
        continue;
      }
      if (!v.cloneFrom) {
        const made = await this.#createEmpty(c, pool, v);
        created.push(v.name);
        seen.push(made);
        continue;
      }
      using vol = await this.#createVolume(c, pool, v, poolOf);
      created.push(v.name);
      seen.push(await this.#volumeFacts(c, v.name, vol));
    }
    return { changed: created.length > 0, created, volumes: seen };
  }

  /** Creates empty volume `v` in `pool` and reads it, in one hop. */
  async #createEmpty(c: Connection, pool: StoragePool, v: VolumeSpec): Promise<ParsedVolume> {
    const xml = buildVolumeXml(v);
    const made = await this.#calls.call(c, CREATE_FACTS, () => pool.storageVolCreateXMLFacts(xml));
    made.volume.free();
    return parsedVolume(v.name, made.facts);
  }

  /**
   * The pool `name` of connection `c`, looked up once per connection and then kept: every
   * pass of every node asked for the same one or two pools. A handle outlives its pool only
   * if the pool is undefined; calls through it then fail with NO_STORAGE_POOL, which drops
   * the kept handles (ensureVolumes). A pool that does not exist is never kept.
   */
  async #pool(c: Connection, name: string): Promise<StoragePool> {
    if (this.#pools?.conn !== c) this.#pools = { conn: c, byName: new Map() };
    const kept = this.#pools.byName;
    const known = kept.get(name);
    if (known) return known;
    const found = await this.#calls.lookup(c, 'virStoragePoolLookupByName', () =>
      c.storagePoolLookupByName(name),
    );
    if (!found) throw new PoolNotFoundError(name);
    // Two passes may look it up at once: the first handle kept wins.
    const first = kept.get(name);
    if (first) {
      found.free();
      return first;
    }
    kept.set(name, found);
    return found;
  }

  /**
   * Drops the pool handles kept for `c`. They are not freed here: a pass may still be using
   * one; the wrapper frees each when it is collected.
   */
  #forgetPools(c: Connection): void {
    if (this.#pools?.conn === c) this.#pools = undefined;
  }

  /**
   * Volume `name` of `pool` and its facts, in one hop; undefined when the pool has none
   * (NO_STORAGE_VOL only).
   */
  async #volumeIn(
    c: Connection,
    pool: StoragePool,
    name: string,
  ): Promise<{ volume: StorageVolume; facts: ParsedVolume } | undefined> {
    try {
      const { volume, facts } = await this.#calls.call(c, LOOKUP_FACTS, () =>
        pool.storageVolLookupFacts(name),
      );
      return { volume, facts: parsedVolume(name, facts) };
    } catch (err) {
      // NO_STORAGE_POOL (a kept handle of a pool gone since) is not "no such volume".
      if (isLibvirtError(err, ErrorNumber.NoStorageVol)) return undefined;
      throw err;
    }
  }

  /** Creates `v` in `pool`, empty or as a copy of v.cloneFrom. */
  async #createVolume(
    c: Connection,
    pool: StoragePool,
    v: VolumeSpec,
    poolOf: (name: string) => Promise<StoragePool>,
  ): Promise<StorageVolume> {
    const xml = buildVolumeXml(v);
    const source = v.cloneFrom;
    if (!source) {
      return this.#calls.call(c, 'virStorageVolCreateXML', () => pool.storageVolCreateXML(xml));
    }
    const sp = await poolOf(source.pool);
    const seen =
      source.madeOutside === true
        ? await this.#lookupVolume(c, sp, source.volume, true)
        : undefined;
    using src =
      seen ??
      (await this.#calls.call(c, 'virStorageVolLookupByName', () =>
        sp.storageVolLookupByName(source.volume),
      ));
    return this.#calls.call(c, 'virStorageVolCreateXMLFrom', () =>
      pool.storageVolCreateXMLFrom(xml, src),
    );
  }

  async observeVolumes(pool: string, names: readonly string[]): Promise<readonly ParsedVolume[]> {
    const c = await this.#calls.conn();
    const found = await this.#calls.lookup(c, 'virStoragePoolLookupByName', () =>
      c.storagePoolLookupByName(pool),
    );
    if (!found) return [];
    using p = found;
    const out: ParsedVolume[] = [];
    for (const name of names) {
      const vol = await this.#calls.lookup(c, LOOKUP_FACTS, () => p.storageVolLookupFacts(name));
      if (!vol) continue;
      vol.volume.free();
      out.push(parsedVolume(name, vol.facts));
    }
    return out;
  }

  /** A volume's path, capacity and allocation, as the pool reports them. */
  async #volumeFacts(c: Connection, name: string, vol: StorageVolume): Promise<ParsedVolume> {
    return parsedVolume(name, await this.#calls.call(c, FACTS, () => vol.facts()));
  }

  /**
   * Creates volume `u.name` (raw, `u.sizeBytes`) and streams `source` into it
   * (virStorageVolUpload, virStreamSend per chunk, virStreamFinish), hashing as it goes.
   * Progress after every chunk; `signal` aborts the stream. A failure, an abort, a size or
   * SHA-256 mismatch removes the volume: a half-written base image is never left to be used.
   * The pool is refreshed at the end so that libvirt probes the image's own format.
   */
  async uploadVolume(
    u: VolumeUpload,
    source: AsyncIterable<Uint8Array>,
    opts: JobOptions = {},
  ): Promise<ParsedVolume> {
    const c = await this.#calls.conn();
    const found = await this.#calls.lookup(c, 'virStoragePoolLookupByName', () =>
      c.storagePoolLookupByName(u.pool),
    );
    if (!found) throw new PoolNotFoundError(u.pool);
    using pool = found;
    const xml = buildVolumeXml({ name: u.name, capacityBytes: u.sizeBytes, format: 'raw' });
    using vol = await this.#calls.call(c, 'virStorageVolCreateXML', () =>
      pool.storageVolCreateXML(xml),
    );
    try {
      opts.signal?.throwIfAborted();
      using stream = c.newStream();
      await this.#calls.call(c, 'virStorageVolUpload', () => vol.upload(stream, 0, u.sizeBytes));
      const hash = createHash('sha256');
      let done = 0;
      try {
        for await (const chunk of source) {
          opts.signal?.throwIfAborted();
          hash.update(chunk);
          done += chunk.byteLength;
          if (done > u.sizeBytes) break;
          await stream.send(chunk);
          opts.onProgress?.({ done, total: u.sizeBytes });
        }
        if (done !== u.sizeBytes) throw new UploadSizeMismatchError(u.name, u.sizeBytes, done);
        const actual = hash.digest('hex');
        if (u.sha256 !== undefined && actual !== u.sha256.toLowerCase()) {
          throw new ChecksumMismatchError(u.name, u.sha256.toLowerCase(), actual);
        }
        await this.#calls.call(c, 'virStreamFinish', () => stream.finish());
      } catch (err) {
        await stream.abort().catch(() => undefined); // the original error matters more
        throw err;
      }
      await this.#calls.call(c, 'virStoragePoolRefresh', () => pool.refresh());
      return await this.#volumeFacts(c, u.name, vol);
    } catch (err) {
      await this.#calls.call(c, 'virStorageVolDelete', () => vol.delete()).catch(() => undefined);
      throw err;
    }
  }

  async hashVolume(
    poolName: string,
    name: string,
    opts: JobOptions = {},
  ): Promise<string | undefined> {
    const c = await this.#calls.conn();
    const found = await this.#calls.lookup(c, 'virStoragePoolLookupByName', () =>
      c.storagePoolLookupByName(poolName),
    );
    if (!found) return undefined;
    using pool = found;
    const vol = await this.#calls.lookup(c, 'virStorageVolLookupByName', () =>
      pool.storageVolLookupByName(name),
    );
    if (!vol) return undefined;
    using volume = vol;
    const { capacityBytes } = await this.#volumeFacts(c, name, volume);
    opts.signal?.throwIfAborted();
    const hash = createHash('sha256');
    let done = 0;
    // Breaking out of the loop (an abort) aborts libvirt's side of the stream.
    for await (const chunk of volume.downloadChunks()) {
      opts.signal?.throwIfAborted();
      hash.update(chunk);
      done += chunk.byteLength;
      opts.onProgress?.({ done, total: capacityBytes });
    }
    return hash.digest('hex');
  }

  /**
   * A volume of `pool`, or undefined. With `madeOutside`, a miss refreshes the pool and looks
   * again: libvirt's domain code (the NVRAM copy) writes files the pool has not listed yet. A
   * refresh libvirt refuses (a volume of the pool is being built: "asynchronous jobs
   * running") is the caller's error, retried: taken for a miss, a capture would leave the
   * NVRAM out and a restore would find the file in the way of its copy.
   */
  async #lookupVolume(
    c: Connection,
    pool: StoragePool,
    name: string,
    madeOutside: boolean,
  ): Promise<StorageVolume | undefined> {
    const look = () =>
      this.#calls.lookup(c, 'virStorageVolLookupByName', () => pool.storageVolLookupByName(name));
    const found = await look();
    if (found || !madeOutside) return found;
    await this.#calls.call(c, 'virStoragePoolRefresh', () => pool.refresh());
    return look();
  }

  async deleteVolumes(
    volumes: readonly VolumeRef[],
  ): Promise<Change & { readonly deleted: readonly string[] }> {
    const c = await this.#calls.conn();
    const deleted: string[] = [];
    for (const v of volumes) {
      const pool = await this.#calls.lookup(c, 'virStoragePoolLookupByName', () =>
        c.storagePoolLookupByName(v.pool),
      );
      if (!pool) continue;
      using p = pool;
      const vol = await this.#lookupVolume(c, p, v.name, v.madeOutside === true);
      if (!vol) continue;
      using volume = vol;
      try {
        await this.#calls.call(c, 'virStorageVolDelete', () => volume.delete());
      } catch (err) {
        if (isNotFound(err)) continue;
        throw err;
      }
      deleted.push(v.name);
    }
    return { changed: deleted.length > 0, deleted };
  }
}
