// A small, pure, stable hash for deriving names and MACs. Not for security: it only has to
// spread inputs evenly and give the same answer in every process and release.

const FNV_OFFSET_BASIS = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/**
 * 32-bit FNV-1a over the UTF-8 bytes of `text`, as an unsigned integer. Chosen because it is
 * tiny, dependency-free and specified (http://www.isthe.com/chongo/tech/comp/fnv/), so a
 * derived MAC never changes between operator versions.
 */
export function fnv1a32(text: string): number {
  let hash = FNV_OFFSET_BASIS;
  for (const byte of new TextEncoder().encode(text)) {
    hash ^= byte;
    hash = Math.imul(hash, FNV_PRIME) >>> 0;
  }
  return hash >>> 0;
}
