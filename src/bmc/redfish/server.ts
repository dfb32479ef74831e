// The thin I/O layer: a node:http(s) server that reads a bounded body, hands the request to
// dispatch() and writes its answer as Redfish JSON. Timeouts bound slow clients; anything a
// client sends is answered, never thrown.
import { randomUUID } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { LoginThrottle } from '../auth.js';
import type { BmcBackend, BmcSystemEntry } from '../backend.js';
import { errorBody } from './messages.js';
import { MaxBodyBytes } from './request-body.js';
import { dispatch, type RedfishContext, type RedfishResponse } from './routes.js';
import { SessionStore, type SessionStoreOptions } from './sessions.js';

/** Where the server logs; a winston Logger fits. */
export interface RedfishLog {
  info(message: string, meta?: Record<string, unknown>): void;
  warn(message: string, meta?: Record<string, unknown>): void;
}

export interface RedfishBmcOptions {
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** HTTPS with this certificate; HTTP without. */
  readonly tls?: { readonly certPem: string; readonly keyPem: string };
  /** The systems served and their credentials; read on every request. */
  readonly systems: () => readonly BmcSystemEntry[];
  readonly backend: BmcBackend;
  /** Failed-login throttle, per client address. Default: LoginThrottle's defaults. */
  readonly throttle?: LoginThrottle;
  /** Session timeout and bound. */
  readonly sessions?: Omit<SessionStoreOptions, 'now'>;
  /** The service root's UUID; default a random one per start. */
  readonly serviceUuid?: string;
  readonly log?: RedfishLog;
  readonly now?: () => number;
}

export interface RedfishBmc {
  /** e.g. https://127.0.0.1:8443 */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Timeouts for slow or stuck clients. */
const HeadersTimeoutMs = 10_000;
const RequestTimeoutMs = 30_000;
const KeepAliveTimeoutMs = 5_000;

const baseHeaders = {
  'OData-Version': '4.0',
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
} as const;

/** Writes a router answer: JSON as UTF-8, none for 204 and HEAD. */
function send(res: http.ServerResponse, method: string, answer: RedfishResponse): void {
  const headers: Record<string, string> = { ...baseHeaders, ...answer.headers };
  if (answer.body === undefined) {
    res.writeHead(answer.status, headers).end();
    return;
  }
  const payload = Buffer.from(JSON.stringify(answer.body), 'utf8');
  headers['Content-Type'] = 'application/json; charset=utf-8';
  headers['Content-Length'] = String(payload.length);
  res.writeHead(answer.status, headers);
  res.end(method === 'HEAD' ? undefined : payload);
}

/** Reads the body up to `limit` bytes; undefined when it is larger (the rest is not read). */
function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? '0');
    if (declared > limit) return resolve(undefined);
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.pause();
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

const single = (value: string | string[] | undefined): string | undefined =>
  Array.isArray(value) ? value[0] : value;

/** Starts a Redfish BMC; resolves once it listens. */
export async function startRedfishBmc(opts: RedfishBmcOptions): Promise<RedfishBmc> {
  const now = opts.now ?? Date.now;
  const ctx: RedfishContext = {
    systems: opts.systems,
    backend: opts.backend,
    sessions: new SessionStore({ ...opts.sessions, now }),
    throttle: opts.throttle ?? new LoginThrottle({ now }),
    serviceUuid: opts.serviceUuid ?? randomUUID(),
    realm: 'maaslab Redfish BMC',
  };
  const log = opts.log;

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const method = req.method ?? 'GET';
    const remoteAddress = req.socket.remoteAddress ?? 'unknown';
    const remotePort = req.socket.remotePort ?? 0;
    const body = await readBody(req, MaxBodyBytes);
    if (body === undefined) {
      // The rest of the body is not read: close the connection after answering.
      res.setHeader('Connection', 'close');
      send(res, method, {
        status: 413,
        headers: {},
        body: errorBody([
          { id: 'GeneralError', message: `The request body is larger than ${MaxBodyBytes} bytes.` },
        ]),
      });
      res.on('finish', () => req.socket.destroy());
      return;
    }
    const answer = await dispatch(ctx, {
      method,
      target: req.url ?? '/',
      authorization: single(req.headers.authorization),
      authToken: single(req.headers['x-auth-token']),
      ifMatch: single(req.headers['if-match']),
      body: body.length > 0 ? body : undefined,
      remoteAddress,
      remotePort,
    });
    if (method !== 'GET' && method !== 'HEAD' && answer.status < 300) {
      log?.info('redfish request', {
        method,
        path: req.url,
        remote: `${remoteAddress}:${remotePort}`,
        status: answer.status,
      });
    }
    send(res, method, answer);
  };

  const listener = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    handle(req, res).catch((error: unknown) => {
      log?.warn('redfish request failed', { path: req.url, error: String(error) });
      if (!res.headersSent) {
        send(res, req.method ?? 'GET', {
          status: 500,
          headers: {},
          body: errorBody([{ id: 'GeneralError', message: 'An internal error occurred.' }]),
        });
      } else {
        res.destroy();
      }
    });
  };

  const serverOptions: http.ServerOptions = {
    headersTimeout: HeadersTimeoutMs,
    requestTimeout: RequestTimeoutMs,
    keepAliveTimeout: KeepAliveTimeoutMs,
    maxHeaderSize: 16 * 1024,
  };
  const server = opts.tls
    ? https.createServer(
        { ...serverOptions, cert: opts.tls.certPem, key: opts.tls.keyPem, minVersion: 'TLSv1.2' },
        listener,
      )
    : http.createServer(serverOptions, listener);
  // Malformed HTTP (bad request line, oversized headers): answer 400 when possible, then close.
  server.on('clientError', (_error, socket) => {
    if (socket.writable)
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });
  server.on('tlsClientError', () => undefined); // a failed TLS handshake is the client's problem

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const hostInUrl = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  return {
    url: `${opts.tls ? 'https' : 'http'}://${hostInUrl}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
