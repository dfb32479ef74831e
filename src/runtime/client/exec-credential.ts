// Exec credential plugins (client.authentication.k8s.io v1 and v1beta1), as kubectl runs
// them: the kubeconfig names a command; it prints an ExecCredential whose status holds a
// bearer token or a client certificate, valid until `expirationTimestamp`. The result is
// kept until then, and dropped when the API server answers 401 to it.
//
// Parsing and caching are pure (the runner and the clock come in); `runExecPlugin` is the
// child process.

import { execFile } from 'node:child_process';
import { isAbsolute, resolve } from 'node:path';

/** The API versions of ExecCredential we speak (v1alpha1 was removed from Kubernetes in 1.24). */
export const EXEC_API_VERSIONS = [
  'client.authentication.k8s.io/v1',
  'client.authentication.k8s.io/v1beta1',
] as const;

/** A kubeconfig user's `exec` section. */
export interface ExecConfig {
  readonly apiVersion: string;
  readonly command: string;
  readonly args: readonly string[];
  /** Added to the operator's own environment. */
  readonly env: ReadonlyArray<{ readonly name: string; readonly value: string }>;
  /** Pass the cluster's address and CA in KUBERNETES_EXEC_INFO. */
  readonly provideClusterInfo: boolean;
  /** Shown when the command cannot be run. */
  readonly installHint?: string;
}

/** What a plugin run gave. */
export interface ExecCredential {
  readonly token?: string;
  readonly clientCertificateData?: string;
  readonly clientKeyData?: string;
  /** Epoch ms; undefined means "until the server rejects it". */
  readonly expiresAt?: number;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Validates a kubeconfig `exec` section. A command with a slash but not absolute is relative
 * to the kubeconfig's directory (`base`), as kubectl resolves it.
 */
export function parseExecConfig(raw: unknown, where: string, base: string): ExecConfig {
  if (!isObj(raw)) throw new Error(`${where}: 'exec' must be a map`);
  const apiVersion = raw.apiVersion;
  if (
    typeof apiVersion !== 'string' ||
    !(EXEC_API_VERSIONS as readonly string[]).includes(apiVersion)
  ) {
    throw new Error(
      `${where}: exec apiVersion ${JSON.stringify(apiVersion)} is not supported ` +
        `(use ${EXEC_API_VERSIONS.join(' or ')})`,
    );
  }
  const command = raw.command;
  if (typeof command !== 'string' || command === '') {
    throw new Error(`${where}: exec needs a command`);
  }
  const args = raw.args ?? [];
  if (!Array.isArray(args) || !args.every((a) => typeof a === 'string')) {
    throw new Error(`${where}: exec args must be a list of strings`);
  }
  const env = raw.env ?? [];
  if (
    !Array.isArray(env) ||
    !env.every((e) => isObj(e) && typeof e.name === 'string' && typeof e.value === 'string')
  ) {
    throw new Error(`${where}: exec env must be a list of {name, value} strings`);
  }
  if (raw.interactiveMode === 'Always') {
    throw new Error(
      `${where}: exec interactiveMode Always needs a terminal; the operator has none`,
    );
  }
  return {
    apiVersion,
    command: command.includes('/') && !isAbsolute(command) ? resolve(base, command) : command,
    args: args as string[],
    env: (env as Obj[]).map((e) => ({ name: e.name as string, value: e.value as string })),
    provideClusterInfo: raw.provideClusterInfo === true,
    installHint: typeof raw.installHint === 'string' ? raw.installHint : undefined,
  };
}

/** The cluster a plugin is told about when it asks (provideClusterInfo). */
export interface ExecClusterInfo {
  readonly server: string;
  readonly caData?: string;
  readonly insecureSkipTlsVerify?: boolean;
  readonly tlsServerName?: string;
}

/** The KUBERNETES_EXEC_INFO a plugin reads: who asks, never interactive. */
export function execInfo(config: ExecConfig, cluster: ExecClusterInfo): string {
  const spec: Obj = { interactive: false };
  if (config.provideClusterInfo) {
    spec.cluster = {
      server: cluster.server,
      ...(cluster.tlsServerName && { 'tls-server-name': cluster.tlsServerName }),
      ...(cluster.insecureSkipTlsVerify && { 'insecure-skip-tls-verify': true }),
      ...(cluster.caData && {
        'certificate-authority-data': Buffer.from(cluster.caData).toString('base64'),
      }),
    };
  }
  return JSON.stringify({ apiVersion: config.apiVersion, kind: 'ExecCredential', spec });
}

/** Reads a plugin's stdout: an ExecCredential of the configured apiVersion with a token or a certificate. */
export function parseExecCredential(stdout: string, apiVersion: string): ExecCredential {
  let doc: unknown;
  try {
    doc = JSON.parse(stdout);
  } catch (err) {
    throw new Error('exec plugin printed no JSON ExecCredential', { cause: err });
  }
  if (!isObj(doc) || doc.kind !== 'ExecCredential') {
    throw new Error('exec plugin output is not an ExecCredential');
  }
  if (doc.apiVersion !== apiVersion) {
    throw new Error(
      `exec plugin answered apiVersion ${JSON.stringify(doc.apiVersion)}, not ${apiVersion}`,
    );
  }
  const status = doc.status;
  if (!isObj(status)) throw new Error('exec plugin ExecCredential has no status');
  const text = (key: string): string | undefined => {
    const v = status[key];
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v !== 'string') throw new Error(`exec plugin status.${key} is not a string`);
    return v;
  };
  const token = text('token');
  const clientCertificateData = text('clientCertificateData');
  const clientKeyData = text('clientKeyData');
  if (!token && !(clientCertificateData && clientKeyData)) {
    throw new Error('exec plugin status has neither a token nor a client certificate and key');
  }
  if (!!clientCertificateData !== !!clientKeyData) {
    throw new Error('exec plugin status has a client certificate without its key, or the reverse');
  }
  const expiry = text('expirationTimestamp');
  let expiresAt: number | undefined;
  if (expiry !== undefined) {
    expiresAt = Date.parse(expiry);
    if (Number.isNaN(expiresAt)) {
      throw new Error(`exec plugin expirationTimestamp ${expiry} is not a timestamp`);
    }
  }
  return { token, clientCertificateData, clientKeyData, expiresAt };
}

/** A plugin's credential, fetched once and shared until it expires or is rejected. */
export interface ExecCredentialCache {
  /** The current credential, running the plugin when there is none or it expired. */
  get(): Promise<ExecCredential>;
  /** The server rejected `used`: the next `get` runs the plugin again (once, however many callers). */
  invalidate(used: ExecCredential): void;
}

/** Caches what `run` gives until its expirationTimestamp; concurrent callers share one run. */
export function createExecCredentialCache(
  run: () => Promise<ExecCredential>,
  now: () => number = Date.now,
): ExecCredentialCache {
  let current: ExecCredential | undefined;
  let running: Promise<ExecCredential> | undefined;
  return {
    get() {
      if (current && (current.expiresAt === undefined || now() < current.expiresAt)) {
        return Promise.resolve(current);
      }
      running ??= run().then(
        (c) => {
          current = c;
          running = undefined;
          return c;
        },
        (err: unknown) => {
          running = undefined;
          throw err;
        },
      );
      return running;
    },
    invalidate(used) {
      // A 401 to a credential already replaced says nothing about the new one.
      if (current === used) current = undefined;
    },
  };
}

/** How long a plugin may run before the request that needed it fails. */
const EXEC_TIMEOUT_MS = 60_000;

/** Runs the plugin and parses its credential. */
export function runExecPlugin(
  config: ExecConfig,
  cluster: ExecClusterInfo,
): Promise<ExecCredential> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    KUBERNETES_EXEC_INFO: execInfo(config, cluster),
  };
  for (const e of config.env) env[e.name] = e.value;
  return new Promise((resolvePromise, reject) => {
    execFile(
      config.command,
      [...config.args],
      { env, timeout: EXEC_TIMEOUT_MS, maxBuffer: 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) {
          const hint = config.installHint ? `\n${config.installHint}` : '';
          const said = stderr.trim() ? `: ${stderr.trim()}` : '';
          reject(
            new Error(`exec credential plugin ${config.command} failed${said}${hint}`, {
              cause: err,
            }),
          );
          return;
        }
        try {
          resolvePromise(parseExecCredential(stdout, config.apiVersion));
        } catch (parseErr) {
          reject(
            parseErr instanceof Error
              ? new Error(`${config.command}: ${parseErr.message}`, { cause: parseErr })
              : parseErr,
          );
        }
      },
    );
  });
}
