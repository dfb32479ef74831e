// Sibling events: many objects of one controller owner saying the same routine thing at once.
//
// client-go's EventCorrelator tells the first 10 similar events about one object within
// 10 minutes and then combines the rest into one Event ("combined from similar events").
// That keys on the object, so a lab of 100 nodes built at once still makes 100 Events, one
// write each, for the same Normal news ("created volumes, defined, started"). The same rule
// applied to siblings: the first `after` Normal events of one type, reason and action among
// the objects one owner controls are told on each object; those after them within the window
// are gathered and told as one Event on the owner, which names every object it stands for.
// Warnings are always told on their object. Pure: the recorder (recorder.ts) keeps the
// state and does the I/O.

import type { MetaObject } from '../controller/objects.js';
import { truncateUtf8 } from './event-record.js';

/** The API server's limit on an Event's note. */
const MAX_NOTE_BYTES = 1024;

/** The controller owner of `obj` as an object to tell events about, or undefined. */
export function controllerOwner(obj: MetaObject): MetaObject | undefined {
  const meta = obj.metadata;
  const ref = meta?.ownerReferences?.find((r) => r.controller === true);
  if (!ref?.uid || !ref.name) return undefined;
  return {
    apiVersion: ref.apiVersion,
    kind: ref.kind,
    metadata: {
      name: ref.name,
      uid: ref.uid,
      ...(meta?.namespace && { namespace: meta.namespace }),
    },
  };
}

/**
 * The key that makes two events siblings: same namespace, same controller owner, same type,
 * reason and action. Undefined for an object no controller owns.
 */
export function siblingKey(
  obj: MetaObject,
  type: string,
  reason: string,
  action: string,
): string | undefined {
  const owner = controllerOwner(obj);
  if (!owner) return undefined;
  return [obj.metadata?.namespace, owner.metadata?.uid, type, reason, action].join('\u0000');
}

/** What a combined Event says. */
export interface SiblingBatch {
  /** The kind of the objects it stands for, e.g. `MaasNode`. */
  readonly kind: string;
  /** Their names, in the order their events came. */
  readonly names: readonly string[];
  /** How many of the siblings' events were told on each object before this batch. */
  readonly toldEach: number;
  /** The latest event's note (one object's words, shown as an example). */
  readonly lastNote: string;
}

/**
 * The note of a combined Event, within the API's 1 KiB: how many objects, the rule, the
 * latest one's note, then the names; names that do not fit are counted, never dropped
 * silently ("… and 12 more").
 */
export function combinedNote(b: SiblingBatch): string {
  const n = b.names.length;
  const last = b.names.at(-1) ?? '';
  const head =
    `${n} ${b.kind}${n === 1 ? '' : 's'} (after the first ${b.toldEach}, told on each): ` +
    `like ${last}: ${truncateUtf8(b.lastNote, 400)}. All: `;
  let out = head;
  for (let i = 0; i < n; i++) {
    const sep = i === 0 ? '' : ', ';
    const rest = n - i;
    // Room for this name and, if it is not the last, for the count of those after it.
    const tail = rest > 1 ? ` … and ${rest - 1} more` : '';
    const next = `${sep}${b.names[i] ?? ''}`;
    if (Buffer.byteLength(out + next + tail) > MAX_NOTE_BYTES) {
      return `${out} … and ${rest} more`;
    }
    out += next;
  }
  return out;
}
