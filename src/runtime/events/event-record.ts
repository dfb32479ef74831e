// Event record: builds events.k8s.io/v1 Events, purely.
//
// The recorder that posts them (and rate-limits) does the I/O; this file decides what an
// Event says, following client-go's events library: name `<object>.<hex time>`, the
// object's namespace (or `default` for cluster-scoped objects), a MicroTime eventTime,
// the reporting controller and instance, and a note capped at 1 KiB as the API requires.

import type { MetaObject } from '../controller/objects.js';
import { toMicroTime } from '../leaderelection/lease-record.js';

/** Event types the API accepts. */
export const EventType = {
  /** Routine: something happened as intended. */
  Normal: 'Normal',
  /** Something may need attention. */
  Warning: 'Warning',
} as const;
/** One of the `EventType` values. */
export type EventType = (typeof EventType)[keyof typeof EventType];

/** The reporting controller name maaslab puts on its Events. */
export const REPORTING_CONTROLLER = 'maaslab.dev/operator';

/** Limits enforced by the API server's Event validation. */
const MAX_NOTE_BYTES = 1024;
const MAX_REASON_ACTION = 128;

/** What happened, to which object. */
export interface EventInput {
  /** The object the event is about (needs apiVersion, kind, metadata.name). */
  readonly regarding: MetaObject;
  /** Normal or Warning. */
  readonly type: EventType;
  /** CamelCase reason, e.g. `DomainStarted` (at most 128 characters). */
  readonly reason: string;
  /** What the controller did or failed to do, e.g. `Start` (at most 128 characters). */
  readonly action: string;
  /** Human-readable detail; truncated to 1 KiB. */
  readonly note?: string;
}

/** Who reports, and when. */
export interface EventStamp {
  /** Local time, epoch ms. */
  readonly nowMs: number;
  /**
   * A number that differs between the events one recorder makes within a millisecond (the
   * name's sub-millisecond digits): two events on one object in the same millisecond, as
   * NetworksCreated and NodesCreated of one lab pass, would otherwise share a name and the
   * second would be refused with 409 AlreadyExists.
   */
  readonly seq?: number;
  /** The replica reporting, e.g. the pod name (at most 128 characters). */
  readonly reportingInstance: string;
  /** Defaults to `REPORTING_CONTROLLER`. */
  readonly reportingController?: string;
}

/** An events.k8s.io/v1 Event as JSON (structurally compatible with client-node's EventsV1Event). */
export interface EventRecord {
  readonly apiVersion: 'events.k8s.io/v1';
  readonly kind: 'Event';
  readonly metadata: { readonly name: string; readonly namespace: string };
  readonly eventTime: string;
  readonly type: EventType;
  readonly reason: string;
  readonly action: string;
  readonly note: string;
  readonly reportingController: string;
  readonly reportingInstance: string;
  readonly regarding: {
    readonly apiVersion?: string;
    readonly kind?: string;
    readonly name: string;
    readonly namespace?: string;
    readonly uid?: string;
    readonly resourceVersion?: string;
  };
}

/** Truncates `s` to at most `max` UTF-8 bytes without splitting a character. */
export function truncateUtf8(s: string, max: number): string {
  if (Buffer.byteLength(s) <= max) return s;
  let out = '';
  let bytes = 0;
  for (const ch of s) {
    const n = Buffer.byteLength(ch);
    if (bytes + n > max) break;
    out += ch;
    bytes += n;
  }
  return out;
}

/** Builds an Event; throws a TypeError on input the API server would reject. */
export function buildEvent(input: EventInput, stamp: EventStamp): EventRecord {
  const meta = input.regarding.metadata;
  if (!meta?.name) throw new TypeError('regarding object has no metadata.name');
  const name = meta.name;
  for (const [field, v] of [
    ['reason', input.reason],
    ['action', input.action],
    ['reportingInstance', stamp.reportingInstance],
  ] as const) {
    if (!v || v.length > MAX_REASON_ACTION) {
      throw new TypeError(`event ${field} must be 1..${MAX_REASON_ACTION} characters`);
    }
  }
  // client-go names events `<name>.<unix nanos in hex>`; here ms times 1e6 plus the stamp's
  // sequence number in place of the nanoseconds, so one object's events differ within a ms.
  const suffix = (
    BigInt(Math.floor(stamp.nowMs)) * 1_000_000n +
    BigInt((stamp.seq ?? 0) % 1_000_000)
  ).toString(16);
  return {
    apiVersion: 'events.k8s.io/v1',
    kind: 'Event',
    metadata: { name: `${name}.${suffix}`, namespace: meta.namespace || 'default' },
    eventTime: toMicroTime(stamp.nowMs),
    type: input.type,
    reason: input.reason,
    action: input.action,
    note: truncateUtf8(input.note ?? '', MAX_NOTE_BYTES),
    reportingController: stamp.reportingController ?? REPORTING_CONTROLLER,
    reportingInstance: stamp.reportingInstance,
    regarding: {
      ...(input.regarding.apiVersion ? { apiVersion: input.regarding.apiVersion } : {}),
      ...(input.regarding.kind ? { kind: input.regarding.kind } : {}),
      name,
      ...(meta.namespace ? { namespace: meta.namespace } : {}),
      ...(meta.uid ? { uid: meta.uid } : {}),
      ...(meta.resourceVersion ? { resourceVersion: meta.resourceVersion } : {}),
    },
  };
}
