// A loopback HTTP proxy for tests: CONNECT tunnels (https targets) and absolute-URL requests
// (http targets), recording what it was asked. It only ever connects to loopback: a target
// host is looked up in `hosts` (default: 0.0.0.0 and kubernetes.default.svc are 127.0.0.1),
// and anything else is refused with 502, so no test traffic leaves the machine.
import {
  type IncomingMessage,
  type Server,
  type ServerResponse,
  createServer,
  request,
} from 'node:http';
import { type AddressInfo, type Socket, connect } from 'node:net';

/** A running test proxy. */
export interface ConnectProxy {
  /** e.g. `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** `host:port` of every CONNECT, in order. */
  readonly connects: string[];
  /** Absolute URLs of the plain requests it forwarded. */
  readonly requests: string[];
  /** Proxy-Authorization headers it saw (CONNECT and plain). */
  readonly authorizations: string[];
  close(): Promise<void>;
}

const DEFAULT_HOSTS: Readonly<Record<string, string>> = {
  '0.0.0.0': '127.0.0.1',
  '127.0.0.1': '127.0.0.1',
  'kubernetes.default.svc': '127.0.0.1',
};

/** Starts the proxy on 127.0.0.1. */
export async function startConnectProxy(
  hosts: Readonly<Record<string, string>> = DEFAULT_HOSTS,
): Promise<ConnectProxy> {
  const connects: string[] = [];
  const requests: string[] = [];
  const authorizations: string[] = [];
  const sockets = new Set<Socket>();
  const track = (s: Socket): void => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  };
  const loopback = (host: string): string | undefined => hosts[host.replace(/^\[|\]$/g, '')];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const auth = req.headers['proxy-authorization'];
    if (auth) authorizations.push(auth);
    const target = new URL(req.url ?? '', 'http://invalid');
    const to = loopback(target.hostname);
    requests.push(req.url ?? '');
    if (!to) {
      res.writeHead(502).end('not a test host');
      return;
    }
    const headers = { ...req.headers };
    delete headers['proxy-authorization'];
    const upstream = request(
      {
        host: to,
        port: target.port,
        method: req.method,
        path: target.pathname + target.search,
        headers,
      },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  server.on('connection', track);
  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    const auth = req.headers['proxy-authorization'];
    if (auth) authorizations.push(auth);
    const target = req.url ?? '';
    connects.push(target);
    const colon = target.lastIndexOf(':');
    const to = loopback(target.slice(0, colon));
    if (!to) {
      client.end('HTTP/1.1 502 Bad Gateway\r\n\r\n');
      return;
    }
    const upstream = connect(Number(target.slice(colon + 1)), to, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    track(upstream);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    connects,
    requests,
    authorizations,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}
