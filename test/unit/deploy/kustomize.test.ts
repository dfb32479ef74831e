// deploy/: every kustomization renders with the pinned bin/kubectl (its built-in kustomize v5), and
// the rendered objects carry what issue 5 asks for. Nothing here needs a server; applying
// the same output to kube-apiserver is test/integration/deploy/apply.test.ts.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type {
  V1ClusterRole,
  V1Container,
  V1DaemonSet,
  V1Deployment,
  V1NetworkPolicy,
  V1PodSpec,
  V1PolicyRule,
  V1Service,
} from '@kubernetes/client-node';
import { expect } from 'chai';
import { BmcDefaults } from '../../../src/api/v1alpha1/index.js';
import { repoRoot } from '../../../hack/gen-rbac.js';
import { kustomize } from '../../support/operator.js';

const run = promisify(execFile);

interface Doc {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
}

const render = async (dir: string): Promise<Doc[]> => (await kustomize(dir)) as Doc[];

const find = <T>(docs: Doc[], kind: string, name?: string): T | undefined =>
  docs.find((d) => d.kind === kind && (name === undefined || d.metadata.name === name)) as
    T | undefined;

const must = <T>(docs: Doc[], kind: string, name?: string): T => {
  const found = find<T>(docs, kind, name);
  if (!found) throw new Error(`no ${kind} ${name ?? ''}`);
  return found;
};

/** The checks both pod templates (Deployment, DaemonSet) share. */
function expectHardenedOperatorPod(pod: V1PodSpec): V1Container {
  expect(pod.serviceAccountName).to.equal('maaslab-operator');
  expect(pod.securityContext?.runAsNonRoot).to.equal(true);
  expect(pod.securityContext?.runAsUser).to.be.a('number').above(0);
  expect(pod.securityContext?.seccompProfile?.type).to.equal('RuntimeDefault');
  expect(pod.containers).to.have.length(1);
  const c = pod.containers[0]!;
  expect(c.securityContext?.readOnlyRootFilesystem).to.equal(true);
  expect(c.securityContext?.allowPrivilegeEscalation).to.equal(false);
  expect(c.securityContext?.capabilities?.drop).to.deep.equal(['ALL']);
  expect(c.livenessProbe?.httpGet?.path).to.equal('/healthz');
  expect(c.readinessProbe?.httpGet?.path).to.equal('/readyz');
  const port = (name: unknown): number | undefined =>
    c.ports?.find((p) => p.name === name)?.containerPort;
  expect(port(c.livenessProbe?.httpGet?.port)).to.equal(8081);
  expect(port(c.readinessProbe?.httpGet?.port)).to.equal(8081);
  expect(port('metrics')).to.equal(8080);
  for (const kind of ['requests', 'limits'] as const) {
    expect(c.resources?.[kind], kind).to.have.keys('cpu', 'memory');
  }
  return c;
}

/** Every RBAC rule in `docs`. */
const rulesOf = (docs: Doc[]): V1PolicyRule[] =>
  docs
    .filter((d) => d.kind === 'ClusterRole' || d.kind === 'Role')
    .flatMap((d) => (d as unknown as V1ClusterRole).rules ?? []);

const OVERLAYS = ['deploy/base', 'deploy/overlays/central', 'deploy/overlays/agent'] as const;

describe('deploy/ (kubectl kustomize)', function () {
  this.timeout(60_000);
  const rendered = new Map<string, Doc[]>();
  before(async () => {
    for (const dir of OVERLAYS) rendered.set(dir, await render(dir));
  });
  const docs = (dir: (typeof OVERLAYS)[number]): Doc[] => rendered.get(dir)!;

  for (const dir of OVERLAYS) {
    describe(dir, () => {
      it('holds the namespace, the five CRDs, the RBAC and the metrics Service', () => {
        const d = docs(dir);
        expect(must<Doc>(d, 'Namespace').metadata.name).to.equal('maaslab-system');
        expect(
          d.filter((x) => x.kind === 'CustomResourceDefinition').map((x) => x.metadata.name),
        ).to.have.members([
          'hypervisors.maaslab.dev',
          'maaslabs.maaslab.dev',
          'maaslabsnapshots.maaslab.dev',
          'maasnodes.maaslab.dev',
          'virtnetworks.maaslab.dev',
        ]);
        must(d, 'ServiceAccount', 'maaslab-operator');
        must(d, 'ClusterRole', 'maaslab-operator');
        must(d, 'ClusterRoleBinding', 'maaslab-operator');
        must(d, 'Role', 'maaslab-leader-election');
        must(d, 'RoleBinding', 'maaslab-leader-election');
        const svc = must<V1Service>(d, 'Service', 'maaslab-operator-metrics');
        expect(svc.metadata?.labels).to.include({
          'app.kubernetes.io/name': 'maaslab-operator',
          'app.kubernetes.io/component': 'operator',
        });
        expect(svc.spec?.ports?.map((p) => [p.name, p.port])).to.deep.equal([['metrics', 8080]]);
        for (const x of d.filter((o) => o.metadata.namespace !== undefined)) {
          expect(x.metadata.namespace, `${x.kind} ${x.metadata.name}`).to.equal('maaslab-system');
        }
      });

      it('grants no wildcard in any rule, and no non-resource URL but get /metrics to readers', () => {
        const rules = rulesOf(docs(dir));
        expect(rules).to.not.be.empty;
        for (const r of rules) {
          const words = [...(r.apiGroups ?? []), ...(r.resources ?? []), ...r.verbs];
          expect(words, JSON.stringify(r)).not.to.include('*');
          if (r.nonResourceURLs?.length) {
            expect(r).to.deep.equal({ nonResourceURLs: ['/metrics'], verbs: ['get'] });
          }
        }
      });

      it('lets the operator review tokens and access (metrics auth), and has a metrics-reader role nobody is bound to', () => {
        const d = docs(dir);
        const auth = must<V1ClusterRole>(d, 'ClusterRole', 'maaslab-metrics-auth');
        expect(auth.rules).to.deep.equal([
          { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
          {
            apiGroups: ['authorization.k8s.io'],
            resources: ['subjectaccessreviews'],
            verbs: ['create'],
          },
        ]);
        const binding = must<{ roleRef: { name: string }; subjects: unknown[] }>(
          d,
          'ClusterRoleBinding',
          'maaslab-metrics-auth',
        );
        expect(binding.roleRef.name).to.equal('maaslab-metrics-auth');
        expect(binding.subjects).to.deep.equal([
          { kind: 'ServiceAccount', name: 'maaslab-operator', namespace: 'maaslab-system' },
        ]);
        const reader = must<V1ClusterRole>(d, 'ClusterRole', 'maaslab-metrics-reader');
        expect(reader.rules).to.deep.equal([{ nonResourceURLs: ['/metrics'], verbs: ['get'] }]);
        const bound = d
          .filter((x) => x.kind === 'ClusterRoleBinding' || x.kind === 'RoleBinding')
          .map((x) => (x as unknown as { roleRef: { name: string } }).roleRef.name);
        expect(bound).not.to.include('maaslab-metrics-reader');
      });

      it('serves consoles on the pod loopback only, with unbound console roles for users', () => {
        const d = docs(dir);
        const workload = (find<V1Deployment>(d, 'Deployment') ??
          must<V1DaemonSet>(d, 'DaemonSet')) as V1Deployment | V1DaemonSet;
        const args = workload.spec?.template.spec?.containers[0]?.args ?? [];
        expect(args).to.include('--console-bind-address=127.0.0.1:8082');
        const user = must<V1ClusterRole>(d, 'ClusterRole', 'maaslab-console-user');
        expect(user.rules).to.deep.include({
          apiGroups: ['maaslab.dev'],
          resources: ['maasnodes/console', 'maasnodes/vnc'],
          verbs: ['get'],
        });
        const pf = must<V1ClusterRole>(d, 'Role', 'maaslab-console-portforward');
        expect(pf.metadata?.namespace).to.equal('maaslab-system');
        expect(pf.rules).to.deep.include({
          apiGroups: [''],
          resources: ['pods/portforward'],
          verbs: ['create', 'get'],
        });
        const bound = d
          .filter((x) => x.kind === 'ClusterRoleBinding' || x.kind === 'RoleBinding')
          .map((x) => (x as unknown as { roleRef: { name: string } }).roleRef.name);
        expect(bound).not.to.include.members([
          'maaslab-console-user',
          'maaslab-console-portforward',
        ]);
      });

      it('lets into the operator pods only the metrics scrape (from metrics=enabled namespaces), the probes and the BMC ports', () => {
        const d = docs(dir);
        const policies = d.filter(
          (x) => x.kind === 'NetworkPolicy',
        ) as unknown as V1NetworkPolicy[];
        expect(policies.map((p) => p.metadata?.name).sort()).to.deep.equal([
          'maaslab-operator-allow-bmc-traffic',
          'maaslab-operator-allow-metrics-traffic',
          'maaslab-operator-allow-probes',
        ]);
        const workload = (find<V1Deployment>(d, 'Deployment') ??
          must<V1DaemonSet>(d, 'DaemonSet')) as V1Deployment | V1DaemonSet;
        const podLabels = workload.spec?.template.metadata?.labels ?? {};
        const container = workload.spec!.template.spec!.containers[0]!;
        const rules = new Map<string, unknown>();
        for (const p of policies) {
          expect(p.metadata?.namespace).to.equal('maaslab-system');
          // Selects the operator's pods, and only restricts ingress (egress stays open).
          expect(podLabels).to.include(p.spec?.podSelector?.matchLabels);
          expect(p.spec?.podSelector?.matchLabels).to.not.be.empty;
          expect(p.spec?.policyTypes).to.deep.equal(['Ingress']);
          expect(p.spec?.ingress).to.have.length(1);
          rules.set(p.metadata!.name!, p.spec!.ingress![0]);
        }
        expect(rules.get('maaslab-operator-allow-metrics-traffic')).to.deep.equal({
          from: [{ namespaceSelector: { matchLabels: { metrics: 'enabled' } } }],
          ports: [{ port: 'metrics', protocol: 'TCP' }],
        });
        expect(rules.get('maaslab-operator-allow-probes')).to.deep.equal({
          ports: [{ port: 'probes', protocol: 'TCP' }],
        });
        // The named ports are the container's, and the probes use the one the policy opens.
        expect(container.ports?.map((p) => p.name)).to.have.members(['metrics', 'probes']);
        expect(container.livenessProbe?.httpGet?.port).to.equal('probes');
        expect(container.readinessProbe?.httpGet?.port).to.equal('probes');
        const [first, last] = BmcDefaults.ipmiPortRange.split('-').map(Number);
        expect(rules.get('maaslab-operator-allow-bmc-traffic')).to.deep.equal({
          ports: [
            { port: BmcDefaults.redfishPort, protocol: 'TCP' },
            { port: first, endPort: last, protocol: 'UDP' },
          ],
        });
      });

      it("reads Secrets only by name (BMC credentials), creates them in its own namespace (BMC certificates) and, server-side apply, a MAAS controller lab's admin and API key Secrets, and writes outside maaslab.dev only for events, leases, those and reviews", () => {
        for (const doc of docs(dir)) {
          if (doc.kind !== 'Role' && doc.kind !== 'ClusterRole') continue;
          // The console roles are for users (unbound here), checked on their own below.
          if ((doc as unknown as V1ClusterRole).metadata?.name?.startsWith('maaslab-console-'))
            continue;
          for (const r of (doc as unknown as V1ClusterRole).rules ?? []) {
            if ((r.resources ?? []).includes('secrets')) {
              expect(r.resources, JSON.stringify(r)).to.deep.equal(['secrets']);
              // No list or watch: Secrets are read by the names the specs give. The cluster
              // role creates and patches (server-side apply) the Secrets of spec.maas.controller
              // labs, in the labs' namespaces, each controlled by its lab.
              const allowed = doc.kind === 'Role' ? ['get', 'create'] : ['get', 'create', 'patch'];
              expect(r.verbs, `${doc.kind} ${JSON.stringify(r)}`).to.satisfy((vs: string[]) =>
                vs.every((v) => allowed.includes(v)),
              );
            }
            const writes = r.verbs.some((v) => !['get', 'list', 'watch'].includes(v));
            if (writes && !(r.apiGroups ?? []).every((g) => g === 'maaslab.dev')) {
              // Reviews are create-only and change nothing: the API server just answers.
              const reviews = ['tokenreviews', 'subjectaccessreviews'];
              expect(r.resources).to.satisfy((rs: string[]) =>
                rs.every(
                  (x) =>
                    x === 'events' ||
                    x === 'leases' ||
                    x === 'secrets' ||
                    (reviews.includes(x) && r.verbs.join() === 'create'),
                ),
              );
            }
          }
        }
      });
    });
  }

  describe('deploy/base', () => {
    it('runs 2 hardened replicas of `run --hypervisors all --leader-elect`', () => {
      const dep = must<V1Deployment>(docs('deploy/base'), 'Deployment', 'maaslab-operator');
      expect(dep.spec?.replicas).to.equal(2);
      const c = expectHardenedOperatorPod(dep.spec!.template.spec!);
      expect(c.args).to.deep.equal([
        'run',
        '--hypervisors',
        'all',
        '--leader-elect',
        '--console-bind-address=127.0.0.1:8082',
      ]);
      expect(dep.spec?.template.metadata?.labels).to.include({
        'app.kubernetes.io/name': 'maaslab-operator',
        'app.kubernetes.io/component': 'operator',
      });
    });

    it('lets MaasLab owners block child deletion (maaslabs/finalizers update)', () => {
      const role = must<V1ClusterRole>(docs('deploy/base'), 'ClusterRole', 'maaslab-operator');
      expect(
        role.rules?.find((r) => r.resources?.includes('maaslabs/finalizers'))?.verbs,
      ).to.deep.equal(['update']);
    });

    it('grants no create on Hypervisors: only agents register them', () => {
      for (const r of rulesOf(docs('deploy/base'))) {
        if (r.resources?.includes('hypervisors')) expect(r.verbs).not.to.include('create');
      }
    });
  });

  describe('deploy/overlays/central', () => {
    it('mounts the SSH key, known_hosts and ssh config read-only as ~/.ssh of the image user', () => {
      const dep = must<V1Deployment>(docs('deploy/overlays/central'), 'Deployment');
      const pod = dep.spec!.template.spec!;
      const c = expectHardenedOperatorPod(pod);
      const mount = c.volumeMounts?.find((m) => m.name === 'ssh');
      expect(mount).to.include({ mountPath: '/home/maaslab/.ssh', readOnly: true });
      const vol = pod.volumes?.find((v) => v.name === 'ssh');
      // 0440 with fsGroup: readable by the operator's group only, never writable.
      expect(vol?.projected?.defaultMode).to.equal(0o440);
      expect(pod.securityContext?.fsGroup).to.equal(pod.securityContext?.runAsGroup);
      const items = vol?.projected?.sources?.flatMap((s) =>
        [...(s.secret?.items ?? []), ...(s.configMap?.items ?? [])].map((i) => i.path),
      );
      expect(items).to.have.members(['id_ed25519', 'known_hosts', 'config']);
      const secret = vol?.projected?.sources?.find((s) => s.secret)?.secret;
      expect(secret?.name).to.equal('maaslab-ssh');
      // The generated ConfigMap's hashed name is what the volume refers to.
      const cmName = vol?.projected?.sources?.find((s) => s.configMap)?.configMap?.name;
      expect(find(docs('deploy/overlays/central'), 'ConfigMap', cmName)).to.not.equal(undefined);
    });

    it('ships an ssh config OpenSSH accepts: strict host keys, batch mode, the mounted key', async () => {
      const { stdout } = await run('ssh', [
        '-G',
        '-F',
        join(repoRoot, 'deploy/overlays/central/ssh_config'),
        'hv1.example',
      ]);
      const opts = new Map(
        stdout.split('\n').map((l) => [l.slice(0, l.indexOf(' ')), l.slice(l.indexOf(' ') + 1)]),
      );
      expect(opts.get('stricthostkeychecking')).to.equal('true');
      expect(opts.get('batchmode')).to.equal('yes');
      expect(opts.get('identitiesonly')).to.equal('yes');
      expect(opts.get('identityfile')).to.match(/\/\.ssh\/id_ed25519$/);
      expect(opts.get('userknownhostsfile')).to.match(/\/\.ssh\/known_hosts$/);
      expect(opts.get('globalknownhostsfile')).to.equal('/dev/null');
    });
  });

  describe('deploy/overlays/agent', () => {
    it('replaces the Deployment by a DaemonSet on maaslab.dev/hypervisor=true nodes', () => {
      const d = docs('deploy/overlays/agent');
      expect(find(d, 'Deployment')).to.equal(undefined);
      const ds = must<V1DaemonSet>(d, 'DaemonSet', 'maaslab-agent');
      // Beside its ServiceAccount, whatever namespace kubectl's context names.
      expect(ds.metadata?.namespace).to.equal('maaslab-system');
      expect(ds.metadata?.labels).to.include({ 'app.kubernetes.io/part-of': 'maaslab' });
      const pod = ds.spec!.template.spec!;
      expect(pod.nodeSelector).to.deep.equal({ 'maaslab.dev/hypervisor': 'true' });
      // The socket's group: the documented default, Debian 12's `libvirt` on our hosts.
      expect(pod.securityContext?.supplementalGroups).to.deep.equal([107]);
      const c = expectHardenedOperatorPod(pod);
      expect(c.args).to.deep.equal([
        'run',
        '--hypervisors',
        '$(NODE_NAME)',
        '--leader-elect',
        '--console-bind-address=127.0.0.1:8082',
        '--register-hypervisor',
      ]);
      const nodeName = c.env?.find((e) => e.name === 'NODE_NAME');
      expect(nodeName?.valueFrom?.fieldRef?.fieldPath).to.equal('spec.nodeName');
      const vol = pod.volumes?.find((v) => v.hostPath);
      expect(vol?.hostPath?.path).to.equal('/var/run/libvirt');
      expect(c.volumeMounts?.find((m) => m.name === vol?.name)?.mountPath).to.equal(
        '/var/run/libvirt',
      );
      // The metrics Service still selects the agents.
      const svc = must<V1Service>(d, 'Service');
      expect(ds.spec?.template.metadata?.labels).to.include(svc.spec?.selector);
    });

    it('adds create and patch on hypervisors, and the admission policy that limits them', () => {
      const d = docs('deploy/overlays/agent');
      const role = must<V1ClusterRole>(d, 'ClusterRole', 'maaslab-agent-registration');
      expect(role.rules).to.deep.equal([
        { apiGroups: ['maaslab.dev'], resources: ['hypervisors'], verbs: ['create', 'patch'] },
      ]);
      must(d, 'ValidatingAdmissionPolicy', 'maaslab-agent-own-hypervisor');
      const binding = must<{ spec: { policyName: string; validationActions: string[] } }>(
        d,
        'ValidatingAdmissionPolicyBinding',
      );
      expect(binding.spec).to.deep.equal({
        policyName: 'maaslab-agent-own-hypervisor',
        validationActions: ['Deny'],
      });
    });
  });
});
