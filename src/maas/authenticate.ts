// The username+password → API key exchange of MAAS's `accounts/authenticate/` view
// (canonical/maas src/maasserver/views/account.py `authenticate`, routed in urls.py beside
// accounts/login/): an anonymous POST of `username`, `password` and an optional `consumer`;
// 200 with JSON {consumer_key, token_key, token_secret, name}, 403 for wrong credentials
// (also before the admin exists), 405 for other methods. With `consumer`, MAAS returns that
// consumer's existing token when there is one and creates it otherwise, so asking again never
// piles up tokens. This is how the operator gets a key from the controller it built: it knows
// the admin's password (it wrote it into the seed), not the key `maas apikey` would print
// inside the VM.
import { errorForStatus } from './client.js';
import { MaasResponseShapeError, MaasUnavailableError } from './errors.js';

/** The consumer name the operator's tokens carry in MAAS (its UI lists them by name). */
export const MAASLAB_CONSUMER = 'maaslab-operator';

/** The path below the MAAS URL. */
export const AUTHENTICATE_PATH = 'accounts/authenticate/';

/** Options of {@link authenticateMaas}. */
export interface AuthenticateOptions {
  readonly fetch?: typeof fetch;
  readonly signal?: AbortSignal;
  /** Default 15 s. */
  readonly timeoutMs?: number;
  /** Default MAASLAB_CONSUMER. */
  readonly consumer?: string;
}

/**
 * The API key (`consumer_key:token_key:token_secret`) of `username` at the MAAS at `url`
 * (`http://host:5240/MAAS`). Throws MaasUnauthorizedError for a 401/403, MaasUnavailableError
 * when MAAS does not answer (or answers 5xx), MaasResponseShapeError for an answer that is
 * not the token.
 */
export async function authenticateMaas(
  url: string,
  credentials: { readonly username: string; readonly password: string },
  opts: AuthenticateOptions = {},
): Promise<string> {
  const doFetch = opts.fetch ?? fetch;
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const target = new URL(AUTHENTICATE_PATH, `${url.replace(/\/+$/, '')}/`);
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
  const form = new URLSearchParams({
    username: credentials.username,
    password: credentials.password,
    consumer: opts.consumer ?? MAASLAB_CONSUMER,
  });
  let response: Response;
  let text: string;
  try {
    response = await doFetch(target, {
      method: 'POST',
      headers: { Accept: 'application/json' },
      body: form,
      signal,
    });
    text = await response.text();
  } catch (error) {
    if (opts.signal?.aborted) throw opts.signal.reason;
    const why = timeout.aborted ? `no answer within ${timeoutMs} ms` : 'connection failed';
    throw new MaasUnavailableError('POST', AUTHENTICATE_PATH, undefined, why, { cause: error });
  }
  if (!response.ok) throw errorForStatus('POST', AUTHENTICATE_PATH, response.status, text);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw new MaasResponseShapeError('POST', AUTHENTICATE_PATH, response.status, 'not JSON', {
      cause: error,
    });
  }
  const t = body as Record<string, unknown>;
  const part = (k: string): string | undefined =>
    typeof t?.[k] === 'string' && /^[A-Za-z0-9]+$/.test(t[k] as string)
      ? (t[k] as string)
      : undefined;
  const [consumer, token, secret] = [part('consumer_key'), part('token_key'), part('token_secret')];
  if (consumer === undefined || token === undefined || secret === undefined) {
    throw new MaasResponseShapeError(
      'POST',
      AUTHENTICATE_PATH,
      response.status,
      'no consumer_key, token_key and token_secret in the answer',
    );
  }
  return `${consumer}:${token}:${secret}`;
}
