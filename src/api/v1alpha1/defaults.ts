/**
 * Schema defaults, applied in code exactly as the API server applies them from the CRDs: both
 * come from the same TypeBox schemas, so there is no second table to drift.
 */
import type { Static, TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

/** A copy of `value` with every `default` of `schema` filled in, at every depth. */
export function withSchemaDefaults<T extends TSchema>(schema: T, value: Static<T>): Static<T> {
  return Value.Default(schema, structuredClone(value)) as Static<T>;
}
