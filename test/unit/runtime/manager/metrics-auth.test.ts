import { expect } from 'chai';
import {
  DEFAULT_ALLOW_TTL_MS,
  DEFAULT_DENY_TTL_MS,
  DEFAULT_TOKEN_TTL_MS,
  MAX_TOKEN_LENGTH,
  type MetricsAuthorizer,
  accessVerdictFrom,
  bearerToken,
  createMetricsAuthorizer,
  createTtlCache,
  subjectAccessReviewFor,
  tokenReviewFor,
  tokenVerdictFrom,
} from '../../../../src/runtime/manager/metrics-auth.js';
import {
  type FakeAccessReviewer,
  createFakeAccessReviewer,
} from '../../../fakes/access-reviewer.js';
import { createFakeClock } from '../../../fakes/clock.js';

const JWT =
  'eyJhbGciOiJSUzI1NiIsImtpZCI6IngifQ.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6bTpyIn0.c2ln-_';

describe('runtime/manager/metrics-auth', () => {
  describe('bearerToken (hostile headers)', () => {
    it('takes exactly one Bearer token, scheme in any case, spaces around it', () => {
      expect(bearerToken([`Bearer ${JWT}`])).to.deep.equal({ token: JWT });
      expect(bearerToken([`bearer ${JWT}`])).to.deep.equal({ token: JWT });
      expect(bearerToken([`BEARER   ${JWT}  `])).to.deep.equal({ token: JWT });
      expect(bearerToken(['Bearer abc+/=='])).to.deep.equal({ token: 'abc+/==' });
      expect(bearerToken([`Bearer ${'a'.repeat(MAX_TOKEN_LENGTH)}`])).to.have.property('token');
    });

    for (const [what, values, error] of [
      ['no header', undefined, 'no Authorization header'],
      ['an empty list', [], 'no Authorization header'],
      ['two headers', [`Bearer ${JWT}`, `Bearer ${JWT}`], 'more than one Authorization header'],
      ['an empty header', [''], 'not a Bearer token'],
      ['the scheme alone', ['Bearer'], 'not a Bearer token'],
      ['the scheme and a space', ['Bearer '], 'not a Bearer token'],
      ['Basic', ['Basic YWRtaW46YWRtaW4='], 'not a Bearer token'],
      ['Digest', ['Digest username="a", realm="b"'], 'not a Bearer token'],
      ['a bare token', [JWT], 'not a Bearer token'],
      ['two tokens', [`Bearer ${JWT} ${JWT}`], 'not a Bearer token'],
      ['Bearer glued to the token', [`Bearer${JWT}`], 'not a Bearer token'],
      ['a tab instead of a space', [`Bearer\t${JWT}`], 'not a Bearer token'],
      ['a token too long', [`Bearer ${'a'.repeat(MAX_TOKEN_LENGTH + 1)}`], 'token too long'],
      ['a megabyte', [`Bearer ${'a'.repeat(1 << 20)}`], 'token too long'],
      ['quotes', ['Bearer "abc"'], 'malformed token'],
      ['a NUL', ['Bearer abc\u0000def'], 'malformed token'],
      ['non-ASCII', ['Bearer tökén'], 'malformed token'],
      ['a comma (two credentials)', ['Bearer abc,def'], 'malformed token'],
      ['padding first', ['Bearer =abc'], 'malformed token'],
      ['padding inside', ['Bearer ab=c'], 'malformed token'],
      ['only padding', ['Bearer =='], 'malformed token'],
    ] as const) {
      it(`refuses ${what}`, () => {
        expect(bearerToken(values as readonly string[] | undefined)).to.deep.equal({ error });
      });
    }
  });

  describe('review bodies and answers', () => {
    it('asks a TokenReview with no audiences and a non-resource SubjectAccessReview', () => {
      expect(tokenReviewFor('t')).to.deep.equal({
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenReview',
        spec: { token: 't' },
      });
      expect(
        subjectAccessReviewFor(
          { username: 'u', uid: '1', groups: ['g'], extra: { k: ['v'] } },
          { verb: 'get', path: '/metrics' },
        ),
      ).to.deep.equal({
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user: 'u',
          uid: '1',
          groups: ['g'],
          extra: { k: ['v'] },
          nonResourceAttributes: { path: '/metrics', verb: 'get' },
        },
      });
      expect(subjectAccessReviewFor({ username: 'u' }, { verb: 'get', path: '/m' })).to.deep.equal({
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: { user: 'u', nonResourceAttributes: { path: '/m', verb: 'get' } },
      });
    });

    it('reads an authenticated TokenReview, dropping what is not strings', () => {
      expect(
        tokenVerdictFrom({
          status: {
            authenticated: true,
            user: {
              username: 'system:serviceaccount:m:r',
              uid: 'abc',
              groups: ['system:serviceaccounts', 7, null],
              extra: { 'authentication.kubernetes.io/pod-name': ['p'], bad: 'x', worse: [1] },
            },
          },
        }),
      ).to.deep.equal({
        authenticated: true,
        user: {
          username: 'system:serviceaccount:m:r',
          uid: 'abc',
          groups: ['system:serviceaccounts'],
          extra: { 'authentication.kubernetes.io/pod-name': ['p'], worse: [] },
        },
      });
    });

    it('never lets an unreadable or half TokenReview answer in', () => {
      for (const answer of [
        null,
        undefined,
        'authenticated',
        [],
        {},
        { status: null },
        { status: { authenticated: 'true', user: { username: 'u' } } },
        { status: { authenticated: 1, user: { username: 'u' } } },
        { status: { authenticated: true } },
        { status: { authenticated: true, user: {} } },
        { status: { authenticated: true, user: { username: '' } } },
        { status: { authenticated: true, user: { username: ['u'] } } },
        { status: { authenticated: false, user: { username: 'u' } } },
      ]) {
        expect(tokenVerdictFrom(answer).authenticated, JSON.stringify(answer)).to.equal(false);
      }
      expect(tokenVerdictFrom({ status: { error: 'token expired' } })).to.deep.equal({
        authenticated: false,
        reason: 'token expired',
      });
    });

    it('allows only allowed: true that is not also denied', () => {
      expect(accessVerdictFrom({ status: { allowed: true } })).to.deep.equal({ allowed: true });
      expect(accessVerdictFrom({ status: { allowed: true, denied: true } }).allowed).to.equal(
        false,
      );
      for (const answer of [
        null,
        {},
        { status: { allowed: 'true' } },
        { status: { allowed: 1 } },
      ]) {
        expect(accessVerdictFrom(answer).allowed, JSON.stringify(answer)).to.equal(false);
      }
      expect(accessVerdictFrom({ status: { allowed: false, reason: 'no RBAC' } })).to.deep.equal({
        allowed: false,
        reason: 'no RBAC',
      });
    });
  });

  describe('createTtlCache', () => {
    it('forgets entries at their TTL', () => {
      const clock = createFakeClock();
      const c = createTtlCache<string>(4, clock);
      c.set('a', 'A', 1000);
      clock.advance(999);
      expect(c.get('a')).to.equal('A');
      clock.advance(1);
      expect(c.get('a')).to.equal(undefined);
      expect(c.size).to.equal(0);
    });

    it('holds at most maxEntries, evicting the least recently used', () => {
      const clock = createFakeClock();
      const c = createTtlCache<number>(3, clock);
      c.set('a', 1, 60_000);
      c.set('b', 2, 60_000);
      c.set('c', 3, 60_000);
      expect(c.get('a')).to.equal(1); // a is now the most recent
      c.set('d', 4, 60_000);
      expect(c.size).to.equal(3);
      expect(c.get('b')).to.equal(undefined);
      expect([c.get('a'), c.get('c'), c.get('d')]).to.deep.equal([1, 3, 4]);
      c.set('c', 30, 60_000); // replacing does not grow it
      expect(c.size).to.equal(3);
      expect(() => createTtlCache(0, clock)).to.throw(RangeError);
    });
  });

  describe('createMetricsAuthorizer', () => {
    let reviewer: FakeAccessReviewer;
    let clock: ReturnType<typeof createFakeClock>;
    let auth: MetricsAuthorizer;
    const READER = 'system:serviceaccount:monitoring:prometheus';
    const STRANGER = 'system:serviceaccount:default:app';
    const get = (authorization?: readonly string[], method = 'GET') =>
      auth.authorize({ method, path: '/metrics', authorization });

    beforeEach(() => {
      reviewer = createFakeAccessReviewer();
      reviewer.users.set('reader-token', { username: READER, groups: ['system:authenticated'] });
      reviewer.users.set('stranger-token', { username: STRANGER });
      reviewer.allowed.add(`${READER} get /metrics`);
      clock = createFakeClock();
      auth = createMetricsAuthorizer({ reviewer, clock });
    });

    it('lets a reader through, 403s a stranger, 401s a rejected token', async () => {
      expect(await get(['Bearer reader-token'])).to.deep.equal({ allowed: true, user: READER });
      const denied = await get(['Bearer stranger-token']);
      expect(denied).to.deep.include({
        allowed: false,
        status: 403,
        message: `Authorization denied for user ${STRANGER}\n`,
      });
      const rejected = await get(['Bearer nobody']);
      expect(rejected).to.deep.include({ allowed: false, status: 401, message: 'Unauthorized\n' });
      // The verb is the method, lower-cased, as controller-runtime passes it.
      expect((await get(['Bearer reader-token'], 'POST')).allowed).to.equal(false);
      expect(reviewer.asked).to.include(`access:${READER} post /metrics`);
    });

    it('asks nobody about a request without a usable token', async () => {
      for (const h of [undefined, [], ['Basic x'], ['Bearer a', 'Bearer b'], ['Bearer "x"']]) {
        const d = await get(h);
        expect(d).to.deep.include({ allowed: false, status: 401 });
      }
      expect(reviewer.asked).to.deep.equal([]);
    });

    it('caches token reviews 1 min, allowed 5 min, denied 30 s', async () => {
      await get(['Bearer reader-token']);
      await get(['Bearer stranger-token']);
      await get(['Bearer nobody']);
      expect(auth.stats()).to.deep.include({ tokenReviews: 3, accessReviews: 2 });
      await get(['Bearer reader-token']);
      await get(['Bearer stranger-token']);
      await get(['Bearer nobody']);
      expect(auth.stats()).to.deep.include({ tokenReviews: 3, accessReviews: 2, cacheHits: 5 });

      clock.advance(DEFAULT_DENY_TTL_MS); // the denial expires; tokens are still known
      await get(['Bearer stranger-token']);
      expect(auth.stats()).to.deep.include({ tokenReviews: 3, accessReviews: 3 });

      clock.advance(DEFAULT_TOKEN_TTL_MS - DEFAULT_DENY_TTL_MS); // tokens expire, the allow not
      await get(['Bearer reader-token']);
      await get(['Bearer nobody']);
      expect(auth.stats()).to.deep.include({ tokenReviews: 5, accessReviews: 3 });

      clock.advance(DEFAULT_ALLOW_TTL_MS); // everything expired
      reviewer.allowed.clear(); // RBAC changed meanwhile: the next review sees it
      expect(await get(['Bearer reader-token'])).to.deep.include({ status: 403 });
    });

    it('does not cache failures: an unreachable API server is 500 now and asked again next time', async () => {
      reviewer.failWith = new Error('connect ECONNREFUSED');
      const d = await get(['Bearer reader-token']);
      expect(d).to.deep.include({
        allowed: false,
        status: 500,
        message: 'Authentication failed\n',
        detail: 'connect ECONNREFUSED',
      });
      reviewer.failWith = undefined;
      expect((await get(['Bearer reader-token'])).allowed).to.equal(true);
      expect(auth.stats().tokenReviews).to.equal(2);

      // The same for the SubjectAccessReview, with the token still cached.
      auth = createMetricsAuthorizer({ reviewer, clock, tokenTtlMs: 3_600_000 });
      expect((await get(['Bearer reader-token'])).allowed).to.equal(true);
      clock.advance(DEFAULT_ALLOW_TTL_MS);
      reviewer.failWith = new Error('timeout');
      expect(await get(['Bearer reader-token'])).to.deep.include({
        status: 500,
        message: `Authorization for user ${READER} failed\n`,
      });
      reviewer.failWith = undefined;
      expect((await get(['Bearer reader-token'])).allowed).to.equal(true);
      expect(auth.stats()).to.deep.include({ tokenReviews: 1, accessReviews: 3 });
    });

    it('shares one review among identical requests in flight', async () => {
      reviewer.hold = true;
      const all = Promise.all(Array.from({ length: 20 }, () => get(['Bearer reader-token'])));
      await new Promise((r) => setImmediate(r));
      reviewer.hold = false;
      reviewer.release();
      const decisions = await all;
      expect(decisions.every((d) => d.allowed)).to.equal(true);
      expect(reviewer.asked.filter((a) => a.startsWith('token:'))).to.have.length(1);
    });

    it('answers 429 instead of starting more than maxInFlight distinct reviews', async () => {
      auth = createMetricsAuthorizer({ reviewer, clock, maxInFlight: 4 });
      reviewer.hold = true;
      const pending = Array.from({ length: 4 }, (_, i) => get([`Bearer flood-${i}`]));
      await new Promise((r) => setImmediate(r));
      expect(await get(['Bearer flood-99'])).to.deep.include({ allowed: false, status: 429 });
      reviewer.hold = false;
      reviewer.release();
      expect((await Promise.all(pending)).map((d) => !d.allowed && d.status)).to.deep.equal([
        401, 401, 401, 401,
      ]);
      // Room again once they finished.
      expect((await get(['Bearer reader-token'])).allowed).to.equal(true);
    });

    it('keeps its caches bounded under a flood of distinct tokens', async () => {
      auth = createMetricsAuthorizer({ reviewer, clock, maxCacheEntries: 100 });
      for (let i = 0; i < 1000; i++) await get([`Bearer junk-${i}`]);
      expect(auth.stats().cachedTokens).to.equal(100);
      expect(auth.stats().tokenReviews).to.equal(1000);
    });

    it('caches access per user and path: one reader allowed does not allow another', async () => {
      reviewer.users.set('other-token', { username: 'other' });
      expect((await get(['Bearer reader-token'])).allowed).to.equal(true);
      expect(await get(['Bearer other-token'])).to.deep.include({ status: 403 });
      const elsewhere = await auth.authorize({
        method: 'GET',
        path: '/metrics/extra',
        authorization: ['Bearer reader-token'],
      });
      expect(elsewhere).to.deep.include({ status: 403 });
    });
  });
});
