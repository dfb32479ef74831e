// FakeAccessReviewer: the API server's TokenReview and SubjectAccessReview as a table, for the
// unit tests of the metrics authorizer. It records every review it was asked for, can hold
// answers back (to test shared in-flight reviews) and can fail (an unreachable API server).
// The real reviews are tested against kube-apiserver (test/integration/monitoring/metrics-auth).
import type {
  AccessReviewer,
  AccessVerdict,
  NonResourceRequest,
  TokenVerdict,
  UserInfo,
} from '../../src/runtime/index.js';

/** A reviewer whose answers a test sets. */
export interface FakeAccessReviewer extends AccessReviewer {
  /** token → user name (absent: not authenticated). */
  readonly users: Map<string, UserInfo>;
  /** `user verb path` strings that are allowed. */
  readonly allowed: Set<string>;
  /** Every review asked for, in order: `token:<token>` or `access:<user> <verb> <path>`. */
  readonly asked: string[];
  /** Throw this from every review while set. */
  failWith?: Error;
  /** While set, reviews wait for {@link release}. */
  hold: boolean;
  release(): void;
}

/** Creates an empty {@link FakeAccessReviewer}: nobody is authenticated or allowed. */
export function createFakeAccessReviewer(): FakeAccessReviewer {
  let waiting: Array<() => void> = [];
  const gate = async (r: FakeAccessReviewer): Promise<void> => {
    if (r.hold) await new Promise<void>((resolve) => waiting.push(resolve));
    if (r.failWith) throw r.failWith;
  };
  const reviewer: FakeAccessReviewer = {
    users: new Map(),
    allowed: new Set(),
    asked: [],
    hold: false,
    release() {
      const run = waiting;
      waiting = [];
      for (const resolve of run) resolve();
    },
    async reviewToken(token: string): Promise<TokenVerdict> {
      reviewer.asked.push(`token:${token}`);
      await gate(reviewer);
      const user = reviewer.users.get(token);
      return user ? { authenticated: true, user } : { authenticated: false, reason: 'invalid' };
    },
    async reviewAccess(user: UserInfo, req: NonResourceRequest): Promise<AccessVerdict> {
      const key = `${user.username} ${req.verb} ${req.path}`;
      reviewer.asked.push(`access:${key}`);
      await gate(reviewer);
      return reviewer.allowed.has(key) ? { allowed: true } : { allowed: false, reason: 'no rule' };
    },
  };
  return reviewer;
}
