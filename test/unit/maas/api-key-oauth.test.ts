import { expect } from 'chai';
import { InvalidMaasApiKeyError, parseMaasApiKey } from '../../../src/maas/api-key.js';
import { buildOAuthHeader, oauthPercentEncode } from '../../../src/maas/oauth.js';
import { parseAuthParams } from '../../support/maas-api-server/oauth-header.js';

const SECRET = 'S3cretS3cretS3cretS3cretS3cretAB';
const GOOD = `consumerKey123456:tokenKey1234567890:${SECRET}`;

describe('parseMaasApiKey', () => {
  it('parses consumer:token:secret and ignores a trailing newline', () => {
    expect(parseMaasApiKey(`${GOOD}\n`)).to.deep.equal({
      consumerKey: 'consumerKey123456',
      tokenKey: 'tokenKey1234567890',
      tokenSecret: SECRET,
    });
  });

  const hostile: Array<[string, string, RegExp]> = [
    ['empty', '', /empty/],
    ['whitespace only', ' \n\t', /empty/],
    ['two parts', 'a:b', /3 colon-separated parts.*found 2/],
    ['extra colon', `${GOOD}:extra`, /found 4/],
    ['empty consumer key', `:b:${SECRET}`, /consumer key is empty/],
    ['empty token key', `a::${SECRET}`, /token key is empty/],
    ['empty secret', 'a:b:', /token secret is empty/],
    ['huge secret', `a:b:${'x'.repeat(10_000)}`, /token secret is 10000 characters/],
    ['unicode', `a:b:sécret`, /token secret contains characters/],
    ['quote', `a:b:se"cret`, /token secret contains characters/],
    ['newline inside', `a:b\nc:secret`, /token key contains characters/],
    ['comma', `a,x:b:secret`, /consumer key contains characters/],
  ];
  for (const [what, key, message] of hostile) {
    it(`rejects ${what} with a message that names the part and never echoes the key`, () => {
      let caught: unknown;
      try {
        parseMaasApiKey(key);
      } catch (error) {
        caught = error;
      }
      expect(caught).to.be.instanceOf(InvalidMaasApiKeyError);
      const text = (caught as Error).message;
      expect(text).to.match(message);
      if (key.length > 3)
        expect(text).not.to.include(key.split(':').pop()!.slice(0, 20) || '\u0000');
    });
  }
});

describe('buildOAuthHeader', () => {
  const key = parseMaasApiKey(GOOD);
  const header = buildOAuthHeader(key, { nonce: 'n0nce', timestampSeconds: 1_700_000_000.9 });

  it('is OAuth 1.0 PLAINTEXT with an empty consumer secret, percent-encoded', () => {
    expect(header).to.equal(
      'OAuth oauth_version="1.0", oauth_signature_method="PLAINTEXT", ' +
        'oauth_consumer_key="consumerKey123456", oauth_token="tokenKey1234567890", ' +
        `oauth_signature="%26${SECRET}", oauth_nonce="n0nce", oauth_timestamp="1700000000"`,
    );
  });

  it('round-trips through the server-side parser (MAAS parse_auth_params)', () => {
    const params = parseAuthParams(header)!;
    expect(decodeURIComponent(params.get('oauth_signature')!)).to.equal(`&${SECRET}`);
    expect(params.get('oauth_timestamp')).to.equal('1700000000');
  });

  it('cannot be broken by a hostile nonce: quotes, commas and newlines are encoded', () => {
    const hostileHeader = buildOAuthHeader(key, {
      nonce: 'a", oauth_token="evil\r\nX: y',
      timestampSeconds: 1,
    });
    expect(hostileHeader).not.to.match(/[\r\n]/);
    expect(parseAuthParams(hostileHeader)!.get('oauth_token')).to.equal('tokenKey1234567890');
  });

  it('percent-encodes the RFC 3986 reserved characters encodeURIComponent leaves alone', () => {
    expect(oauthPercentEncode("!*'()&= ")).to.equal('%21%2A%27%28%29%26%3D%20');
  });
});
