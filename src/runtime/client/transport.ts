// Transport: how bytes reach one API server — straight, or through an HTTP proxy.
//
// One keep-alive Agent per client, replaced only when an exec plugin rotates the client
// certificate (a new TLS context). Through a proxy (proxy.ts decides which):
//   - https targets tunnel with HTTP CONNECT, then TLS to the API server inside the tunnel,
//     end to end: the proxy sees host and port, never the traffic or the credentials; the
//     Agent keeps tunnelled connections alive like direct ones;
//   - http targets send the absolute URL to the proxy, as Go's Transport does.
// A `user:password@` in the proxy URL becomes Proxy-Authorization (Basic). Only http://
// proxies are supported; https:// and socks5:// ones are refused when the client is made,
// rather than silently connecting directly past a proxy that may be mandatory.

import type { Agent as HttpAgent, ClientRequestArgs, IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, type AgentOptions, request as httpsRequest } from 'node:https';
import type { Duplex } from 'node:stream';
import { type SecureContext, connect as tlsConnect, createSecureContext } from 'node:tls';
import type { Credential } from './credentials.js';
import type { RestConfig } from './kubeconfig.js';
import { http } from '../../util/node-http.js';

/** Sends requests to one server. */
export interface Transport {
  open(opts: {
    method: string;
    path: string;
    credential: Credential;
    body?: string;
    contentType?: string;
    signal?: AbortSignal;
    /**
     * A response that stays open (a watch): it goes over connections of its own, so watches
     * never hold the request connections (maxConnections) and requests never wait on them.
     */
    stream?: boolean;
  }): Promise<IncomingMessage>;
}

/** How to reach the server. */
export interface TransportOptions {
  /** The HTTP proxy to go through (none: connect directly). */
  readonly proxy?: URL;
  /** How long a proxy may take to answer CONNECT. */
  readonly connectTimeoutMs: number;
  /**
   * Connections for requests (not streams) at most; more requests at once wait for one to
   * be free (default DEFAULT_MAX_CONNECTIONS).
   */
  readonly maxConnections?: number;
}

/**
 * Request connections per server at most. HTTP/1.1 carries one request at a time per
 * connection, and without a bound a burst (a lab applying 100 children at once) opens a
 * connection per request in flight: about 120 in a 1000-node build, each a TLS handshake for
 * both ends and a TLS session's buffers held for the process's life. client-go's HTTP/2 puts
 * all of them on one connection. 16 keeps the API server as busy as it can be on a small
 * control plane (its own limit is --max-requests-inflight, 400) without the handshakes.
 */
export const DEFAULT_MAX_CONNECTIONS = 16;

/** `host` without IPv6 brackets. */
const bare = (host: string): string => host.replace(/^\[|\]$/g, '');

/** The proxy URL without its credentials, for messages. */
const shown = (proxy: URL): string => `${proxy.protocol}//${proxy.host}`;

/** `Basic …` from the proxy URL's userinfo, if it has any. */
function proxyAuthorization(proxy: URL): string | undefined {
  if (!proxy.username && !proxy.password) return undefined;
  const user = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
  return `Basic ${Buffer.from(user).toString('base64')}`;
}

/** An https Agent whose connections are CONNECT tunnels through an HTTP proxy. */
class TunnelAgent extends HttpsAgent {
  constructor(
    options: AgentOptions,
    private readonly proxy: URL,
    private readonly timeoutMs: number,
  ) {
    super(options);
  }

  override createConnection(
    options: ClientRequestArgs,
    callback?: (err: Error | null, stream: Duplex) => void,
  ): Duplex | null | undefined {
    const target = `${options.host?.includes(':') ? `[${options.host}]` : options.host}:${options.port}`;
    const authorization = proxyAuthorization(this.proxy);
    let done = false;
    const finish = (err: Error | null, stream?: Duplex): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      callback?.(err, stream as Duplex);
    };
    const req = http.request({
      host: bare(this.proxy.hostname),
      port: this.proxy.port || 80,
      method: 'CONNECT',
      path: target,
      headers: { Host: target, ...(authorization && { 'Proxy-Authorization': authorization }) },
      agent: false,
    });
    const timer = setTimeout(() => {
      req.destroy(
        new Error(
          `proxy ${shown(this.proxy)}: no answer to CONNECT ${target} within ${this.timeoutMs} ms`,
        ),
      );
    }, this.timeoutMs);
    timer.unref();
    req.once('connect', (res, socket, head) => {
      if (res.statusCode !== 200) {
        socket.destroy();
        finish(
          new Error(`proxy ${shown(this.proxy)} refused CONNECT ${target}: HTTP ${res.statusCode}`),
        );
        return;
      }
      if (head.length > 0) socket.unshift(head);
      // TLS to the API server, end to end inside the tunnel; servername and CA as direct.
      finish(null, tlsConnect({ ...(options as object), socket }));
    });
    req.once('error', (err) => finish(err));
    req.end();
    return undefined;
  }
}

/** Creates the transport for `config`. */
export function createTransport(config: RestConfig, opts: TransportOptions): Transport {
  const server = new URL(config.server);
  const secure = server.protocol === 'https:';
  const prefix = server.pathname.replace(/\/+$/, '');
  const { proxy } = opts;
  if (proxy && proxy.protocol !== 'http:') {
    throw new Error(
      `proxy ${shown(proxy)} for ${config.server}: only http:// proxies are supported`,
    );
  }
  const maxConnections = opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  /** The Agents for requests and for streams, made with one TLS context. */
  let agents: { requests: HttpAgent; streams: HttpAgent } | undefined;
  let agentCert: string | undefined;
  const agentsFor = (credential: Credential): { requests: HttpAgent; streams: HttpAgent } => {
    const cert = credential.certificate;
    if (agents && (cert === undefined || cert.cert === agentCert)) return agents;
    // A new client certificate (an exec plugin rotated it) needs a new TLS context. Streams
    // on the old Agents' sockets (watches) run on until they end; their idle sockets are
    // never used again and close when the server drops them.
    agentCert = cert?.cert;
    // One TLS context for all connections of both. Given ca, cert and key instead, every
    // new connection parses them into a context of its own (bench/RESULTS.md, section 2b
    // and the closing note of 2026-12-07 15:20).
    const context = secure
      ? createSecureContext({
          ca: config.caData,
          cert: cert?.cert ?? config.clientCertificateData,
          key: cert?.key ?? config.clientKeyData,
        })
      : undefined;
    agents = {
      requests: agentOf(context, { maxSockets: maxConnections }),
      streams: agentOf(context, {}),
    };
    return agents;
  };
  const agentOf = (
    context: SecureContext | undefined,
    limits: { maxSockets?: number },
  ): HttpAgent => {
    if (!context) return new http.Agent({ keepAlive: true, ...limits });
    const tls: AgentOptions = {
      ...limits,
      keepAlive: true,
      secureContext: context,
      rejectUnauthorized: config.insecureSkipTlsVerify !== true,
      ...(config.tlsServerName && { servername: config.tlsServerName }),
    };
    return proxy ? new TunnelAgent(tls, proxy, opts.connectTimeoutMs) : new HttpsAgent(tls);
  };
  const send = secure ? httpsRequest : http.request;
  // Plain http through a proxy: the request goes to the proxy with the absolute URL.
  const viaProxy = !secure && proxy !== undefined;
  const authorization = proxy && proxyAuthorization(proxy);
  return {
    open({ method, path, credential, body, contentType, signal, stream }) {
      return new Promise((resolve, reject) => {
        const headers: Record<string, string> = {
          Accept: 'application/json',
          'User-Agent': 'maaslab-operator',
        };
        if (credential.authorization) headers.Authorization = credential.authorization;
        if (body !== undefined) {
          headers['Content-Type'] = contentType ?? 'application/json';
          headers['Content-Length'] = String(Buffer.byteLength(body));
        }
        if (viaProxy) {
          headers.Host = server.host;
          if (authorization) headers['Proxy-Authorization'] = authorization;
        }
        const req = send(
          {
            protocol: server.protocol,
            hostname: bare(viaProxy ? proxy.hostname : server.hostname),
            port: viaProxy ? proxy.port || 80 : server.port || (secure ? 443 : 80),
            method,
            path: viaProxy ? `${server.origin}${prefix}${path}` : prefix + path,
            headers,
            agent: agentsFor(credential)[stream ? 'streams' : 'requests'],
            signal,
          },
          resolve,
        );
        req.on('error', reject);
        req.end(body);
      });
    },
  };
}
