// In-memory stand-ins for the informer caches and the status/finalizer client, for the
// reconcilers' unit tests: writes land in the store, as the API server plus informer would.
import type {
  Hypervisor as HypervisorResource,
  MaasNode,
  VirtNetwork,
} from '../../../src/api/v1alpha1/index.js';
import type { Client } from '../../../src/runtime/client/client.js';
import type { CacheReader } from '../../../src/runtime/manager/manager.js';
import { CLEANUP_FINALIZER, type MetaObject } from '../../../src/runtime/controller/objects.js';
import { requestKey, type Request } from '../../../src/runtime/controller/reconcile.js';
import { vnet } from './fixtures.js';

/** An object with metadata and a status. */
export type Obj = MetaObject & { status?: unknown };

/** A mutable store behind a CacheReader, like an informer's. */
export function store<T extends Obj>(...items: T[]): CacheReader<T> & { put(o: T): void } {
  const byKey = new Map<string, T>();
  const keyOf = (o: Obj): string =>
    requestKey({
      ...(o.metadata?.namespace && { namespace: o.metadata.namespace }),
      name: o.metadata?.name ?? '',
    });
  const put = (o: T): void => void byKey.set(keyOf(o), structuredClone(o));
  items.forEach(put);
  return {
    put,
    get: (k: string | Request) => byKey.get(typeof k === 'string' ? k : requestKey(k)),
    list: (ns?: string) => [...byKey.values()].filter((o) => !ns || o.metadata?.namespace === ns),
    hasSynced: () => true,
  };
}

/** A client writing into the stores, as the API server and the informer would. */
export function fakeClient<T extends Obj>(s: { put(o: T): void; get(k: Request): T | undefined }) {
  const reqOf = (o: Obj): Request => ({
    namespace: o.metadata?.namespace ?? '',
    name: o.metadata?.name ?? '',
  });
  const client: Pick<Client, 'patchStatus' | 'ensureFinalizer' | 'dropFinalizer'> = {
    patchStatus: async (obj, status) => {
      const cur = s.get(reqOf(obj)) as T;
      s.put({ ...cur, status });
      return { changed: true, object: obj };
    },
    ensureFinalizer: async (obj) => {
      const cur = s.get(reqOf(obj)) as T;
      const written = { ...cur, metadata: { ...cur.metadata, finalizers: [CLEANUP_FINALIZER] } };
      s.put(written);
      return { changed: true, object: written as unknown as typeof obj };
    },
    dropFinalizer: async (obj) => {
      const cur = s.get(reqOf(obj)) as T;
      s.put({ ...cur, metadata: { ...cur.metadata, finalizers: [] } });
      return { changed: true, object: obj };
    },
  };
  return client;
}

/** A Ready=True condition list at generation 1. */
export const readyCondition = [
  {
    type: 'Ready',
    status: 'True' as const,
    reason: 'Reconciled',
    message: '',
    observedGeneration: 1,
    lastTransitionTime: '2026-01-01T00:00:00Z',
  },
];
/** Hypervisor `local`, Ready, with a URI that carries a query string. */
export const hypervisorResource: HypervisorResource = {
  apiVersion: 'maaslab.dev/v1alpha1',
  kind: 'Hypervisor',
  metadata: { name: 'local', generation: 1 },
  spec: { uri: 'qemu+ssh://maas@host/system?keyfile=/k' },
  status: { observedGeneration: 1, conditions: readyCondition },
};
/** An isolated VirtNetwork in `maas`, Ready at its generation. */
export const readyNetwork = (name: string): VirtNetwork => ({
  ...vnet(name, { mode: 'isolated' }),
  status: { observedGeneration: 1, conditions: readyCondition, active: true },
});
/** `o` carrying the cleanup finalizer, as after the first pass. */
export const withFinalizer = <T extends Obj>(o: T): T => ({
  ...o,
  metadata: { ...o.metadata, finalizers: [CLEANUP_FINALIZER] },
});
/** The condition of `type` on a node or network. */
export const cond = (o: MaasNode | VirtNetwork | undefined, type: string) =>
  (o?.status?.conditions ?? []).find((c) => c.type === type);
/** A signal that never aborts. */
export const signal: AbortSignal = new AbortController().signal;
/** The request for `name` in namespace `maas`. */
export const key = (name: string): Request => ({ namespace: 'maas', name });

/** `target` (a fake), running `before` each time `verb` is called, ahead of the call itself. */
export function onCall<T extends object>(target: T, verb: keyof T, before: () => unknown): T {
  return new Proxy(target, {
    get(t, prop, receiver) {
      const value: unknown = Reflect.get(t, prop, receiver);
      if (typeof value !== 'function') return value;
      if (prop !== verb) return value.bind(t);
      return async (...args: unknown[]) => {
        await before();
        return value.apply(t, args);
      };
    },
  });
}
