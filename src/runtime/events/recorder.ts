// Events: posts events.k8s.io/v1 Events, and never lets that fail a reconcile.
//
// `record` returns at once; the POST runs in the background and any failure is logged.
// Like client-go's events library, repeats are aggregated: the same type+reason+action on
// the same object within `windowMs` does not create a new Event; instead the first one's
// `series` is bumped (count, lastObservedTime), at most once per `seriesIntervalMs`.
// Unlike it, routine news of many objects of one owner is combined (siblings.ts): the first
// `combineAfter` Normal events of a kind among an owner's objects are told on each, the rest
// as one Event on the owner per `batchMs` that names them all.

import { type Clock, type Timer, realClock } from '../clock.js';
import type { MetaObject } from '../controller/objects.js';
import {
  type EventInput,
  type EventRecord,
  type EventStamp,
  EventType,
  buildEvent,
} from './event-record.js';
import { toMicroTime } from '../leaderelection/lease-record.js';
import { type Logger, describeError, noopLogger } from '../log.js';
import { ContentType, type RestClient } from '../client/rest.js';
import { type SiblingBatch, combinedNote, controllerOwner, siblingKey } from './siblings.js';

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
  /**
   * Normal events of one type, reason and action about objects of one controller owner:
   * the first this many within `windowMs` are told on each object, the rest combined on the
   * owner (default 10, client-go's EventCorrelator's count for one object; 0 never combines).
   */
  readonly combineAfter?: number;
  /** Combined siblings are told at most this long after the first of them (default 5 s). */
  readonly batchMs?: number;
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

/** Siblings of one owner: how many were told on each, and those waiting to be combined. */
interface Siblings {
  readonly firstMs: number;
  told: number;
  batch?: { readonly owner: MetaObject; readonly input: EventInput; names: string[] };
}

/** Forget aggregation state beyond this many keys, oldest first. */
const MAX_TRACKED = 4096;

/** Creates a recorder. */
export function createEventRecorder(opts: EventRecorderOptions): EventRecorder {
  const clock = opts.clock ?? realClock;
  const log = opts.logger ?? noopLogger;
  const windowMs = opts.windowMs ?? 600_000;
  const seriesIntervalMs = opts.seriesIntervalMs ?? 30_000;
  const combineAfter = opts.combineAfter ?? 10;
  const batchMs = opts.batchMs ?? 5000;
  const seen = new Map<string, Seen>();
  const siblings = new Map<string, Siblings>();
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

  let seq = 0;
  const stamp = (nowMs: number): EventStamp => ({
    nowMs,
    seq: seq++,
    reportingInstance: opts.reportingInstance,
    ...(opts.reportingController ? { reportingController: opts.reportingController } : {}),
  });

  /** Tells `input` on its own object, or bumps the series of its repeat there. */
  const tell = (input: EventInput, nowMs: number): void => {
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
    const event = buildEvent(input, stamp(nowMs));
    seen.delete(key);
    seen.set(key, { event, firstMs: nowMs, count: 1, lastPatchMs: nowMs });
    if (seen.size > MAX_TRACKED) seen.delete(seen.keys().next().value ?? '');
    post(event);
  };

  /** Tells the batch of `s` as one Event on the owner, now. */
  const tellBatch = (s: Siblings): void => {
    const batch = s.batch;
    if (!batch) return;
    s.batch = undefined;
    try {
      const b: SiblingBatch = {
        kind: batch.input.regarding.kind ?? 'object',
        names: batch.names,
        toldEach: combineAfter,
        lastNote: batch.input.note ?? '',
      };
      const { type, reason, action } = batch.input;
      // Posted as it is, never as a repeat of an earlier batch: each names its own objects.
      const input = { regarding: batch.owner, type, reason, action, note: combinedNote(b) };
      post(buildEvent(input, stamp(clock.now())));
    } catch (err) {
      log.warn('Could not build event', { reason: batch.input.reason, error: describeError(err) });
    }
  };
  /** Batches waiting for their timer. */
  const waiting = new Map<Siblings, Timer>();

  /**
   * Whether `input` was taken as a sibling to combine (see siblings.ts); false: tell it on
   * its own object.
   */
  const combine = (input: EventInput, nowMs: number): boolean => {
    if (combineAfter <= 0 || input.type !== EventType.Normal) return false;
    const key = siblingKey(input.regarding, input.type, input.reason, input.action);
    const owner = key === undefined ? undefined : controllerOwner(input.regarding);
    if (key === undefined || !owner) return false;
    let s = siblings.get(key);
    if (!s || nowMs - s.firstMs >= windowMs) {
      if (s) tellBatch(s);
      s = { firstMs: nowMs, told: 0 };
      siblings.delete(key);
      siblings.set(key, s);
      if (siblings.size > MAX_TRACKED) {
        const oldest = siblings.keys().next().value ?? '';
        const gone = siblings.get(oldest);
        if (gone) tellBatch(gone);
        siblings.delete(oldest);
      }
    }
    if (s.told < combineAfter) {
      s.told++;
      return false;
    }
    const name = input.regarding.metadata?.name ?? '';
    if (s.batch) {
      s.batch.names.push(name);
      s.batch = { ...s.batch, input };
      return true;
    }
    s.batch = { owner, input, names: [name] };
    const held = s;
    waiting.set(
      held,
      clock.setTimer(batchMs, () => {
        waiting.delete(held);
        tellBatch(held);
      }),
    );
    return true;
  };

  return {
    record(input) {
      try {
        const nowMs = clock.now();
        if (combine(input, nowMs)) return;
        tell(input, nowMs);
      } catch (err) {
        log.warn('Could not build event', { reason: input.reason, error: describeError(err) });
      }
    },
    async flush() {
      // Batches waiting for their timer go now: flush is for shutdown and tests.
      for (const [s, timer] of [...waiting]) {
        timer.cancel();
        waiting.delete(s);
        tellBatch(s);
      }
      while (inflight.size > 0) await Promise.all([...inflight]);
    },
  };
}
