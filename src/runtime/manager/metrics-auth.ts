// Who may read /metrics: controller-runtime's filters.WithAuthenticationAndAuthorization, which
// the Kubebuilder scaffold turns on by default. A caller's bearer token must pass a TokenReview
// and the user it names must be allowed `get` on the non-resource URL /metrics by a
// SubjectAccessReview — the API server decides both, so RBAC (ClusterRole
// maaslab-metrics-reader) is the one place that says who scrapes. No token or a token the API
// server rejects is 401; a valid token without the permission is 403; a review that fails (API
// server unreachable) is 500 and is not cached, so the next scrape asks again.
//
// Results are cached as controller-runtime's delegating authenticator and authorizer cache
// them: tokens 1 min (accepted or not), allowed 5 min, denied 30 s, each cache bounded (LRU), so
// a scrape every 30 s costs the API server nothing in the steady state and a flood of tokens
// cannot grow the heap. Tokens are cached under their SHA-256, never as themselves. Identical
// reviews in flight are shared, and at most `maxInFlight` distinct ones run at once: beyond
// that a request gets 429 instead of becoming one more review the API server must answer.

import { createHash } from 'node:crypto';
import type { V1PolicyRule } from '@kubernetes/client-node';
import type { Clock } from '../clock.js';
import type { RestClient } from '../client/rest.js';
import { type Logger, describeError, noopLogger } from '../log.js';
import { definedProps } from '../../util/defined-props.js';

/**
 * What the operator itself needs to check callers (Kubebuilder's metrics-auth-role); the
 * generator writes it into deploy/base/rbac.
 */
export const metricsAuthRbac: readonly V1PolicyRule[] = [
  { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
  { apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create'] },
];

/** The path the metrics server serves and authorizes. */
export const METRICS_PATH = '/metrics';

/** What a scraper needs (Kubebuilder's metrics-reader ClusterRole). */
export const metricsReaderRules: readonly V1PolicyRule[] = [
  { nonResourceURLs: [METRICS_PATH], verbs: ['get'] },
];

/** Tokens longer than this are refused without a review (a bound token is about 1 KiB). */
export const MAX_TOKEN_LENGTH = 8192;

/** RFC 6750's b64token: what a bearer token may contain (JWTs and the API server's tokens fit). */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/** The bearer token of a request, or why there is none. */
export type BearerToken = { readonly token: string } | { readonly error: string };

/**
 * The bearer token in a request's Authorization header values (Node's `headersDistinct`).
 * Strict on purpose: exactly one header, `Bearer` (any case, as the API server accepts it),
 * one space-separated token of RFC 6750's characters, at most {@link MAX_TOKEN_LENGTH} long.
 * Anything else is no token, so it never reaches the API server.
 */
export function bearerToken(values: readonly string[] | undefined): BearerToken {
  if (!values || values.length === 0) return { error: 'no Authorization header' };
  // Node keeps only the first of repeated Authorization headers in `headers`; two are an
  // attempt to smuggle one past a proxy, so neither is believed.
  if (values.length > 1) return { error: 'more than one Authorization header' };
  const parts = (values[0] ?? '').trim().split(/ +/);
  if (parts.length !== 2 || parts[0]?.toLowerCase() !== 'bearer') {
    return { error: 'not a Bearer token' };
  }
  const token = parts[1] ?? '';
  if (token.length > MAX_TOKEN_LENGTH) return { error: 'token too long' };
  if (!B64TOKEN.test(token)) return { error: 'malformed token' };
  return { token };
}

/** A user as a TokenReview names it, and as a SubjectAccessReview asks about it. */
export interface UserInfo {
  readonly username: string;
  readonly uid?: string;
  readonly groups?: readonly string[];
  readonly extra?: Readonly<Record<string, readonly string[]>>;
}

/** A TokenReview's answer. */
export type TokenVerdict =
  | { readonly authenticated: true; readonly user: UserInfo }
  | { readonly authenticated: false; readonly reason?: string };

/** A SubjectAccessReview's answer. */
export interface AccessVerdict {
  readonly allowed: boolean;
  readonly reason?: string;
}

/** The request a non-resource SubjectAccessReview asks about. */
export interface NonResourceRequest {
  /** Lower-case HTTP method, as controller-runtime passes it (`get` for GET). */
  readonly verb: string;
  readonly path: string;
}

/** The TokenReview to create for `token` (no audiences: the API server's own). */
export const tokenReviewFor = (token: string): object => ({
  apiVersion: 'authentication.k8s.io/v1',
  kind: 'TokenReview',
  spec: { token },
});

/** The SubjectAccessReview to create for `user` doing `request`. */
export const subjectAccessReviewFor = (user: UserInfo, request: NonResourceRequest): object => ({
  apiVersion: 'authorization.k8s.io/v1',
  kind: 'SubjectAccessReview',
  spec: definedProps({
    user: user.username,
    uid: user.uid,
    groups: user.groups && [...user.groups],
    extra: user.extra,
    nonResourceAttributes: { path: request.path, verb: request.verb },
  }),
});

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const strings = (v: unknown): string[] | undefined =>
  Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : undefined;
/** `v` when it is a string other than '', else undefined (an empty field says nothing). */
const nonEmptyString = (v: unknown): string | undefined =>
  typeof v === 'string' && v !== '' ? v : undefined;

/**
 * Reads a TokenReview answer; anything but `authenticated: true` with a user name is
 * unauthenticated (an answer we cannot read never lets a caller in).
 */
export function tokenVerdictFrom(answer: unknown): TokenVerdict {
  const status = isRecord(answer) && isRecord(answer.status) ? answer.status : {};
  const user = isRecord(status.user) ? status.user : {};
  if (status.authenticated === true && typeof user.username === 'string' && user.username) {
    const groups = strings(user.groups);
    const extra = isRecord(user.extra)
      ? Object.fromEntries(
          Object.entries(user.extra).flatMap(([k, v]) => {
            const list = strings(v);
            return list ? [[k, list] as const] : [];
          }),
        )
      : undefined;
    return {
      authenticated: true,
      user: definedProps({ username: user.username, uid: nonEmptyString(user.uid), groups, extra }),
    };
  }
  return { authenticated: false, ...definedProps({ reason: nonEmptyString(status.error) }) };
}

/** Reads a SubjectAccessReview answer; allowed only when `allowed` is true and not `denied`. */
export function accessVerdictFrom(answer: unknown): AccessVerdict {
  const status = isRecord(answer) && isRecord(answer.status) ? answer.status : {};
  return definedProps({
    allowed: status.allowed === true && status.denied !== true,
    reason: nonEmptyString(status.reason),
  });
}

/** The API server's two reviews: the network half of the filter. */
export interface AccessReviewer {
  reviewToken(token: string, signal: AbortSignal): Promise<TokenVerdict>;
  reviewAccess(
    user: UserInfo,
    request: NonResourceRequest,
    signal: AbortSignal,
  ): Promise<AccessVerdict>;
}

/** A TokenReview of `token` through the API server, with the caller's (the operator's) credentials. */
export async function postTokenReview(
  rest: RestClient,
  token: string,
  signal: AbortSignal,
): Promise<TokenVerdict> {
  const answer = await rest.request<unknown>({
    method: 'POST',
    ref: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview' },
    body: tokenReviewFor(token),
    signal,
  });
  return tokenVerdictFrom(answer);
}

/** A SubjectAccessReview (`review`, its body) through the API server. */
export async function postAccessReview(
  rest: RestClient,
  review: object,
  signal: AbortSignal,
): Promise<AccessVerdict> {
  const answer = await rest.request<unknown>({
    method: 'POST',
    ref: { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview' },
    body: review,
    signal,
  });
  return accessVerdictFrom(answer);
}

/** Reviews through the API server with the operator's own credentials. */
export function createKubeAccessReviewer(rest: RestClient): AccessReviewer {
  return {
    reviewToken: (token, signal) => postTokenReview(rest, token, signal),
    reviewAccess: (user, request, signal) =>
      postAccessReview(rest, subjectAccessReviewFor(user, request), signal),
  };
}

/** A bounded cache whose entries expire: least recently used goes first when full. */
export interface TtlCache<V> {
  get(key: string): V | undefined;
  set(key: string, value: V, ttlMs: number): void;
  readonly size: number;
}

/** Creates a {@link TtlCache} of at most `maxEntries` entries, timed by `clock`. */
export function createTtlCache<V>(maxEntries: number, clock: Clock): TtlCache<V> {
  if (!(maxEntries >= 1)) throw new RangeError('maxEntries must be at least 1');
  // A Map iterates in insertion order: re-inserting on each hit keeps the oldest first.
  const entries = new Map<string, { value: V; expires: number }>();
  return {
    get(key) {
      const e = entries.get(key);
      if (!e) return undefined;
      entries.delete(key);
      if (e.expires <= clock.now()) return undefined;
      entries.set(key, e);
      return e.value;
    },
    set(key, value, ttlMs) {
      entries.delete(key);
      entries.set(key, { value, expires: clock.now() + ttlMs });
      while (entries.size > maxEntries) {
        const oldest = entries.keys().next();
        if (oldest.done) break;
        entries.delete(oldest.value);
      }
    },
    get size() {
      return entries.size;
    },
  };
}

/** One request to the metrics server, as far as authorizing it goes. */
export interface MetricsRequest {
  readonly method: string;
  readonly path: string;
  /** Every Authorization header value (Node's `req.headersDistinct.authorization`). */
  readonly authorization: readonly string[] | undefined;
}

/** Let the request through, or answer it with `status` and `message`. */
export type AuthDecision =
  | { readonly allowed: true; readonly user: string }
  | {
      readonly allowed: false;
      readonly status: 401 | 403 | 429 | 500;
      /** The body: says what failed, never why (no token or user detail to a stranger). */
      readonly message: string;
      /** For the log. */
      readonly detail: string;
    };

/** Cache lifetimes and bounds; defaults are controller-runtime's. */
export interface MetricsAuthOptions {
  readonly reviewer: AccessReviewer;
  readonly clock: Clock;
  readonly logger?: Logger;
  /** TokenReview results, accepted or not (default 1 min). */
  readonly tokenTtlMs?: number;
  /** Allowed SubjectAccessReviews (default 5 min). */
  readonly allowTtlMs?: number;
  /** Denied SubjectAccessReviews (default 30 s). */
  readonly denyTtlMs?: number;
  /** Entries per cache (default 1024). */
  readonly maxCacheEntries?: number;
  /** Deadline of one review (default 10 s, controller-runtime's TokenAccessReviewTimeout). */
  readonly reviewTimeoutMs?: number;
  /** Distinct reviews in flight at once (default 32). */
  readonly maxInFlight?: number;
}

/** How many reviews reached the API server, and how many answers came from the caches. */
export interface MetricsAuthStats {
  readonly tokenReviews: number;
  readonly accessReviews: number;
  readonly cacheHits: number;
  /** Entries held now (never more than `maxCacheEntries` each). */
  readonly cachedTokens: number;
  readonly cachedAccess: number;
}

/** Decides each metrics request. */
export interface MetricsAuthorizer {
  authorize(req: MetricsRequest): Promise<AuthDecision>;
  stats(): MetricsAuthStats;
}

export const DEFAULT_TOKEN_TTL_MS = 60_000;
export const DEFAULT_ALLOW_TTL_MS = 300_000;
export const DEFAULT_DENY_TTL_MS = 30_000;
export const DEFAULT_AUTH_CACHE_ENTRIES = 1024;
export const DEFAULT_REVIEW_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_REVIEWS_IN_FLIGHT = 32;

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

/** Creates the authorizer: bearer token → TokenReview → SubjectAccessReview, cached. */
export function createMetricsAuthorizer(opts: MetricsAuthOptions): MetricsAuthorizer {
  const { reviewer, clock } = opts;
  const log = opts.logger ?? noopLogger;
  const entries = opts.maxCacheEntries ?? DEFAULT_AUTH_CACHE_ENTRIES;
  const tokens = createTtlCache<TokenVerdict>(entries, clock);
  const access = createTtlCache<AccessVerdict>(entries, clock);
  const inFlight = new Map<string, Promise<TokenVerdict | AccessVerdict>>();
  const maxInFlight = opts.maxInFlight ?? DEFAULT_MAX_REVIEWS_IN_FLIGHT;
  const timeoutMs = opts.reviewTimeoutMs ?? DEFAULT_REVIEW_TIMEOUT_MS;
  let tokenReviews = 0;
  let accessReviews = 0;
  let cacheHits = 0;

  /** The cached answer for `key`, else one shared review; undefined when too many run. */
  async function cached<T extends TokenVerdict | AccessVerdict>(
    cache: TtlCache<T>,
    key: string,
    review: (signal: AbortSignal) => Promise<T>,
    ttl: (verdict: T) => number,
  ): Promise<T | undefined> {
    const hit = cache.get(key);
    if (hit) {
      cacheHits++;
      return hit;
    }
    let pending = inFlight.get(key) as Promise<T> | undefined;
    if (!pending) {
      if (inFlight.size >= maxInFlight) return undefined;
      pending = review(AbortSignal.timeout(timeoutMs)).then((verdict) => {
        cache.set(key, verdict, ttl(verdict));
        return verdict;
      });
      const settled = (): void => void inFlight.delete(key);
      inFlight.set(key, pending);
      pending.then(settled, settled);
    }
    return pending;
  }

  const tooMany = (): AuthDecision => ({
    allowed: false,
    status: 429,
    message: 'Too many requests\n',
    detail: `${maxInFlight} reviews in flight`,
  });

  return {
    async authorize(req) {
      const bearer = bearerToken(req.authorization);
      if ('error' in bearer) {
        return { allowed: false, status: 401, message: 'Unauthorized\n', detail: bearer.error };
      }
      let who: TokenVerdict | undefined;
      try {
        who = await cached(
          tokens,
          `token:${sha256(bearer.token)}`,
          (signal) => {
            tokenReviews++;
            return reviewer.reviewToken(bearer.token, signal);
          },
          () => opts.tokenTtlMs ?? DEFAULT_TOKEN_TTL_MS,
        );
      } catch (err) {
        log.error('Metrics authentication failed', { error: describeError(err) });
        return {
          allowed: false,
          status: 500,
          message: 'Authentication failed\n',
          detail: errorText(err),
        };
      }
      if (!who) return tooMany();
      if (!who.authenticated) {
        return {
          allowed: false,
          status: 401,
          message: 'Unauthorized\n',
          detail: `token rejected${who.reason ? `: ${who.reason}` : ''}`,
        };
      }
      const user = who.user;
      const request: NonResourceRequest = { verb: req.method.toLowerCase(), path: req.path };
      let verdict: AccessVerdict | undefined;
      try {
        verdict = await cached(
          access,
          `access:${JSON.stringify([user.username, user.uid, user.groups, user.extra, request.verb, request.path])}`,
          (signal) => {
            accessReviews++;
            return reviewer.reviewAccess(user, request, signal);
          },
          (v) =>
            v.allowed
              ? (opts.allowTtlMs ?? DEFAULT_ALLOW_TTL_MS)
              : (opts.denyTtlMs ?? DEFAULT_DENY_TTL_MS),
        );
      } catch (err) {
        log.error('Metrics authorization failed', {
          user: user.username,
          error: describeError(err),
        });
        return {
          allowed: false,
          status: 500,
          message: `Authorization for user ${user.username} failed\n`,
          detail: errorText(err),
        };
      }
      if (!verdict) return tooMany();
      if (!verdict.allowed) {
        return {
          allowed: false,
          status: 403,
          message: `Authorization denied for user ${user.username}\n`,
          detail: verdict.reason ?? 'not allowed',
        };
      }
      return { allowed: true, user: user.username };
    },
    stats: () => ({
      tokenReviews,
      accessReviews,
      cacheHits,
      cachedTokens: tokens.size,
      cachedAccess: access.size,
    }),
  };
}
