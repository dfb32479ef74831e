import { expect } from 'chai';
import {
  parseAuthParams,
  pythonRepr,
  verifyOAuthHeader,
  type OAuthVerifierContext,
} from '../../support/maas-api-server/oauth-header.js';

const token = { consumerKey: 'ck', tokenKey: 'tk', tokenSecret: 'sekrit' };
const NOW = 1_700_000_000;

function context(): OAuthVerifierContext {
  const seen = new Set<string>();
  return {
    consumerExists: (c) => c === token.consumerKey,
    findToken: (c, t) => (c === token.consumerKey && t === token.tokenKey ? token : undefined),
    useNonce: (c, t, n) => !seen.has(`${c}/${t}/${n}`) && Boolean(seen.add(`${c}/${t}/${n}`)),
    nowSeconds: NOW,
  };
}

const header = (over: Record<string, string | undefined> = {}) => {
  const fields: Record<string, string | undefined> = {
    oauth_version: '1.0',
    oauth_signature_method: 'PLAINTEXT',
    oauth_consumer_key: 'ck',
    oauth_token: 'tk',
    oauth_signature: '%26sekrit',
    oauth_nonce: 'n1',
    oauth_timestamp: String(NOW),
    ...over,
  };
  return `OAuth ${Object.entries(fields)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}="${v}"`)
    .join(', ')}`;
};

describe('test server OAuth header parser (MAAS parse_auth_params)', () => {
  it('returns undefined without the OAuth scheme', () => {
    expect(parseAuthParams('Bearer abc')).to.equal(undefined);
    expect(parseAuthParams('')).to.equal(undefined);
  });
  it('lets the last duplicate win, as a Python dict does', () => {
    expect(parseAuthParams('OAuth oauth_token="a", oauth_token="b"')!.get('oauth_token')).to.equal(
      'b',
    );
  });
  it('accepts unquoted values and skips pieces without "="', () => {
    const params = parseAuthParams('OAuth oauth_token=abc, garbage, realm=""')!;
    expect(params.get('oauth_token')).to.equal('abc');
    expect(params.has('garbage')).to.equal(false);
  });
});

describe('test server OAuth verification', () => {
  it('accepts a well-formed PLAINTEXT header', () => {
    expect(verifyOAuthHeader(header(), context())).to.deep.include({ ok: true });
  });
  it('401 without a header or with another scheme', () => {
    expect(verifyOAuthHeader(undefined, context())).to.deep.include({ ok: false, status: 401 });
    expect(verifyOAuthHeader('Basic YTpi', context())).to.deep.include({ ok: false, status: 401 });
  });
  it('401 when a necessary field is missing', () => {
    expect(verifyOAuthHeader(header({ oauth_nonce: undefined }), context())).to.deep.include({
      status: 401,
    });
  });
  it('400 naming oauth_timestamp when it is not an integer (MAAS OAuthBadRequest)', () => {
    const verdict = verifyOAuthHeader(header({ oauth_timestamp: 'soon' }), context());
    expect(verdict).to.deep.include({ ok: false, status: 400 });
    expect(verdict.ok ? '' : verdict.body).to.match(
      /^Bad Request: .*oauth_timestamp has an unexpected type/,
    );
  });
  it('401 "Invalid API key." for an unknown consumer', () => {
    expect(verifyOAuthHeader(header({ oauth_consumer_key: 'nope' }), context())).to.deep.equal({
      ok: false,
      status: 401,
      body: 'Authorization Error: Invalid API key.',
    });
  });
  it('401 for an unknown token', () => {
    const verdict = verifyOAuthHeader(header({ oauth_token: 'other' }), context());
    expect(verdict.ok ? '' : verdict.body).to.equal(
      "Authorization Error: 'Invalid access token: other'",
    );
  });
  it('401 for a wrong signature, an unencoded one included', () => {
    for (const signature of ['%26wrong', 'sekrit', '&sekrit2', '']) {
      const verdict = verifyOAuthHeader(header({ oauth_signature: signature }), context());
      expect(verdict.ok ? '' : verdict.body, signature).to.equal(
        "Authorization Error: 'Invalid signature'",
      );
    }
  });
  it('accepts the signature unencoded too (piston unquotes header values)', () => {
    expect(verifyOAuthHeader(header({ oauth_signature: '&sekrit' }), context())).to.deep.include({
      ok: true,
    });
  });
  it('401 for another signature method', () => {
    const verdict = verifyOAuthHeader(header({ oauth_signature_method: 'HMAC-SHA1' }), context());
    expect(verdict.ok ? '' : verdict.body).to.match(/Signature method HMAC-SHA1 not supported/);
  });
  it('401 for another OAuth version', () => {
    expect(verifyOAuthHeader(header({ oauth_version: '2.0' }), context())).to.deep.include({
      status: 401,
    });
  });
  it('401 for a timestamp older than 300 s; a future one passes, as in python-oauth', () => {
    expect(
      verifyOAuthHeader(header({ oauth_timestamp: String(NOW - 301) }), context()),
    ).to.deep.include({ status: 401 });
    expect(
      verifyOAuthHeader(header({ oauth_timestamp: String(NOW + 3600) }), context()),
    ).to.deep.include({ ok: true });
  });
  it('401 for a replayed nonce', () => {
    const ctx = context();
    expect(verifyOAuthHeader(header(), ctx)).to.deep.include({ ok: true });
    const verdict = verifyOAuthHeader(header(), ctx);
    expect(verdict.ok ? '' : verdict.body).to.equal(
      "Authorization Error: 'Nonce already used: n1'",
    );
  });
  it('survives a huge or binary header', () => {
    expect(verifyOAuthHeader(`OAuth ${'x='.repeat(100_000)}`, context())).to.deep.include({
      status: 401,
    });
    expect(verifyOAuthHeader('OAuth \u0000\u00ff=\ud800', context())).to.deep.include({
      status: 401,
    });
  });
  it('prints errors as Python repr does', () => {
    expect(pythonRepr("it's")).to.equal('"it\'s"');
    expect(pythonRepr('a\nb')).to.equal("'a\\nb'");
  });
});
