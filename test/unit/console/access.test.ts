import { expect } from 'chai';
import {
  type ConsoleResourceAttributes,
  type ConsoleReviewer,
  createConsoleAuthorizer,
  resourceAccessReviewFor,
} from '../../../src/console/index.js';
import type { AccessVerdict, TokenVerdict, UserInfo } from '../../../src/runtime/index.js';

/** Tokens → users; `user ns/name/sub` strings allowed. Records every review. */
function fakeReviewer(): ConsoleReviewer & {
  users: Map<string, UserInfo>;
  allowed: Set<string>;
  asked: string[];
  fail?: Error;
  hold?: Promise<void>;
} {
  const r = {
    users: new Map<string, UserInfo>(),
    allowed: new Set<string>(),
    asked: [] as string[],
    fail: undefined as Error | undefined,
    hold: undefined as Promise<void> | undefined,
    async reviewToken(token: string): Promise<TokenVerdict> {
      r.asked.push(`token:${token}`);
      if (r.hold) await r.hold;
      if (r.fail) throw r.fail;
      const user = r.users.get(token);
      return user ? { authenticated: true, user } : { authenticated: false, reason: 'bad' };
    },
    async reviewAccess(user: UserInfo, a: ConsoleResourceAttributes): Promise<AccessVerdict> {
      const key = `${user.username} ${a.verb} ${a.group}/${a.resource}/${a.subresource} ${a.namespace}/${a.name}`;
      r.asked.push(`access:${key}`);
      return { allowed: r.allowed.has(key) };
    },
  };
  return r;
}

const target = { namespace: 'lab', name: 'n1', kind: 'console' } as const;

describe('console/access', () => {
  it('asks TokenReview, then a resource SubjectAccessReview for get maasnodes/console', async () => {
    const r = fakeReviewer();
    r.users.set('t1', { username: 'alice', groups: ['dev'] });
    r.allowed.add('alice get maaslab.dev/maasnodes/console lab/n1');
    const authorize = createConsoleAuthorizer({ reviewer: r });
    expect(await authorize(['Bearer t1'], target)).to.deep.equal({ allowed: true, user: 'alice' });
    expect(r.asked).to.deep.equal([
      'token:t1',
      'access:alice get maaslab.dev/maasnodes/console lab/n1',
    ]);
  });

  it('vnc is its own permission: console alone does not open it (403)', async () => {
    const r = fakeReviewer();
    r.users.set('t1', { username: 'alice' });
    r.allowed.add('alice get maaslab.dev/maasnodes/console lab/n1');
    const d = await createConsoleAuthorizer({ reviewer: r })(['Bearer t1'], {
      ...target,
      kind: 'vnc',
    });
    expect(d).to.deep.include({ allowed: false, status: 403 });
    if (!d.allowed) expect(d.message).to.include('maasnodes/vnc');
  });

  const noToken: [string, string[] | undefined][] = [
    ['no header', undefined],
    ['an empty header', ['']],
    ['Basic', ['Basic YTpi']],
    ['two headers', ['Bearer a', 'Bearer b']],
    ['a token with spaces', ['Bearer a b']],
    ['a token with quotes', ['Bearer "a"']],
    ['an overlong token', [`Bearer ${'a'.repeat(9000)}`]],
  ];
  for (const [name, header] of noToken) {
    it(`${name} is 401 without asking the API server`, async () => {
      const r = fakeReviewer();
      const d = await createConsoleAuthorizer({ reviewer: r })(header, target);
      expect(d).to.deep.include({ allowed: false, status: 401 });
      expect(r.asked).to.deep.equal([]);
    });
  }

  it('a rejected token is 401, no access review', async () => {
    const r = fakeReviewer();
    const d = await createConsoleAuthorizer({ reviewer: r })(['Bearer nope'], target);
    expect(d).to.deep.include({ allowed: false, status: 401, message: 'Unauthorized' });
    expect(r.asked).to.deep.equal(['token:nope']);
  });

  it('a failing review is 503 and is asked again next time (nothing cached)', async () => {
    const r = fakeReviewer();
    r.fail = new Error('apiserver down');
    const authorize = createConsoleAuthorizer({ reviewer: r });
    expect(await authorize(['Bearer t'], target)).to.deep.include({ allowed: false, status: 503 });
    r.fail = undefined;
    r.users.set('t', { username: 'bob' });
    r.allowed.add('bob get maaslab.dev/maasnodes/console lab/n1');
    expect(await authorize(['Bearer t'], target)).to.deep.include({ allowed: true });
    r.allowed.clear();
    expect(await authorize(['Bearer t'], target)).to.deep.include({ allowed: false, status: 403 });
  });

  it('beyond maxInFlight reviews a caller gets 429', async () => {
    const r = fakeReviewer();
    let release!: () => void;
    r.hold = new Promise((resolve) => (release = resolve));
    const authorize = createConsoleAuthorizer({ reviewer: r, maxInFlight: 1 });
    const first = authorize(['Bearer a'], target);
    expect(await authorize(['Bearer b'], target)).to.deep.include({ allowed: false, status: 429 });
    release();
    expect(await first).to.deep.include({ allowed: false, status: 401 });
  });

  it('the review carries the user, groups, uid and extra, and resourceAttributes only', () => {
    const review = resourceAccessReviewFor(
      { username: 'u', uid: '1', groups: ['g'], extra: { k: ['v'] } },
      {
        group: 'maaslab.dev',
        resource: 'maasnodes',
        subresource: 'vnc',
        namespace: 'ns',
        name: 'n',
        verb: 'get',
      },
    );
    expect(review).to.deep.equal({
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: {
        user: 'u',
        uid: '1',
        groups: ['g'],
        extra: { k: ['v'] },
        resourceAttributes: {
          group: 'maaslab.dev',
          resource: 'maasnodes',
          subresource: 'vnc',
          namespace: 'ns',
          name: 'n',
          verb: 'get',
        },
      },
    });
  });
});
