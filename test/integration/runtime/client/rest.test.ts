// Our REST client against a real kube-apiserver: each way a kubeconfig may authenticate
// (client certificate, token, token file, exec plugin), what the server's errors become,
// and a watch that sees events and bookmarks.
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { loadRestConfig } from '../../../../src/runtime/client/kubeconfig.js';
import {
  ApiException,
  RequestTimeoutError,
  type RestClient,
  createRestClient,
  hasStatus,
  isConflict,
  isNotFound,
} from '../../../../src/runtime/client/rest.js';
import { controlPlane } from '../../../support/controlplane.js';
import { type TestNamespace, createTestNamespace } from '../../../support/namespace.js';
import { waitFor } from '../../../support/wait.js';

const CONFIG_MAP = { apiVersion: 'v1', kind: 'ConfigMap' } as const;

/** The user the API server authenticated the client as (SelfSubjectReview). */
async function whoami(rest: RestClient): Promise<string> {
  const review = await rest.request<{ status?: { userInfo?: { username?: string } } }>({
    method: 'POST',
    ref: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
  });
  return review.status?.userInfo?.username ?? '';
}

/** The error `p` rejects with. */
const failure = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => expect.fail('expected the request to fail'),
    (e: unknown) => e,
  );

describe('runtime/rest (real API server): authentication, errors, watch', () => {
  let admin: RestClient;
  let ns: TestNamespace;
  let dir: string;

  /** Writes a kubeconfig with one context for `user` into the temp dir; returns its path. */
  const kubeconfig = (name: string, user: Record<string, unknown>): string => {
    const path = join(dir, name);
    writeFileSync(
      path,
      stringify({
        apiVersion: 'v1',
        kind: 'Config',
        'current-context': 'test',
        clusters: [
          {
            name: 'kube-testenv',
            cluster: {
              server: controlPlane().server,
              'certificate-authority': join(controlPlane().dir, 'pki', 'ca.crt'),
            },
          },
        ],
        users: [{ name: 'u', user }],
        contexts: [{ name: 'test', context: { cluster: 'kube-testenv', user: 'u' } }],
      }),
    );
    return path;
  };

  /** A ServiceAccount in the test namespace and a bound token for it. */
  const serviceAccountToken = async (name: string): Promise<string> => {
    const sa = { apiVersion: 'v1', kind: 'ServiceAccount', namespace: ns.name };
    await admin
      .request({
        method: 'POST',
        ref: sa,
        body: { ...sa, namespace: undefined, metadata: { name } },
      })
      .catch((e: unknown) => {
        if (!isConflict(e)) throw e;
      });
    const req = await admin.request<{ status: { token: string } }>({
      method: 'POST',
      ref: { ...sa, name },
      subresource: 'token',
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: { expirationSeconds: 3600 },
      },
    });
    return req.status.token;
  };

  /**
   * Deletes and recreates the ServiceAccount, and returns a token of the new one once the
   * server rejects `oldToken` (it caches successful token reviews for ~10 s).
   */
  const recreateServiceAccount = async (name: string, oldToken: string): Promise<string> => {
    const ref = { apiVersion: 'v1', kind: 'ServiceAccount', namespace: ns.name, name };
    await admin.request({ method: 'DELETE', ref });
    const old = createRestClient({ ...controlPlane().restConfig('admin'), token: oldToken });
    await waitFor(
      () =>
        whoami(old).then(
          () => false,
          (e: unknown) => hasStatus(e, 401),
        ),
      {
        timeoutMs: 60_000,
        description: "the deleted ServiceAccount's token to be rejected",
      },
    );
    return serviceAccountToken(name);
  };

  before(() => {
    admin = createRestClient(controlPlane().restConfig('admin'));
  });
  beforeEach(async () => {
    ns = await createTestNamespace(controlPlane().kubeConfig('admin'), 'rt-rest');
    dir = mkdtempSync(join(tmpdir(), 'maaslab-rest-auth-'));
  });
  afterEach(async () => {
    await ns.delete();
    rmSync(dir, { recursive: true, force: true });
  });

  it('authenticates with a client certificate (files relative to the kubeconfig)', async () => {
    const pki = join(controlPlane().dir, 'pki');
    const run = (args: string[]): void => void execFileSync('openssl', args, { stdio: 'ignore' });
    run(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', join(dir, 'user.key')]);
    run([
      'req',
      '-new',
      '-key',
      join(dir, 'user.key'),
      '-subj',
      '/O=maaslab-testers/CN=cert-user',
      '-out',
      join(dir, 'user.csr'),
    ]);
    writeFileSync(join(dir, 'ext.cnf'), 'extendedKeyUsage=clientAuth\n');
    run([
      'x509',
      '-req',
      '-in',
      join(dir, 'user.csr'),
      '-CA',
      join(pki, 'ca.crt'),
      '-CAkey',
      join(pki, 'ca.key'),
      '-CAcreateserial',
      '-days',
      '1',
      '-extfile',
      join(dir, 'ext.cnf'),
      '-out',
      join(dir, 'user.crt'),
    ]);
    const rest = createRestClient(
      loadRestConfig({
        kubeconfig: kubeconfig('cert.kubeconfig', {
          'client-certificate': 'user.crt',
          'client-key': 'user.key',
        }),
      }),
    );
    expect(await whoami(rest)).to.equal('cert-user');
    // Authenticated, but granted nothing: RBAC says no.
    const denied = await failure(
      rest.request({ method: 'GET', ref: { ...CONFIG_MAP, namespace: ns.name } }),
    );
    expect(hasStatus(denied, 403)).to.equal(true);
    expect(denied).to.be.instanceOf(ApiException);
    expect((denied as ApiException).body).to.deep.include({ kind: 'Status', reason: 'Forbidden' });
  });

  it('authenticates with a token, and re-reads a token file after a 401 (rotated bound token)', async () => {
    const token = await serviceAccountToken('reader');
    const withToken = createRestClient(
      loadRestConfig({ kubeconfig: kubeconfig('token.kubeconfig', { token }) }),
    );
    expect(await whoami(withToken)).to.equal(`system:serviceaccount:${ns.name}:reader`);

    writeFileSync(join(dir, 'token'), token);
    const fromFile = createRestClient(
      loadRestConfig({ kubeconfig: kubeconfig('file.kubeconfig', { tokenFile: 'token' }) }),
    );
    expect(await whoami(fromFile)).to.equal(`system:serviceaccount:${ns.name}:reader`);
    // The old token dies with its ServiceAccount; the file gets the new one, as the kubelet
    // would rotate it. The client learns of it from the 401, not a minute later.
    writeFileSync(join(dir, 'token'), await recreateServiceAccount('reader', token));
    expect(await whoami(fromFile)).to.equal(`system:serviceaccount:${ns.name}:reader`);
    // A fixed token cannot recover: 401 reaches the caller.
    expect(hasStatus(await failure(whoami(withToken)), 401)).to.equal(true);
  });

  it('authenticates with an exec plugin, caches its credential and runs it again after a 401', async () => {
    const firstToken = await serviceAccountToken('plugin-user');
    writeFileSync(join(dir, 'token'), firstToken);
    const plugin = join(dir, 'plugin.sh');
    writeFileSync(
      plugin,
      [
        '#!/bin/sh',
        'set -eu',
        'here=$(dirname "$0")',
        'echo run >> "$here/runs"',
        'printf "%s" "$KUBERNETES_EXEC_INFO" > "$here/exec-info.json"',
        'printf \'{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s"}}\' "$(cat "$here/token")"',
        '',
      ].join('\n'),
    );
    chmodSync(plugin, 0o755);
    const rest = createRestClient(
      loadRestConfig({
        kubeconfig: kubeconfig('exec.kubeconfig', {
          exec: {
            apiVersion: 'client.authentication.k8s.io/v1',
            command: './plugin.sh',
            args: [],
            env: [{ name: 'PLUGIN_MODE', value: 'test' }],
            interactiveMode: 'Never',
            provideClusterInfo: true,
          },
        }),
      }),
    );
    const runs = (): number => readFileSync(join(dir, 'runs'), 'utf8').trim().split('\n').length;
    expect(await whoami(rest)).to.equal(`system:serviceaccount:${ns.name}:plugin-user`);
    expect(await whoami(rest)).to.equal(`system:serviceaccount:${ns.name}:plugin-user`);
    expect(runs()).to.equal(1);
    const info = JSON.parse(readFileSync(join(dir, 'exec-info.json'), 'utf8')) as {
      spec: { interactive: boolean; cluster: { server: string } };
    };
    expect(info.spec.interactive).to.equal(false);
    expect(info.spec.cluster.server).to.equal(controlPlane().server);

    writeFileSync(join(dir, 'token'), await recreateServiceAccount('plugin-user', firstToken));
    expect(await whoami(rest)).to.equal(`system:serviceaccount:${ns.name}:plugin-user`);
    expect(runs()).to.equal(2);
  });

  it('maps 404 and 409 to isNotFound and isConflict, with the Status body', async () => {
    const ref = { ...CONFIG_MAP, namespace: ns.name, name: 'c' };
    const missing = await failure(admin.request({ method: 'GET', ref }));
    expect(isNotFound(missing)).to.equal(true);
    expect((missing as ApiException).body).to.deep.include({ reason: 'NotFound', code: 404 });
    const create = (): Promise<unknown> =>
      admin.request({
        method: 'POST',
        ref: { ...CONFIG_MAP, namespace: ns.name },
        body: { ...CONFIG_MAP, metadata: { name: 'c' }, data: { a: '1' } },
      });
    await create();
    const again = await failure(create());
    expect(isConflict(again)).to.equal(true);
    expect((again as ApiException).body).to.deep.include({ reason: 'AlreadyExists' });
    // A kind the server does not serve is not "object not found".
    const unserved = await failure(
      admin.request({
        method: 'GET',
        ref: { apiVersion: 'nothing.example/v1', kind: 'Thing', name: 'x' },
      }),
    );
    expect(isNotFound(unserved)).to.equal(false);
    expect(String(unserved)).to.match(/does not serve nothing.example\/v1/);
  });

  it('watches: events in order, a bookmark, and a clean close when the server ends the watch', async function () {
    this.timeout(60_000);
    const list = await admin.request<{ metadata: { resourceVersion: string } }>({
      method: 'GET',
      ref: { ...CONFIG_MAP, namespace: ns.name },
    });
    const events: string[] = [];
    let bookmarks = 0;
    let ended: { err: unknown } | undefined;
    await admin.watch(
      { ...CONFIG_MAP, namespace: ns.name },
      { resourceVersion: list.metadata.resourceVersion, timeoutSeconds: 8 },
      {
        onEvent(type, obj) {
          if (type === 'BOOKMARK') bookmarks++;
          else events.push(`${type} ${obj.metadata?.name ?? ''}`);
        },
        onDone: (err) => (ended = { err }),
      },
    );
    const ref = { ...CONFIG_MAP, namespace: ns.name, name: 'w' };
    await admin.request({
      method: 'POST',
      ref: { ...CONFIG_MAP, namespace: ns.name },
      body: { ...CONFIG_MAP, metadata: { name: 'w' }, data: { a: '1' } },
    });
    await admin.request({
      method: 'PATCH',
      ref,
      body: { data: { a: '2' } },
      contentType: 'application/merge-patch+json',
    });
    await admin.request({ method: 'DELETE', ref });
    await waitFor(() => ended !== undefined, { timeoutMs: 40_000 });
    expect(events).to.deep.equal(['ADDED w', 'MODIFIED w', 'DELETED w']);
    // The watch cache sends a bookmark before it ends a watch at its timeout.
    expect(bookmarks).to.be.greaterThan(0);
    expect(ended?.err ?? null).to.equal(null);
  });

  it('a watch without timeoutSeconds carries the client default, and the server ends it then', async function () {
    this.timeout(60_000);
    const rest = createRestClient(controlPlane().restConfig('admin'), {
      watchTimeoutSeconds: 2,
      watchIdleMarginMs: 20_000,
    });
    const started = Date.now();
    const ended = await new Promise<unknown>((resolve) => {
      void rest.watch(
        { ...CONFIG_MAP, namespace: ns.name },
        {},
        { onEvent: () => undefined, onDone: (err) => resolve(err ?? null) },
      );
    });
    // The server closed it cleanly at ~2 s; the client's idle limit (22 s) never fired.
    expect(ended).to.equal(null);
    expect(Date.now() - started).to.be.within(1500, 15_000);
  });

  it('a request with a deadline shorter than the server needs fails with RequestTimeoutError', async () => {
    // The deadline covers the whole exchange (discovery included): 1 ms cannot be met over TLS.
    const rest = createRestClient(controlPlane().restConfig('admin'), { timeoutMs: 1 });
    const err = await failure(
      rest.request({ method: 'GET', ref: { ...CONFIG_MAP, namespace: ns.name } }),
    );
    expect(err).to.be.instanceOf(RequestTimeoutError);
  });
});
