// deploy/ applied to the real kube-apiserver (kubectl apply --server-side -k, as an admin
// would), and the permissions the base grants, checked with SubjectAccessReviews. The
// Deployment and DaemonSet are accepted but never run: kube-testenv has neither a kubelet
// nor the deployment/daemonset controllers. The e2e suites run the operator with exactly
// the base's ClusterRole and Role (test/support/operator.ts), which proves they are enough.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { V1ClusterRole, V1Role } from '@kubernetes/client-node';
import { expect } from 'chai';
import { stringify } from 'yaml';
import { controlPlane } from '../../support/controlplane.js';
import {
  DEPLOY_NAMESPACE,
  DEPLOY_SA_USER,
  allowed,
  applyKustomization,
  deleteDeployExtras,
} from '../../support/deploy.js';
import { kubectlRun, kustomize } from '../../support/operator.js';

const run = promisify(execFile);

describe('deploy/ on kube-apiserver', function () {
  this.timeout(120_000);
  let scratch: string;
  const admin = (): string => controlPlane().adminKubeconfig;
  const getJson = async <T>(args: string[]): Promise<T> =>
    JSON.parse(await kubectlRun(admin(), ['get', ...args, '-o', 'json'])) as T;

  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'maaslab-deploy-'));
  });
  after(async () => {
    await deleteDeployExtras(admin());
    await rm(scratch, { recursive: true, force: true });
  });

  describe('deploy/base', () => {
    it('is accepted: namespace, CRDs, RBAC, Deployment, Service and NetworkPolicies', async () => {
      const names = await applyKustomization(admin(), 'deploy/base');
      expect(names).to.include.members([
        'namespace/maaslab-system',
        'customresourcedefinition.apiextensions.k8s.io/hypervisors.maaslab.dev',
        'serviceaccount/maaslab-operator',
        'clusterrole.rbac.authorization.k8s.io/maaslab-operator',
        'role.rbac.authorization.k8s.io/maaslab-leader-election',
        'deployment.apps/maaslab-operator',
        'service/maaslab-operator-metrics',
        'clusterrole.rbac.authorization.k8s.io/maaslab-metrics-auth',
        'clusterrolebinding.rbac.authorization.k8s.io/maaslab-metrics-auth',
        'clusterrole.rbac.authorization.k8s.io/maaslab-metrics-reader',
        'clusterrole.rbac.authorization.k8s.io/maaslab-console-user',
        'role.rbac.authorization.k8s.io/maaslab-console-portforward',
        'networkpolicy.networking.k8s.io/maaslab-operator-allow-metrics-traffic',
        'networkpolicy.networking.k8s.io/maaslab-operator-allow-probes',
        'networkpolicy.networking.k8s.io/maaslab-operator-allow-bmc-traffic',
      ]);
      const dep = await getJson<{ spec: { replicas: number } }>([
        'deployment/maaslab-operator',
        '-n',
        DEPLOY_NAMESPACE,
      ]);
      expect(dep.spec.replicas).to.equal(2);
    });

    it('binds the service account to every verb its roles list, and the server holds no wildcard', async () => {
      const kc = controlPlane().kubeConfig('admin');
      const cluster = await getJson<V1ClusterRole>(['clusterrole/maaslab-operator']);
      const local = await getJson<V1Role>(['role/maaslab-leader-election', '-n', DEPLOY_NAMESPACE]);
      const checks = [
        ...(cluster.rules ?? []).map((r) => ({ r, namespace: undefined })),
        ...(local.rules ?? []).map((r) => ({ r, namespace: DEPLOY_NAMESPACE })),
      ];
      let asked = 0;
      for (const { r, namespace } of checks) {
        expect(JSON.stringify(r)).not.to.include('*');
        for (const group of r.apiGroups ?? [])
          for (const res of r.resources ?? [])
            for (const verb of r.verbs) {
              const [resource, subresource] = res.split('/') as [string, string | undefined];
              const a = {
                verb,
                group,
                resource,
                ...(subresource && { subresource }),
                ...(namespace && { namespace }),
              };
              expect(await allowed(kc, DEPLOY_SA_USER, a), JSON.stringify(a)).to.equal(true);
              asked++;
            }
      }
      expect(asked).to.be.above(20);
    });

    it('lets the operator update maaslabs/finalizers and write Leases only in its namespace', async () => {
      const kc = controlPlane().kubeConfig('admin');
      const may = (a: Parameters<typeof allowed>[2]): Promise<boolean> =>
        allowed(kc, DEPLOY_SA_USER, a);
      expect(
        await may({
          verb: 'update',
          group: 'maaslab.dev',
          resource: 'maaslabs',
          subresource: 'finalizers',
          namespace: 'labs',
        }),
      ).to.equal(true);
      expect(
        await may({
          verb: 'create',
          group: 'coordination.k8s.io',
          resource: 'leases',
          namespace: DEPLOY_NAMESPACE,
        }),
      ).to.equal(true);
      expect(
        await may({
          verb: 'create',
          group: 'coordination.k8s.io',
          resource: 'leases',
          namespace: 'default',
        }),
      ).to.equal(false);
    });

    it("reads Secrets only by name (BMC credentials), lists none, creates and patches them (BMC certificates; a controller lab's admin and API key Secrets, by server-side apply) but never updates or deletes them; denies Hypervisor creation and deletion, and what it never uses", async () => {
      const kc = controlPlane().kubeConfig('admin');
      for (const a of [
        { verb: 'get', group: '', resource: 'secrets', namespace: 'labs' },
        { verb: 'create', group: '', resource: 'secrets', namespace: DEPLOY_NAMESPACE },
        { verb: 'create', group: '', resource: 'secrets', namespace: 'labs' },
        { verb: 'patch', group: '', resource: 'secrets', namespace: 'labs' },
      ])
        expect(await allowed(kc, DEPLOY_SA_USER, a), JSON.stringify(a)).to.equal(true);
      const denied = [
        { verb: 'update', group: '', resource: 'secrets', namespace: 'labs' },
        { verb: 'delete', group: '', resource: 'secrets', namespace: 'labs' },
        { verb: 'update', group: '', resource: 'secrets', namespace: DEPLOY_NAMESPACE },
        { verb: 'list', group: '', resource: 'secrets', namespace: 'kube-system' },
        { verb: 'list', group: '', resource: 'secrets' },
        { verb: 'watch', group: '', resource: 'secrets', namespace: DEPLOY_NAMESPACE },
        { verb: 'create', group: 'maaslab.dev', resource: 'hypervisors' },
        { verb: 'delete', group: 'maaslab.dev', resource: 'hypervisors' },
        { verb: 'update', group: 'maaslab.dev', resource: 'maaslabs' },
        { verb: 'delete', group: 'maaslab.dev', resource: 'maaslabs', namespace: 'labs' },
        { verb: 'create', group: '', resource: 'pods', namespace: DEPLOY_NAMESPACE },
        { verb: 'get', group: '', resource: 'configmaps', namespace: DEPLOY_NAMESPACE },
        { verb: 'create', group: 'rbac.authorization.k8s.io', resource: 'clusterrolebindings' },
      ];
      for (const a of denied)
        expect(await allowed(kc, DEPLOY_SA_USER, a), JSON.stringify(a)).to.equal(false);
    });

    it('lets the operator create TokenReviews and SubjectAccessReviews (metrics auth), and not read its own /metrics', async () => {
      const kc = controlPlane().kubeConfig('admin');
      for (const a of [
        { verb: 'create', group: 'authentication.k8s.io', resource: 'tokenreviews' },
        { verb: 'create', group: 'authorization.k8s.io', resource: 'subjectaccessreviews' },
      ])
        expect(await allowed(kc, DEPLOY_SA_USER, a), JSON.stringify(a)).to.equal(true);
      for (const a of [
        { verb: 'get', group: 'authentication.k8s.io', resource: 'tokenreviews' },
        {
          verb: 'create',
          group: '',
          resource: 'serviceaccounts',
          subresource: 'token',
          namespace: 'labs',
        },
      ])
        expect(await allowed(kc, DEPLOY_SA_USER, a), JSON.stringify(a)).to.equal(false);
      // metrics-reader is for the scraper; the operator's own account is not bound to it.
      const canI = async (...args: string[]): Promise<string> =>
        kubectlRun(admin(), ['auth', 'can-i', `--as=${DEPLOY_SA_USER}`, ...args]).then(
          (out) => out.trim(),
          (err: unknown) => String((err as { stdout?: string }).stdout ?? '').trim(),
        );
      expect(await canI('get', '/metrics')).to.equal('no');
    });

    it('answers `kubectl auth can-i` the same way', async () => {
      const canI = async (...args: string[]): Promise<string> => {
        try {
          return (
            await kubectlRun(admin(), ['auth', 'can-i', `--as=${DEPLOY_SA_USER}`, ...args])
          ).trim();
        } catch (err) {
          // can-i exits 1 for "no"; its answer is still on stdout.
          return String((err as { stdout?: string }).stdout ?? '').trim();
        }
      };
      expect(await canI('patch', 'maasnodes.maaslab.dev', '-n', 'labs')).to.equal('yes');
      expect(await canI('get', 'secrets', '-n', 'default')).to.equal('yes');
      expect(await canI('list', 'secrets', '-n', 'default')).to.equal('no');
    });
  });

  describe('deploy/overlays/central', () => {
    it('is accepted, with the SSH Secret created as the README says', async () => {
      await run('ssh-keygen', [
        '-q',
        '-t',
        'ed25519',
        '-N',
        '',
        '-C',
        'maaslab',
        '-f',
        join(scratch, 'id_ed25519'),
      ]);
      const [type, key] = (await readFile(join(scratch, 'id_ed25519.pub'), 'utf8')).split(' ');
      // A known_hosts line: host, key type, key (the test key stands in for a host key).
      await writeFile(join(scratch, 'known_hosts'), `hv1.example ${type} ${key}\n`);
      await applyKustomization(admin(), 'deploy/base'); // the namespace, when run alone
      await kubectlRun(admin(), [
        'create',
        'secret',
        'generic',
        'maaslab-ssh',
        '-n',
        DEPLOY_NAMESPACE,
        `--from-file=id_ed25519=${join(scratch, 'id_ed25519')}`,
        `--from-file=known_hosts=${join(scratch, 'known_hosts')}`,
      ]);
      const names = await applyKustomization(admin(), 'deploy/overlays/central');
      expect(names.some((n) => n.startsWith('configmap/maaslab-ssh-config-'))).to.equal(true);
      const dep = await getJson<{ spec: { template: { spec: { volumes: { name: string }[] } } } }>([
        'deployment/maaslab-operator',
        '-n',
        DEPLOY_NAMESPACE,
      ]);
      expect(dep.spec.template.spec.volumes.map((v) => v.name)).to.include('ssh');
      await kubectlRun(admin(), ['delete', 'secret', 'maaslab-ssh', '-n', DEPLOY_NAMESPACE]);
    });
  });

  describe('deploy/overlays/agent', () => {
    it('is accepted: DaemonSet, registration role and admission policy', async () => {
      const names = await applyKustomization(admin(), 'deploy/overlays/agent');
      expect(names).to.include.members([
        'daemonset.apps/maaslab-agent',
        'clusterrole.rbac.authorization.k8s.io/maaslab-agent-registration',
        'validatingadmissionpolicy.admissionregistration.k8s.io/maaslab-agent-own-hypervisor',
        'validatingadmissionpolicybinding.admissionregistration.k8s.io/maaslab-agent-own-hypervisor',
      ]);
      const kc = controlPlane().kubeConfig('admin');
      expect(
        await allowed(kc, DEPLOY_SA_USER, {
          verb: 'create',
          group: 'maaslab.dev',
          resource: 'hypervisors',
        }),
      ).to.equal(true);
      expect(
        await allowed(kc, DEPLOY_SA_USER, {
          verb: 'delete',
          group: 'maaslab.dev',
          resource: 'hypervisors',
        }),
      ).to.equal(false);
    });
  });

  describe('deploy/monitoring', () => {
    it('is accepted where its kinds are served; Prometheus Operator kinds are skipped, and said so, where not', async () => {
      const docs = (await kustomize('deploy/monitoring')) as Manifest[];
      const served = new Map<string, boolean>();
      for (const apiVersion of new Set(docs.map((d) => d.apiVersion))) {
        // The core group is always served; any other group/version answers discovery or not.
        const path = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
        served.set(
          apiVersion,
          await kubectlRun(admin(), ['get', '--raw', path]).then(
            () => true,
            () => false,
          ),
        );
      }
      const skipped = docs.filter((d) => served.get(d.apiVersion) !== true);
      for (const d of skipped) {
        console.log(
          `      skipped ${d.kind}/${d.metadata.name}: ${d.apiVersion} is not served here (no Prometheus Operator CRDs in kube-testenv)`,
        );
      }
      // Exactly the Prometheus Operator's kinds are missing here; everything else applies.
      expect(skipped.map((d) => `${d.apiVersion} ${d.kind}`).sort()).to.deep.equal([
        'monitoring.coreos.com/v1 PrometheusRule',
        'monitoring.coreos.com/v1 ServiceMonitor',
      ]);
      const file = join(scratch, 'monitoring.yaml');
      await writeFile(
        file,
        docs
          .filter((d) => served.get(d.apiVersion) === true)
          .map((d) => stringify(d))
          .join('---\n'),
      );
      const names = (
        await kubectlRun(admin(), ['apply', '--server-side', '-o', 'name', '-f', file])
      ).split('\n');
      expect(names).to.include('configmap/maaslab-grafana-dashboard');
      const dashboard = await getJson<{ data: Record<string, string> }>([
        'configmap/maaslab-grafana-dashboard',
        '-n',
        DEPLOY_NAMESPACE,
      ]);
      const json = JSON.parse(dashboard.data['maaslab.json'] ?? '{}') as { panels?: unknown[] };
      expect(json.panels).to.be.an('array').that.is.not.empty;
      await kubectlRun(admin(), [
        'delete',
        'configmap/maaslab-grafana-dashboard',
        '-n',
        DEPLOY_NAMESPACE,
        '--ignore-not-found',
      ]);
    });
  });
});

/** The fields of a rendered manifest these tests read. */
interface Manifest {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string };
}
