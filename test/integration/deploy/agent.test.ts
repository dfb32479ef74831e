// Agent mode against the real kube-apiserver: the agent overlay's RBAC and admission policy,
// and `run --register-hypervisor` as a child process authenticated exactly as a DaemonSet pod
// would be: a service-account token bound to a Pod on node A (TokenRequest), for which the
// apiserver itself puts `authentication.kubernetes.io/node-name: A` into the user's extra
// (ServiceAccountTokenPodNodeInfo, GA since 1.32). No impersonation: kube-testenv signs
// service-account tokens, so the policy sees what it would see in a cluster. The Pod never
// runs (there is no kubelet); it only anchors the token. libvirt is the in-process test
// driver (`--register-uri test:///default`), so nothing touches the machine's libvirt.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { parse, stringify } from 'yaml';
import { loadRestConfig } from '../../../src/runtime/client/kubeconfig.js';
import { ContentType, createRestClient } from '../../../src/runtime/client/rest.js';
import { controlPlane } from '../../support/controlplane.js';
import {
  DEPLOY_NAMESPACE,
  DEPLOY_SA_USER,
  DEPLOY_SERVICE_ACCOUNT,
  applyKustomization,
  deleteDeployExtras,
} from '../../support/deploy.js';
import { type OperatorProcess, kubectlRun, startOperator } from '../../support/operator.js';
import { waitFor } from '../../support/wait.js';

const NODE_NAME_KEY = 'authentication.kubernetes.io/node-name';

interface HypervisorObject {
  metadata: { name: string; managedFields?: { manager: string; fieldsV1?: unknown }[] };
  spec: { uri: string; storagePool?: string; unschedulable?: boolean };
  status?: { conditions?: { type: string }[]; domains?: number };
}

/** A kubeconfig for the admin's cluster with `token` as the user. */
async function tokenKubeconfig(
  adminKubeconfig: string,
  token: string,
  file: string,
): Promise<string> {
  const admin = parse(await readFile(adminKubeconfig, 'utf8')) as {
    clusters: { name: string; cluster: unknown }[];
  };
  const cluster = admin.clusters[0]!;
  await writeFile(
    file,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [cluster],
      users: [{ name: 'agent', user: { token } }],
      contexts: [{ name: 'agent', context: { cluster: cluster.name, user: 'agent' } }],
      'current-context': 'agent',
    }),
    { mode: 0o600 },
  );
  return file;
}

describe('deploy/overlays/agent: run --register-hypervisor', function () {
  this.timeout(180_000);
  const suffix = randomBytes(3).toString('hex');
  const nodeA = `hv-agent-a-${suffix}`;
  const nodeB = `hv-agent-b-${suffix}`;
  let scratch: string;
  let agentKubeconfig: string;
  const started: OperatorProcess[] = [];
  const admin = (): string => controlPlane().adminKubeconfig;
  const getHv = async (name: string): Promise<HypervisorObject | undefined> => {
    try {
      return JSON.parse(
        await kubectlRun(admin(), [
          'get',
          'hypervisor',
          name,
          '-o',
          'json',
          '--show-managed-fields',
        ]),
      ) as HypervisorObject;
    } catch {
      return undefined;
    }
  };
  const agent = async (
    hypervisors: string,
    log: string,
    waitReady = true,
  ): Promise<OperatorProcess> => {
    const p = await startOperator({
      kubeconfig: agentKubeconfig,
      namespace: DEPLOY_NAMESPACE,
      hypervisors,
      leaderElect: true,
      logFile: join(scratch, log),
      args: ['--register-hypervisor', '--register-uri', 'test:///default'],
      waitReady,
    });
    started.push(p);
    return p;
  };

  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'maaslab-agent-'));
    await applyKustomization(admin(), 'deploy/overlays/agent');
    // A pod of the agents' service account, bound to node A, that anchors the token.
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `agent-${nodeA}`, namespace: DEPLOY_NAMESPACE },
      spec: {
        nodeName: nodeA,
        serviceAccountName: DEPLOY_SERVICE_ACCOUNT,
        automountServiceAccountToken: false,
        securityContext: {
          runAsNonRoot: true,
          runAsUser: 65532,
          seccompProfile: { type: 'RuntimeDefault' },
        },
        containers: [
          {
            name: 'agent',
            image: 'registry.invalid/maaslab-operator:never-pulled',
            securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
          },
        ],
      },
    };
    await writeFile(join(scratch, 'pod.yaml'), stringify(pod));
    await kubectlRun(admin(), ['apply', '--server-side', '-f', join(scratch, 'pod.yaml')]);
    const token = (
      await kubectlRun(admin(), [
        'create',
        'token',
        DEPLOY_SERVICE_ACCOUNT,
        '-n',
        DEPLOY_NAMESPACE,
        '--bound-object-kind',
        'Pod',
        '--bound-object-name',
        pod.metadata.name,
        '--duration',
        '1h',
      ])
    ).trim();
    agentKubeconfig = await tokenKubeconfig(admin(), token, join(scratch, 'agent.kubeconfig'));
  });

  after(async () => {
    for (const p of started) await p.kill();
    await kubectlRun(admin(), [
      'delete',
      'hypervisor',
      nodeA,
      nodeB,
      `${nodeB}-admin`,
      '--ignore-not-found',
      '--wait=false',
    ]).catch(() => undefined);
    await kubectlRun(admin(), [
      'delete',
      'pod',
      `agent-${nodeA}`,
      '-n',
      DEPLOY_NAMESPACE,
      '--ignore-not-found',
      '--wait=false',
    ]).catch(() => undefined);
    await deleteDeployExtras(admin());
    if (process.env.MAASLAB_KEEP_E2E) console.log(`      agent logs kept in ${scratch}`);
    else await rm(scratch, { recursive: true, force: true });
  });

  it('authenticates as the service account, with node A in its extra (from the apiserver, not a header)', async () => {
    const review = JSON.parse(
      await kubectlRun(agentKubeconfig, ['auth', 'whoami', '-o', 'json']),
    ) as {
      status: { userInfo: { username: string; extra?: Record<string, string[]> } };
    };
    expect(review.status.userInfo.username).to.equal(DEPLOY_SA_USER);
    expect(review.status.userInfo.extra?.[NODE_NAME_KEY]).to.deep.equal([nodeA]);
  });

  it('creates its own Hypervisor, owns spec.uri as maaslab-agent, reports its status, stops with 0', async () => {
    expect(await getHv(nodeA)).to.equal(undefined);
    const p = await agent(nodeA, 'agent-a.log');
    const hv = await waitFor(() => getHv(nodeA), { description: `Hypervisor ${nodeA}` });
    expect(hv.spec.uri).to.equal('test:///default');
    const mine = hv.metadata.managedFields?.find((f) => f.manager === 'maaslab-agent');
    expect(JSON.stringify(mine?.fieldsV1)).to.include('f:uri');
    // The agent's own Hypervisor controller writes the status: hypervisors/status is allowed
    // for the agent's own node too.
    await waitFor(async () => ((await getHv(nodeA))?.status?.conditions?.length ?? 0) > 0, {
      timeoutMs: 60_000,
      description: `status of ${nodeA}`,
    });
    expect(await p.stop()).to.equal(0);
  });

  it('updates its own Hypervisor on restart: spec.uri back, an admin-set storagePool kept', async () => {
    await kubectlRun(admin(), [
      'patch',
      'hypervisor',
      nodeA,
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { uri: 'test:///elsewhere', storagePool: 'images' } }),
    ]);
    const p = await agent(nodeA, 'agent-a2.log');
    const hv = await waitFor(
      async () => {
        const h = await getHv(nodeA);
        return h?.spec.uri === 'test:///default' ? h : undefined;
      },
      { description: `${nodeA} re-registered` },
    );
    expect(hv.spec.storagePool).to.equal('images');
    expect(await p.stop()).to.equal(0);
  });

  it("is denied by the admission policy when it registers another node's Hypervisor; never ready", async () => {
    const p = await agent(nodeB, 'agent-b.log', false);
    const log = join(scratch, 'agent-b.log');
    await waitFor(
      async () => (await readFile(log, 'utf8')).includes('Registering hypervisor failed'),
      {
        timeoutMs: 120_000,
        description: 'a failed registration in the log',
      },
    );
    const text = await readFile(log, 'utf8');
    expect(text).to.match(/maaslab-agent-own-hypervisor|own node/);
    expect(await getHv(nodeB)).to.equal(undefined);
    const ready = await fetch(`${p.probeUrl}/readyz`);
    expect(ready.status).to.equal(500);
    expect(await ready.text()).to.include('[-]hypervisor-registered');
    expect(await p.stop()).to.equal(0);
  });

  it("cannot create, change or delete another node's Hypervisor with its token", async () => {
    const other = `${nodeB}-admin`;
    const manifest = (name: string): string =>
      stringify({
        apiVersion: 'maaslab.dev/v1alpha1',
        kind: 'Hypervisor',
        metadata: { name },
        spec: { uri: 'test:///default' },
      });
    await writeFile(join(scratch, 'other.yaml'), manifest(other));
    await kubectlRun(admin(), ['apply', '--server-side', '-f', join(scratch, 'other.yaml')]);
    const as = async (args: string[]): Promise<string> => {
      try {
        await kubectlRun(agentKubeconfig, args);
        return 'allowed';
      } catch (err) {
        return String((err as { stderr?: string }).stderr ?? err);
      }
    };
    await writeFile(join(scratch, 'b.yaml'), manifest(nodeB));
    expect(await as(['create', '-f', join(scratch, 'b.yaml')])).to.match(
      /maaslab-agent-own-hypervisor.*own node/s,
    );
    expect(
      await as([
        'patch',
        'hypervisor',
        other,
        '--type=merge',
        '-p',
        '{"spec":{"unschedulable":true}}',
      ]),
    ).to.match(/maaslab-agent-own-hypervisor.*own node/s);
    // The status patch the agent's Hypervisor controller would send (kubectl patch would GET
    // the status first, which the operator's role does not need and does not have).
    const agentRest = createRestClient(loadRestConfig({ kubeconfig: agentKubeconfig }));
    const statusPatch = await agentRest
      .request({
        method: 'PATCH',
        ref: { apiVersion: 'maaslab.dev/v1alpha1', kind: 'Hypervisor', name: other },
        subresource: 'status',
        body: { status: { domains: 3 } },
        contentType: ContentType.MergePatch,
      })
      .then(
        () => 'allowed',
        (err: unknown) => String(err instanceof Error ? err.message : err),
      );
    // RBAC allows status patches: the policy is what denies this one.
    expect(statusPatch).to.match(/maaslab-agent-own-hypervisor.*own node/s);
    // RBAC stops deletes before admission; the policy would deny them too.
    expect(await as(['delete', 'hypervisor', other])).to.match(/forbidden/i);
    const still = await getHv(other);
    expect(still?.spec.uri).to.equal('test:///default');
    expect(still?.spec.unschedulable).to.equal(false);
    expect(still?.status?.domains).to.equal(undefined);
    // Its own object stays writable with the same token.
    expect(
      await as([
        'patch',
        'hypervisor',
        nodeA,
        '--type=merge',
        '-p',
        '{"spec":{"unschedulable":false}}',
      ]),
    ).to.equal('allowed');
  });
});
