// The operator's console endpoint: HTTPS on `--console-bind-address` (127.0.0.1:8082 in the
// deploy manifests, reached through `kubectl port-forward`), where a request
//   GET /apis/maaslab.dev/v1alpha1/namespaces/NS/maasnodes/NAME/console (or /vnc)
//   Connection: Upgrade, Upgrade: maaslab-stream, Authorization: Bearer TOKEN
// is checked in this order, each step with its own answer: the request's shape (request.ts:
// 400/404/405/414/426), the caller (access.ts: TokenReview 401, SubjectAccessReview 403),
// the node (target.ts: 404/409/503), the attach itself (libvirt: 409 not running or no VNC
// display, 502 other, e.g. an ssh tunnel that could not be made, with ssh's words).
// Then 101 Switching Protocols, and the bytes flow both ways until either side closes.
// Authorization comes before the lookup, so a caller without the permission cannot probe
// which nodes exist. Oversized headers get Node's 431, slow ones are cut after a deadline.

import { type Server, createServer } from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { ErrorNumber } from '../libvirt/constants.js';
import { isLibvirtError } from '../libvirt/errors.js';
import type { ServingCertificate } from '../runtime/certs/index.js';
import { type Logger, describeError, noopLogger } from '../runtime/log.js';
import { parseBindAddress } from '../runtime/manager/health.js';
import type { ConsoleAuthorizer } from './access.js';
import {
  type ConsoleKind,
  type ConsoleTargetRef,
  SWITCHING_PROTOCOLS,
  errorResponse,
  parseConsoleRequest,
} from './request.js';
import { VncUnavailableError } from './ssh.js';
import { type ConsoleDomain, type ConsoleLookup, resolveConsole } from './target.js';

/** Opens the byte stream of `kind` on `domain`: the serial console, or the VNC server. */
export type ConsoleAttacher = (kind: ConsoleKind, domain: ConsoleDomain) => Promise<Duplex>;

/** Header bytes accepted per request (a bound service-account token is about 1 KiB). */
export const CONSOLE_MAX_HEADER_SIZE = 16 * 1024;
/** Time a client has to send its whole request head. */
export const CONSOLE_HEADERS_TIMEOUT_MS = 10_000;
/** Sessions open at once; more are refused with 503. */
export const CONSOLE_MAX_SESSIONS = 64;

/** Options of {@link startConsoleServer}. */
export interface ConsoleServerOptions {
  /** `host:port`; `127.0.0.1:0` picks a port. */
  readonly bindAddress: string;
  readonly certificate: ServingCertificate;
  readonly authorize: ConsoleAuthorizer;
  /** What the caches say about the node, its Hypervisor and this replica's shards. */
  readonly lookup: (ref: ConsoleTargetRef) => ConsoleLookup;
  readonly attach: ConsoleAttacher;
  readonly logger?: Logger;
  readonly maxSessions?: number;
  readonly headersTimeoutMs?: number;
}

/** A listening console server. */
export interface ConsoleServer {
  readonly host: string;
  readonly port: number;
  /** Sessions attached now. */
  sessions(): number;
  /** Stops listening and ends every session. */
  close(): Promise<void>;
}

/** An attach failure as the caller sees it. */
export function attachRefusal(
  err: unknown,
  ref: ConsoleTargetRef,
): { status: 409 | 502; message: string } {
  const what = `maasnodes.maaslab.dev "${ref.name}"`;
  if (
    isLibvirtError(err, ErrorNumber.OperationInvalid) ||
    isLibvirtError(err, ErrorNumber.NoDomain)
  ) {
    return { status: 409, message: `${what} is not running` };
  }
  if (err instanceof VncUnavailableError) {
    return { status: 409, message: `${what} has no VNC display to attach to: ${err.message}` };
  }
  const detail = err instanceof Error ? err.message : String(err);
  return { status: 502, message: `could not open the ${ref.kind} of ${what}: ${detail}` };
}

/** Starts the server; resolves once it listens. */
export async function startConsoleServer(opts: ConsoleServerOptions): Promise<ConsoleServer> {
  const bind = parseBindAddress(opts.bindAddress);
  if (!bind) throw new TypeError('the console server needs a bind address');
  const log = opts.logger ?? noopLogger;
  const maxSessions = opts.maxSessions ?? 64;
  const live = new Set<Duplex>();
  const pair = opts.certificate.current();
  const server: Server = createServer({
    key: pair.keyPem,
    cert: pair.certPem,
    minVersion: 'TLSv1.2',
    maxHeaderSize: CONSOLE_MAX_HEADER_SIZE,
    headersTimeout: opts.headersTimeoutMs ?? CONSOLE_HEADERS_TIMEOUT_MS,
    requestTimeout: (opts.headersTimeoutMs ?? CONSOLE_HEADERS_TIMEOUT_MS) + 5_000,
    // Node checks those deadlines this often (default 30 s): a slow client is cut on time.
    connectionsCheckingInterval: 1_000,
  });
  const stopWatching = opts.certificate.watch((next) =>
    server.setSecureContext({ key: next.keyPem, cert: next.certPem, minVersion: 'TLSv1.2' }),
  );

  /** Answers on the raw socket and closes it. */
  const refuse = (socket: Duplex, status: number, message: string): void => {
    if (socket.writable) socket.end(errorResponse(status, message));
    else socket.destroy();
  };

  // A request that is not an upgrade: the same checks, then 426 for a good path.
  server.on('request', (req, res) => {
    const parsed = parseConsoleRequest({
      method: req.method,
      url: req.url,
      headers: req.headersDistinct,
    });
    const { status, message } = parsed.ok
      ? { status: 426, message: 'upgrade required' }
      : parsed.refusal;
    res.shouldKeepAlive = false;
    res.writeHead(status, {
      'Content-Type': 'text/plain; charset=utf-8',
      ...(status === 426 && { Upgrade: 'maaslab-stream', Connection: 'Upgrade, close' }),
    });
    res.end(`${message}\n`);
  });

  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    const status =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? 431
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? 408
          : 400;
    if (socket.writable)
      socket.end(
        errorResponse(status, status === 431 ? 'request headers too large' : 'bad request'),
      );
    else socket.destroy();
  });

  const handle = async (req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> => {
    const parsed = parseConsoleRequest({
      method: req.method,
      url: req.url,
      headers: req.headersDistinct,
    });
    if (!parsed.ok) return refuse(socket, parsed.refusal.status, parsed.refusal.message);
    const ref = parsed.target;
    const decision = await opts.authorize(req.headersDistinct.authorization, ref);
    if (!decision.allowed) {
      log.info('Console request refused', {
        ...ref,
        status: decision.status,
        reason: decision.detail,
      });
      return refuse(socket, decision.status, decision.message);
    }
    const resolved = resolveConsole(ref, opts.lookup(ref));
    if (!resolved.ok) return refuse(socket, resolved.refusal.status, resolved.refusal.message);
    if (live.size >= maxSessions) return refuse(socket, 503, 'too many console sessions');
    let target: Duplex;
    try {
      target = await opts.attach(ref.kind, resolved.domain);
    } catch (err) {
      const r = attachRefusal(err, ref);
      log.warn('Console attach failed', { ...ref, user: decision.user, error: describeError(err) });
      return refuse(socket, r.status, r.message);
    }
    if (socket.destroyed) {
      target.destroy();
      return;
    }
    live.add(target);
    log.info('Console session started', { ...ref, user: decision.user });
    const end = (): void => {
      if (!live.delete(target)) return;
      target.destroy();
      socket.destroy();
      log.info('Console session ended', { ...ref, user: decision.user });
    };
    target
      .on('error', end)
      .on('close', end)
      .on('end', () => socket.end());
    socket.on('error', end).on('close', end);
    socket.write(SWITCHING_PROTOCOLS);
    if (head.length > 0) target.write(head);
    socket.pipe(target);
    target.pipe(socket);
  };

  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    handle(req, socket, head).catch((err: unknown) => {
      log.error('Console request failed', { error: describeError(err) });
      refuse(socket, 500, 'internal error');
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(bind.port, bind.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  return {
    host: address.address,
    port: address.port,
    sessions: () => live.size,
    close: () =>
      new Promise<void>((resolve) => {
        stopWatching();
        for (const s of [...live]) s.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
