// libvirt's scaled integers (`<memory unit='KiB'>`, `<capacity unit='G'>`): we always hand the
// rest of the operator bytes, so nobody has to remember which element defaults to which unit.

const KIB = 1024;

// libvirt's unit table (docs: formatdomain "memory", formatstorage "capacity"): single letters
// and the *iB forms are powers of 1024, the *B forms powers of 1000, matched case-insensitively.
const SCALE: Readonly<Record<string, number>> = {
  b: 1,
  bytes: 1,
  k: KIB,
  kib: KIB,
  kb: 1000,
  m: KIB ** 2,
  mib: KIB ** 2,
  mb: 1000 ** 2,
  g: KIB ** 3,
  gib: KIB ** 3,
  gb: 1000 ** 3,
  t: KIB ** 4,
  tib: KIB ** 4,
  tb: 1000 ** 4,
  p: KIB ** 5,
  pib: KIB ** 5,
  pb: 1000 ** 5,
  e: KIB ** 6,
  eib: KIB ** 6,
  eb: 1000 ** 6,
};

/**
 * Converts a libvirt scaled integer to bytes. `unit` is the element's `unit` attribute;
 * `defaultUnit` is what libvirt assumes when it is absent ('KiB' for domain memory, 'bytes' for
 * storage sizes). Throws when the unit is unknown or the result is not a safe integer.
 */
export function toBytes(value: string, unit: string | undefined, defaultUnit: string): number {
  const scale = SCALE[(unit ?? defaultUnit).toLowerCase()];
  if (scale === undefined) throw new Error(`unknown size unit ${JSON.stringify(unit)}`);
  const trimmed = value.trim();
  if (!/^\d+$/.test(trimmed)) throw new Error(`not a size: ${JSON.stringify(value)}`);
  const bytes = Number(trimmed) * scale;
  if (!Number.isSafeInteger(bytes)) throw new Error(`size out of range: ${trimmed} ${unit ?? ''}`);
  return bytes;
}

/** Checks that a byte count is a non-negative safe integer, naming the field when it is not. */
export function assertBytes(bytes: number, what: string): void {
  if (!Number.isSafeInteger(bytes) || bytes < 0) {
    throw new RangeError(`${what}: expected a whole number of bytes, got ${bytes}`);
  }
}

/**
 * Expresses bytes in KiB for domain memory. libvirt stores memory in KiB and silently rounds
 * anything else up, so we refuse sizes that are not whole KiB rather than drift from the spec.
 */
export function bytesToKiB(bytes: number, what: string): number {
  assertBytes(bytes, what);
  if (bytes % KIB !== 0)
    throw new RangeError(`${what}: ${bytes} bytes is not a whole number of KiB`);
  return bytes / KIB;
}
