// Rest: raw-JSON requests to the API server, over @kubernetes/client-node's plumbing.
//
// client-node 2.x gets three things wrong for an operator, so every call goes through here:
//   - its typed (de)serializer turns timestamps into Dates and would send metav1.MicroTime
//     with millisecond precision, which the API server rejects: we send and receive raw JSON;
//   - `KubernetesObjectApi.patch` defaults to strategic-merge and has no subresources: every
//     write here names its Content-Type and may target `/status`;
//   - `ListWatch` never asks for bookmarks: `watch` sets `allowWatchBookmarks=true`.
// Discovery, authentication and TLS stay client-node's (KubernetesObjectApi, Watch).
// Note: client-node's Watch aborts a stream after 30 s without a byte (a private timer), so
// a quiet watch ends with a TimeoutError about every 30 s; the informer treats that as a
// clean close and re-watches from its resourceVersion.

import {
  ApiException,
  type Configuration,
  HttpMethod,
  type KubeConfig,
  KubernetesObjectApi,
  type KubernetesObject,
  type RequestContext,
  type SecurityAuthentication,
  Watch,
} from '@kubernetes/client-node';

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

/** True when `e` is an API error with HTTP status `code`. */
export function hasStatus(e: unknown, code: number): boolean {
  if (e instanceof ApiException) return e.code === code;
  // Watch errors carry statusCode; watch ERROR events carry a Status with code.
  if (typeof e === 'object' && e !== null) {
    const o = e as { statusCode?: unknown; code?: unknown };
    return o.statusCode === code || o.code === code;
  }
  return false;
}

/** 404: the object does not exist. */
export const isNotFound = (e: unknown): boolean => hasStatus(e, 404);
/** 409: optimistic-lock conflict or AlreadyExists. */
export const isConflict = (e: unknown): boolean => hasStatus(e, 409);
/** 410: the resourceVersion is too old; list again. */
export const isGone = (e: unknown): boolean => hasStatus(e, 410);

/** What RequestContext.setDispatcher takes (undici's Dispatcher, not a dependency of ours). */
type Dispatcher = Parameters<RequestContext['setDispatcher']>[0];

/** KubernetesObjectApi, opened up for discovery and raw requests. */
class RawApi extends KubernetesObjectApi {
  /**
   * The first request's connection pool, reused by every later one. client-node's KubeConfig
   * builds a new undici Agent per request, so each request paid a TCP connect, a TLS handshake
   * and a fresh SecureContext (the CA parsed again): the biggest CPU cost in the 1000-node
   * profile (bench/RESULTS.md). The TLS material comes from the kubeconfig, which does not
   * change while the process runs; tokens are headers and are still applied per request.
   */
  #dispatcher: Dispatcher | undefined;
  #options: Configuration | undefined;

  /** The configuration with authentication that keeps the first connection pool. */
  private reusingConnections(): Configuration {
    if (this.#options) return this.#options;
    const auth = this.configuration.authMethods.default;
    const reusing: SecurityAuthentication = {
      getName: () => `${auth?.getName() ?? 'none'}, connections reused`,
      applySecurityAuthentication: async (ctx) => {
        await auth?.applySecurityAuthentication(ctx);
        this.#dispatcher ??= ctx.getDispatcher();
        if (this.#dispatcher) ctx.setDispatcher(this.#dispatcher);
      },
    };
    this.#options = {
      ...this.configuration,
      authMethods: { ...this.configuration.authMethods, default: reusing },
    };
    return this.#options;
  }

  async uri(ref: ResourceRef, subresource?: string): Promise<string> {
    const spec = {
      apiVersion: ref.apiVersion,
      kind: ref.kind,
      metadata: {
        ...(ref.namespace ? { namespace: ref.namespace } : {}),
        ...(ref.name ? { name: ref.name } : {}),
      },
    };
    // specUriPath falls back to the context's namespace for a namespaced object: pass it explicitly.
    const base = await this.specUriPath(spec, ref.name ? 'read' : 'list');
    return subresource ? `${base}/${subresource}` : base;
  }

  async send<T>(req: RestRequest): Promise<T> {
    const path = await this.uri(req.ref, req.subresource);
    const ctx = this.configuration.baseServer.makeRequestContext(path, HttpMethod[req.method]);
    ctx.setHeaderParam('Accept', 'application/json');
    for (const [k, v] of Object.entries(req.query ?? {})) {
      if (v !== undefined) ctx.setQueryParam(k, String(v));
    }
    if (req.body !== undefined) {
      ctx.setHeaderParam('Content-Type', req.contentType ?? ContentType.Json);
      ctx.setBody(JSON.stringify(req.body));
    }
    if (req.signal) ctx.setSignal(req.signal);
    // 'KubernetesObject' is not in client-node's type map, so the body comes back untouched.
    return this.requestPromise(ctx, 'KubernetesObject', this.reusingConnections()) as Promise<T>;
  }
}

/** Creates a RestClient for `kubeConfig`. */
export function createRestClient(kubeConfig: KubeConfig): RestClient {
  const api = kubeConfig.makeApiClient(RawApi);
  const watcher = new Watch(kubeConfig);
  return {
    request: (req) => api.send(req),
    path: (ref, sub) => api.uri(ref, sub),
    async watch(ref, query, callbacks) {
      const path = await api.uri({ ...ref, name: undefined });
      let stopped = false;
      const controller = await watcher.watch(
        path,
        { ...query, allowWatchBookmarks: true },
        (type, obj: KubernetesObject) => {
          if (!stopped) callbacks.onEvent(type, obj);
        },
        (err: unknown) => {
          if (!stopped) callbacks.onDone(err);
        },
      );
      return {
        stop() {
          stopped = true;
          controller.abort();
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
        // client-node hands back the body, not the status line: any success is `2xx`.
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
