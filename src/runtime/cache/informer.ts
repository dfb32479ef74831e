// Informer: a list+watch cache of one kind that cannot die quietly.
//
// client-node's makeInformer/ListWatch has traps an operator cannot live with, so this is
// our own reflector loop (client-go's shape) over a ListWatchSource:
//   - handlers run inside try/catch: a throwing handler is logged, never a crash;
//   - every end of a watch is followed by a restart: a clean close or client timeout
//     re-watches from the last resourceVersion; 410 Gone relists at once; any other error
//     relists after a jittered backoff (0.8 s doubling to 30 s);
//   - a watchdog relists after `watchdogMs` with no event at all (a watch can go silent);
//   - bookmarks are requested (the real source sets allowWatchBookmarks);
//   - `waitForSync` resolves once the first list has landed (client-go's HasSynced);
//   - cached objects are deep-frozen: `get` and `list` hand out shared, immutable values.
// A relist diffs the new list against the cache, so handlers see the adds, updates and
// deletes that happened while the watch was down.

import { type Clock, type Timer, realClock } from '../clock.js';
import { type JitteredBackoffOptions, createJitteredBackoff } from '../backoff.js';
import { type Logger, describeError, noopLogger } from '../log.js';
import { isGone } from '../client/rest.js';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { ListWatchSource } from './list-watch.js';
import { type InformerEvent, type InformerHandlers, createStore } from './store.js';

export { InformerEvent, type InformerHandlers, deepFreeze } from './store.js';

/** Counters for tests and debugging. */
export interface InformerStats {
  /** Lists done (the first one included). */
  readonly lists: number;
  /** Watches opened. */
  readonly watches: number;
  /** Relists forced by the watchdog. */
  readonly watchdogRelists: number;
  /** Restarts that went through the backoff. */
  readonly backoffs: number;
}

/** A read-only cache of one kind, kept current by list+watch. */
export interface Informer<T extends KubernetesObject> {
  /** Registers a handler; handlers must only enqueue keys (a throw is caught and logged). */
  on<E extends InformerEvent>(event: E, handler: InformerHandlers<T>[E]): void;
  /** Removes a handler registered with `on`. */
  off<E extends InformerEvent>(event: E, handler: InformerHandlers<T>[E]): void;
  /** Starts list+watch; call once. */
  start(): void;
  /** Stops and resolves when the loop has exited. */
  stop(): Promise<void>;
  /** True once the first list has landed. */
  hasSynced(): boolean;
  /** Resolves once synced; rejects with `signal.reason` if `signal` aborts first. */
  waitForSync(signal?: AbortSignal): Promise<void>;
  /** The cached object with key `namespace/name` (or `name`); frozen. */
  get(key: string): Readonly<T> | undefined;
  /** All cached objects, optionally of one namespace; frozen. */
  list(namespace?: string): ReadonlyArray<Readonly<T>>;
  /** Loop counters. */
  stats(): InformerStats;
}

/** Options for `createInformer`. */
export interface InformerOptions {
  /** Where lists and watches come from. */
  readonly source: ListWatchSource;
  /** For logs, e.g. the kind. */
  readonly name?: string;
  /** Relist after this long without any watch event (default 5 min). */
  readonly watchdogMs?: number;
  /** Restart backoff (default 0.8 s → 30 s, jittered). */
  readonly backoff?: JitteredBackoffOptions;
  /** Time source. */
  readonly clock?: Clock;
  /** Uniform [0, 1) source for jitter. */
  readonly random?: () => number;
  /** Logger. */
  readonly logger?: Logger;
}

/** Default watchdog: 5 minutes of silence forces a relist. */
export const DEFAULT_WATCHDOG_MS = 300_000;

/** How a watch ended. */
interface WatchEnd {
  readonly kind: 'closed' | 'gone' | 'error' | 'watchdog';
  readonly err?: unknown;
}

/** A clean close this soon after opening, with no event, counts as a failure (no tight loop). */
const MIN_HEALTHY_WATCH_MS = 1000;

/** Creates an informer; it does nothing until `start()`. */
export function createInformer<T extends KubernetesObject>(opts: InformerOptions): Informer<T> {
  const clock = opts.clock ?? realClock;
  const log = (opts.logger ?? noopLogger).child({ informer: opts.name ?? 'informer' });
  const watchdogMs = opts.watchdogMs ?? DEFAULT_WATCHDOG_MS;
  const backoff = createJitteredBackoff({
    clock,
    ...(opts.random ? { random: opts.random } : {}),
    ...opts.backoff,
  });
  const store = createStore<T>(log);
  const stopper = new AbortController();
  const stats = { lists: 0, watches: 0, watchdogRelists: 0, backoffs: 0 };
  let synced = false;
  const syncWaiters = new Set<() => void>();
  let loop: Promise<void> | undefined;

  /** Lists and replaces the cache, emitting the differences; returns the list's resourceVersion. */
  const relist = async (): Promise<string> => {
    const list = await opts.source.list(stopper.signal);
    stats.lists++;
    store.replace(list.items as T[]);
    if (!synced) {
      synced = true;
      syncWaiters.forEach((w) => w());
      syncWaiters.clear();
    }
    return list.resourceVersion;
  };

  /** Watches from `rv` until the stream ends; returns how it ended and the latest rv. */
  const watchOnce = (rv: string): Promise<{ end: WatchEnd; rv: string; events: number }> =>
    new Promise((resolve) => {
      let latest = rv;
      let events = 0;
      let finished = false;
      let watchdog: Timer | undefined;
      let handle: { stop(): void } | undefined;
      const finish = (end: WatchEnd): void => {
        if (finished) return;
        finished = true;
        watchdog?.cancel();
        stopper.signal.removeEventListener('abort', onStop);
        handle?.stop();
        resolve({ end, rv: latest, events });
      };
      const onStop = (): void => finish({ kind: 'closed' });
      const arm = (): void => {
        watchdog?.cancel();
        watchdog = clock.setTimer(watchdogMs, () => finish({ kind: 'watchdog' }));
      };
      stopper.signal.addEventListener('abort', onStop, { once: true });
      arm();
      stats.watches++;
      opts.source
        .watch(rv, {
          onEvent(type, obj) {
            if (finished) return;
            events++;
            arm();
            if (type === 'ERROR') {
              finish({ kind: isGone(obj) ? 'gone' : 'error', err: obj });
              return;
            }
            const objRv = obj.metadata?.resourceVersion;
            if (type === 'ADDED' || type === 'MODIFIED') store.upsert(obj as T);
            else if (type === 'DELETED') store.remove(obj as T);
            if (objRv) latest = objRv;
            // A healthy stream: the next failure starts the backoff from the bottom.
            backoff.reset();
          },
          onDone(err) {
            const timeout = err instanceof Error && err.name === 'TimeoutError';
            if (!err || timeout) finish({ kind: 'closed' });
            else finish({ kind: isGone(err) ? 'gone' : 'error', err });
          },
        })
        .then(
          (h) => {
            handle = h;
            if (finished) h.stop();
          },
          (err: unknown) => finish({ kind: isGone(err) ? 'gone' : 'error', err }),
        );
    });

  const pause = async (why: string, err: unknown): Promise<void> => {
    const ms = backoff.next();
    stats.backoffs++;
    log.warn('Informer restarting after backoff', { why, delayMs: ms, error: describeError(err) });
    await clock.sleep(ms, stopper.signal).catch(() => undefined);
  };

  const run = async (): Promise<void> => {
    let rv = '';
    while (!stopper.signal.aborted) {
      if (rv === '') {
        try {
          rv = await relist();
        } catch (err) {
          if (stopper.signal.aborted) return;
          await pause('list failed', err);
          continue;
        }
      }
      const openedAt = clock.now();
      const { end, rv: latest, events } = await watchOnce(rv);
      rv = latest;
      if (stopper.signal.aborted) return;
      if (end.kind === 'gone') rv = '';
      else if (end.kind === 'closed') {
        if (events === 0 && clock.now() - openedAt < MIN_HEALTHY_WATCH_MS) {
          await pause('watch closed at once', undefined);
        }
      } else if (end.kind === 'watchdog') {
        stats.watchdogRelists++;
        log.warn('Watch silent too long; relisting', { silenceMs: watchdogMs });
        rv = '';
      } else if (end.kind === 'error') {
        rv = '';
        await pause('watch failed', end.err);
      }
    }
  };

  return {
    on: (event, handler) => store.on(event, handler),
    off: (event, handler) => store.off(event, handler),
    start() {
      if (loop) throw new Error(`informer ${opts.name ?? ''} already started`);
      loop = run().catch((err: unknown) =>
        log.error('Informer loop crashed', { error: describeError(err) }),
      );
    },
    async stop() {
      stopper.abort(new DOMException('informer stopped', 'AbortError'));
      await loop;
    },
    hasSynced: () => synced,
    waitForSync(signal) {
      if (synced) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        if (signal?.aborted) {
          reject(signal.reason);
          return;
        }
        const onAbort = (): void => {
          syncWaiters.delete(done);
          reject(signal?.reason);
        };
        const done = (): void => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        syncWaiters.add(done);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    },
    get: (key) => store.get(key),
    list: (namespace) => store.list(namespace),
    stats: () => ({ ...stats }),
  };
}
