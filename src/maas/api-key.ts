// A MAAS API key, as `maas apikey` prints it: `<consumer key>:<token key>:<token secret>`.
// MAAS (through piston3) generates the keys as 18 and the secret as 32 ASCII letters and
// digits; we accept any length up to MAX_PART_LENGTH so a future MAAS may lengthen them, but
// keep the alphabet strict: every part goes into an HTTP header, where a quote, comma or
// newline would let a bad key rewrite the header.

/** One part of a parsed MAAS API key. */
export interface MaasApiKey {
  /** OAuth consumer key (public). */
  readonly consumerKey: string;
  /** OAuth token key (public). */
  readonly tokenKey: string;
  /** OAuth token secret: never logged, never put in an error message. */
  readonly tokenSecret: string;
}

/** Longest part we accept; MAAS's own are 18 and 32 characters. */
export const MAX_PART_LENGTH = 256;

const PART_NAMES = ['consumer key', 'token key', 'token secret'] as const;
const PART_ALPHABET = /^[A-Za-z0-9]+$/;

/** Thrown for a malformed key; its message names the faulty part and never contains the key. */
export class InvalidMaasApiKeyError extends Error {
  override readonly name = 'InvalidMaasApiKeyError';
}

/** Parse `consumer:token:secret`; surrounding whitespace (a trailing newline from a file) is ignored. */
export function parseMaasApiKey(text: string): MaasApiKey {
  const trimmed = text.trim();
  if (trimmed === '') throw new InvalidMaasApiKeyError('MAAS API key is empty');
  const parts = trimmed.split(':');
  if (parts.length !== 3) {
    throw new InvalidMaasApiKeyError(
      `MAAS API key must have 3 colon-separated parts (consumer key, token key, token secret), found ${parts.length}`,
    );
  }
  parts.forEach((part, index) => checkPart(PART_NAMES[index] ?? 'part', part));
  const [consumerKey, tokenKey, tokenSecret] = parts as [string, string, string];
  return { consumerKey, tokenKey, tokenSecret };
}

function checkPart(partName: string, part: string): void {
  if (part === '') throw new InvalidMaasApiKeyError(`MAAS API key: the ${partName} is empty`);
  if (part.length > MAX_PART_LENGTH) {
    throw new InvalidMaasApiKeyError(
      `MAAS API key: the ${partName} is ${part.length} characters, longer than ${MAX_PART_LENGTH}`,
    );
  }
  if (!PART_ALPHABET.test(part)) {
    throw new InvalidMaasApiKeyError(
      `MAAS API key: the ${partName} contains characters other than ASCII letters and digits`,
    );
  }
}
