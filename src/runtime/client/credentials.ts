// Credentials: what each request presents, from a RestConfig. A fixed token, basic auth and
// a kubeconfig client certificate never change; a token file (a pod's bound service-account
// token, rotated by the kubelet) is re-read every minute, as client-go does, and at once
// after a 401; an exec plugin's credential is kept until it expires or draws a 401.

import { readFileSync } from 'node:fs';
import {
  type ExecClusterInfo,
  type ExecConfig,
  type ExecCredential,
  createExecCredentialCache,
  runExecPlugin,
} from './exec-credential.js';
import type { RestConfig } from './kubeconfig.js';

/** What one request presents. */
export interface Credential {
  /** The Authorization header, if any. */
  readonly authorization?: string;
  /** A client certificate and key (PEM) that the plugin gave, rather than the kubeconfig. */
  readonly certificate?: { readonly cert: string; readonly key: string };
}

/** Where requests get their credential. */
export interface Credentials {
  current(): Promise<Credential>;
  /** The server answered 401 to `used`; true when fetching again may give a different one. */
  rejected(used: Credential): boolean;
}

/** How long a token file's content is trusted before reading it again (client-go: 1 min). */
export const TOKEN_FILE_REFRESH_MS = 60_000;

/** Injected I/O, for tests. */
export interface CredentialsDeps {
  readonly readFile?: (path: string) => string;
  readonly now?: () => number;
  readonly runExec?: (config: ExecConfig, cluster: ExecClusterInfo) => Promise<ExecCredential>;
}

const fixed = (c: Credential): Credentials => ({
  current: () => Promise.resolve(c),
  rejected: () => false,
});

/** The credentials of `config`; an exec plugin wins over a token, a token over basic auth. */
export function createCredentials(config: RestConfig, deps: CredentialsDeps = {}): Credentials {
  const now = deps.now ?? Date.now;
  if (config.exec) {
    const exec = config.exec;
    const run = deps.runExec ?? runExecPlugin;
    const cache = createExecCredentialCache(() => run(exec, config), now);
    const seen = new WeakMap<Credential, ExecCredential>();
    return {
      async current() {
        const c = await cache.get();
        const out: Credential = {
          ...(c.token && { authorization: `Bearer ${c.token}` }),
          ...(c.clientCertificateData &&
            c.clientKeyData && {
              certificate: { cert: c.clientCertificateData, key: c.clientKeyData },
            }),
        };
        seen.set(out, c);
        return out;
      },
      rejected(used) {
        const c = seen.get(used);
        if (c) cache.invalidate(c);
        return true;
      },
    };
  }
  if (config.token) return fixed({ authorization: `Bearer ${config.token}` });
  if (config.tokenFile) {
    const path = config.tokenFile;
    const readFile = deps.readFile ?? ((p: string) => readFileSync(p, 'utf8'));
    let cached: { credential: Credential; readAt: number } | undefined;
    return {
      current() {
        if (!cached || now() - cached.readAt >= TOKEN_FILE_REFRESH_MS) {
          const token = readFile(path).trim();
          if (!token) return Promise.reject(new Error(`token file ${path} is empty`));
          cached = { credential: { authorization: `Bearer ${token}` }, readAt: now() };
        }
        return Promise.resolve(cached.credential);
      },
      rejected(used) {
        if (cached?.credential === used) cached = undefined;
        return true;
      },
    };
  }
  if (config.username !== undefined || config.password !== undefined) {
    const basic = Buffer.from(`${config.username ?? ''}:${config.password ?? ''}`).toString(
      'base64',
    );
    return fixed({ authorization: `Basic ${basic}` });
  }
  return fixed({});
}
