// Store: an informer's cache of frozen objects, and the handlers told about its changes.
//
// Like client-go's cache.Store plus the informer's handler fan-out, kept apart from the
// list+watch loop so each stays small. Every object is stripped of metadata.managedFields and
// deep-frozen on the way in, so `get` and `list` can hand out shared values that no reader can
// corrupt. Handlers are called
// inside try/catch: a throwing handler is logged and cannot break the loop or the process.

import type { KubernetesObject } from '@kubernetes/client-node';
import { type Logger, describeError } from '../log.js';
import { requestKey } from '../controller/reconcile.js';

/** Informer event names, each with a matching literal type. */
export const InformerEvent = {
  Add: 'add',
  Update: 'update',
  Delete: 'delete',
} as const;
/** One of the `InformerEvent` values. */
export type InformerEvent = (typeof InformerEvent)[keyof typeof InformerEvent];

/** Handler signatures by event; `on` rejects a handler of the wrong shape at compile time. */
export interface InformerHandlers<T> {
  [InformerEvent.Add]: (obj: Readonly<T>) => void;
  [InformerEvent.Update]: (obj: Readonly<T>, old: Readonly<T>) => void;
  [InformerEvent.Delete]: (obj: Readonly<T>) => void;
}

/**
 * `obj` without metadata.managedFields, as controller-runtime's TransformStripManagedFields
 * keeps its cache: no controller reads them, and they are a large share of every object
 * (one entry per field manager, each listing the fields it owns).
 */
export function withoutManagedFields<T extends KubernetesObject>(obj: T): T {
  if (obj.metadata?.managedFields === undefined) return obj;
  const { managedFields: _, ...metadata } = obj.metadata;
  return { ...obj, metadata };
}

/** Freezes `value` and everything reachable from it. */
export function deepFreeze<T>(value: T): Readonly<T> {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** The cache key of an object: `namespace/name`, or `name` when cluster-scoped. */
export const keyOf = (obj: KubernetesObject): string =>
  requestKey({ namespace: obj.metadata?.namespace ?? '', name: obj.metadata?.name ?? '' });

/** The cache and its handlers. */
export interface Store<T extends KubernetesObject> {
  on<E extends InformerEvent>(event: E, handler: InformerHandlers<T>[E]): void;
  off<E extends InformerEvent>(event: E, handler: InformerHandlers<T>[E]): void;
  /** Adds or replaces `obj` (taken over and frozen); tells handlers unless the version is unchanged. */
  upsert(obj: T): void;
  /** Removes `obj` (the server's final state) if cached, and tells handlers. */
  remove(obj: T): void;
  /** Replaces everything with a fresh list, telling handlers what changed. */
  replace(items: readonly T[]): void;
  get(key: string): Readonly<T> | undefined;
  list(namespace?: string): ReadonlyArray<Readonly<T>>;
}

/** Creates an empty store that logs handler failures to `log`. */
export function createStore<T extends KubernetesObject>(log: Logger): Store<T> {
  const cache = new Map<string, Readonly<T>>();
  // The same objects by namespace: a pass that lists one namespace (a lab's children) does
  // not walk every object of the kind.
  const byNamespace = new Map<string | undefined, Map<string, Readonly<T>>>();
  const index = (key: string, obj: Readonly<T>): void => {
    const ns = obj.metadata?.namespace;
    const inNs = byNamespace.get(ns) ?? new Map<string, Readonly<T>>();
    inNs.set(key, obj);
    byNamespace.set(ns, inNs);
  };
  const unindex = (key: string, obj: Readonly<T>): void => {
    const ns = obj.metadata?.namespace;
    const inNs = byNamespace.get(ns);
    inNs?.delete(key);
    if (inNs?.size === 0) byNamespace.delete(ns);
  };
  const handlers = {
    add: new Set<InformerHandlers<T>['add']>(),
    update: new Set<InformerHandlers<T>['update']>(),
    delete: new Set<InformerHandlers<T>['delete']>(),
  };
  const call = (event: InformerEvent, fn: () => void): void => {
    try {
      fn();
    } catch (err) {
      log.error('Informer handler threw', { event, error: describeError(err) });
    }
  };
  const emitDelete = (o: Readonly<T>): void =>
    handlers.delete.forEach((h) => call('delete', () => h(o)));

  const store: Store<T> = {
    on(event, handler) {
      (handlers[event] as Set<typeof handler>).add(handler);
    },
    off(event, handler) {
      (handlers[event] as Set<typeof handler>).delete(handler);
    },
    upsert(raw) {
      const obj = deepFreeze(withoutManagedFields(raw));
      const key = keyOf(obj);
      const old = cache.get(key);
      cache.set(key, obj);
      index(key, obj);
      if (!old) handlers.add.forEach((h) => call('add', () => h(obj)));
      else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) {
        handlers.update.forEach((h) => call('update', () => h(obj, old)));
      }
    },
    remove(raw) {
      // The server's final state carries the deletion's resourceVersion.
      const key = keyOf(raw);
      const old = cache.get(key);
      if (old === undefined) return;
      cache.delete(key);
      unindex(key, old);
      emitDelete(deepFreeze(withoutManagedFields(raw)));
    },
    replace(items) {
      const seen = new Set<string>();
      for (const item of items) {
        seen.add(keyOf(item));
        store.upsert(item);
      }
      for (const [key, old] of [...cache]) {
        if (seen.has(key)) continue;
        cache.delete(key);
        unindex(key, old);
        emitDelete(old);
      }
    },
    get: (key) => cache.get(key),
    list(namespace) {
      const from = namespace === undefined ? cache : byNamespace.get(namespace);
      return Object.freeze(from === undefined ? [] : [...from.values()]);
    },
  };
  return store;
}
