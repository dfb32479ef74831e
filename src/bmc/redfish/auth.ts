// Parsers for the two ways a Redfish client proves who it is: an HTTP Basic Authorization header
// and a session's X-Auth-Token. Both see attacker-controlled bytes, so they reject anything not
// exactly well formed and never throw.

/** A user name and password taken from a request. */
export interface PresentedCredentials {
  readonly username: string;
  readonly password: string;
}

/** Longest Authorization header considered (far above any real user name and password). */
export const MaxAuthorizationLength = 1024;

const base64 = /^[A-Za-z0-9+/]*={0,2}$/;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The credentials in `Authorization: Basic <base64(user:password)>` (RFC 7617), or undefined
 * when the header is absent, another scheme, too long, not base64, not UTF-8, or has no colon.
 */
export function parseBasicAuthorization(
  header: string | undefined,
): PresentedCredentials | undefined {
  if (header === undefined || header.length > MaxAuthorizationLength) return undefined;
  const match = /^basic +(\S+) *$/i.exec(header);
  const encoded = match?.[1];
  if (encoded === undefined || encoded.length % 4 !== 0 || !base64.test(encoded)) return undefined;
  let decoded: string;
  try {
    decoded = strictUtf8.decode(Buffer.from(encoded, 'base64'));
  } catch {
    return undefined;
  }
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  const username = decoded.slice(0, colon);
  // eslint-disable-next-line no-control-regex
  if (username.length === 0 || /[\u0000-\u001f\u007f]/.test(username)) return undefined;
  return { username, password: decoded.slice(colon + 1) };
}

/** Session tokens are 32 random bytes, base64url without padding: 43 characters. */
export const SessionTokenPattern = /^[A-Za-z0-9_-]{43}$/;

/** Whether an X-Auth-Token header could be one of our session tokens. */
export function isWellFormedSessionToken(token: string | undefined): token is string {
  return token !== undefined && SessionTokenPattern.test(token);
}
