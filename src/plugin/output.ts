// Structured output as kubectl writes it: JSON indented by four spaces, YAML as one document.
// Pure.

import { stringify } from 'yaml';

/** The structured formats of `-o`. */
export type StructuredFormat = 'json' | 'yaml';

/** `value` as JSON or YAML text, ending in a newline. */
export function formatStructured(value: unknown, format: StructuredFormat): string {
  return format === 'json' ? `${JSON.stringify(value, null, 4)}\n` : stringify(value);
}
