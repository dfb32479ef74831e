// Errors of the REST client: what the API server answered (ApiException and its
// classifiers, client-go's apierrors.IsNotFound & co.), and the deadlines that passed.

/** A non-2xx answer of the API server: the HTTP status and the body (a Status, usually). */
export class ApiException extends Error {
  override readonly name = 'ApiException';
  constructor(
    /** The HTTP status code. */
    readonly code: number,
    /** The parsed JSON body (a metav1.Status), or the text when it was not JSON. */
    readonly body: unknown,
    message: string,
  ) {
    super(message);
  }
}

/** Default deadline of one request (headers and body): 30 s. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** Server-side timeout of a watch whose caller names none: 5 min (client-go's minimum). */
export const DEFAULT_WATCH_TIMEOUT_SECONDS = 300;
/** How much longer than its `timeoutSeconds` a silent watch is given before the client ends it. */
export const DEFAULT_WATCH_IDLE_MARGIN_MS = 30_000;

/**
 * A request got no complete answer within its deadline. Named `TimeoutError`, like the
 * DOMException an `AbortSignal.timeout` raises, so callers can treat both alike.
 */
export class RequestTimeoutError extends Error {
  override readonly name = 'TimeoutError';
  constructor(
    /** e.g. `GET /api/v1/namespaces/x/configmaps/y`. */
    readonly what: string,
    /** The deadline that passed, in ms. */
    readonly timeoutMs: number,
    options?: ErrorOptions,
  ) {
    super(`${what}: no complete answer within ${timeoutMs} ms (request timeout)`, options);
  }
}

/** A watch sent nothing (no event, no bookmark) for `idleMs`, longer than the server may keep it open. */
export class WatchTimeoutError extends Error {
  override readonly name = 'TimeoutError';
  constructor(
    /** The watched collection's path. */
    readonly path: string,
    /** The silence that ended it, in ms. */
    readonly idleMs: number,
  ) {
    super(`watch ${path}: silent for ${idleMs} ms, past its timeout; ended by the client`);
  }
}

/** The ApiException for a `code` answer with `text` as body, to `what` (e.g. `GET /api/v1/...`). */
export function apiExceptionFrom(code: number, text: string, what: string): ApiException {
  let body: unknown = text;
  try {
    body = text ? (JSON.parse(text) as unknown) : '';
  } catch {
    body = text;
  }
  const status = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  const reason = typeof status.reason === 'string' ? ` ${status.reason}` : '';
  const detail =
    typeof status.message === 'string'
      ? status.message
      : typeof body === 'string'
        ? body.trim().slice(0, 200)
        : '';
  return new ApiException(
    code,
    body,
    `${what}: HTTP ${code}${reason}${detail ? `: ${detail}` : ''}`,
  );
}

/** True when `e` is an API error with HTTP status `code`. */
export function hasStatus(e: unknown, code: number): boolean {
  if (e instanceof ApiException) return e.code === code;
  // Watch ERROR events carry a Status with code.
  if (typeof e === 'object' && e !== null) {
    const o = e as { statusCode?: unknown; code?: unknown };
    return o.statusCode === code || o.code === code;
  }
  return false;
}

/** 404: the object does not exist. */
export const isNotFound = (e: unknown): boolean => hasStatus(e, 404);
/** 409: optimistic-lock conflict or AlreadyExists. */
export const isConflict = (e: unknown): boolean => hasStatus(e, 409);
/** 410: the resourceVersion is too old; list again. */
export const isGone = (e: unknown): boolean => hasStatus(e, 410);
