// A read-only git server for the GitOps tests: Git's own smart HTTP (`git http-backend`, run as
// a CGI program per request) behind a small Node HTTP server on 127.0.0.1, serving the bare
// repositories of one folder. Flux's source-controller clones and fetches over http:// from it as
// it would from a forge. Only what a clone and a fetch need is served (GET info/refs for
// git-upload-pack, POST git-upload-pack); everything else, pushes included, is refused before
// git runs, and the request path never reaches the file system except as a repository name
// from the allow-list. The routing and the CGI parsing are pure functions, unit tested against
// hostile requests (test/unit/support/git-server.test.ts).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';

/** Where a request goes: git http-backend with this PATH_INFO and QUERY_STRING, or a refusal. */
export type GitRoute =
  | {
      readonly ok: true;
      readonly repo: string;
      readonly pathInfo: string;
      readonly query: string;
      readonly method: 'GET' | 'POST';
    }
  | { readonly ok: false; readonly status: number; readonly reason: string };

/** A repository name: one path segment, not hidden, ending in .git (`maaslab.git`). */
const REPO_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*\.git$/;

const refuse = (status: number, reason: string): GitRoute => ({ ok: false, status, reason });

/**
 * Routes one request. `rawUrl` is the request target as sent (origin-form, `/repo.git/...`);
 * it is matched as raw text, never decoded, so `%2e%2e` or `%2f` cannot turn into a path, and
 * anything but an exact match of a served repository and a read-only endpoint is refused.
 */
export function routeGitRequest(
  method: string | undefined,
  rawUrl: string | undefined,
  repos: ReadonlySet<string>,
): GitRoute {
  if (rawUrl === undefined || !rawUrl.startsWith('/') || rawUrl.startsWith('//')) {
    return refuse(400, 'the request target must be a path');
  }
  const q = rawUrl.indexOf('?');
  const path = q === -1 ? rawUrl : rawUrl.slice(0, q);
  const query = q === -1 ? '' : rawUrl.slice(q + 1);
  if (/[^A-Za-z0-9._/-]/.test(path)) return refuse(404, 'not a repository path');
  const parts = path.slice(1).split('/');
  if (parts.length !== 2 && parts.length !== 3) return refuse(404, 'not a repository path');
  const [repo = '', ...rest] = parts;
  if (!REPO_NAME.test(repo) || !repos.has(repo)) return refuse(404, 'no such repository');
  const endpoint = rest.join('/');
  if (endpoint === 'info/refs') {
    if (method !== 'GET') return refuse(405, 'info/refs is GET only');
    if (query === 'service=git-receive-pack') return refuse(403, 'read-only: no pushes');
    if (query !== 'service=git-upload-pack') return refuse(403, 'smart HTTP clones only');
    return { ok: true, repo, pathInfo: `/${repo}/info/refs`, query, method };
  }
  if (endpoint === 'git-upload-pack') {
    if (method !== 'POST') return refuse(405, 'git-upload-pack is POST only');
    if (query !== '') return refuse(400, 'git-upload-pack takes no query');
    return { ok: true, repo, pathInfo: `/${repo}/git-upload-pack`, query, method };
  }
  if (endpoint === 'git-receive-pack') return refuse(403, 'read-only: no pushes');
  return refuse(404, 'not a served endpoint');
}

/** The CGI environment of git http-backend for `route` (RFC 3875, plus Git's own variables). */
export function cgiEnv(
  route: Extract<GitRoute, { ok: true }>,
  projectRoot: string,
  headers: Readonly<Record<string, string | string[] | undefined>>,
  remoteAddr: string,
): Record<string, string> {
  const header = (name: string): string | undefined => {
    const v = headers[name];
    return Array.isArray(v) ? v.join(', ') : v;
  };
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    GIT_PROJECT_ROOT: projectRoot,
    // Every repository under the root is served; the root holds only the test's.
    GIT_HTTP_EXPORT_ALL: '1',
    GATEWAY_INTERFACE: 'CGI/1.1',
    REQUEST_METHOD: route.method,
    PATH_INFO: route.pathInfo,
    QUERY_STRING: route.query,
    REMOTE_ADDR: remoteAddr,
  };
  const optional: ReadonlyArray<readonly [string, string]> = [
    ['content-type', 'CONTENT_TYPE'],
    ['content-length', 'CONTENT_LENGTH'],
    // http-backend inflates a gzip'd request body itself when told so.
    ['content-encoding', 'HTTP_CONTENT_ENCODING'],
    // Protocol v2 negotiation (`Git-Protocol: version=2`), which http-backend reads from here.
    ['git-protocol', 'GIT_PROTOCOL'],
  ];
  for (const [from, to] of optional) {
    const v = header(from);
    if (v !== undefined) env[to] = v;
  }
  return env;
}

/** A CGI response's head: the status and the headers to send, and where the body starts. */
export interface CgiHead {
  readonly status: number;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly bodyOffset: number;
}

/**
 * Parses the head of a CGI response (header lines up to an empty line, `\n` or `\r\n`), or
 * returns undefined while `buf` does not hold all of it yet. `Status: 404 Not Found` sets the
 * status (200 without one); a malformed line throws.
 */
export function parseCgiHead(buf: Buffer): CgiHead | undefined {
  const crlf = buf.indexOf('\r\n\r\n');
  const lf = buf.indexOf('\n\n');
  let end: number;
  let sep: number;
  if (crlf !== -1 && (lf === -1 || crlf < lf)) [end, sep] = [crlf, 4];
  else if (lf !== -1) [end, sep] = [lf, 2];
  else return undefined;
  let status = 200;
  const headers: Array<readonly [string, string]> = [];
  for (const line of buf.subarray(0, end).toString('latin1').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Error(`malformed CGI header line ${JSON.stringify(line)}`);
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (!/^[A-Za-z0-9-]+$/.test(name))
      throw new Error(`malformed CGI header name ${JSON.stringify(name)}`);
    if (name.toLowerCase() === 'status') {
      const code = /^(\d{3})\b/.exec(value);
      if (!code) throw new Error(`malformed CGI status ${JSON.stringify(value)}`);
      status = Number(code[1]);
    } else {
      headers.push([name, value]);
    }
  }
  return { status, headers, bodyOffset: end + sep };
}

/** A running server. */
export interface GitServer {
  /** `http://127.0.0.1:PORT`; a repository is at `${url}/NAME.git`. */
  readonly url: string;
  /** Requests answered so far, by route ("GET info/refs 200", "POST … 403"), for the tests. */
  readonly log: readonly string[];
  stop(): Promise<void>;
}

/** The largest request body accepted: a fetch's want/have negotiation is a few KiB. */
const MAX_BODY = 8 << 20;

/**
 * Serves the bare repositories `repos` (names like `maaslab.git`) of folder `projectRoot` on
 * 127.0.0.1 (a free port), read-only.
 */
export async function startGitServer(
  projectRoot: string,
  repos: readonly string[],
): Promise<GitServer> {
  const served = new Set(repos);
  const log: string[] = [];
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const route = routeGitRequest(req.method, req.url, served);
    const what = `${req.method ?? '?'} ${req.url ?? '?'}`;
    if (!route.ok) {
      log.push(`${what} ${route.status}`);
      res.writeHead(route.status, { 'content-type': 'text/plain' }).end(`${route.reason}\n`);
      return;
    }
    const length = Number(req.headers['content-length'] ?? 0);
    if (length > MAX_BODY) {
      log.push(`${what} 413`);
      res.writeHead(413).end();
      return;
    }
    const child = spawn('git', ['http-backend'], {
      env: cgiEnv(route, projectRoot, req.headers, req.socket.remoteAddress ?? ''),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    let received = 0;
    req.on('data', (d: Buffer) => {
      received += d.length;
      if (received > MAX_BODY) req.destroy();
    });
    req.pipe(child.stdin).on('error', () => undefined);
    let head = Buffer.alloc(0);
    let sent = false;
    child.stdout.on('data', (d: Buffer) => {
      if (sent) {
        res.write(d);
        return;
      }
      head = Buffer.concat([head, d]);
      let parsed: CgiHead | undefined;
      try {
        parsed = parseCgiHead(head);
      } catch (err) {
        child.kill();
        log.push(`${what} 502`);
        res.writeHead(502).end(`${String(err)}\n`);
        sent = true;
        return;
      }
      if (!parsed) return;
      sent = true;
      log.push(`${what} ${parsed.status}`);
      res.writeHead(parsed.status, parsed.headers.flat());
      res.write(head.subarray(parsed.bodyOffset));
    });
    child.on('close', (code) => {
      if (!sent) {
        log.push(`${what} 502`);
        res.writeHead(502).end(`git http-backend exited ${code}: ${stderr}\n`);
        return;
      }
      res.end();
    });
    res.on('close', () => child.exitCode === null && child.kill());
  };
  const server: Server = createServer(handle);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    log,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
