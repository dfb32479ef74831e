// Builds an object from the properties whose value is known, leaving the rest out: the
// readable form of a literal full of conditional spreads (`x !== undefined && { x }`). A key
// that is absent and a key that holds `undefined` differ to deep-equal, to `in` and to
// Object.keys, and with exactOptionalPropertyTypes only the first fits an optional field.

/** The keys of `T` whose value type admits `undefined`. */
type MaybeUndefinedKeys<T> = {
  [K in keyof T]-?: undefined extends T[K] ? K : never;
}[keyof T];

/**
 * `T` with each key whose value may be `undefined` made optional and stripped of `undefined`;
 * the other keys stay required, as they are.
 */
export type DefinedProps<T extends object> = {
  [K in keyof T as K extends MaybeUndefinedKeys<T> ? never : K]: T[K];
} & {
  [K in keyof T as K extends MaybeUndefinedKeys<T> ? K : never]?: Exclude<T[K], undefined>;
};

/**
 * A new plain object with the own enumerable properties of `props` whose value is not
 * `undefined`, in their order. Only `undefined` is dropped: `null`, `false`, `0` and `''` are
 * kept, so a condition that should also drop those is written out at the call site.
 * Inherited keys are not copied, and a `__proto__` key is copied as a key (never as the
 * prototype). Example: `definedProps({ name, port })` is `{ name }` when `port` is undefined.
 */
export function definedProps<T extends object>(props: T): DefinedProps<T> {
  return Object.fromEntries(
    Object.entries(props).filter(([, value]) => value !== undefined),
  ) as DefinedProps<T>;
}
