// A TEST SERVER, NOT MAAS. Follows MAAS 3.8.0a1's (canonical/maas@9e51f33) OAuth checks in
// src/maasserver/api/auth.py (parse_auth_params, get_problematic_params, OAuthUnauthorized,
// OAuthBadRequest) and the checks piston3's OAuthServer makes after it, as MAAS relies on them
// (src/maasserver/nonces_cleanup.py reads OAuthServer.timestamp_threshold and piston3's Nonce).
// piston3's own source is not in our index: its messages below are python-oauth's, which
// piston3 vendors, and are marked "approximated" in README.md.

/** The six parameters MAAS's auth.py lists as necessary (_NECESSARY_OAUTH_PARAMS). */
export const NECESSARY_OAUTH_PARAMS = [
  'oauth_consumer_key',
  'oauth_token',
  'oauth_signature',
  'oauth_signature_method',
  'oauth_timestamp',
  'oauth_nonce',
] as const;

/** piston3 / python-oauth: a timestamp older than this many seconds is expired. */
export const TIMESTAMP_THRESHOLD_SECONDS = 300;

/**
 * MAAS's parse_auth_params: undefined unless the header starts with "OAuth"; then split on
 * commas, keep `key=value` pairs (last duplicate wins, as a Python dict does), strip quotes.
 * Values stay percent-encoded here, as in MAAS's validity check.
 */
export function parseAuthParams(header: string): Map<string, string> | undefined {
  const trimmed = header.trim();
  if (!trimmed.startsWith('OAuth')) return undefined;
  // Python's lstrip("OAuth") strips any of those characters, not the prefix: keep that quirk.
  const rest = trimmed.replace(/^[OAuth]+/, '').trim();
  const params = new Map<string, string>();
  for (const piece of rest.split(',')) {
    const at = piece.indexOf('=');
    if (at < 0) continue;
    params.set(piece.slice(0, at).trim(), stripQuotes(piece.slice(at + 1).trim()));
  }
  return params;
}

function stripQuotes(value: string): string {
  return value.replace(/^"+|"+$/g, '');
}

/** What the server knows about one API key. */
export interface KnownToken {
  readonly consumerKey: string;
  readonly tokenKey: string;
  readonly tokenSecret: string;
}

/** The outcome of checking one request's Authorization header. */
export type OAuthVerdict =
  | { readonly ok: true; readonly token: KnownToken }
  | { readonly ok: false; readonly status: 400 | 401; readonly body: string };

/** What the verifier needs besides the header. */
export interface OAuthVerifierContext {
  /** Whether any key has this consumer key. */
  readonly consumerExists: (consumerKey: string) => boolean;
  readonly findToken: (consumerKey: string, tokenKey: string) => KnownToken | undefined;
  /** Records the nonce; false if this (consumer, token, nonce) was seen before. */
  readonly useNonce: (consumerKey: string, tokenKey: string, nonce: string) => boolean;
  readonly nowSeconds: number;
}

/** MAAS's OAuthUnauthorized: "Invalid consumer." gets a friendlier text, the rest a repr. */
const unauthorized = (message: string): OAuthVerdict => ({
  ok: false,
  status: 401,
  body:
    message === 'Invalid consumer.'
      ? 'Authorization Error: Invalid API key.'
      : `Authorization Error: ${pythonRepr(message)}`,
});

/**
 * Check a request's Authorization header the way MAAS does: a missing or non-OAuth header,
 * or a missing parameter, is a bare 401 (piston's challenge); a non-integer timestamp is a
 * 400; a bad consumer, token, timestamp, nonce, method or signature is a 401 naming why.
 * Only OAuth in the header is supported (MAAS also reads it from GET/POST parameters).
 */
export function verifyOAuthHeader(
  header: string | undefined,
  context: OAuthVerifierContext,
): OAuthVerdict {
  const params = parseAuthParams(header ?? '');
  if (params === undefined) return { ok: false, status: 401, body: 'Unauthorized' };
  const missing = NECESSARY_OAUTH_PARAMS.filter((name) => !params.has(name));
  const timestampText = params.get('oauth_timestamp');
  if (timestampText !== undefined && !/^\s*[+-]?\d+\s*$/.test(timestampText)) {
    return {
      ok: false,
      status: 400,
      body:
        'Bad Request: the following problems were found among the auth params: ' +
        [
          ...missing.map((name) => `${name} is missing`),
          'oauth_timestamp has an unexpected type',
        ].join(', '),
    };
  }
  if (missing.length > 0) return { ok: false, status: 401, body: 'Unauthorized' };

  const value = (name: (typeof NECESSARY_OAUTH_PARAMS)[number] | 'oauth_version') =>
    percentDecode(params.get(name) ?? '');
  const version = params.get('oauth_version');
  if (version !== undefined && value('oauth_version') !== '1.0') {
    return unauthorized(`OAuth version ${value('oauth_version')} not supported.`);
  }
  const consumerKey = value('oauth_consumer_key');
  const tokenKey = value('oauth_token');
  if (!context.consumerExists(consumerKey)) return unauthorized('Invalid consumer.');
  const token = context.findToken(consumerKey, tokenKey);
  if (token === undefined) return unauthorized(`Invalid access token: ${tokenKey}`);
  const timestamp = Number.parseInt(value('oauth_timestamp'), 10);
  const lapsed = context.nowSeconds - timestamp;
  if (lapsed > TIMESTAMP_THRESHOLD_SECONDS) {
    return unauthorized(
      `Expired timestamp: given ${timestamp} and now ${context.nowSeconds} has a greater difference than threshold ${TIMESTAMP_THRESHOLD_SECONDS}`,
    );
  }
  const nonce = value('oauth_nonce');
  if (!context.useNonce(consumerKey, tokenKey, nonce)) {
    return unauthorized(`Nonce already used: ${nonce}`);
  }
  const method = value('oauth_signature_method');
  if (method !== 'PLAINTEXT') {
    return unauthorized(
      `Signature method ${method} not supported try one of the following: PLAINTEXT`,
    );
  }
  const expected = `&${encodeURIComponent(token.tokenSecret)}`;
  if (value('oauth_signature') !== expected) return unauthorized('Invalid signature');
  return { ok: true, token };
}

function percentDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** Python's repr of a str, as MAAS's `"Authorization Error: %r"` prints it. */
export function pythonRepr(text: string): string {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  const escaped = text
    .replace(/\\/g, '\\\\')
    .replace(/\n/g, '\\n')
    .replace(/\r/g, '\\r')
    .replace(/\t/g, '\\t');
  return `${quote}${quote === "'" ? escaped.replace(/'/g, "\\'") : escaped}${quote}`;
}
