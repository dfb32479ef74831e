// The GitOps tests' git server (test/support/git-server.ts): its routing against hostile request
// targets, its CGI environment and head parsing, and a real `git clone` through it on loopback,
// with pushes and paths outside the served repository refused.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import {
  type GitRoute,
  cgiEnv,
  parseCgiHead,
  routeGitRequest,
  startGitServer,
} from '../../support/git-server.js';

const run = promisify(execFile);
const repos = new Set(['maaslab.git']);
const route = (method: string, url: string): GitRoute => routeGitRequest(method, url, repos);
const status = (r: GitRoute): number => (r.ok ? 200 : r.status);

describe('git server: routing', () => {
  it('serves a clone: GET info/refs for upload-pack and POST git-upload-pack of a served repository', () => {
    expect(route('GET', '/maaslab.git/info/refs?service=git-upload-pack')).to.deep.equal({
      ok: true,
      repo: 'maaslab.git',
      pathInfo: '/maaslab.git/info/refs',
      query: 'service=git-upload-pack',
      method: 'GET',
    });
    expect(route('POST', '/maaslab.git/git-upload-pack')).to.deep.include({
      ok: true,
      pathInfo: '/maaslab.git/git-upload-pack',
    });
  });

  it('refuses pushes before git runs', () => {
    expect(status(route('GET', '/maaslab.git/info/refs?service=git-receive-pack'))).to.equal(403);
    expect(status(route('POST', '/maaslab.git/git-receive-pack'))).to.equal(403);
  });

  it('refuses every path that is not exactly a served repository and endpoint', () => {
    const hostile = [
      '/../maaslab.git/info/refs?service=git-upload-pack',
      '/maaslab.git/../../etc/passwd',
      '/%2e%2e/maaslab.git/info/refs?service=git-upload-pack',
      '/maaslab.git%2f..%2f..%2fetc/info/refs?service=git-upload-pack',
      '/maaslab.git/info%2frefs?service=git-upload-pack',
      '/..%2fmaaslab.git/git-upload-pack',
      '/.git/info/refs?service=git-upload-pack',
      '/other.git/info/refs?service=git-upload-pack',
      '/maaslab/info/refs?service=git-upload-pack',
      '/maaslab.git/objects/info/packs',
      '/maaslab.git/HEAD',
      '/maaslab.git/config',
      '/maaslab.git/info/refs/extra?service=git-upload-pack',
      '/maaslab.git//info/refs?service=git-upload-pack',
      '/maaslab.git\\..\\x/info/refs?service=git-upload-pack',
      '/maaslab.git/info/refs\u0000?service=git-upload-pack',
      '/maaslab.git',
      '/',
    ];
    for (const url of hostile) {
      const r = route(url.endsWith('git-upload-pack') ? 'POST' : 'GET', url);
      expect(r.ok, url).to.equal(false);
      expect(status(r), url).to.be.oneOf([400, 403, 404, 405]);
    }
  });

  it('refuses request targets that are not a path, and other methods and queries', () => {
    expect(status(route('GET', 'http://evil.example/maaslab.git/info/refs'))).to.equal(400);
    expect(status(route('GET', '//evil.example/maaslab.git/info/refs'))).to.equal(400);
    expect(status(routeGitRequest('GET', undefined, repos))).to.equal(400);
    expect(status(route('POST', '/maaslab.git/info/refs?service=git-upload-pack'))).to.equal(405);
    expect(status(route('GET', '/maaslab.git/git-upload-pack'))).to.equal(405);
    expect(status(route('DELETE', '/maaslab.git/git-upload-pack'))).to.equal(405);
    expect(status(route('GET', '/maaslab.git/info/refs'))).to.equal(403);
    expect(status(route('GET', '/maaslab.git/info/refs?service=git-upload-pack&x=1'))).to.equal(
      403,
    );
    expect(status(route('POST', '/maaslab.git/git-upload-pack?x=1'))).to.equal(400);
  });
});

describe('git server: CGI', () => {
  it('gives git http-backend the route, the root and only the request headers it reads', () => {
    const r = route('POST', '/maaslab.git/git-upload-pack');
    if (!r.ok) throw new Error('routed');
    const env = cgiEnv(
      r,
      '/srv/git',
      {
        'content-type': 'application/x-git-upload-pack-request',
        'content-encoding': 'gzip',
        'git-protocol': 'version=2',
        authorization: 'Bearer secret',
        cookie: 'a=b',
      },
      '127.0.0.1',
    );
    expect(env).to.deep.include({
      GIT_PROJECT_ROOT: '/srv/git',
      GIT_HTTP_EXPORT_ALL: '1',
      REQUEST_METHOD: 'POST',
      PATH_INFO: '/maaslab.git/git-upload-pack',
      QUERY_STRING: '',
      CONTENT_TYPE: 'application/x-git-upload-pack-request',
      HTTP_CONTENT_ENCODING: 'gzip',
      GIT_PROTOCOL: 'version=2',
      REMOTE_ADDR: '127.0.0.1',
    });
    expect(Object.values(env).join('\n')).to.not.include('secret');
    expect(Object.keys(env)).to.not.include('HTTP_COOKIE');
  });

  it('parses a CGI head with a Status line, LF or CRLF, and waits for the end of it', () => {
    const lf = parseCgiHead(Buffer.from('Status: 404 Not Found\nContent-Type: text/plain\n\nbody'));
    expect(lf).to.deep.equal({
      status: 404,
      headers: [['Content-Type', 'text/plain']],
      bodyOffset: 48,
    });
    const crlf = parseCgiHead(Buffer.from('Content-Type: a/b\r\nExpires: 0\r\n\r\nxy'));
    expect(crlf?.status).to.equal(200);
    expect(crlf?.headers).to.deep.equal([
      ['Content-Type', 'a/b'],
      ['Expires', '0'],
    ]);
    expect(
      Buffer.from('Content-Type: a/b\r\nExpires: 0\r\n\r\nxy')
        .subarray(crlf!.bodyOffset)
        .toString(),
    ).to.equal('xy');
    expect(parseCgiHead(Buffer.from('Content-Type: a/b\r\n'))).to.equal(undefined);
    expect(() => parseCgiHead(Buffer.from('no colon\n\n'))).to.throw(/malformed/);
    expect(() => parseCgiHead(Buffer.from('Bad Name: x\n\n'))).to.throw(/malformed/);
    expect(() => parseCgiHead(Buffer.from('Status: soon\n\n'))).to.throw(/malformed/);
  });
});

describe('git server: a real clone on loopback', function () {
  this.timeout(30_000);
  let dir = '';
  const git = async (cwd: string, ...args: string[]): Promise<string> =>
    (
      await run('git', ['-c', 'user.name=test', '-c', 'user.email=test@example.invalid', ...args], {
        cwd,
      })
    ).stdout;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'maaslab-git-server-'));
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('clones and fetches the served repository, and refuses a push and a neighbour', async () => {
    await git(dir, 'init', '-q', '-b', 'main', 'work');
    const work = join(dir, 'work');
    await writeFile(join(work, 'a.txt'), 'one\n');
    await git(work, 'add', '.');
    await git(work, 'commit', '-q', '-m', 'one');
    await git(dir, 'clone', '-q', '--bare', 'work', join('root', 'maaslab.git'));
    await git(dir, 'clone', '-q', '--bare', 'work', join('root', 'secret.git'));
    const server = await startGitServer(join(dir, 'root'), ['maaslab.git']);
    try {
      expect(server.url).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
      await git(dir, 'clone', '-q', `${server.url}/maaslab.git`, 'clone');
      expect(await readFile(join(dir, 'clone', 'a.txt'), 'utf8')).to.equal('one\n');

      await writeFile(join(work, 'a.txt'), 'two\n');
      await git(work, 'commit', '-q', '-am', 'two');
      await git(work, 'push', '-q', join(dir, 'root', 'maaslab.git'), 'main');
      await git(join(dir, 'clone'), 'pull', '-q', '--ff-only');
      expect(await readFile(join(dir, 'clone', 'a.txt'), 'utf8')).to.equal('two\n');

      const push = await git(join(dir, 'clone'), 'push', 'origin', 'HEAD:refs/heads/x').then(
        () => 'pushed',
        (err: { stderr?: string }) => err.stderr ?? '',
      );
      expect(push).to.match(/403/);
      const neighbour = await git(dir, 'clone', '-q', `${server.url}/secret.git`, 'x').then(
        () => 'cloned',
        (err: { stderr?: string }) => err.stderr ?? '',
      );
      expect(neighbour).to.match(/not found|404/);
      expect(server.log).to.include('GET /maaslab.git/info/refs?service=git-upload-pack 200');
      expect(server.log).to.include('POST /maaslab.git/git-upload-pack 200');
      expect(server.log).to.include('GET /maaslab.git/info/refs?service=git-receive-pack 403');
    } finally {
      await server.stop();
    }
  });
});
