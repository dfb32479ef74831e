// The Authorization header MAAS accepts: OAuth 1.0 with the PLAINTEXT signature method
// (RFC 5849 section 3.4.4). MAAS API keys have no consumer secret, so the signature is
// `<empty consumer secret>&<token secret>`, each part percent-encoded, and the whole value
// percent-encoded again as every header parameter is (section 3.5.1). Pure: the nonce and
// the clock come from the caller.
import { randomBytes } from 'node:crypto';
import type { MaasApiKey } from './api-key.js';

/** What varies between two requests signed with the same key. */
export interface OAuthRequestParams {
  /** Unique per request: piston3 rejects a nonce it has already seen for this token. */
  readonly nonce: string;
  /** Seconds since the epoch: piston3 rejects a timestamp older than its threshold. */
  readonly timestampSeconds: number;
}

/** RFC 3986 percent-encoding as OAuth requires: only unreserved characters stay as they are. */
export function oauthPercentEncode(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** The PLAINTEXT signature for a key with an empty consumer secret, before header encoding. */
export function plaintextSignature(tokenSecret: string): string {
  return `&${oauthPercentEncode(tokenSecret)}`;
}

/** The `Authorization` header value for one request. */
export function buildOAuthHeader(key: MaasApiKey, params: OAuthRequestParams): string {
  const fields: ReadonlyArray<readonly [string, string]> = [
    ['oauth_version', '1.0'],
    ['oauth_signature_method', 'PLAINTEXT'],
    ['oauth_consumer_key', key.consumerKey],
    ['oauth_token', key.tokenKey],
    ['oauth_signature', plaintextSignature(key.tokenSecret)],
    ['oauth_nonce', params.nonce],
    ['oauth_timestamp', String(Math.floor(params.timestampSeconds))],
  ];
  return `OAuth ${fields.map(([name, value]) => `${name}="${oauthPercentEncode(value)}"`).join(', ')}`;
}

/** A fresh random nonce (128 bits, hex). */
export function randomNonce(): string {
  return randomBytes(16).toString('hex');
}
