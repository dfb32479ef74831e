// Request bodies: bounded UTF-8 JSON objects. The bytes come from the network, so parsing never
// throws, refuses nesting deeper than any Redfish payload needs, and hands back plain data only.

/** Largest body read; the server answers 413 beyond it without reading further. */
export const MaxBodyBytes = 64 * 1024;

/** Deepest nesting accepted (a Boot PATCH is 2 levels deep). */
export const MaxJsonDepth = 16;

export type JsonObject = { readonly [key: string]: unknown };

export type ParsedBody =
  | { readonly ok: true; readonly value: JsonObject }
  | { readonly ok: false; readonly reason: string };

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The nesting depth of a parsed JSON value, without recursion (a deep value cannot blow the stack). */
function depthOf(value: unknown): number {
  let deepest = 0;
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop() as [unknown, number];
    if (v === null || typeof v !== 'object') continue;
    deepest = Math.max(deepest, depth);
    if (deepest > MaxJsonDepth) return deepest;
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  return deepest;
}

/**
 * The body as a JSON object. Refuses: non-UTF-8 bytes, invalid JSON, anything but an object at
 * the top, nesting deeper than MaxJsonDepth, and bodies over MaxBodyBytes. `__proto__` keys are
 * harmless here (JSON.parse makes them own properties) and callers refuse unknown properties.
 */
export function parseJsonObject(body: Buffer | undefined): ParsedBody {
  if (body === undefined || body.length === 0) return { ok: false, reason: 'the body is empty' };
  if (body.length > MaxBodyBytes) return { ok: false, reason: 'the body is too large' };
  let value: unknown;
  try {
    value = JSON.parse(strictUtf8.decode(body));
  } catch {
    return { ok: false, reason: 'the body is not UTF-8 JSON' };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { ok: false, reason: 'the body is not a JSON object' };
  }
  if (depthOf(value) > MaxJsonDepth) return { ok: false, reason: 'the body is nested too deeply' };
  return { ok: true, value: value as JsonObject };
}

/** Whether `value` is a plain JSON object (not null, not an array). */
export function isJsonObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
