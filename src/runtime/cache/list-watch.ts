// ListWatch: where an informer gets its lists and watches.
//
// The informer loop depends only on this small interface, so unit tests drive it with a
// fake and the real one stays thin: a LIST of one kind (optionally one namespace, field
// and label selectors) and a WATCH from a resourceVersion with bookmarks on, through Rest.

import type { KubernetesObject } from '@kubernetes/client-node';
import type {
  ObjectList,
  ResourceRef,
  RestClient,
  WatchCallbacks,
  WatchHandle,
} from '../client/rest.js';

/** One full list and the resourceVersion to watch from. */
export interface ListResult {
  readonly items: readonly KubernetesObject[];
  readonly resourceVersion: string;
}

/** Lists and watches one collection. */
export interface ListWatchSource {
  /** Lists everything matching; rejects on failure or when `signal` aborts. */
  list(signal: AbortSignal): Promise<ListResult>;
  /** Opens a watch from `resourceVersion`; the handle stops it. */
  watch(resourceVersion: string, callbacks: WatchCallbacks): Promise<WatchHandle>;
}

/** What to list and watch. */
export interface ListWatchOptions {
  /** The kind (no name); a namespace limits it to that namespace. */
  readonly ref: Omit<ResourceRef, 'name'>;
  /** e.g. `spec.hypervisor=hv1`. */
  readonly fieldSelector?: string;
  /** e.g. `app=maaslab`. */
  readonly labelSelector?: string;
  /** Server-side watch timeout range, like client-go's 5–10 min (default 300 s plus jitter). */
  readonly timeoutSeconds?: number;
  /** Uniform [0, 1) source for the timeout jitter. */
  readonly random?: () => number;
}

/** A ListWatchSource over the API server. */
export function createListWatch(rest: RestClient, opts: ListWatchOptions): ListWatchSource {
  const selectors = {
    fieldSelector: opts.fieldSelector,
    labelSelector: opts.labelSelector,
  };
  const random = opts.random ?? Math.random;
  return {
    async list(signal) {
      const list = await rest.request<ObjectList<KubernetesObject>>({
        method: 'GET',
        ref: opts.ref,
        query: selectors,
        signal,
      });
      // List items come without apiVersion/kind; fill them in so cached objects are self-describing.
      const { apiVersion, kind } = opts.ref;
      const items = (list.items ?? []).map((i) => ({ ...i, apiVersion, kind }));
      return { items, resourceVersion: list.metadata?.resourceVersion ?? '' };
    },
    watch(resourceVersion, callbacks) {
      const base = opts.timeoutSeconds ?? 300;
      return rest.watch(
        opts.ref,
        {
          ...selectors,
          resourceVersion,
          timeoutSeconds: Math.floor(base * (1 + random())),
        },
        callbacks,
      );
    },
  };
}
