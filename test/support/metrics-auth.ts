// Scraping the operator's secure /metrics as a cluster's Prometheus does: a ServiceAccount,
// a token for it from the TokenRequest API (what kubelet mounts into a pod), optionally a
// ClusterRoleBinding to maaslab-metrics-reader, and HTTPS requests with that bearer token.
import { request } from 'node:https';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import type { RestClient } from '../../src/runtime/index.js';

/** The ClusterRole deploy/base ships for scrapers (hack/gen-rbac.ts). */
export const METRICS_READER_ROLE = 'maaslab-metrics-reader';

/** A ServiceAccount made for one test, with a bound token. */
export interface TestServiceAccount {
  /** `system:serviceaccount:<ns>:<name>`. */
  readonly user: string;
  /** A TokenRequest token (audience: the API server's own). */
  readonly token: string;
  /** Deletes the ClusterRoleBinding (if any); the namespace takes the account with it. */
  cleanup(): Promise<void>;
}

/**
 * Creates ServiceAccount `name` in `namespace` and asks the TokenRequest API for a token;
 * with `bindTo`, binds the account to that ClusterRole first.
 */
export async function createServiceAccountWithToken(
  admin: RestClient,
  namespace: string,
  name: string,
  bindTo?: string,
): Promise<TestServiceAccount> {
  await admin.request({
    method: 'POST',
    ref: { apiVersion: 'v1', kind: 'ServiceAccount', namespace },
    body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name } },
  });
  const bindingName = `${namespace}-${name}`;
  if (bindTo) {
    await admin.request({
      method: 'POST',
      ref: { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding' },
      body: {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name: bindingName, labels: { 'maaslab.dev/test': 'true' } },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: bindTo },
        subjects: [{ kind: 'ServiceAccount', name, namespace }],
      },
    });
  }
  const answer = await admin.request<{ status?: { token?: string } }>({
    method: 'POST',
    ref: { apiVersion: 'v1', kind: 'ServiceAccount', namespace, name },
    subresource: 'token',
    body: {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: { expirationSeconds: 3600 },
    },
  });
  const token = answer.status?.token;
  if (!token) throw new Error(`TokenRequest for ${namespace}/${name} returned no token`);
  return {
    user: `system:serviceaccount:${namespace}:${name}`,
    token,
    async cleanup() {
      if (!bindTo) return;
      await admin
        .request({
          method: 'DELETE',
          ref: {
            apiVersion: 'rbac.authorization.k8s.io/v1',
            kind: 'ClusterRoleBinding',
            name: bindingName,
          },
        })
        .catch(() => undefined);
    },
  };
}

/** One HTTPS answer, with the certificate the server presented. */
export interface HttpsAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: string;
  readonly certificate: PeerCertificate;
}

/** Options of {@link httpsGet}. */
export interface HttpsGetOptions {
  /** Sent as `Authorization: <authorization>` verbatim (hostile values included). */
  readonly authorization?: string | readonly string[];
  /** Trust exactly this certificate (PEM); without it verification is off, as Prometheus's insecureSkipVerify. */
  readonly ca?: string;
  readonly method?: string;
}

/** GET `url` over HTTPS (loopback only: the tests never talk to anything else). */
export function httpsGet(url: string, opts: HttpsGetOptions = {}): Promise<HttpsAnswer> {
  const u = new URL(url);
  if (u.protocol !== 'https:' || !['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname)) {
    throw new Error(`refusing a request to ${url}: https on loopback only`);
  }
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: opts.method ?? 'GET',
        // Raw name/value pairs, the only form that can send a header twice; Node adds no
        // Host header to those, and HTTP/1.1 requires one.
        headers: [
          'host',
          u.host,
          ...[opts.authorization ?? []].flat().flatMap((v) => ['authorization', v]),
        ],
        agent: false,
        ...(opts.ca !== undefined ? { ca: opts.ca } : { rejectUnauthorized: false }),
      },
      (res) => {
        const certificate = (res.socket as TLSSocket).getPeerCertificate();
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (s: string) => (body += s));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, certificate }),
        );
        res.on('error', reject);
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** A certificate as PEM, from what `getPeerCertificate()` returned. */
export const pemOf = (cert: PeerCertificate): string =>
  `-----BEGIN CERTIFICATE-----\n${
    cert.raw
      .toString('base64')
      .match(/.{1,64}/g)
      ?.join('\n') ?? ''
  }\n-----END CERTIFICATE-----\n`;
