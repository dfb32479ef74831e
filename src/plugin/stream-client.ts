// The plugin's side of the console endpoint (src/console/server.ts): one TLS connection, one
// `GET .../maasnodes/NAME/console|vnc` with `Connection: Upgrade`, `Upgrade: maaslab-stream`
// and the kubeconfig's bearer token; a 101 leaves the socket carrying raw bytes, anything
// else becomes a PluginError with the server's one-line reason (403 says which permission).

import { connect, type TLSSocket } from 'node:tls';
import { PluginError } from './errors.js';
import { definedProps } from '../util/defined-props.js';

/** Where the operator's console endpoint is, and how to trust it. */
export interface StreamEndpoint {
  readonly host: string;
  readonly port: number;
  /** PEM CA bundle the endpoint's certificate must chain to. */
  readonly ca?: string;
  /**
   * Do not verify the endpoint's certificate: through `kubectl port-forward` the tunnel is
   * the API server's (authenticated, to the pod it names); for `--endpoint` only on request.
   */
  readonly insecureSkipTlsVerify: boolean;
}

/** What to attach to. */
export interface StreamRequest {
  readonly namespace: string;
  readonly name: string;
  readonly kind: 'console' | 'vnc';
  /** The Authorization header value (`Bearer ...`). */
  readonly authorization: string;
}

/** Largest response head accepted from the endpoint. */
export const MAX_RESPONSE_HEAD = 16 * 1024;

/** A parsed response head. */
export interface ResponseHead {
  readonly status: number;
  readonly headers: ReadonlyMap<string, string>;
}

/** Parses `HTTP/1.1 NNN reason` and its header lines (lower-case names). Pure. */
export function parseResponseHead(head: string): ResponseHead {
  const [statusLine = '', ...lines] = head.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(statusLine);
  if (!m) throw new PluginError('the console endpoint did not answer with HTTP');
  const headers = new Map<string, string>();
  for (const line of lines) {
    const i = line.indexOf(':');
    if (i > 0) headers.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
  }
  return { status: Number(m[1]), headers };
}

/** The request head the plugin sends. Pure. */
export function requestHead(req: StreamRequest, host: string): string {
  const path = `/apis/maaslab.dev/v1alpha1/namespaces/${encodeURIComponent(req.namespace)}/maasnodes/${encodeURIComponent(req.name)}/${req.kind}`;
  return (
    `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: maaslab-stream\r\n` +
    `Authorization: ${req.authorization}\r\nUser-Agent: kubectl-maaslab\r\n\r\n`
  );
}

/** Opens the stream; rejects with a PluginError when the endpoint says no. */
export async function openNodeStream(
  endpoint: StreamEndpoint,
  req: StreamRequest,
  signal?: AbortSignal,
): Promise<TLSSocket> {
  const socket = connect(
    definedProps({
      host: endpoint.host,
      port: endpoint.port,
      ca: endpoint.ca,
      rejectUnauthorized: !endpoint.insecureSkipTlsVerify,
      ALPNProtocols: ['http/1.1'],
    }),
  );
  const where = `${endpoint.host}:${endpoint.port}`;
  const onAbort = (): void => void socket.destroy(new PluginError('interrupted'));
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', (err) =>
        reject(new PluginError(`cannot reach the console endpoint ${where}: ${err.message}`)),
      );
    });
    socket.write(requestHead(req, where));
    const { head, rest } = await readHead(socket, where);
    const parsed = parseResponseHead(head);
    if (parsed.status === 101) {
      if (rest.length > 0) socket.unshift(rest);
      return socket;
    }
    const body = (await readBody(socket, rest)).trim().split('\n')[0] ?? '';
    socket.destroy();
    throw new PluginError(body || `the console endpoint answered ${parsed.status}`);
  } catch (err) {
    socket.destroy();
    throw err;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

/** Reads up to the blank line that ends the response head. */
function readHead(socket: TLSSocket, where: string): Promise<{ head: string; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end >= 0) {
        done();
        resolve({ head: buf.subarray(0, end).toString('latin1'), rest: buf.subarray(end + 4) });
      } else if (buf.length > MAX_RESPONSE_HEAD) {
        done();
        reject(new PluginError(`the console endpoint ${where} sent an oversized answer`));
      }
    };
    const onEnd = (): void => {
      done();
      reject(new PluginError(`the console endpoint ${where} closed the connection`));
    };
    const onError = (err: Error): void => {
      done();
      reject(
        err instanceof PluginError
          ? err
          : new PluginError(`console endpoint ${where}: ${err.message}`),
      );
    };
    const done = (): void => {
      socket.off('data', onData).off('end', onEnd).off('error', onError);
      socket.pause();
    };
    socket.on('data', onData).on('end', onEnd).on('error', onError);
  });
}

/** Reads an error body (at most 4 KiB) until the server closes. */
function readBody(socket: TLSSocket, first: Buffer): Promise<string> {
  return new Promise((resolve) => {
    let text = first.toString('utf8');
    const finish = (): void => resolve(text.slice(0, 4096));
    socket.on('data', (d: Buffer) => {
      text += d.toString('utf8');
      if (text.length > 4096) socket.destroy();
    });
    socket.once('end', finish).once('close', finish).once('error', finish);
    socket.resume();
  });
}
