// Events: posts events.k8s.io/v1 Events, and never lets that fail a reconcile.
//
// `record` returns at once; the POST runs in the background and any failure is logged.
// Like client-go's events library, repeats are aggregated: the same type+reason+action on
// the same object within `windowMs` does not create a new Event; instead the first one's
// `series` is bumped (count, lastObservedTime), at most once per `seriesIntervalMs`.

import { type Clock, realClock } from '../clock.js';
import { type EventInput, type EventRecord, buildEvent } from './event-record.js';
import { toMicroTime } from '../leaderelection/lease-record.js';
import { type Logger, describeError, noopLogger } from '../log.js';
import { ContentType, type RestClient } from '../client/rest.js';

/** Records Events about objects. */
export interface EventRecorder {
  /** Records an event; never throws, never waits. */
  record(input: EventInput): void;
  /** Resolves when every POST/PATCH started so far has finished (for shutdown and tests). */
  flush(): Promise<void>;
}

/** Options for `createEventRecorder`. */
export interface EventRecorderOptions {
  /** Raw API access. */
  readonly rest: RestClient;
  /** This replica, e.g. the pod name. */
  readonly reportingInstance: string;
  /** Defaults to `maaslab.dev/operator`. */
  readonly reportingController?: string;
  /** Repeats within this window are aggregated (default 10 min, client-go's). */
  readonly windowMs?: number;
  /** A series is patched at most this often (default 30 s). */
  readonly seriesIntervalMs?: number;
  /** Time source. */
  readonly clock?: Clock;
  /** Logger for failures. */
  readonly logger?: Logger;
}

interface Seen {
  readonly event: EventRecord;
  readonly firstMs: number;
  count: number;
  lastPatchMs: number;
}

/** Forget aggregation state beyond this many keys, oldest first. */
const MAX_TRACKED = 4096;

/** Creates a recorder. */
export function createEventRecorder(opts: EventRecorderOptions): EventRecorder {
  const clock = opts.clock ?? realClock;
  const log = opts.logger ?? noopLogger;
  const windowMs = opts.windowMs ?? 600_000;
  const seriesIntervalMs = opts.seriesIntervalMs ?? 30_000;
  const seen = new Map<string, Seen>();
  const inflight = new Set<Promise<void>>();

  const track = (p: Promise<unknown>, what: string): void => {
    const done: Promise<void> = p.then(
      () => undefined,
      (err: unknown) => log.warn('Could not record event', { what, error: describeError(err) }),
    );
    const tracked = done.finally(() => inflight.delete(tracked));
    inflight.add(tracked);
  };

  const post = (event: EventRecord): void =>
    track(
      opts.rest.request({
        method: 'POST',
        ref: { apiVersion: 'events.k8s.io/v1', kind: 'Event', namespace: event.metadata.namespace },
        body: event,
      }),
      event.reason,
    );

  const bump = (s: Seen, nowMs: number): void => {
    s.lastPatchMs = nowMs;
    track(
      opts.rest.request({
        method: 'PATCH',
        ref: {
          apiVersion: 'events.k8s.io/v1',
          kind: 'Event',
          namespace: s.event.metadata.namespace,
          name: s.event.metadata.name,
        },
        body: { series: { count: s.count, lastObservedTime: toMicroTime(nowMs) } },
        contentType: ContentType.MergePatch,
      }),
      s.event.reason,
    );
  };

  return {
    record(input) {
      try {
        const nowMs = clock.now();
        const m = input.regarding.metadata;
        const key = [m?.namespace, m?.name, m?.uid, input.type, input.reason, input.action].join(
          '\u0000',
        );
        const prior = seen.get(key);
        if (prior && nowMs - prior.firstMs < windowMs) {
          prior.count++;
          if (nowMs - prior.lastPatchMs >= seriesIntervalMs) bump(prior, nowMs);
          return;
        }
        const event = buildEvent(input, {
          nowMs,
          reportingInstance: opts.reportingInstance,
          ...(opts.reportingController ? { reportingController: opts.reportingController } : {}),
        });
        seen.delete(key);
        seen.set(key, { event, firstMs: nowMs, count: 1, lastPatchMs: nowMs });
        if (seen.size > MAX_TRACKED) seen.delete(seen.keys().next().value ?? '');
        post(event);
      } catch (err) {
        log.warn('Could not build event', { reason: input.reason, error: describeError(err) });
      }
    },
    async flush() {
      while (inflight.size > 0) await Promise.all([...inflight]);
    },
  };
}
