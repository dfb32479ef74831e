// Who may attach to a node's console or VNC: the API server decides, as it does for
// `kubectl exec` (pods/exec). The caller's bearer token must pass a TokenReview, and the user
// it names must be allowed `get` on the subresource `maasnodes/console` (or `maasnodes/vnc`)
// of that MaasNode in group maaslab.dev, by a SubjectAccessReview with resourceAttributes.
// RBAC is then the one place that says who may: ClusterRole maaslab-console-user.
//
// No token or a token the API server rejects is 401; a valid token without the permission
// is 403; a review that fails is 503 and nothing is cached (a console is opened rarely, and a
// revoked permission must take effect on the next attach). At most `maxInFlight` reviews run
// at once; beyond that a caller gets 429.

import type { V1PolicyRule } from '@kubernetes/client-node';
import type { RestClient } from '../runtime/client/rest.js';
import {
  type AccessVerdict,
  type TokenVerdict,
  type UserInfo,
  bearerToken,
  postAccessReview,
  postTokenReview,
} from '../runtime/manager/metrics-auth.js';
import { type ConsoleKind, type ConsoleTargetRef, consoleSubresource } from './request.js';
import { definedProps } from '../util/defined-props.js';

/** The API group of the resource the reviews ask about. */
export const CONSOLE_API_GROUP = 'maaslab.dev';
/** The resource; the subresource is the kind (`console` or `vnc`). */
export const CONSOLE_RESOURCE = 'maasnodes';

/** What a user needs to attach (ClusterRole maaslab-console-user). */
export const consoleUserRules: readonly V1PolicyRule[] = [
  {
    apiGroups: [CONSOLE_API_GROUP],
    resources: ['maasnodes/console', 'maasnodes/vnc'],
    verbs: ['get'],
  },
  // To name the node and see that it runs: the plugin reads it before it attaches.
  { apiGroups: [CONSOLE_API_GROUP], resources: ['maasnodes'], verbs: ['get', 'list'] },
];

/** resourceAttributes of the SubjectAccessReview for `target`. */
export interface ConsoleResourceAttributes {
  readonly group: string;
  readonly resource: string;
  readonly subresource: ConsoleKind;
  readonly namespace: string;
  readonly name: string;
  readonly verb: 'get';
}

/** The attributes a review of `target` asks about. */
export const consoleAttributes = (target: ConsoleTargetRef): ConsoleResourceAttributes => ({
  group: CONSOLE_API_GROUP,
  resource: CONSOLE_RESOURCE,
  subresource: consoleSubresource(target.kind),
  namespace: target.namespace,
  name: target.name,
  verb: 'get',
});

/** The SubjectAccessReview to create for `user` and `attrs`. */
export const resourceAccessReviewFor = (
  user: UserInfo,
  attrs: ConsoleResourceAttributes,
): object => ({
  apiVersion: 'authorization.k8s.io/v1',
  kind: 'SubjectAccessReview',
  spec: definedProps({
    user: user.username,
    uid: user.uid,
    groups: user.groups && [...user.groups],
    extra: user.extra,
    resourceAttributes: { ...attrs },
  }),
});

/** The two reviews, the network half of the decision. */
export interface ConsoleReviewer {
  reviewToken(token: string, signal: AbortSignal): Promise<TokenVerdict>;
  reviewAccess(
    user: UserInfo,
    attrs: ConsoleResourceAttributes,
    signal: AbortSignal,
  ): Promise<AccessVerdict>;
}

/** Reviews through the API server with the operator's credentials (metricsAuthRbac). */
export function createKubeConsoleReviewer(rest: RestClient): ConsoleReviewer {
  return {
    reviewToken: (token, signal) => postTokenReview(rest, token, signal),
    reviewAccess: (user, attrs, signal) =>
      postAccessReview(rest, resourceAccessReviewFor(user, attrs), signal),
  };
}

/** Let the caller in as `user`, or answer `status` with `message` (and log `detail`). */
export type ConsoleDecision =
  | { readonly allowed: true; readonly user: string }
  | {
      readonly allowed: false;
      readonly status: 401 | 403 | 429 | 503;
      /** The body: what failed, never why (no token detail to a stranger). */
      readonly message: string;
      readonly detail: string;
    };

/** Options of {@link createConsoleAuthorizer}. */
export interface ConsoleAuthorizerOptions {
  readonly reviewer: ConsoleReviewer;
  /** Deadline of each review (default 10 s). */
  readonly reviewTimeoutMs?: number;
  /** Reviews in flight at once (default 16). */
  readonly maxInFlight?: number;
}

/** Decides whether the bearer of `authorization` may attach to `target`. */
export type ConsoleAuthorizer = (
  authorization: readonly string[] | undefined,
  target: ConsoleTargetRef,
) => Promise<ConsoleDecision>;

/** The authorizer: bearer token → TokenReview → SubjectAccessReview, not cached. */
export function createConsoleAuthorizer(opts: ConsoleAuthorizerOptions): ConsoleAuthorizer {
  const timeoutMs = opts.reviewTimeoutMs ?? 10_000;
  const maxInFlight = opts.maxInFlight ?? 16;
  let inFlight = 0;
  return async (authorization, target) => {
    const bearer = bearerToken(authorization);
    if ('error' in bearer) {
      return { allowed: false, status: 401, message: 'Unauthorized', detail: bearer.error };
    }
    if (inFlight >= maxInFlight) {
      return {
        allowed: false,
        status: 429,
        message: 'Too many requests',
        detail: `${maxInFlight} reviews in flight`,
      };
    }
    inFlight++;
    try {
      let who: TokenVerdict;
      try {
        who = await opts.reviewer.reviewToken(bearer.token, AbortSignal.timeout(timeoutMs));
      } catch (err) {
        return {
          allowed: false,
          status: 503,
          message: 'Authentication failed',
          detail: err instanceof Error ? err.message : String(err),
        };
      }
      if (!who.authenticated) {
        return {
          allowed: false,
          status: 401,
          message: 'Unauthorized',
          detail: `token rejected${who.reason ? `: ${who.reason}` : ''}`,
        };
      }
      const attrs = consoleAttributes(target);
      let verdict: AccessVerdict;
      try {
        verdict = await opts.reviewer.reviewAccess(who.user, attrs, AbortSignal.timeout(timeoutMs));
      } catch (err) {
        return {
          allowed: false,
          status: 503,
          message: `Authorization for user ${who.user.username} failed`,
          detail: err instanceof Error ? err.message : String(err),
        };
      }
      if (!verdict.allowed) {
        return {
          allowed: false,
          status: 403,
          message:
            `Forbidden: user ${who.user.username} cannot get resource "maasnodes/${attrs.subresource}" ` +
            `in API group "${CONSOLE_API_GROUP}" in the namespace "${target.namespace}"`,
          detail: verdict.reason ?? 'not allowed',
        };
      }
      return { allowed: true, user: who.user.username };
    } finally {
      inFlight--;
    }
  };
}
