// Rest: raw-JSON requests and watches to the API server, on node:https.
//
// We do not use @kubernetes/client-node at run time: importing it loads every generated API
// and model (~85 MB of RSS, against an operator budget of 200 MB), and 2.x also gets three
// things wrong for an operator — its serializer writes metav1.MicroTime with millisecond
// precision (the API server rejects it), `KubernetesObjectApi.patch` has no subresources, and
// `ListWatch` never asks for bookmarks. So, here:
//   - bodies are raw JSON both ways, every write names its Content-Type and may target a
//     subresource such as `/status`;
//   - one keep-alive Agent per client: the TLS handshake and SecureContext (the CA parsed)
//     are paid once per connection, not per request (the biggest CPU cost of the 1000-node
//     profile under client-node, bench/RESULTS.md);
//   - resource paths come from discovery, cached per apiVersion (fetched again for a kind
//     it did not list, as a CRD may be created after we started);
//   - every request has a deadline (30 s by default, headers and body): a server that
//     never answers is a RequestTimeoutError, not a hang;
//   - watches are newline-delimited JSON with `allowWatchBookmarks=true` and always carry
//     `timeoutSeconds`; they end when the server ends them or the connection breaks, and the
//     client ends one itself (WatchTimeoutError) that stays silent — no event, no bookmark —
//     for longer than that timeout plus a margin: a half-open connection must not leave an
//     informer blind. The informer treats it as a timed-out watch and watches again;
//   - a 401 drops a refreshable credential (token file, exec plugin) and retries once;
//   - HTTPS_PROXY / HTTP_PROXY / NO_PROXY are honoured as client-go honours them (proxy.ts
//     decides, transport.ts tunnels).

import type { IncomingMessage } from 'node:http';
import { finished } from 'node:stream';
import type { KubernetesObject } from '@kubernetes/client-node';
import { type Credentials, createCredentials } from './credentials.js';
import type { RestConfig } from './kubeconfig.js';
import { type ProxyEnvironment, proxyConfigFromEnvironment, proxyFor } from './proxy.js';
import { createTransport } from './transport.js';
import {
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_WATCH_IDLE_MARGIN_MS,
  DEFAULT_WATCH_TIMEOUT_SECONDS,
  RequestTimeoutError,
  WatchTimeoutError,
  apiExceptionFrom,
  isNotFound,
} from './errors.js';
import { definedProps } from '../../util/defined-props.js';

export {
  ApiException,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_WATCH_IDLE_MARGIN_MS,
  DEFAULT_WATCH_TIMEOUT_SECONDS,
  RequestTimeoutError,
  WatchTimeoutError,
  apiExceptionFrom,
  hasStatus,
  isConflict,
  isGone,
  isNotFound,
} from './errors.js';

/** Names a resource (or, without `name`, a collection) of any kind. */
export interface ResourceRef {
  /** e.g. `v1`, `maaslab.dev/v1alpha1`. */
  readonly apiVersion: string;
  /** e.g. `ConfigMap`, `MaasNode`. */
  readonly kind: string;
  /** Namespace; omit for cluster-scoped kinds or an all-namespaces collection. */
  readonly namespace?: string;
  /** Object name; omit for a collection. */
  readonly name?: string;
}

/** Content types for PATCH, named explicitly on every call. */
export const ContentType = {
  MergePatch: 'application/merge-patch+json',
  JsonPatch: 'application/json-patch+json',
  Apply: 'application/apply-patch+yaml',
  Json: 'application/json',
} as const;
/** One of the `ContentType` values. */
export type ContentType = (typeof ContentType)[keyof typeof ContentType];

/** One request. */
export interface RestRequest {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** The object or collection. */
  readonly ref: ResourceRef;
  /** e.g. `status`. */
  readonly subresource?: string;
  /** Query parameters; undefined values are left out. */
  readonly query?: Readonly<Record<string, string | number | boolean | undefined>>;
  /** JSON body. */
  readonly body?: unknown;
  /** Body content type (default application/json). */
  readonly contentType?: ContentType;
  /** Aborts the request. */
  readonly signal?: AbortSignal;
}

/** A list response. */
export interface ObjectList<T> {
  readonly items: T[];
  readonly metadata?: { readonly resourceVersion?: string; readonly continue?: string };
}

/** A running watch; `stop` ends it without calling `onDone`'s error path twice. */
export interface WatchHandle {
  stop(): void;
}

/** Watch callbacks. */
export interface WatchCallbacks {
  /** One event: ADDED, MODIFIED, DELETED, BOOKMARK or ERROR (object is then a Status). */
  onEvent(type: string, object: KubernetesObject): void;
  /** The stream ended; `err` is null/undefined on a clean close. */
  onDone(err: unknown): void;
}

/** Raw-JSON access to the API server. */
export interface RestClient {
  /** Sends one request and returns the parsed JSON; non-2xx throws ApiException. */
  request<T>(req: RestRequest): Promise<T>;
  /** The URL path of `ref` (discovery is cached). */
  path(ref: ResourceRef, subresource?: string): Promise<string>;
  /** Opens a watch on `ref`'s collection with bookmarks on. */
  watch(
    ref: ResourceRef,
    query: Readonly<Record<string, string | number | undefined>>,
    callbacks: WatchCallbacks,
  ): Promise<WatchHandle>;
}

/** One resource of a discovery document. */
export interface ApiResource {
  readonly name: string;
  readonly kind: string;
  readonly namespaced: boolean;
}

/** The discovery URL path of `apiVersion`: `/api/v1` for the core group, else `/apis/<group>/<version>`. */
export const groupVersionPath = (apiVersion: string): string =>
  apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;

/**
 * The URL path of `ref` once its resource is known. A named object of a namespaced kind
 * without a namespace goes to `defaultNamespace` (the context's), as kubectl does.
 */
export function resourcePath(
  resource: ApiResource,
  ref: ResourceRef,
  subresource?: string,
  defaultNamespace = 'default',
): string {
  const seg = encodeURIComponent;
  const namespace = ref.namespace ?? (ref.name ? defaultNamespace : undefined);
  let path = groupVersionPath(ref.apiVersion);
  if (resource.namespaced && namespace) path += `/namespaces/${seg(namespace)}`;
  path += `/${resource.name}`;
  if (ref.name) path += `/${seg(ref.name)}`;
  return subresource ? `${path}/${subresource}` : path;
}

/** `?a=1&b=2` from the defined values of `query`. */
function queryString(
  query: Readonly<Record<string, string | number | boolean | undefined>>,
): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v));
  const s = params.toString();
  return s ? `?${s}` : '';
}

/**
 * The whole body, as text; rejects when the stream errs or closes before its end. Through
 * 'data' and stream.finished rather than `for await`: the async iterator costs a promise per
 * chunk on top, and every request of the operator reads a body (1.3 % of its main thread at
 * 1000 nodes, perf).
 */
function readText(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (chunk: Buffer) => chunks.push(chunk));
    finished(res, (err) => {
      if (err) reject(err);
      else resolve(Buffer.concat(chunks).toString('utf8'));
    });
  });
}

const ok = (res: IncomingMessage): boolean =>
  res.statusCode !== undefined && res.statusCode >= 200 && res.statusCode < 300;

/** Options for {@link createRestClient} beyond the RestConfig. */
export interface RestClientOptions {
  /** Where credentials come from (default: built from the config). */
  readonly credentials?: Credentials;
  /** Deadline of one request in ms (default the config's `timeoutMs`, else 30 s). */
  readonly timeoutMs?: number;
  /** `timeoutSeconds` of a watch whose query names none (default 300). */
  readonly watchTimeoutSeconds?: number;
  /** Silence past a watch's `timeoutSeconds` after which the client ends it (default 30 s). */
  readonly watchIdleMarginMs?: number;
  /** Where HTTPS_PROXY, HTTP_PROXY and NO_PROXY are read (default `process.env`). */
  readonly env?: ProxyEnvironment;
  /** Connections for requests at most; watches have their own (transport.ts). */
  readonly maxConnections?: number;
}

/** A deadline of `ms` over `parent`: its signal aborts at either. */
interface Deadline {
  readonly signal: AbortSignal;
  /** True once the deadline (not the parent) aborted the signal. */
  readonly expired: boolean;
  /** Stops the clock; the parent still aborts the signal (a watch's stop, after its opening). */
  cancel(): void;
  /** Unlinks the parent too: the request is over. */
  release(): void;
}

function deadline(ms: number, parent?: AbortSignal): Deadline {
  const own = new AbortController();
  let expired = false;
  const timer = setTimeout(() => {
    expired = true;
    own.abort(new DOMException(`deadline of ${ms} ms passed`, 'TimeoutError'));
  }, ms);
  timer.unref();
  // The parent reaches the request through one listener, removed when the request ends, not
  // through AbortSignal.any: that registers every request's signal with the parent through
  // weak references and a FinalizationRegistry, which only a full collection clears; at 1000
  // nodes they were among what filled the old space during a build (bench/RESULTS.md, 2b).
  const fromParent = (): void => own.abort(parent?.reason);
  if (parent?.aborted) fromParent();
  else parent?.addEventListener('abort', fromParent, { once: true });
  return {
    signal: own.signal,
    get expired() {
      return expired;
    },
    cancel: () => clearTimeout(timer),
    release: () => parent?.removeEventListener('abort', fromParent),
  };
}

const positive = (name: string, v: number): number => {
  if (!(v > 0)) throw new RangeError(`${name} must be positive, got ${v}`);
  return v;
};

/** Creates a RestClient for `config`. */
export function createRestClient(config: RestConfig, opts: RestClientOptions = {}): RestClient {
  const proxy = proxyFor(
    proxyConfigFromEnvironment(opts.env ?? process.env),
    new URL(config.server),
  );
  const credentials = opts.credentials ?? createCredentials(config);
  const timeoutMs = positive(
    'timeoutMs',
    opts.timeoutMs ?? config.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
  );
  const watchTimeoutSeconds = positive(
    'watchTimeoutSeconds',
    opts.watchTimeoutSeconds ?? DEFAULT_WATCH_TIMEOUT_SECONDS,
  );
  const watchIdleMarginMs = positive(
    'watchIdleMarginMs',
    opts.watchIdleMarginMs ?? DEFAULT_WATCH_IDLE_MARGIN_MS,
  );
  const transport = createTransport(
    config,
    definedProps({
      proxy,
      connectTimeoutMs: timeoutMs,
      // Node's Agent reads a maxSockets of 0 as no limit at all: refused here instead.
      maxConnections:
        opts.maxConnections === undefined
          ? undefined
          : positive('maxConnections', opts.maxConnections),
    }),
  );
  /** Discovery per apiVersion; in flight or done, shared by concurrent callers. */
  const discovery = new Map<string, Promise<readonly ApiResource[]>>();

  /** Sends a request, retrying once with a fresh credential after a 401. */
  const open = async (
    method: string,
    path: string,
    extra: { body?: string; contentType?: string; signal?: AbortSignal; stream?: boolean } = {},
  ): Promise<IncomingMessage> => {
    for (let attempt = 0; ; attempt++) {
      const credential = await credentials.current();
      const res = await transport.open({ method, path, credential, ...extra });
      if (res.statusCode === 401 && attempt === 0 && credentials.rejected(credential)) {
        res.resume();
        continue;
      }
      if (res.statusCode === 401) credentials.rejected(credential);
      return res;
    }
  };

  /** Sends a request and reads its whole answer within the deadline. */
  const getJson = async <T>(
    method: string,
    path: string,
    extra: Parameters<typeof open>[2] = {},
  ): Promise<T> => {
    const limit = deadline(timeoutMs, extra.signal);
    let res: IncomingMessage;
    let text: string;
    try {
      res = await open(method, path, { ...extra, signal: limit.signal });
      text = await readText(res);
    } catch (err) {
      if (limit.expired)
        throw new RequestTimeoutError(`${method} ${path}`, timeoutMs, { cause: err });
      throw err;
    } finally {
      limit.cancel();
      limit.release();
    }
    if (!ok(res)) throw apiExceptionFrom(res.statusCode ?? 0, text, `${method} ${path}`);
    return (text ? JSON.parse(text) : undefined) as T;
  };

  const resources = (apiVersion: string, fresh: boolean): Promise<readonly ApiResource[]> => {
    const cached = discovery.get(apiVersion);
    if (cached && !fresh) return cached;
    const fetched = getJson<{ resources?: ApiResource[] }>(
      'GET',
      groupVersionPath(apiVersion),
    ).then((list) => list.resources ?? []);
    discovery.set(apiVersion, fetched);
    // A failure is not remembered: the next call asks again.
    fetched.catch(() => {
      if (discovery.get(apiVersion) === fetched) discovery.delete(apiVersion);
    });
    return fetched;
  };

  const resourceOf = async (ref: ResourceRef): Promise<ApiResource> => {
    // Subresources (`pods/status`) share their parent's kind: the parent has no slash.
    const find = (list: readonly ApiResource[]): ApiResource | undefined =>
      list.find((r) => r.kind === ref.kind && !r.name.includes('/'));
    try {
      const found =
        find(await resources(ref.apiVersion, false)) ?? find(await resources(ref.apiVersion, true));
      if (found) return found;
    } catch (err) {
      // A group/version not served is no "object not found": not an ApiException itself, so
      // isNotFound is false. Other failures (401, 5xx, connection) pass through as they are.
      if (isNotFound(err)) {
        throw new Error(`the API server does not serve ${ref.apiVersion}`, { cause: err });
      }
      throw err;
    }
    throw new Error(`the API server serves no kind ${ref.kind} in ${ref.apiVersion}`);
  };

  const pathOf = async (ref: ResourceRef, subresource?: string): Promise<string> =>
    resourcePath(await resourceOf(ref), ref, subresource, config.namespace);

  return {
    async request<T>(req: RestRequest): Promise<T> {
      const path = (await pathOf(req.ref, req.subresource)) + queryString(req.query ?? {});
      return getJson<T>(req.method, path, {
        body: req.body === undefined ? undefined : JSON.stringify(req.body),
        contentType: req.contentType,
        signal: req.signal,
      });
    },
    path: pathOf,
    async watch(ref, query, callbacks) {
      const base = await pathOf({ ...ref, name: undefined });
      const serverTimeout = Number(query.timeoutSeconds ?? watchTimeoutSeconds);
      const path =
        base +
        queryString({
          ...query,
          timeoutSeconds: serverTimeout,
          watch: true,
          allowWatchBookmarks: true,
        });
      const abort = new AbortController();
      // Until the headers (and an error's body) are in, the request deadline applies.
      const opening = deadline(timeoutMs, abort.signal);
      let res: IncomingMessage;
      try {
        res = await open('GET', path, { signal: opening.signal, stream: true });
        if (!ok(res)) {
          throw apiExceptionFrom(res.statusCode ?? 0, await readText(res), `WATCH ${path}`);
        }
      } catch (err) {
        abort.abort();
        if (opening.expired)
          throw new RequestTimeoutError(`WATCH ${path}`, timeoutMs, { cause: err });
        throw err;
      } finally {
        opening.cancel();
      }
      // Then silence: the server closes a watch at timeoutSeconds; one silent for longer
      // (no event, no bookmark) is a dead or half-open connection.
      const idleMs = Number.isFinite(serverTimeout)
        ? serverTimeout * 1000 + watchIdleMarginMs
        : watchTimeoutSeconds * 1000 + watchIdleMarginMs;
      let idle: NodeJS.Timeout | undefined;
      const armIdle = (): void => {
        clearTimeout(idle);
        idle = setTimeout(() => finish(new WatchTimeoutError(base, idleMs)), idleMs);
        idle.unref();
      };
      let stopped = false;
      let done = false;
      const finish = (err: unknown): void => {
        if (done) return;
        done = true;
        clearTimeout(idle);
        abort.abort();
        if (!stopped) callbacks.onDone(err);
      };
      armIdle();
      let pending = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        pending += chunk;
        let nl: number;
        while (!done && (nl = pending.indexOf('\n')) >= 0) {
          const line = pending.slice(0, nl).trim();
          pending = pending.slice(nl + 1);
          if (!line) continue;
          let event: { type?: unknown; object?: unknown };
          try {
            event = JSON.parse(line) as typeof event;
          } catch (err) {
            finish(new Error(`watch ${base}: a line is not JSON`, { cause: err }));
            return;
          }
          if (typeof event.type === 'string' && typeof event.object === 'object' && event.object) {
            armIdle();
            if (!stopped) callbacks.onEvent(event.type, event.object as KubernetesObject);
          }
        }
      });
      res.on('end', () => finish(null));
      res.on('error', (err) => finish(stopped ? null : err));
      res.on('close', () => {
        if (!res.complete) finish(new Error(`watch ${base}: connection closed mid-stream`));
      });
      return {
        stop() {
          stopped = true;
          finish(null);
        },
      };
    },
  };
}

/** The status code of a failed request as client-go labels it; `<error>` when none came back. */
export function statusCodeOf(err: unknown): string {
  for (const key of ['code', 'statusCode'] as const) {
    const v = typeof err === 'object' && err !== null ? (err as Record<string, unknown>)[key] : 0;
    if (typeof v === 'number' && v >= 100 && v < 600) return String(v);
  }
  return '<error>';
}

/**
 * `rest`, telling `observe` about every request it finished (method and status code): the
 * API-load figure of the benchmarks and of client-go's rest_client_requests_total. Requests
 * that fail with an API error still count, under their code. Watches count as method WATCH
 * (the apiserver's verb for them), so writes and reads stay apart from long-running streams.
 */
export function instrumentRestClient(
  rest: RestClient,
  observe: (method: string, code: string) => void,
): RestClient {
  return {
    async request<T>(req: RestRequest): Promise<T> {
      try {
        const out = await rest.request<T>(req);
        // The body is what callers get, not the status line: any success is `2xx`.
        observe(req.method, '2xx');
        return out;
      } catch (err) {
        observe(req.method, statusCodeOf(err));
        throw err;
      }
    },
    path: (ref, sub) => rest.path(ref, sub),
    async watch(ref, query, callbacks) {
      try {
        const handle = await rest.watch(ref, query, callbacks);
        observe('WATCH', '2xx');
        return handle;
      } catch (err) {
        observe('WATCH', statusCodeOf(err));
        throw err;
      }
    },
  };
}
