// Kubeconfig: where the operator finds its API server and credentials, without
// @kubernetes/client-node (whose import alone costs ~85 MB of RSS: it loads every generated
// API and model).
//
// Parsing, merging and context selection are pure (text in, RestConfig out, files read
// through a function the caller passes); `loadRestConfig` is the only part that touches the
// file system and the environment. What kubectl does, we do:
//   - `$KUBECONFIG` is a colon-separated list; the first file that defines a cluster, user or
//     context name wins, and so does the first `current-context`; missing files are skipped;
//   - relative paths in a file are relative to that file's directory;
//   - in a pod, the service account's token is a file re-read as the kubelet rotates it.
// What kubectl supports and we do not (legacy `auth-provider`, impersonation, `proxy-url`)
// fails loudly, naming the field, rather than connecting with the wrong identity.

import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import { parse } from 'yaml';
import { type ExecConfig, parseExecConfig } from './exec-credential.js';

/** Everything a RestClient needs to reach and authenticate to one API server. */
export interface RestConfig {
  /** e.g. `https://127.0.0.1:6443`; a path after the host prefixes every request. */
  readonly server: string;
  /** PEM of the CA(s) the server's certificate must chain to; default: Node's roots. */
  readonly caData?: string;
  readonly insecureSkipTlsVerify?: boolean;
  /** The name to check the server's certificate against, when not the URL's host. */
  readonly tlsServerName?: string;
  /** PEM client certificate and key (mutual TLS). */
  readonly clientCertificateData?: string;
  readonly clientKeyData?: string;
  /** A fixed bearer token. */
  readonly token?: string;
  /** A file holding the bearer token, re-read when it may have been rotated. */
  readonly tokenFile?: string;
  /** HTTP basic authentication. */
  readonly username?: string;
  readonly password?: string;
  /** A credential plugin run for a token or client certificate. */
  readonly exec?: ExecConfig;
  /** The context's namespace, if it names one. */
  readonly namespace?: string;
  /** Where this came from (file and context), for error messages. */
  readonly source?: string;
  /**
   * Deadline of one request, headers and body, in ms (client-go's rest.Config.Timeout;
   * default 30 s here). Watches use it until their headers arrive, then their own timeout.
   */
  readonly timeoutMs?: number;
}

/** A cluster entry of a kubeconfig, paths made absolute. */
export interface KubeconfigCluster {
  readonly server: string;
  readonly certificateAuthority?: string;
  readonly certificateAuthorityData?: string;
  readonly insecureSkipTlsVerify?: boolean;
  readonly tlsServerName?: string;
  readonly proxyUrl?: string;
}

/** A user entry of a kubeconfig, paths made absolute. */
export interface KubeconfigUser {
  readonly clientCertificate?: string;
  readonly clientCertificateData?: string;
  readonly clientKey?: string;
  readonly clientKeyData?: string;
  readonly token?: string;
  readonly tokenFile?: string;
  readonly username?: string;
  readonly password?: string;
  readonly exec?: ExecConfig;
  /** Fields we refuse to ignore, e.g. `auth-provider (oidc)`, `as`. */
  readonly unsupported: readonly string[];
}

/** A context entry of a kubeconfig. */
export interface KubeconfigContext {
  readonly cluster: string;
  readonly user: string;
  readonly namespace?: string;
}

/** One kubeconfig file, or several merged. */
export interface Kubeconfig {
  readonly clusters: ReadonlyMap<string, KubeconfigCluster>;
  readonly users: ReadonlyMap<string, KubeconfigUser>;
  readonly contexts: ReadonlyMap<string, KubeconfigContext>;
  readonly currentContext?: string;
  /** The file(s) it came from. */
  readonly source: string;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function str(o: Obj, key: string, where: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw new Error(`${where}: '${key}' must be a string`);
  return v;
}

function bool(o: Obj, key: string, where: string): boolean | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw new Error(`${where}: '${key}' must be true or false`);
  return v;
}

/** `name: …, <field>: {…}` entries of one list, first of a duplicated name winning as kubectl does. */
function named(doc: Obj, list: string, field: string, source: string): Map<string, Obj> {
  const out = new Map<string, Obj>();
  const entries = doc[list] ?? [];
  if (!Array.isArray(entries)) throw new Error(`${source}: '${list}' must be a list`);
  for (const e of entries as unknown[]) {
    if (!isObj(e) || typeof e.name !== 'string' || e.name === '') {
      throw new Error(`${source}: every entry of '${list}' needs a name`);
    }
    const body = e[field] ?? {};
    if (!isObj(body)) throw new Error(`${source}: ${list} '${e.name}': '${field}' must be a map`);
    if (!out.has(e.name)) out.set(e.name, body);
  }
  return out;
}

/** Parses one kubeconfig file's text; relative paths become relative to `path`'s directory. */
export function parseKubeconfig(text: string, path: string): Kubeconfig {
  const doc: unknown = parse(text);
  if (doc === null || doc === undefined) {
    return { clusters: new Map(), users: new Map(), contexts: new Map(), source: path };
  }
  if (!isObj(doc)) throw new Error(`${path}: not a kubeconfig (expected a map)`);
  const base = dirname(path);
  const file = (p: string | undefined): string | undefined =>
    p === undefined ? undefined : isAbsolute(p) ? p : resolve(base, p);

  const clusters = new Map<string, KubeconfigCluster>();
  for (const [name, c] of named(doc, 'clusters', 'cluster', path)) {
    const where = `${path}: cluster '${name}'`;
    const server = str(c, 'server', where);
    if (!server) throw new Error(`${where} has no server`);
    clusters.set(name, {
      server,
      certificateAuthority: file(str(c, 'certificate-authority', where)),
      certificateAuthorityData: str(c, 'certificate-authority-data', where),
      insecureSkipTlsVerify: bool(c, 'insecure-skip-tls-verify', where),
      tlsServerName: str(c, 'tls-server-name', where),
      proxyUrl: str(c, 'proxy-url', where),
    });
  }

  const users = new Map<string, KubeconfigUser>();
  for (const [name, u] of named(doc, 'users', 'user', path)) {
    const where = `${path}: user '${name}'`;
    const unsupported: string[] = [];
    if (isObj(u['auth-provider'])) {
      const provider = u['auth-provider'].name;
      unsupported.push(`auth-provider (${typeof provider === 'string' ? provider : 'unnamed'})`);
    }
    for (const key of ['as', 'as-uid', 'as-groups', 'as-user-extra']) {
      if (u[key] !== undefined && u[key] !== null) unsupported.push(`${key} (impersonation)`);
    }
    const exec = u.exec;
    users.set(name, {
      clientCertificate: file(str(u, 'client-certificate', where)),
      clientCertificateData: str(u, 'client-certificate-data', where),
      clientKey: file(str(u, 'client-key', where)),
      clientKeyData: str(u, 'client-key-data', where),
      token: str(u, 'token', where),
      tokenFile: file(str(u, 'tokenFile', where)),
      username: str(u, 'username', where),
      password: str(u, 'password', where),
      exec: exec === undefined || exec === null ? undefined : parseExecConfig(exec, where, base),
      unsupported,
    });
  }

  const contexts = new Map<string, KubeconfigContext>();
  for (const [name, c] of named(doc, 'contexts', 'context', path)) {
    const where = `${path}: context '${name}'`;
    contexts.set(name, {
      cluster: str(c, 'cluster', where) ?? '',
      user: str(c, 'user', where) ?? '',
      namespace: str(c, 'namespace', where),
    });
  }
  return {
    clusters,
    users,
    contexts,
    currentContext: str(doc, 'current-context', path),
    source: path,
  };
}

/** Merges files as kubectl merges `$KUBECONFIG`: the first to define a name or current-context wins. */
export function mergeKubeconfigs(files: readonly Kubeconfig[]): Kubeconfig {
  const first = <V>(pick: (k: Kubeconfig) => ReadonlyMap<string, V>): Map<string, V> => {
    const out = new Map<string, V>();
    for (const f of files) for (const [n, v] of pick(f)) if (!out.has(n)) out.set(n, v);
    return out;
  };
  return {
    clusters: first((f) => f.clusters),
    users: first((f) => f.users),
    contexts: first((f) => f.contexts),
    currentContext: files.find((f) => f.currentContext)?.currentContext,
    source: files.map((f) => f.source).join(delimiter),
  };
}

/** Reads a file referenced by a kubeconfig, as text. */
export type ReadFile = (path: string) => string;

const decode = (b64: string): string => Buffer.from(b64, 'base64').toString('utf8');

/**
 * The RestConfig of `context` (default: the current context). Certificate files are read
 * now through `readFile`; a token file is only named, so it is re-read when rotated.
 */
export function restConfigFromKubeconfig(
  kc: Kubeconfig,
  readFile: ReadFile,
  context?: string,
): RestConfig {
  const name = context ?? kc.currentContext;
  if (!name) throw new Error(`${kc.source}: no current-context, and no context was chosen`);
  const ctx = kc.contexts.get(name);
  if (!ctx) throw new Error(`${kc.source}: context '${name}' not found`);
  const where = `context '${name}' of ${kc.source}`;
  const cluster = kc.clusters.get(ctx.cluster);
  if (!cluster) throw new Error(`${where}: cluster '${ctx.cluster}' not found`);
  if (cluster.proxyUrl) {
    throw new Error(`${where}: cluster '${ctx.cluster}' sets proxy-url, which is not supported`);
  }
  // A context may name no user (anonymous access); a named one must exist.
  const user: KubeconfigUser | undefined = ctx.user ? kc.users.get(ctx.user) : undefined;
  if (ctx.user && !user) throw new Error(`${where}: user '${ctx.user}' not found`);
  if (user && user.unsupported.length > 0) {
    throw new Error(
      `${where}: user '${ctx.user}' uses ${user.unsupported.join(', ')}, which maaslab-operator ` +
        'does not support (use a token, a client certificate or an exec credential plugin)',
    );
  }
  const pem = (data: string | undefined, path: string | undefined): string | undefined =>
    data !== undefined ? decode(data) : path !== undefined ? readFile(path) : undefined;
  const server = new URL(cluster.server);
  if (server.protocol !== 'https:' && server.protocol !== 'http:') {
    throw new Error(`${where}: server ${cluster.server} is neither https nor http`);
  }
  return {
    server: cluster.server,
    caData: pem(cluster.certificateAuthorityData, cluster.certificateAuthority),
    insecureSkipTlsVerify: cluster.insecureSkipTlsVerify,
    tlsServerName: cluster.tlsServerName,
    clientCertificateData: pem(user?.clientCertificateData, user?.clientCertificate),
    clientKeyData: pem(user?.clientKeyData, user?.clientKey),
    token: user?.token,
    tokenFile: user?.token ? undefined : user?.tokenFile,
    username: user?.username,
    password: user?.password,
    exec: user?.exec,
    namespace: ctx.namespace,
    source: where,
  };
}

/** Where a pod's service-account credentials are mounted. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** The in-cluster RestConfig: the service's address from the environment, the mounted token and CA. */
export function inClusterRestConfig(
  env: Readonly<Record<string, string | undefined>>,
  readFile: ReadFile,
  dir = SERVICE_ACCOUNT_DIR,
): RestConfig {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) {
    throw new Error('not in a cluster: KUBERNETES_SERVICE_HOST or KUBERNETES_SERVICE_PORT unset');
  }
  let namespace: string | undefined;
  try {
    namespace = readFile(join(dir, 'namespace')).trim() || undefined;
  } catch {
    namespace = undefined;
  }
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    caData: readFile(join(dir, 'ca.crt')),
    tokenFile: join(dir, 'token'),
    namespace,
    source: 'in-cluster service account',
  };
}

/** Options for {@link loadRestConfig}. */
export interface LoadRestConfigOptions {
  /** A kubeconfig file (`--kubeconfig`); then nothing else is looked at. */
  readonly kubeconfig?: string;
  /** The context to use instead of the current one. */
  readonly context?: string;
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly home?: string;
}

const readText: ReadFile = (path) => readFileSync(path, 'utf8');

/**
 * The RestConfig to use: the file given, else the in-cluster config (service-account token
 * and KUBERNETES_SERVICE_HOST both present), else `$KUBECONFIG`, else `~/.kube/config`.
 */
export function loadRestConfig(opts: LoadRestConfigOptions = {}): RestConfig {
  const env = opts.env ?? process.env;
  const fromFiles = (paths: readonly string[]): RestConfig =>
    restConfigFromKubeconfig(
      mergeKubeconfigs(paths.map((p) => parseKubeconfig(readText(p), p))),
      readText,
      opts.context,
    );
  if (opts.kubeconfig) return fromFiles([opts.kubeconfig]);
  if (env.KUBERNETES_SERVICE_HOST && existsSync(join(SERVICE_ACCOUNT_DIR, 'token'))) {
    return inClusterRestConfig(env, readText);
  }
  if (env.KUBECONFIG) {
    const listed = env.KUBECONFIG.split(delimiter).filter((p) => p !== '');
    const present = listed.filter((p) => existsSync(p));
    if (present.length === 0) {
      throw new Error(`none of the KUBECONFIG files exists: ${env.KUBECONFIG}`);
    }
    return fromFiles(present);
  }
  const home = join(opts.home ?? homedir(), '.kube', 'config');
  if (!existsSync(home)) {
    throw new Error(
      `no kubeconfig: pass --kubeconfig, set KUBECONFIG, create ${home}, or run in a cluster`,
    );
  }
  return fromFiles([home]);
}
