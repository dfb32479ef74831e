import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  inClusterRestConfig,
  loadRestConfig,
  mergeKubeconfigs,
  parseKubeconfig,
  restConfigFromKubeconfig,
} from '../../../../src/runtime/client/kubeconfig.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

/** A reader over fixed contents; any other path fails as a missing file would. */
const files =
  (contents: Record<string, string>) =>
  (path: string): string => {
    const c = contents[path];
    if (c === undefined) throw new Error(`ENOENT: ${path}`);
    return c;
  };

const FIRST = `
apiVersion: v1
kind: Config
current-context: one
clusters:
  - name: c1
    cluster:
      server: https://10.0.0.1:6443
      certificate-authority: certs/ca.crt
      tls-server-name: kubernetes
  - name: shared
    cluster: { server: https://first.example:6443, insecure-skip-tls-verify: true }
users:
  - name: u1
    user:
      client-certificate: /abs/client.crt
      client-key-data: ${b64('KEY')}
  - name: shared
    user: { token: first-token }
contexts:
  - name: one
    context: { cluster: c1, user: u1, namespace: lab }
  - name: both
    context: { cluster: shared, user: shared }
`;

const SECOND = `
current-context: two
clusters:
  - name: shared
    cluster: { server: https://second.example:6443 }
  - name: c2
    cluster: { server: http://127.0.0.1:8080 }
users:
  - name: shared
    user: { token: second-token }
  - name: u2
    user: { tokenFile: token.txt }
contexts:
  - name: two
    context: { cluster: c2, user: u2 }
`;

describe('runtime/kubeconfig', () => {
  it('parses a file, making relative paths relative to its directory', () => {
    const kc = parseKubeconfig(FIRST, '/home/me/.kube/config');
    expect(kc.currentContext).to.equal('one');
    expect(kc.clusters.get('c1')).to.deep.include({
      server: 'https://10.0.0.1:6443',
      certificateAuthority: '/home/me/.kube/certs/ca.crt',
      tlsServerName: 'kubernetes',
    });
    expect(kc.users.get('u1')?.clientCertificate).to.equal('/abs/client.crt');
    expect(kc.contexts.get('one')).to.deep.equal({ cluster: 'c1', user: 'u1', namespace: 'lab' });
  });

  it('builds the current context: CA and client certificate read, key data decoded', () => {
    const kc = parseKubeconfig(FIRST, '/home/me/.kube/config');
    const read = files({ '/home/me/.kube/certs/ca.crt': 'CA PEM', '/abs/client.crt': 'CERT PEM' });
    expect(restConfigFromKubeconfig(kc, read)).to.deep.include({
      server: 'https://10.0.0.1:6443',
      caData: 'CA PEM',
      tlsServerName: 'kubernetes',
      clientCertificateData: 'CERT PEM',
      clientKeyData: 'KEY',
      namespace: 'lab',
    });
  });

  it('uses a chosen context instead of the current one', () => {
    const kc = parseKubeconfig(FIRST, '/k');
    expect(restConfigFromKubeconfig(kc, files({}), 'both')).to.deep.include({
      server: 'https://first.example:6443',
      insecureSkipTlsVerify: true,
      token: 'first-token',
    });
  });

  it('merges like kubectl: the first file wins per name and for current-context', () => {
    const merged = mergeKubeconfigs([
      parseKubeconfig(FIRST, '/a/config'),
      parseKubeconfig(SECOND, '/b/config'),
    ]);
    expect(merged.currentContext).to.equal('one');
    expect(merged.clusters.get('shared')?.server).to.equal('https://first.example:6443');
    expect(merged.users.get('shared')?.token).to.equal('first-token');
    // Names only the second file has are still there, with paths relative to it.
    expect(restConfigFromKubeconfig(merged, files({}), 'two')).to.deep.include({
      server: 'http://127.0.0.1:8080',
      tokenFile: '/b/token.txt',
    });
    const reversed = mergeKubeconfigs([
      parseKubeconfig(SECOND, '/b/config'),
      parseKubeconfig(FIRST, '/a/config'),
    ]);
    expect(reversed.currentContext).to.equal('two');
    expect(reversed.users.get('shared')?.token).to.equal('second-token');
  });

  it('names what is missing or unsupported', () => {
    const kc = parseKubeconfig(FIRST, '/k');
    expect(() => restConfigFromKubeconfig(kc, files({}), 'nope')).to.throw(
      /context 'nope' not found/,
    );
    const oidc = parseKubeconfig(
      `
current-context: x
clusters: [{ name: c, cluster: { server: https://h } }]
users: [{ name: u, user: { auth-provider: { name: oidc, config: {} } } }]
contexts: [{ name: x, context: { cluster: c, user: u } }]
`,
      '/k',
    );
    expect(() => restConfigFromKubeconfig(oidc, files({}))).to.throw(
      /user 'u' uses auth-provider \(oidc\), which maaslab-operator does not support/,
    );
    const impersonating = parseKubeconfig(
      `
current-context: x
clusters: [{ name: c, cluster: { server: https://h } }]
users: [{ name: u, user: { token: t, as: admin } }]
contexts: [{ name: x, context: { cluster: c, user: u } }, { name: y, context: { cluster: c, user: ghost } }]
`,
      '/k',
    );
    expect(() => restConfigFromKubeconfig(impersonating, files({}))).to.throw(
      /as \(impersonation\)/,
    );
    expect(() => restConfigFromKubeconfig(impersonating, files({}), 'y')).to.throw(
      /user 'ghost' not found/,
    );
    expect(() => parseKubeconfig('clusters: [{ cluster: {} }]', '/k')).to.throw(/needs a name/);
    expect(() => parseKubeconfig('clusters: [{ name: c, cluster: {} }]', '/k')).to.throw(
      /cluster 'c' has no server/,
    );
    expect(() =>
      parseKubeconfig(
        'users: [{ name: u, user: { exec: { apiVersion: client.authentication.k8s.io/v1alpha1, command: x } } }]',
        '/k',
      ),
    ).to.throw(/exec apiVersion "client.authentication.k8s.io\/v1alpha1" is not supported/);
    expect(() =>
      restConfigFromKubeconfig(
        parseKubeconfig(
          'current-context: x\nclusters: [{ name: c, cluster: { server: https://h, proxy-url: http://p } }]\ncontexts: [{ name: x, context: { cluster: c } }]',
          '/k',
        ),
        files({}),
      ),
    ).to.throw(/proxy-url/);
  });

  it('reads the in-cluster config: service host and port, CA, and the token as a file', () => {
    const read = files({ '/sa/ca.crt': 'CA', '/sa/namespace': 'maaslab-system\n' });
    expect(
      inClusterRestConfig(
        { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' },
        read,
        '/sa',
      ),
    ).to.deep.include({
      server: 'https://[fd00::1]:443',
      caData: 'CA',
      tokenFile: '/sa/token',
      namespace: 'maaslab-system',
    });
    expect(() => inClusterRestConfig({}, read, '/sa')).to.throw(/KUBERNETES_SERVICE_HOST/);
  });

  describe('loadRestConfig (files)', () => {
    let dir: string;
    beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'maaslab-kubeconfig-'))));
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it('merges the KUBECONFIG list, skipping files that do not exist', () => {
      writeFileSync(join(dir, 'a'), FIRST);
      writeFileSync(join(dir, 'b'), SECOND);
      const env = { KUBECONFIG: [join(dir, 'missing'), join(dir, 'b'), join(dir, 'a')].join(':') };
      expect(loadRestConfig({ env, home: dir })).to.deep.include({
        server: 'http://127.0.0.1:8080',
        tokenFile: join(dir, 'token.txt'),
      });
      expect(loadRestConfig({ env, home: dir, context: 'both' }).token).to.equal('second-token');
    });

    it('takes --kubeconfig alone, and falls back to ~/.kube/config', () => {
      writeFileSync(join(dir, 'b'), SECOND);
      expect(loadRestConfig({ kubeconfig: join(dir, 'b'), env: {} }).server).to.equal(
        'http://127.0.0.1:8080',
      );
      expect(() => loadRestConfig({ env: {}, home: dir })).to.throw(/no kubeconfig/);
    });
  });
});
