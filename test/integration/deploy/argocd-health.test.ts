// deploy/argocd under Argo CD's own machinery, over live objects: argocd-cm-patch.yaml is
// applied as argocd-cm to the real kube-apiserver, and bin/argocd-health (Argo CD v2.14's
// util/settings, util/lua and gitops-engine's health package, built from test/argocd-health)
// reads it as Argo CD does and judges objects the real operator (a child process, as in
// production) has reconciled on libvirt's test driver: Ready, Reconciling, Stalled, being
// deleted and gone. Every Lua verdict must also equal lua5.1's (test/support/argocd-health-
// driver.lua, the unit test's runtime), so the cheap runtime stays a faithful stand-in.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { kinds } from '../../../src/api/v1alpha1/index.js';
import {
  ContentType,
  type RestClient,
  createRestClient,
} from '../../../src/runtime/client/rest.js';
import {
  type ArgoCdItem,
  type ArgoCdResult,
  argoCdHealth,
  installArgocdCm,
  requireArgoCdHealth,
} from '../../support/argocd.js';
import { branches, object } from '../../support/argocd-health-cases.js';
import { controlPlane } from '../../support/controlplane.js';
import {
  type Conditioned,
  GROUP_VERSION,
  conditionOf,
  isReadyNow,
  maaslabReader,
} from '../../support/e2e.js';
import { type ArgoHealth, argoHealth } from '../../support/monitoring.js';
import { type TestNamespace, createTestNamespace } from '../../support/namespace.js';
import {
  type OperatorProcess,
  applyOperatorRbac,
  kubectlApply,
  startOperator,
} from '../../support/operator.js';
import { waitFor } from '../../support/wait.js';

const LONG = { timeoutMs: 120_000, intervalMs: 250 } as const;
/** A finalizer of the test's own: keeps a deleted lab visible, deletionTimestamp set. */
const HOLD = 'test.maaslab.dev/hold';

/** The same verdict, with Go's omitted empty message and Lua's nil message alike. */
const norm = (h: ArgoHealth | null | undefined): ArgoHealth | null =>
  h ? { status: h.status, message: h.message ?? '' } : null;

describe('deploy/argocd: Argo CD v2.14 health machinery on live objects', function () {
  this.timeout(300_000);
  const suffix = Math.random().toString(36).slice(2, 7);
  const hv = `argo-hv-${suffix}`;
  const unreachable = `argo-gone-${suffix}`;
  let scratch: string;
  let admin: RestClient;
  let opNs: TestNamespace | undefined;
  let labNs: TestNamespace | undefined;
  let operator: OperatorProcess | undefined;

  const argoNs = (): string => opNs?.name ?? '';
  const ns = (): string => labNs?.name ?? '';
  const ref = (kind: string, name: string, namespace?: string): ArgoCdItem => ({
    ref: { apiVersion: GROUP_VERSION, kind, name, ...(namespace && { namespace }) },
  });
  const judge = (items: readonly ArgoCdItem[]): Promise<ArgoCdResult[]> =>
    argoCdHealth(controlPlane().adminKubeconfig, argoNs(), items);
  /** Argo CD's Lua results must equal lua5.1's on the same objects (as Argo CD read them). */
  const expectLua51Agrees = async (results: readonly ArgoCdResult[]): Promise<void> => {
    const live = results.filter((r) => r.live !== null);
    const lua51 = await argoHealth(live.map((r) => r.live));
    expect(live.map((r) => norm(r.lua))).to.deep.equal(lua51.map(norm));
  };
  const lab = (name: string) =>
    maaslabReader(admin).get<{ metadata: { generation?: number } }>('MaasLab', name, ns());

  before(async function () {
    this.timeout(300_000);
    await requireArgoCdHealth();
    const cp = controlPlane();
    admin = createRestClient(cp.restConfig('admin'));
    scratch = await mkdtemp(join(tmpdir(), 'maaslab-argocd-'));
    opNs = await createTestNamespace(cp.kubeConfig('admin'), 'argocd');
    labNs = await createTestNamespace(cp.kubeConfig('admin'), 'argocd-labs');
    await installArgocdCm(cp.adminKubeconfig, argoNs(), scratch);
    await applyOperatorRbac(cp.adminKubeconfig, argoNs(), scratch);
    operator = await startOperator({
      kubeconfig: cp.operatorKubeconfig,
      namespace: argoNs(),
      logFile: join(scratch, 'operator.log'),
    });
    // A test driver of its own (one pool, nothing else), as bench/scale.ts does.
    const driver = join(scratch, 'hv.xml');
    await writeFile(
      driver,
      `<node><cpu><nodes>1</nodes><sockets>1</sockets><cores>4</cores><threads>1</threads><mhz>2400</mhz></cpu>
<memory>16777216</memory><pool type='dir'><name>default-pool</name><target><path>/default-pool</path></target></pool></node>\n`,
    );
    const labDoc = (name: string, hypervisor: string, third: number) => ({
      apiVersion: GROUP_VERSION,
      kind: 'MaasLab',
      metadata: { name, namespace: ns() },
      spec: {
        hypervisor,
        networks: [
          {
            name: 'maas',
            mode: 'isolated',
            // The test driver names no bridge itself.
            bridge: { name: `mlargo${third}${suffix}`.slice(0, 15) },
            ipv4: { address: `10.77.${third}.1`, prefixLength: 24 },
          },
        ],
        nodes: {
          count: 2,
          macPrefix: `52:54:00:a7:${third.toString(16).padStart(2, '0')}`,
          template: {
            memory: '128Mi',
            disks: [{ name: 'root', size: '64Mi' }],
            interfaces: [{ network: 'maas' }],
          },
        },
      },
    });
    await kubectlApply(
      cp.adminKubeconfig,
      [
        {
          apiVersion: GROUP_VERSION,
          kind: 'Hypervisor',
          metadata: { name: hv },
          spec: { uri: `test://${driver}`, storagePool: 'default-pool' },
        },
        {
          apiVersion: GROUP_VERSION,
          kind: 'Hypervisor',
          metadata: { name: unreachable },
          spec: { uri: 'qemu+unix:///system?socket=/nonexistent/maaslab-argocd.sock' },
        },
        labDoc('ready', hv, 1),
        labDoc('orphan', `absent-${suffix}`, 2),
      ],
      join(scratch, 'objects.yaml'),
    );
  });

  after(async function () {
    this.timeout(120_000);
    await admin
      ?.request({
        method: 'PATCH',
        ref: { apiVersion: GROUP_VERSION, kind: 'MaasLab', namespace: ns(), name: 'ready' },
        contentType: ContentType.MergePatch,
        body: { metadata: { finalizers: null } },
      })
      .catch(() => undefined);
    await labNs?.delete();
    for (const name of [hv, unreachable]) {
      await admin
        ?.request({
          method: 'DELETE',
          ref: { apiVersion: GROUP_VERSION, kind: 'Hypervisor', name },
        })
        .catch(() => undefined);
    }
    await operator?.stop();
    await opNs?.delete();
    if (process.env.MAASLAB_KEEP_E2E) console.log(`      kept ${scratch}`);
    else await rm(scratch, { recursive: true, force: true });
  });

  it('reads the patch as Argo CD does: one health override per maaslab kind, the same Lua for each', async () => {
    const results = await judge(kinds.map((k) => ({ object: object(k.kind, null) })));
    expect(results.map((r) => r.override)).to.deep.equal(kinds.map((k) => `maaslab.dev/${k.kind}`));
    // Each kind's script ran (not a built-in one, nor none): the no-status verdict of health.lua.
    for (const r of results) expect(r.lua?.status).to.equal('Progressing');
  });

  it("every branch of health.lua gives the designed verdict in Argo CD's VM, as under lua5.1", async () => {
    const items = branches.flatMap((b) => kinds.map((k) => ({ object: object(k.kind, b.status) })));
    const results = await judge(items);
    const want = branches.flatMap((b) => kinds.map(() => norm(b.expect)));
    expect(results.map((r) => norm(r.health))).to.deep.equal(want);
    expect(results.map((r) => norm(r.lua))).to.deep.equal(want);
    await expectLua51Agrees(results);
  });

  it('Healthy: a Ready lab, its networks, nodes and Hypervisor (live)', async () => {
    await waitFor(async () => isReadyNow(await lab('ready')), {
      ...LONG,
      description: 'lab Ready',
    });
    const reader = maaslabReader(admin);
    const items = [
      ref('Hypervisor', hv),
      ref('MaasLab', 'ready', ns()),
      ...(await reader.list<{ metadata: { name: string } }>('VirtNetwork', ns())).map((o) =>
        ref('VirtNetwork', o.metadata.name, ns()),
      ),
      ...(await reader.list<{ metadata: { name: string } }>('MaasNode', ns())).map((o) =>
        ref('MaasNode', o.metadata.name, ns()),
      ),
    ];
    const results = await judge(items);
    expect(results.map((r) => (r.live as { kind: string }).kind).sort()).to.deep.equal(
      ['Hypervisor', 'MaasLab', 'MaasNode', 'MaasNode', 'VirtNetwork'].sort(),
    );
    for (const r of results) expect(r.health.status, JSON.stringify(r.live)).to.equal('Healthy');
    await expectLua51Agrees(results);
  });

  it('Progressing: a Hypervisor libvirt cannot reach (Reconciling=True), with its message', async () => {
    const [r] = await waitFor(
      async () => {
        const got = await judge([ref('Hypervisor', unreachable)]);
        return (
          got[0]?.health.status === 'Progressing' &&
          conditionOf(got[0].live ?? {}, 'Reconciling')?.status === 'True' &&
          got
        );
      },
      { ...LONG, description: 'unreachable Hypervisor Reconciling' },
    );
    const live = (r?.live ?? {}) as Conditioned;
    const reconciling = conditionOf(live, 'Reconciling');
    expect(reconciling?.reason).to.equal('HypervisorUnreachable');
    // A pass that could not reach libvirt does not claim the spec observed, so health.lua's
    // first branch (generation not yet observed) answers before its Reconciling branch.
    const generation = live.metadata?.generation;
    expect(r?.health.message).to.equal(
      live.status?.observedGeneration === generation
        ? reconciling?.message
        : `Waiting for the controller to observe generation ${generation}`,
    );
    await expectLua51Agrees(r ? [r] : []);
  });

  it('Degraded: a lab whose Hypervisor does not exist (Stalled=True), with the reason', async () => {
    const [r] = await waitFor(
      async () => {
        const got = await judge([ref('MaasLab', 'orphan', ns())]);
        return got[0]?.health.status === 'Degraded' && got;
      },
      { ...LONG, description: 'orphan lab Degraded' },
    );
    const stalled = conditionOf(r?.live ?? {}, 'Stalled');
    expect(stalled?.reason).to.equal('HypervisorNotFound');
    expect(r?.health.message).to.equal(stalled?.message || stalled?.reason);
    await expectLua51Agrees(r ? [r] : []);
  });

  it('Progressing "Pending deletion" while the lab is deleted, then Missing once it is gone', async () => {
    const labRef = { apiVersion: GROUP_VERSION, kind: 'MaasLab', namespace: ns(), name: 'ready' };
    const { metadata } = await admin.request<{ metadata: { finalizers?: string[] } }>({
      method: 'GET',
      ref: labRef,
    });
    await admin.request({
      method: 'PATCH',
      ref: labRef,
      contentType: ContentType.MergePatch,
      body: { metadata: { finalizers: [...(metadata.finalizers ?? []), HOLD] } },
    });
    await admin.request({ method: 'DELETE', ref: labRef });
    // The operator cleans up and drops its own finalizer; ours keeps the object visible.
    const [deleting] = await waitFor(
      async () => {
        const got = await judge([ref('MaasLab', 'ready', ns())]);
        const meta = (got[0]?.live as { metadata?: { finalizers?: string[] } } | null)?.metadata;
        return meta?.finalizers?.join() === HOLD && got;
      },
      { ...LONG, description: 'lab deleted down to the test finalizer' },
    );
    // gitops-engine's rule, before any Lua: the Lua alone still says what the status says.
    expect(deleting?.health).to.deep.equal({ status: 'Progressing', message: 'Pending deletion' });
    expect(deleting?.lua?.status).to.be.a('string');
    await expectLua51Agrees(deleting ? [deleting] : []);

    await admin.request({
      method: 'PATCH',
      ref: labRef,
      contentType: ContentType.MergePatch,
      body: { metadata: { finalizers: null } },
    });
    const [gone] = await waitFor(
      async () => {
        const got = await judge([ref('MaasLab', 'ready', ns())]);
        return got[0]?.live === null && got;
      },
      { ...LONG, description: 'lab gone' },
    );
    expect(gone).to.deep.equal({
      health: { status: 'Missing' },
      lua: null,
      override: '',
      live: null,
    });
  });
});
