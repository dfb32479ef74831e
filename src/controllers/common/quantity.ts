// Kubernetes quantities (`1Gi`, `1.5Gi`, `1e3`, `500M`) to and from bytes, without the
// rounding surprises of floating point: the mantissa is parsed as an exact decimal with
// BigInt, and only the final, whole byte count becomes a number.
// Grammar: https://github.com/kubernetes/apimachinery/blob/master/pkg/api/resource/quantity.go

/** Binary suffixes: powers of 1024. */
const BINARY: Readonly<Record<string, bigint>> = {
  Ki: 1n << 10n,
  Mi: 1n << 20n,
  Gi: 1n << 30n,
  Ti: 1n << 40n,
  Pi: 1n << 50n,
  Ei: 1n << 60n,
};

/** Decimal SI suffixes as powers of ten (`m` is milli, so `500m` is half a byte). */
const DECIMAL_EXPONENT: Readonly<Record<string, number>> = {
  n: -9,
  u: -6,
  m: -3,
  '': 0,
  k: 3,
  M: 6,
  G: 9,
  T: 12,
  P: 15,
  E: 18,
};

// sign, integer digits, fraction digits, then a binary/decimal suffix or an integer exponent.
// Kubernetes' own parser accepts only whole exponents, so `1e1.5` is rejected here too.
const QUANTITY = /^([+-]?)(\d*)(?:\.(\d*))?(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$/;

/** Exponents beyond this cannot give a safe-integer byte count, so we refuse before BigInt work. */
const MAX_EXPONENT = 40;

/** An exact rational value: numerator / denominator, denominator > 0. */
interface Exact {
  readonly numerator: bigint;
  readonly denominator: bigint;
}

function parseExact(text: string): Exact {
  // The regex is anchored and has no \s, so surrounding whitespace is refused here too.
  const match = QUANTITY.exec(text);
  const [, sign = '', whole = '', fraction = '', suffix = ''] = match ?? [];
  if (!match || (whole === '' && fraction === '')) {
    throw new RangeError(`not a Kubernetes quantity: ${JSON.stringify(text)}`);
  }
  let numerator = BigInt(whole + fraction || '0');
  let denominator = 10n ** BigInt(fraction.length);
  const binary = BINARY[suffix];
  if (binary !== undefined) {
    numerator *= binary;
  } else {
    // `E` alone is exa; `E` or `e` followed by digits is an exponent.
    const exponent = suffix.length > 1 ? Number(suffix.slice(1)) : DECIMAL_EXPONENT[suffix];
    if (exponent === undefined || Math.abs(exponent) > MAX_EXPONENT) {
      throw new RangeError(`quantity out of range: ${JSON.stringify(text)}`);
    }
    if (exponent >= 0) numerator *= 10n ** BigInt(exponent);
    else denominator *= 10n ** BigInt(-exponent);
  }
  return { numerator: sign === '-' ? -numerator : numerator, denominator };
}

/**
 * A quantity as a whole number of bytes (or units). Fractions round up, as
 * `resource.Quantity.Value()` does, so `1.5` is 2. Accepts what the CRD's int-or-string
 * quantity fields hold: a string such as `1Gi`, `1.5Gi`, `1e3` or `500M`, or a plain number.
 * Throws a RangeError for anything else, or when the result is not a safe integer.
 */
export function parseQuantity(quantity: string | number): number {
  if (typeof quantity === 'number') {
    if (!Number.isFinite(quantity)) throw new RangeError(`not a quantity: ${quantity}`);
    const rounded = Math.ceil(quantity);
    if (!Number.isSafeInteger(rounded)) throw new RangeError(`quantity out of range: ${quantity}`);
    return rounded;
  }
  const { numerator, denominator } = parseExact(quantity);
  // BigInt division truncates towards zero, which is ceiling for negatives; adjust positives.
  const ceiling =
    numerator > 0n ? (numerator + denominator - 1n) / denominator : numerator / denominator;
  if (ceiling > BigInt(Number.MAX_SAFE_INTEGER) || ceiling < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new RangeError(`quantity out of range: ${JSON.stringify(quantity)}`);
  }
  return Number(ceiling);
}

/**
 * Bytes as a binary quantity with the largest suffix that divides them exactly
 * (`1073741824` → `1Gi`, `3072` → `3Ki`, `1000` → `1000`), the way Kubernetes prints
 * quantities, so status values read like the spec.
 */
export function formatBinaryQuantity(bytes: number): string {
  if (!Number.isSafeInteger(bytes) || bytes < 0) {
    throw new RangeError(`expected a whole number of bytes, got ${bytes}`);
  }
  if (bytes === 0) return '0';
  const suffixes = ['Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'] as const;
  let value = BigInt(bytes);
  let unit = '';
  for (const suffix of suffixes) {
    if (value % 1024n !== 0n) break;
    value /= 1024n;
    unit = suffix;
  }
  return `${value}${unit}`;
}
