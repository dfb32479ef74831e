// Health: the probe server (/healthz, /readyz) and the metrics server (/metrics).
//
// The metrics server is HTTPS with every request authorized (metrics-auth.ts), as the
// Kubebuilder scaffold serves it; plain HTTP is for development only and is refused on anything
// but a loopback address, so an operator cannot be told by a typo to publish its metrics to
// the network unauthenticated. The probe server stays plain HTTP on its own port: kubelet's
// probes carry no token, and /healthz and /readyz tell nobody anything.
//
// As in controller-runtime's healthz package: /healthz answers 200 while the process runs;
// /readyz answers 200 only when every registered check passes (e.g. "informers synced"),
// 500 otherwise, with a `[+]name ok` / `[-]name failed` line per check (always listed, as
// with `?verbose`); /readyz/<name> runs one check. /metrics serves a prom-client Registry.
// Bind addresses use the Go form: `:8080` is every interface, `127.0.0.1:0` a free port on
// loopback, `0` disables the server.

import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { type AddressInfo, BlockList, isIP } from 'node:net';
import type { Registry } from 'prom-client';
import type { ServingCertificate } from '../certs/serving.js';
import { type Logger, describeError, noopLogger } from '../log.js';
import { METRICS_PATH, type MetricsAuthorizer } from './metrics-auth.js';
import { http } from '../../util/node-http.js';

/** A readiness or liveness check: resolves true (or void) when healthy; false or a throw fails. */
export type Check = () => boolean | void | Promise<boolean | void>;

/** A running HTTP server. */
export interface HttpServer {
  /** Where it listens (the real port when bound to 0). */
  readonly host: string;
  readonly port: number;
  /** Stops accepting and closes idle connections; resolves when closed. */
  close(): Promise<void>;
}

/** The probe server, with its check registry. */
export interface ProbeServer extends HttpServer {
  /** Adds a readiness check; `/readyz` fails until it passes. */
  addReadyCheck(name: string, check: Check): void;
  /** Adds a liveness check (default none: `/healthz` is ok while the process runs). */
  addHealthCheck(name: string, check: Check): void;
}

/** Parses a Go-style bind address; undefined for `0` (disabled). */
export function parseBindAddress(addr: string): { host?: string; port: number } | undefined {
  if (addr === '0' || addr === '') return undefined;
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(addr);
  if (!m) throw new TypeError(`invalid bind address ${JSON.stringify(addr)}: want host:port`);
  const host = m[1] ?? m[2];
  const port = Number(m[3]);
  if (port > 65535) throw new RangeError(`invalid port in bind address ${addr}`);
  return host ? { host, port } : { port };
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/**
 * Whether `host` (a bind address's host part) is loopback only: `localhost`, 127.0.0.0/8 or
 * ::1. An empty host is every interface, so it is not.
 */
export function isLoopbackHost(host: string | undefined): boolean {
  if (host === undefined || host === '') return false;
  if (host === 'localhost') return true;
  const family = isIP(host);
  if (family === 4) return LOOPBACK.check(host, 'ipv4');
  if (family === 6) return LOOPBACK.check(host, 'ipv6');
  return false;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

async function listen(
  addr: string,
  handler: Handler,
  log: Logger,
  certificate?: ServingCertificate,
): Promise<Server | undefined> {
  const bind = parseBindAddress(addr);
  if (!bind) return undefined;
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    handler(req, res).catch((err: unknown) => {
      log.error('HTTP handler failed', { url: req.url, error: describeError(err) });
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  };
  let server: Server;
  if (certificate) {
    const pair = certificate.current();
    // TLS 1.2 at least, as Go's (and so controller-runtime's) servers; Node's https is
    // HTTP/1.1 only, which is what Kubebuilder asks for by default (HTTP/2 off since the
    // Rapid Reset CVEs).
    const tls = createHttpsServer(
      { key: pair.keyPem, cert: pair.certPem, minVersion: 'TLSv1.2' },
      onRequest,
    );
    const stopWatching = certificate.watch((next) => {
      tls.setSecureContext({ key: next.keyPem, cert: next.certPem, minVersion: 'TLSv1.2' });
      log.info('Metrics serving certificate reloaded');
    });
    tls.once('close', stopWatching);
    server = tls;
  } else {
    server = http.createServer(onRequest);
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(bind.port, bind.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

function wrap(server: Server | undefined): HttpServer {
  const a = server?.address() as AddressInfo | null | undefined;
  return {
    host: a?.address ?? '',
    port: a?.port ?? 0,
    close: () =>
      new Promise<void>((resolve) => {
        if (!server) return resolve();
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}

const text = (res: ServerResponse, code: number, body: string): void => {
  res.writeHead(code, { 'Content-Type': 'text/plain; charset=utf-8' });
  res.end(body);
};

async function runChecks(
  checks: ReadonlyMap<string, Check>,
  only?: string,
): Promise<[boolean, string]> {
  let ok = true;
  const lines: string[] = [];
  for (const [name, check] of checks) {
    if (only !== undefined && name !== only) continue;
    let pass: boolean;
    try {
      pass = (await check()) !== false;
    } catch {
      pass = false;
    }
    ok &&= pass;
    lines.push(pass ? `[+]${name} ok` : `[-]${name} failed`);
  }
  lines.push(ok ? 'check passed' : 'check failed');
  return [ok, lines.join('\n') + '\n'];
}

/** Options for the servers. */
export interface ServerOptions {
  /** Bind address, e.g. `:8081`, `127.0.0.1:0`; `0` disables. */
  readonly bindAddress: string;
  /** Logger. */
  readonly logger?: Logger;
}

/** Starts the probe server. */
export async function startProbeServer(opts: ServerOptions): Promise<ProbeServer> {
  const ready = new Map<string, Check>();
  const health = new Map<string, Check>();
  const handler: Handler = async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://probe').pathname;
    const [, root, one] = /^\/(healthz|readyz|livez)(?:\/([^/]+))?\/?$/.exec(path) ?? [];
    if (!root) return text(res, 404, 'not found\n');
    const checks = root === 'readyz' ? ready : health;
    if (one !== undefined && !checks.has(one)) return text(res, 404, `no check ${one}\n`);
    const [ok, body] = await runChecks(checks, one);
    text(res, ok ? 200 : 500, body);
  };
  const server = await listen(opts.bindAddress, handler, opts.logger ?? noopLogger);
  return {
    ...wrap(server),
    addReadyCheck: (name, check) => void ready.set(name, check),
    addHealthCheck: (name, check) => void health.set(name, check),
  };
}

/** How the metrics server serves: HTTPS with authorization, or plain HTTP on loopback. */
export type MetricsServing =
  | {
      readonly secure: true;
      readonly certificate: ServingCertificate;
      readonly authorizer: MetricsAuthorizer;
    }
  | { readonly secure: false };

/**
 * Starts the metrics server for `registry`. Secure: only {@link METRICS_PATH} exists (404
 * before any review, as controller-runtime's mux answers other paths), and each request is
 * authorized first. Plain HTTP throws unless the bind address is loopback.
 */
export async function startMetricsServer(
  opts: ServerOptions & { readonly registry: Registry; readonly serving: MetricsServing },
): Promise<HttpServer> {
  const log = opts.logger ?? noopLogger;
  const serving = opts.serving;
  const bind = parseBindAddress(opts.bindAddress);
  if (bind && !serving.secure && !isLoopbackHost(bind.host)) {
    throw new Error(
      `plain HTTP metrics (--metrics-secure=false) must listen on loopback, not ${JSON.stringify(opts.bindAddress)}`,
    );
  }
  const handler: Handler = async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://metrics').pathname;
    if (path !== METRICS_PATH) return text(res, 404, 'not found\n');
    if (serving.secure) {
      const decision = await serving.authorizer.authorize({
        method: req.method ?? 'GET',
        path,
        authorization: req.headersDistinct.authorization,
      });
      if (!decision.allowed) {
        log.debug('Metrics request refused', {
          status: decision.status,
          reason: decision.detail,
          remote: req.socket.remoteAddress,
        });
        if (decision.status === 401) res.setHeader('WWW-Authenticate', 'Bearer');
        return text(res, decision.status, decision.message);
      }
    }
    const body = await opts.registry.metrics();
    res.writeHead(200, { 'Content-Type': opts.registry.contentType });
    res.end(body);
  };
  return wrap(
    await listen(opts.bindAddress, handler, log, serving.secure ? serving.certificate : undefined),
  );
}
