// Shared base for wrapper objects: explicit lifetimes (`free`, `[Symbol.dispose]`)
// over a native handle, and typed flag arguments.
import { raw, type Handle } from './binding.js';

/**
 * A flags argument: one typed flag, or several to OR together. Typing flags per
 * libvirt enum (house rule 9) keeps magic numbers out of call sites.
 */
export type Flags<T extends number> = T | readonly T[];

/** ORs a Flags argument into the number libvirt expects; undefined means 0. */
export function flagsOf<T extends number>(flags: Flags<T> | undefined): number {
  if (flags === undefined) return 0;
  if (typeof flags === 'number') return flags;
  // `>>> 0` keeps bit 31 flags (1U << 31) positive.
  return (flags as readonly number[]).reduce((acc, f) => (acc | f) >>> 0, 0);
}

/**
 * A wrapper that owns one libvirt reference. The reference is dropped by
 * `free()`, by `using`, or by GC, whichever comes first; in-flight calls keep
 * their own reference, so freeing never races a running call.
 */
export abstract class LibvirtObject<H extends Handle<string>> implements Disposable {
  /** Wraps a native handle that this object now owns. */
  constructor(readonly handle: H) {}

  /** Drops our reference now (virXxxFree). Safe to call twice. */
  free(): void {
    raw.free(this.handle);
  }

  /** True after `free()`. */
  get freed(): boolean {
    return raw.isFreed(this.handle);
  }

  /** Same as `free()`, for `using obj = await conn.domainLookupByName(...)`. */
  [Symbol.dispose](): void {
    this.free();
  }
}
