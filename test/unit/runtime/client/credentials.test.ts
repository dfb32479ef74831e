import { expect } from 'chai';
import {
  createCredentials,
  TOKEN_FILE_REFRESH_MS,
} from '../../../../src/runtime/client/credentials.js';
import {
  type ExecConfig,
  createExecCredentialCache,
  execInfo,
  parseExecConfig,
  parseExecCredential,
} from '../../../../src/runtime/client/exec-credential.js';
import {
  apiExceptionFrom,
  isConflict,
  isGone,
  isNotFound,
  resourcePath,
} from '../../../../src/runtime/client/rest.js';

const V1 = 'client.authentication.k8s.io/v1';
const credential = (status: Record<string, unknown>, apiVersion = V1): string =>
  JSON.stringify({ apiVersion, kind: 'ExecCredential', status });

describe('runtime/exec-credential', () => {
  it('reads a token with its expiry, or a client certificate and key', () => {
    expect(
      parseExecCredential(
        credential({ token: 't', expirationTimestamp: '2026-01-01T00:00:00Z' }),
        V1,
      ),
    ).to.deep.equal({
      token: 't',
      clientCertificateData: undefined,
      clientKeyData: undefined,
      expiresAt: Date.parse('2026-01-01T00:00:00Z'),
    });
    const beta = 'client.authentication.k8s.io/v1beta1';
    expect(
      parseExecCredential(
        credential({ clientCertificateData: 'C', clientKeyData: 'K' }, beta),
        beta,
      ),
    ).to.deep.include({ clientCertificateData: 'C', clientKeyData: 'K', expiresAt: undefined });
  });

  it('rejects output that is not a usable ExecCredential of the configured version', () => {
    expect(() => parseExecCredential('not json', V1)).to.throw(/no JSON/);
    expect(() => parseExecCredential('{"kind":"Secret"}', V1)).to.throw(/not an ExecCredential/);
    expect(() =>
      parseExecCredential(credential({ token: 't' }, 'client.authentication.k8s.io/v1beta1'), V1),
    ).to.throw(/apiVersion/);
    expect(() => parseExecCredential(credential({}), V1)).to.throw(/neither a token/);
    expect(() =>
      parseExecCredential(credential({ clientCertificateData: 'C', token: 't' }), V1),
    ).to.throw(/without its key/);
    expect(() =>
      parseExecCredential(credential({ token: 't', expirationTimestamp: 'soon' }), V1),
    ).to.throw(/not a timestamp/);
  });

  it('parses the kubeconfig exec section; a relative command path is relative to the file', () => {
    const c = parseExecConfig(
      {
        apiVersion: V1,
        command: './bin/get-token',
        args: ['--x'],
        env: [{ name: 'A', value: 'b' }],
        provideClusterInfo: true,
        interactiveMode: 'IfAvailable',
      },
      'user u',
      '/etc/kube',
    );
    expect(c).to.deep.include({
      command: '/etc/kube/bin/get-token',
      args: ['--x'],
      provideClusterInfo: true,
    });
    expect(parseExecConfig({ apiVersion: V1, command: 'kubelogin' }, 'u', '/etc').command).to.equal(
      'kubelogin',
    );
    expect(() =>
      parseExecConfig({ apiVersion: V1, command: 'x', interactiveMode: 'Always' }, 'u', '/'),
    ).to.throw(/needs a terminal/);
    expect(() => parseExecConfig({ apiVersion: V1 }, 'u', '/')).to.throw(/needs a command/);
  });

  it('tells the plugin it is not interactive, and about the cluster only when asked', () => {
    const config: ExecConfig = {
      apiVersion: V1,
      command: 'x',
      args: [],
      env: [],
      provideClusterInfo: false,
    };
    const cluster = { server: 'https://h:6443', caData: 'CA' };
    expect(JSON.parse(execInfo(config, cluster))).to.deep.equal({
      apiVersion: V1,
      kind: 'ExecCredential',
      spec: { interactive: false },
    });
    expect(JSON.parse(execInfo({ ...config, provideClusterInfo: true }, cluster))).to.deep.equal({
      apiVersion: V1,
      kind: 'ExecCredential',
      spec: {
        interactive: false,
        cluster: {
          server: 'https://h:6443',
          'certificate-authority-data': Buffer.from('CA').toString('base64'),
        },
      },
    });
  });

  it('caches until expirationTimestamp, shares one run, and runs again once rejected', async () => {
    let now = 1_000;
    let runs = 0;
    const cache = createExecCredentialCache(
      async () => {
        runs++;
        await Promise.resolve();
        return { token: `t${runs}`, expiresAt: now + 4_000 };
      },
      () => now,
    );
    const [a, b] = await Promise.all([cache.get(), cache.get()]);
    expect(a).to.equal(b);
    expect(runs).to.equal(1);
    now = 4_999;
    expect((await cache.get()).token).to.equal('t1');
    now = 5_000;
    const second = await cache.get();
    expect(second.token).to.equal('t2');
    // A rejection of the credential already replaced changes nothing.
    cache.invalidate(a);
    expect(await cache.get()).to.equal(second);
    cache.invalidate(second);
    expect((await cache.get()).token).to.equal('t3');
    expect(runs).to.equal(3);
  });

  it('does not keep a failed run', async () => {
    let fail = true;
    const cache = createExecCredentialCache(() =>
      fail ? Promise.reject(new Error('plugin down')) : Promise.resolve({ token: 'ok' }),
    );
    await cache.get().then(
      () => expect.fail('should have failed'),
      (e: unknown) => expect(String(e)).to.match(/plugin down/),
    );
    fail = false;
    expect((await cache.get()).token).to.equal('ok');
  });
});

describe('runtime/credentials', () => {
  it('presents a token, basic auth, or nothing', async () => {
    expect(await createCredentials({ server: 'https://h', token: 't' }).current()).to.deep.equal({
      authorization: 'Bearer t',
    });
    expect(
      await createCredentials({ server: 'https://h', username: 'u', password: 'p' }).current(),
    ).to.deep.equal({ authorization: `Basic ${Buffer.from('u:p').toString('base64')}` });
    const none = createCredentials({ server: 'https://h' });
    expect(await none.current()).to.deep.equal({});
    expect(none.rejected({})).to.equal(false);
  });

  it('re-reads a token file after a minute, and at once after a 401', async () => {
    let now = 0;
    let token = 'one';
    let reads = 0;
    const creds = createCredentials(
      { server: 'https://h', tokenFile: '/sa/token' },
      {
        now: () => now,
        readFile: (p) => {
          expect(p).to.equal('/sa/token');
          reads++;
          return `${token}\n`;
        },
      },
    );
    const first = await creds.current();
    expect(first.authorization).to.equal('Bearer one');
    token = 'two';
    now = TOKEN_FILE_REFRESH_MS - 1;
    expect((await creds.current()).authorization).to.equal('Bearer one');
    now = TOKEN_FILE_REFRESH_MS;
    const second = await creds.current();
    expect(second.authorization).to.equal('Bearer two');
    token = 'three';
    expect(creds.rejected(second)).to.equal(true);
    expect((await creds.current()).authorization).to.equal('Bearer three');
    expect(reads).to.equal(3);
  });

  it('takes an exec plugin token or certificate, and drops it on 401', async () => {
    let runs = 0;
    const exec: ExecConfig = {
      apiVersion: V1,
      command: 'x',
      args: [],
      env: [],
      provideClusterInfo: false,
    };
    const creds = createCredentials(
      { server: 'https://h', exec },
      {
        runExec: (config, cluster) => {
          expect(config).to.equal(exec);
          expect(cluster.server).to.equal('https://h');
          runs++;
          return Promise.resolve(
            runs === 1 ? { token: 'exec-1' } : { clientCertificateData: 'C', clientKeyData: 'K' },
          );
        },
      },
    );
    const first = await creds.current();
    expect(first).to.deep.equal({ authorization: 'Bearer exec-1' });
    expect((await creds.current()).authorization).to.equal('Bearer exec-1');
    expect(creds.rejected(first)).to.equal(true);
    expect(await creds.current()).to.deep.equal({ certificate: { cert: 'C', key: 'K' } });
    expect(runs).to.equal(2);
  });
});

describe('runtime/rest error mapping and paths', () => {
  it('maps a Status body to an ApiException with the code, reason and message', () => {
    const status = {
      kind: 'Status',
      code: 409,
      reason: 'Conflict',
      message: 'the object has been modified',
    };
    const e = apiExceptionFrom(409, JSON.stringify(status), 'PUT /api/v1/x');
    expect(e.code).to.equal(409);
    expect(e.body).to.deep.equal(status);
    expect(e.message).to.equal('PUT /api/v1/x: HTTP 409 Conflict: the object has been modified');
    expect(isConflict(e)).to.equal(true);
    expect(isNotFound(e)).to.equal(false);
    const text = apiExceptionFrom(404, '404 page not found\n', 'GET /apis/x/v1');
    expect(text.body).to.equal('404 page not found\n');
    expect(text.message).to.equal('GET /apis/x/v1: HTTP 404: 404 page not found');
    expect(isNotFound(text)).to.equal(true);
    // A watch ERROR event's Status is classified too.
    expect(isGone({ kind: 'Status', code: 410 })).to.equal(true);
  });

  it('builds resource paths for core and group kinds, namespaced or not', () => {
    const pods = { name: 'pods', kind: 'Pod', namespaced: true };
    expect(resourcePath(pods, { apiVersion: 'v1', kind: 'Pod' })).to.equal('/api/v1/pods');
    expect(
      resourcePath(pods, { apiVersion: 'v1', kind: 'Pod', namespace: 'n', name: 'a b' }, 'status'),
    ).to.equal('/api/v1/namespaces/n/pods/a%20b/status');
    expect(
      resourcePath(pods, { apiVersion: 'v1', kind: 'Pod', name: 'p' }, undefined, 'lab'),
    ).to.equal('/api/v1/namespaces/lab/pods/p');
    const hv = { name: 'hypervisors', kind: 'Hypervisor', namespaced: false };
    expect(
      resourcePath(hv, {
        apiVersion: 'maaslab.dev/v1alpha1',
        kind: 'Hypervisor',
        namespace: 'ignored',
        name: 'h',
      }),
    ).to.equal('/apis/maaslab.dev/v1alpha1/hypervisors/h');
  });
});
