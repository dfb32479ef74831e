// Entity tags for a ComputerSystem: a hash of everything its representation is made of, so the
// tag changes exactly when what a client would read changes (power, boot override, ...) and
// never with time. MAAS and sushy read it and send it back in If-Match on PATCH.
import { createHash } from 'node:crypto';
import type { BmcSystemView } from '../backend.js';

/** A strong ETag (quoted) for the system's representation. */
export function systemEtag(view: BmcSystemView): string {
  const canonical = JSON.stringify([
    view.id,
    view.name,
    view.powerState,
    view.boot.target,
    view.boot.enabled,
    view.boot.mode,
    view.vcpus,
    view.memoryMiB,
  ]);
  return `"${createHash('sha256').update(canonical).digest('hex').slice(0, 32)}"`;
}

/**
 * Whether an If-Match header lets a write proceed against a resource whose tag is `current`.
 * Absent and `*` always do (the resource exists); otherwise any listed tag must equal it.
 * Weak tags (W/"...") are compared by their opaque part, as many BMCs and clients weaken tags;
 * our tags are strong, so this only ever helps a client that echoes one back weakened.
 */
export function ifMatchAllows(header: string | undefined, current: string): boolean {
  if (header === undefined) return true;
  const trimmed = header.trim();
  if (trimmed === '*') return true;
  const opaque = (tag: string): string => tag.trim().replace(/^W\//, '');
  return trimmed.split(',').some((tag) => opaque(tag) === opaque(current));
}
