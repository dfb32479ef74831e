// Client: the writes a reconciler makes, each with the right verb and content type.
//
//   - `patchStatus` goes only to the `/status` subresource, as a JSON merge patch with an
//     explicit Content-Type, locked to the resourceVersion the status was computed from. It
//     sends nothing when `statusEqual` says nothing changed. A 409 is NOT retried: that
//     status was computed from observations of an object that has changed since, so the
//     write throws ConflictError and the controller requeues the key to observe again.
//   - `ensureFinalizer`/`dropFinalizer` merge-patch `metadata.finalizers` with the same lock;
//     their change is recomputed on a fresh read, so on 409 they re-read and re-apply
//     (client-go's RetryOnConflict: 5 tries, ~10 ms apart).
//   - `apply` is server-side apply (`application/apply-patch+yaml`) under field manager `maaslab`.
// Bodies and results are raw JSON (see rest.ts).

import { type Clock, realClock } from '../clock.js';
import { statusEqual } from '../conditions.js';
import {
  CLEANUP_FINALIZER,
  type MetaObject,
  addFinalizer,
  finalizersPatch,
  removeFinalizer,
} from '../controller/objects.js';
import { ConflictError } from '../controller/reconcile.js';
import { ContentType, type ResourceRef, type RestClient, isConflict, isNotFound } from './rest.js';

/** The field manager maaslab applies under. */
export const FIELD_MANAGER = 'maaslab';

/** An object whose status the client can write. */
export interface StatusObject extends MetaObject {
  /** The status as last read. */
  readonly status?: unknown;
}

/** The outcome of a write that may be skipped. */
export interface WriteResult<T> {
  /** False when nothing needed writing. */
  readonly changed: boolean;
  /** The object after the write (or as given, when nothing was written). */
  readonly object: T;
}

/** Options for `apply`. */
export interface ApplyOptions {
  /** Field manager (default `maaslab`). */
  readonly fieldManager?: string;
  /** Take over fields other managers own (default true, as controllers should). */
  readonly force?: boolean;
  /** Aborts the request. */
  readonly signal?: AbortSignal;
}

/** What reconcilers write through. */
export interface Client {
  /** Reads an object; undefined when it does not exist. */
  get<T extends MetaObject>(ref: ResourceRef, signal?: AbortSignal): Promise<T | undefined>;
  /**
   * Writes `status` to `/status` (merge patch, locked to `obj`'s resourceVersion) unless it
   * equals `obj.status`. A 409 throws {@link ConflictError}: never re-applied.
   */
  patchStatus<T extends StatusObject>(
    obj: T,
    status: unknown,
    signal?: AbortSignal,
  ): Promise<WriteResult<T>>;
  /** Adds `finalizer` (default `maaslab.dev/cleanup`) if missing. */
  ensureFinalizer<T extends MetaObject>(
    obj: T,
    finalizer?: string,
    signal?: AbortSignal,
  ): Promise<WriteResult<T>>;
  /** Removes `finalizer` if present; a vanished object counts as done. */
  dropFinalizer<T extends MetaObject>(
    obj: T,
    finalizer?: string,
    signal?: AbortSignal,
  ): Promise<WriteResult<T | undefined>>;
  /** Server-side apply of `obj` (a full desired object with apiVersion, kind, name). */
  apply<T extends MetaObject>(obj: T, opts?: ApplyOptions): Promise<T>;
  /** Deletes an object; false when it was already gone. */
  delete(ref: ResourceRef, signal?: AbortSignal): Promise<boolean>;
}

/** Options for `createClient`. */
export interface ClientOptions {
  /** Raw API access. */
  readonly rest: RestClient;
  /** Conflict retries (default 5 attempts, client-go's DefaultRetry). */
  readonly conflictAttempts?: number;
  /** Delay between conflict retries, in ms (default 10). */
  readonly conflictDelayMs?: number;
  /** Time source for the retry delay. */
  readonly clock?: Clock;
  /** Uniform [0, 1) source for the retry jitter. */
  readonly random?: () => number;
}

/** The ref of an object; throws if it cannot name one. */
export function refOf(obj: MetaObject): ResourceRef {
  const { apiVersion, kind } = obj;
  const name = obj.metadata?.name;
  if (!apiVersion || !kind || !name) {
    throw new TypeError('object needs apiVersion, kind and metadata.name');
  }
  const namespace = obj.metadata?.namespace;
  return namespace ? { apiVersion, kind, namespace, name } : { apiVersion, kind, name };
}

/** A merge patch turning status `from` into `to`: keys gone from `to`, at any depth, become null. */
export function statusMergePatch(from: unknown, to: unknown): unknown {
  if (!isPlainObject(to)) return to;
  const patch: Record<string, unknown> = { ...to };
  if (isPlainObject(from)) {
    for (const k of Object.keys(from)) {
      // A merge patch merges nested objects too: a key gone at any depth must be nulled
      // (status.power switching from virsh's fields to a BMC's, say).
      if (!(k in patch)) patch[k] = null;
      else if (isPlainObject(patch[k]) && isPlainObject(from[k])) {
        patch[k] = statusMergePatch(from[k], patch[k]);
      }
    }
  }
  return patch;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Creates a Client over `rest`. */
export function createClient(opts: ClientOptions): Client {
  const { rest } = opts;
  const attempts = opts.conflictAttempts ?? 5;
  const delayMs = opts.conflictDelayMs ?? 10;
  const clock = opts.clock ?? realClock;
  const random = opts.random ?? Math.random;

  const get = async <T extends MetaObject>(
    ref: ResourceRef,
    signal?: AbortSignal,
  ): Promise<T | undefined> => {
    try {
      return await rest.request<T>({ method: 'GET', ref, ...(signal ? { signal } : {}) });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  };

  /** Runs `step` on `obj`, and on 409 on a fresh read, up to `attempts` times. */
  const onConflict = async <T extends MetaObject, R>(
    obj: T,
    signal: AbortSignal | undefined,
    step: (current: T) => Promise<R>,
  ): Promise<R> => {
    let current = obj;
    for (let i = 1; ; i++) {
      try {
        return await step(current);
      } catch (err) {
        if (!isConflict(err) || i >= attempts) throw err;
        await clock.sleep(delayMs * (1 + random() * 0.1), signal);
        const fresh = await get<T>(refOf(obj), signal);
        if (!fresh) throw new Error(`${refOf(obj).name} vanished during a retry`, { cause: err });
        current = fresh;
      }
    }
  };

  const mergePatch = <T>(
    obj: MetaObject,
    body: unknown,
    subresource: string | undefined,
    signal?: AbortSignal,
  ): Promise<T> =>
    rest.request<T>({
      method: 'PATCH',
      ref: refOf(obj),
      ...(subresource ? { subresource } : {}),
      body,
      contentType: ContentType.MergePatch,
      ...(signal ? { signal } : {}),
    });

  const locked = (o: MetaObject): { resourceVersion?: string } =>
    o.metadata?.resourceVersion ? { resourceVersion: o.metadata.resourceVersion } : {};

  return {
    get,
    async patchStatus(obj, status, signal) {
      if (statusEqual(obj.status, status)) return { changed: false, object: obj };
      const body = { metadata: locked(obj), status: statusMergePatch(obj.status, status) };
      try {
        return { changed: true, object: await mergePatch(obj, body, 'status', signal) };
      } catch (err) {
        if (!isConflict(err)) throw err;
        const { kind, namespace, name } = refOf(obj);
        throw new ConflictError(
          `status of ${kind} ${namespace ? `${namespace}/` : ''}${name} not written: the object ` +
            `changed since resourceVersion ${obj.metadata?.resourceVersion ?? '?'} (409); observe again`,
          { cause: err },
        );
      }
    },
    ensureFinalizer: (obj, finalizer = CLEANUP_FINALIZER, signal) =>
      onConflict(obj, signal, async (current) => {
        const change = addFinalizer(current, finalizer);
        if (!change.changed) return { changed: false, object: current };
        const body = finalizersPatch(current, change.finalizers);
        return { changed: true, object: await mergePatch(current, body, undefined, signal) };
      }),
    dropFinalizer: <T extends MetaObject>(
      obj: T,
      finalizer = CLEANUP_FINALIZER,
      signal?: AbortSignal,
    ) =>
      onConflict(obj, signal, async (current): Promise<WriteResult<T | undefined>> => {
        const change = removeFinalizer(current, finalizer);
        if (!change.changed) return { changed: false, object: current };
        const body = finalizersPatch(current, change.finalizers);
        try {
          return { changed: true, object: await mergePatch<T>(current, body, undefined, signal) };
        } catch (err) {
          // Removing the last finalizer of a deleting object deletes it; a 404 means done.
          if (isNotFound(err)) return { changed: true, object: undefined };
          throw err;
        }
      }),
    apply: (obj, applyOpts = {}) =>
      rest.request({
        method: 'PATCH',
        ref: refOf(obj),
        query: {
          fieldManager: applyOpts.fieldManager ?? FIELD_MANAGER,
          force: applyOpts.force ?? true,
        },
        body: obj,
        contentType: ContentType.Apply,
        ...(applyOpts.signal ? { signal: applyOpts.signal } : {}),
      }),
    async delete(ref, signal) {
      try {
        await rest.request({ method: 'DELETE', ref, ...(signal ? { signal } : {}) });
        return true;
      } catch (err) {
        if (isNotFound(err)) return false;
        throw err;
      }
    },
  };
}
