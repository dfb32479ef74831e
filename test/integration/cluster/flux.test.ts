// GitOps with a real Flux: source-controller and kustomize-controller, built from their upstream
// Go modules (`make flux`), run as processes against the single-node cluster of
// test/support/cluster.ts (every address on 127.0.0.1), with their CRDs from those modules. The
// test makes its own git repository (a copy of deploy/ and crds/, plus what a user commits: an
// overlay of deploy/overlays/agent for this host, as agent.test.ts applies it, and the lab),
// serves it read-only from `git http-backend` on loopback (test/support/git-server.ts), and
// applies deploy/flux as a user would, with the fork's URL and the agent overlay's path patched in.
//
// What is checked is Flux's own verdict: with `wait: true` (kstatus), Kustomization
// maaslab-operator is Ready only once the agent DaemonSet's pod is Ready (which it is only with
// libvirtd reachable and its Hypervisor registered), and maaslab-labs only once the lab is Ready;
// every sample taken while waiting is checked for the opposite. A commit that adds a lab which
// cannot be built (its MACs are the first lab's: Stalled, MacCollision) turns maaslab-labs
// Ready=False with a failed health check, well before its timeout, and the commit that removes it
// again is pruned and Ready. A commit that grows the lab from 2 to 3 nodes is applied by Flux and
// built by the operator; the time from the commit to the lab Ready is measured.
//
// A new commit is announced as Flux's webhook Receiver or `flux reconcile source git` announce it
// (the annotation reconcile.fluxcd.io/requestedAt), so the measured times are Flux's and the
// operator's, not a poll interval's. Without the Prometheus Operator's CRDs (kube-testenv has
// none), maaslab-monitoring fails and says why; the test checks that too. At the end the labs
// are pruned by Flux (the agent finalizes their domains), the operator's Kustomization is deleted
// without pruning (its CRDs serve the other tests) and its extras go as in agent.test.ts.
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { stringify } from 'yaml';
import { SOCKET_GID, agentTestKustomization, startAgentHost } from '../../support/agent-overlay.js';
import type { Cluster } from '../../support/cluster.js';
import { controlPlane, repoRoot } from '../../support/controlplane.js';
import { DEPLOY_NAMESPACE, deleteDeployExtras } from '../../support/deploy.js';
import { type Conditioned, conditionOf, isReadyNow, kstatus, smallLab } from '../../support/e2e.js';
import {
  FLUX_NAMESPACE,
  type Flux,
  fluxModuleDir,
  installFluxCrds,
  startFlux,
  uninstallFluxCrds,
  FLUX_MODULES,
} from '../../support/flux.js';
import { type GitServer, startGitServer } from '../../support/git-server.js';
import type { PrivateLibvirtd } from '../../support/libvirtd.js';
import { kubectlRun } from '../../support/operator.js';
import { importOperatorImage } from '../../support/overlay.js';
import { waitFor } from '../../support/wait.js';
import { type ResourceRef, createRestClient } from '../../../src/runtime/client/rest.js';

const run = promisify(execFile);
/** deploy/flux/labs's namespace and lab name. */
const LABS_NS = 'maaslab-labs';
const LAB = 'lab';
/** A second lab with the first one's MACs: the operator stalls it (MacCollision). */
const CLASH = 'clash';
const MAC_PREFIX = '52:54:00:7f:0c';
/** The test overlay's path in the repository. */
const OVERLAY_PATH = 'clusters/test';

/** One version of a watched object: whose, and whether it was Ready then. */
interface ReadyVersion {
  readonly name: string;
  readonly ready: boolean;
}

/**
 * Watches each `name` in its collection from now on (the objects that exist come first, as
 * ADDED) and records every version's readiness in the order the events arrive. `stop` ends
 * the watches and returns what was seen.
 */
async function watchReadiness(
  targets: ReadonlyArray<{ ref: ResourceRef; name: string }>,
): Promise<{ stop(): ReadyVersion[] }> {
  const rest = createRestClient(controlPlane().restConfig('admin'));
  const seen: ReadyVersion[] = [];
  const handles = await Promise.all(
    targets.map(({ ref, name }) =>
      rest.watch(
        ref,
        // As long as the test's own wait (720 s), not the client's default 300 s.
        { fieldSelector: `metadata.name=${name}`, timeoutSeconds: 900 },
        {
          onEvent: (type, object) => {
            if (type === 'ADDED' || type === 'MODIFIED') {
              seen.push({ name, ready: isReadyNow(object as Conditioned) });
            }
          },
          // A watch that ends early leaves a gap the assertions on `seen` show.
          onDone: () => undefined,
        },
      ),
    ),
  );
  return {
    stop() {
      for (const h of handles) h.stop();
      return seen;
    },
  };
}

interface FluxObject extends Conditioned {
  readonly metadata?: { readonly name?: string; readonly generation?: number };
  readonly status?: Conditioned['status'] & {
    readonly lastAppliedRevision?: string;
    readonly lastAttemptedRevision?: string;
    readonly artifact?: { readonly revision?: string };
  };
}
interface DaemonSetStatus {
  readonly metadata?: { readonly generation?: number };
  readonly status?: {
    readonly observedGeneration?: number;
    readonly desiredNumberScheduled?: number;
    readonly numberReady?: number;
    readonly updatedNumberScheduled?: number;
  };
}

describe('GitOps with a real Flux: deploy/flux applied from a local git server, health by kstatus', function () {
  let cluster: Cluster | undefined;
  let lv: PrivateLibvirtd | undefined;
  let flux: Flux | undefined;
  let server: GitServer | undefined;
  let crds: string[] = [];
  let scratch = '';
  let work = '';
  let bare = '';
  let image = '';
  let hvName = '';
  const admin = (): string => controlPlane().adminKubeconfig;
  const kubectl = (...args: string[]): Promise<string> => kubectlRun(admin(), args);
  const getJson = async <T>(...args: string[]): Promise<T> =>
    JSON.parse(await kubectl('get', '-o', 'json', ...args)) as T;
  const ks = (name: string): Promise<FluxObject> =>
    getJson<FluxObject>('kustomizations.kustomize.toolkit.fluxcd.io', name, '-n', FLUX_NAMESPACE);
  const ready = (o: Conditioned | undefined): string => {
    const c = o && conditionOf(o, 'Ready');
    return c ? `${c.status} ${c.reason ?? ''}: ${c.message ?? ''}` : '(no Ready)';
  };
  const git = async (...args: string[]): Promise<string> =>
    (
      await run(
        'git',
        ['-c', 'user.name=maaslab test', '-c', 'user.email=test@maaslab.invalid', ...args],
        { cwd: work },
      )
    ).stdout.trim();
  /**
   * Commits the work tree and pushes it to the served repository; announces it to Flux unless
   * `announce` is false (before the GitRepository exists). Resolves to the commit's sha.
   */
  const commit = async (message: string, announce = true): Promise<string> => {
    await git('add', '-A');
    await git('commit', '-q', '-m', message);
    await git('push', '-q', bare, 'main');
    const sha = await git('rev-parse', 'HEAD');
    if (!announce) return sha;
    await kubectl(
      'annotate',
      '--overwrite',
      '-n',
      FLUX_NAMESPACE,
      'gitrepository/maaslab',
      `reconcile.fluxcd.io/requestedAt=${new Date().toISOString()}`,
    );
    return sha;
  };
  const labDoc = (name: string, subnet: string, count: number): string => {
    const lab = smallLab({
      name,
      namespace: LABS_NS,
      hypervisor: hvName,
      subnet,
      macPrefix: MAC_PREFIX,
      count,
    }) as { metadata: Record<string, unknown> };
    // deploy/flux/labs's kustomization gives the namespace, as it does to the example.
    delete lab.metadata.namespace;
    return stringify(lab);
  };
  const writeLabs = async (labs: Record<string, string>): Promise<void> => {
    const dir = join(work, 'deploy', 'flux', 'labs');
    await rm(join(dir, `${CLASH}.yaml`), { force: true });
    for (const [file, text] of Object.entries(labs)) await writeFile(join(dir, file), text);
    await writeFile(
      join(dir, 'kustomization.yaml'),
      stringify({
        apiVersion: 'kustomize.config.k8s.io/v1beta1',
        kind: 'Kustomization',
        namespace: LABS_NS,
        resources: ['namespace.yaml', ...Object.keys(labs)],
      }),
    );
  };
  const explain = async (): Promise<string> => {
    const out: string[] = [];
    for (const name of ['maaslab-operator', 'maaslab-labs', 'maaslab-monitoring']) {
      out.push(`Kustomization ${name}: ${await ks(name).then(ready, String)}`);
    }
    out.push(
      await kubectl('get', 'gitrepository,maaslab,maasnode,hypervisor,daemonset', '-A').catch(
        String,
      ),
    );
    out.push(`source-controller:\n${await flux?.source.logTail(15)}`);
    out.push(`kustomize-controller:\n${await flux?.kustomize.logTail(25)}`);
    out.push(`git server: ${server?.log.slice(-5).join('; ')}`);
    return out.join('\n');
  };

  before(async function () {
    this.timeout(900_000);
    if (process.getuid?.() !== 0) this.skip();
    scratch = await mkdtemp(join(tmpdir(), 'maaslab-flux-test-'));
    let t = Date.now();
    // The host as agent.test.ts prepares it (the socket's group, the agent's uid, the node).
    ({ lv, cluster } = await startAgentHost());
    hvName = cluster.nodeName;
    console.log(`      cluster and libvirtd: ${Date.now() - t} ms`);
    image = await importOperatorImage(cluster);

    t = Date.now();
    crds = await installFluxCrds(admin());
    flux = await startFlux(admin(), join(scratch, 'flux'));
    const versions = await Promise.all(
      Object.values(FLUX_MODULES).map(async (m) => `${m}@${(await fluxModuleDir(m)).version}`),
    );
    console.log(
      `      flux: ${versions.join(', ')} CRDs applied, controllers ready in ${Date.now() - t} ms`,
    );

    // The user's repository: this one's deploy/ and crds/, an overlay for this host, the lab.
    work = join(scratch, 'work');
    await mkdir(work);
    await cp(join(repoRoot, 'deploy'), join(work, 'deploy'), { recursive: true });
    await cp(join(repoRoot, 'crds'), join(work, 'crds'), { recursive: true });
    await mkdir(join(work, OVERLAY_PATH), { recursive: true });
    await writeFile(
      join(work, OVERLAY_PATH, 'kustomization.yaml'),
      agentTestKustomization(
        relative(join(work, OVERLAY_PATH), join(work, 'deploy', 'overlays', 'agent')),
        image,
        join(lv.dir, 'sock'),
        SOCKET_GID,
      ),
    );
    await writeLabs({ 'lab.yaml': labDoc(LAB, '10.86.7', 2) });
    await git('init', '-q', '-b', 'main');
    const root = join(scratch, 'git');
    bare = join(root, 'maaslab.git');
    await mkdir(root);
    await run('git', ['init', '-q', '--bare', '-b', 'main', bare]);
    server = await startGitServer(root, ['maaslab.git']);
  });

  after(async function () {
    this.timeout(600_000);
    const step = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
      await fn().catch((err: unknown) => console.error(`      cleanup (${what}): ${String(err)}`));
    };
    if (flux) {
      // The labs by Flux's own prune, while the agent is there to finalize their domains.
      await step('labs', async () => {
        await kubectl(
          'delete',
          '-n',
          FLUX_NAMESPACE,
          'kustomization/maaslab-labs',
          '--ignore-not-found',
          '--timeout=240s',
        );
        await kubectl('delete', 'namespace', LABS_NS, '--ignore-not-found', '--timeout=240s');
      });
      // The operator without pruning: the CRDs it applied serve the other tests.
      await step('operator', async () => {
        for (const name of ['maaslab-operator', 'maaslab-monitoring']) {
          await kubectl(
            'patch',
            '-n',
            FLUX_NAMESPACE,
            `kustomization/${name}`,
            '--type=merge',
            '-p',
            '{"spec":{"prune":false}}',
          ).catch(() => '');
          await kubectl(
            'delete',
            '-n',
            FLUX_NAMESPACE,
            `kustomization/${name}`,
            '--ignore-not-found',
            '--timeout=120s',
          );
        }
        await kubectl(
          'delete',
          '-n',
          FLUX_NAMESPACE,
          'gitrepository/maaslab',
          '--ignore-not-found',
          '--timeout=120s',
        );
        // What Flux applied and did not prune still names kustomize-controller as the owner of
        // its fields, and the agent overlay's namespace label differs from deploy/base's: take
        // the namespace over for kubectl's field manager, as leaving Flux with
        // `--force-conflicts` does, so that later tests' `kubectl apply --server-side` of the
        // base on this control plane meets no conflict. (Clearing managedFields is not enough:
        // the server then gives the fields to "before-first-apply", which conflicts the same.)
        await kubectl(
          'apply',
          '--server-side',
          '--force-conflicts',
          '-f',
          join(repoRoot, 'deploy', 'base', 'namespace.yaml'),
        );
      });
      await step('flux', async () => flux?.stop());
    }
    await step('flux CRDs', async () => {
      // Anything a failed run left with Flux's finalizer, which no controller will remove now.
      for (const kind of [
        'kustomizations.kustomize.toolkit.fluxcd.io',
        'gitrepositories.source.toolkit.fluxcd.io',
      ]) {
        const names = (
          await kubectl('get', kind, '-n', FLUX_NAMESPACE, '-o', 'name').catch(() => '')
        )
          .split('\n')
          .filter((l) => l !== '');
        for (const n of names)
          await kubectl(
            'patch',
            '-n',
            FLUX_NAMESPACE,
            n,
            '--type=merge',
            '-p',
            '{"metadata":{"finalizers":null}}',
          );
      }
      await uninstallFluxCrds(admin(), crds);
    });
    await step('overlay', async () => {
      if (!cluster) return;
      await deleteDeployExtras(admin());
      await waitFor(
        async () =>
          (await kubectl(
            'get',
            'pods',
            '-n',
            DEPLOY_NAMESPACE,
            '-l',
            'app.kubernetes.io/component=operator',
            '-o',
            'name',
          )) === '',
        { timeoutMs: 120_000, intervalMs: 500, description: 'the agent pods deleted' },
      );
      await kubectl('delete', 'hypervisor', hvName, '--ignore-not-found');
      await kubectl(
        'delete',
        'lease',
        `maaslab-hv-${hvName}`,
        '-n',
        DEPLOY_NAMESPACE,
        '--ignore-not-found',
      );
    });
    await step('git server', async () => server?.stop());
    await step('cluster', async () => cluster?.stop());
    await step('libvirtd', async () => lv?.stop());
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('applies deploy/flux as a user would: maaslab-operator Ready only with the agent Ready, maaslab-labs only with the lab Ready', async function () {
    this.timeout(900_000);
    const sha = await commit('maaslab for this host: the agent overlay and one lab', false);
    // deploy/flux with what a user changes: the fork's URL, and the agent overlay for their host.
    const install = join(scratch, 'install');
    await mkdir(install);
    const fluxPatch = (kind: string, name: string, spec: Record<string, unknown>) => ({
      patch: stringify({
        apiVersion:
          kind === 'GitRepository'
            ? 'source.toolkit.fluxcd.io/v1'
            : 'kustomize.toolkit.fluxcd.io/v1',
        kind,
        metadata: { name, namespace: FLUX_NAMESPACE },
        spec,
      }),
    });
    await writeFile(
      join(install, 'kustomization.yaml'),
      stringify({
        apiVersion: 'kustomize.config.k8s.io/v1beta1',
        kind: 'Kustomization',
        resources: [relative(install, join(work, 'deploy', 'flux'))],
        patches: [
          fluxPatch('GitRepository', 'maaslab', { url: `${server!.url}/maaslab.git` }),
          fluxPatch('Kustomization', 'maaslab-operator', {
            path: `./${OVERLAY_PATH}`,
            healthChecks: [
              {
                apiVersion: 'apps/v1',
                kind: 'DaemonSet',
                name: 'maaslab-agent',
                namespace: DEPLOY_NAMESPACE,
              },
            ],
          }),
        ],
      }),
    );
    // The lab and maaslab-labs as watches deliver them, every version: sampling alone can miss
    // a lab that is Ready within a second of its creation, between two samples.
    const readiness = await watchReadiness([
      {
        ref: { apiVersion: 'maaslab.dev/v1alpha1', kind: 'MaasLab', namespace: LABS_NS },
        name: LAB,
      },
      {
        ref: {
          apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
          kind: 'Kustomization',
          namespace: FLUX_NAMESPACE,
        },
        name: 'maaslab-labs',
      },
    ]);
    const t0 = Date.now();
    await kubectl('apply', '--server-side', '-k', install);

    // Sample until the labs are Ready; each sample reads Flux's verdict first, then the truth.
    const seen = {
      operatorWaited: false,
      operatorReadyAt: 0,
      agentReadyAt: 0,
      labReadyAt: 0,
      labsReadyAt: 0,
      violations: [] as string[],
      messages: new Set<string>(),
    };
    let poolSet = false;
    await waitFor(
      async () => {
        const now = Date.now() - t0;
        const op = await ks('maaslab-operator').catch(() => undefined);
        const labs = await ks('maaslab-labs').catch(() => undefined);
        const ds = await getJson<DaemonSetStatus>(
          'daemonset',
          'maaslab-agent',
          '-n',
          DEPLOY_NAMESPACE,
        ).catch(() => undefined);
        const lab = await getJson<Conditioned>('maaslab', LAB, '-n', LABS_NS).catch(
          () => undefined,
        );
        const agentReady =
          ds !== undefined &&
          ds.status?.observedGeneration === ds.metadata?.generation &&
          (ds.status?.desiredNumberScheduled ?? 0) > 0 &&
          ds.status?.numberReady === ds.status?.desiredNumberScheduled &&
          ds.status?.updatedNumberScheduled === ds.status?.desiredNumberScheduled;
        const labReady = lab !== undefined && isReadyNow(lab);
        const opReady = op !== undefined && conditionOf(op, 'Ready')?.status === 'True';
        const labsReady = labs !== undefined && conditionOf(labs, 'Ready')?.status === 'True';
        for (const o of [op, labs]) {
          const c = o && conditionOf(o, 'Ready');
          if (c && c.status !== 'True') seen.messages.add(`${o.metadata?.name}: ${c.reason}`);
        }
        if (opReady && !agentReady)
          seen.violations.push(`${now} ms: maaslab-operator Ready, DaemonSet not`);
        if (labsReady && !labReady)
          seen.violations.push(
            `${now} ms: maaslab-labs Ready, the lab not: ${JSON.stringify({ generation: lab?.metadata?.generation, status: lab?.status })}`,
          );
        if (ds !== undefined && !agentReady && !opReady) seen.operatorWaited = true;
        if (agentReady) seen.agentReadyAt ||= now;
        if (opReady) seen.operatorReadyAt ||= now;
        if (labReady) seen.labReadyAt ||= now;
        if (labsReady) seen.labsReadyAt ||= now;
        // The admin's one step (README, "Agent mode"): the registered Hypervisor's storage pool.
        if (
          !poolSet &&
          (await kubectl('get', 'hypervisor', hvName, '-o', 'name').catch(() => '')) !== ''
        ) {
          await kubectl(
            'patch',
            'hypervisor',
            hvName,
            '--type=merge',
            '-p',
            JSON.stringify({
              spec: { storagePool: 'flux', storagePoolPath: join(lv!.dir, 'pool') },
            }),
          );
          poolSet = true;
        }
        return labsReady && labs;
      },
      {
        timeoutMs: 720_000,
        intervalMs: 500,
        description: 'Kustomization maaslab-labs Ready',
        explain,
      },
    );
    console.log(
      `      flux: apply of deploy/flux → DaemonSet Ready ${seen.agentReadyAt} ms, maaslab-operator Ready ${seen.operatorReadyAt} ms, lab Ready ${seen.labReadyAt} ms, maaslab-labs Ready ${seen.labsReadyAt} ms`,
    );
    console.log(`      flux: while waiting: ${[...seen.messages].join(', ')}`);
    expect(seen.violations).to.deep.equal([]);
    expect(seen.operatorWaited, 'maaslab-operator seen not Ready while the agent was not').to.equal(
      true,
    );
    expect(seen.operatorReadyAt).to.be.at.least(seen.agentReadyAt);
    expect(seen.labsReadyAt).to.be.at.least(seen.labReadyAt);
    // Every version of both, in the order they arrived: the lab came not Ready while
    // maaslab-labs was not Ready, and maaslab-labs turned Ready only after the lab did.
    const timeline = readiness.stop();
    const labWaited = timeline.findIndex((v) => v.name === LAB && !v.ready);
    const labReady = timeline.findIndex((v) => v.name === LAB && v.ready);
    const labsReady = timeline.findIndex((v) => v.name === 'maaslab-labs' && v.ready);
    const shown = JSON.stringify(timeline);
    expect(labWaited, `the lab seen not Ready: ${shown}`).to.be.at.least(0);
    expect(labsReady, `maaslab-labs seen Ready: ${shown}`).to.be.at.least(0);
    expect(labsReady, `maaslab-labs not Ready while the lab was not: ${shown}`).to.be.above(
      labWaited,
    );
    expect(labReady, `maaslab-labs Ready after the lab: ${shown}`).to.be.within(0, labsReady);

    // Both at the commit, applied by Flux (its field manager), the domains on the private libvirtd.
    for (const name of ['maaslab-operator', 'maaslab-labs']) {
      expect((await ks(name)).status?.lastAppliedRevision).to.equal(`main@sha1:${sha}`);
    }
    const managers = (
      await getJson<{ metadata: { managedFields?: { manager: string }[] } }>(
        'maaslab',
        LAB,
        '-n',
        LABS_NS,
        '--show-managed-fields',
      )
    ).metadata.managedFields?.map((f) => f.manager);
    expect(managers).to.include('kustomize-controller');
    const running = (await lv!.virsh(['list', '--name', '--state-running']))
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '');
    expect(running.sort()).to.deep.equal([`${LABS_NS}.${LAB}-node1`, `${LABS_NS}.${LAB}-node2`]);
    expect(await kstatus(admin(), 'MaasLab', `${LABS_NS}/${LAB}`)).to.deep.include({
      status: 'Current',
    });
    expect(server!.log.some((l) => l.startsWith('POST /maaslab.git/git-upload-pack 200'))).to.equal(
      true,
    );

    // No Prometheus Operator here: maaslab-monitoring fails, and says which kinds it lacks.
    const mon = await waitFor(
      async () => {
        const m = await ks('maaslab-monitoring');
        return conditionOf(m, 'Ready')?.status === 'False' && m;
      },
      {
        timeoutMs: 120_000,
        intervalMs: 500,
        description: 'maaslab-monitoring Ready=False',
        explain,
      },
    );
    console.log(`      flux: maaslab-monitoring ${ready(mon)}`);
    expect(conditionOf(mon, 'Ready')?.message).to.match(
      /ServiceMonitor|PrometheusRule|monitoring\.coreos\.com/,
    );
  });

  it('reports a Stalled lab as failed (health check), before its timeout, and is Ready again once a commit removes it', async function () {
    this.timeout(600_000);
    await writeLabs({
      'lab.yaml': labDoc(LAB, '10.86.7', 2),
      [`${CLASH}.yaml`]: labDoc(CLASH, '10.86.8', 2),
    });
    const t = Date.now();
    const sha = await commit('a second lab with the first one’s MACs');
    const failed = await waitFor(
      async () => {
        const k = await ks('maaslab-labs');
        const c = conditionOf(k, 'Ready');
        return k.status?.lastAttemptedRevision === `main@sha1:${sha}` && c?.status === 'False' && k;
      },
      { timeoutMs: 300_000, intervalMs: 500, description: 'maaslab-labs Ready=False', explain },
    );
    const failedMs = Date.now() - t;
    console.log(`      flux: commit → maaslab-labs ${ready(failed)} in ${failedMs} ms`);
    const c = conditionOf(failed, 'Ready')!;
    expect(c.reason).to.equal('HealthCheckFailed');
    expect(c.message).to.include(`MaasLab/${LABS_NS}/${CLASH}`);
    // Failed early on kstatus's Failed, not after the Kustomization's 15 min timeout.
    expect(failedMs).to.be.below(300_000);
    const clash = await getJson<Conditioned>('maaslab', CLASH, '-n', LABS_NS);
    expect(conditionOf(clash, 'Stalled')).to.deep.include({
      status: 'True',
      reason: 'MacCollision',
    });
    expect((await kstatus(admin(), 'MaasLab', `${LABS_NS}/${CLASH}`)).status).to.equal('Failed');
    // The first lab is untouched and Ready.
    expect(isReadyNow(await getJson<Conditioned>('maaslab', LAB, '-n', LABS_NS))).to.equal(true);

    await writeLabs({ 'lab.yaml': labDoc(LAB, '10.86.7', 2) });
    const t2 = Date.now();
    const sha2 = await commit('remove the clashing lab');
    await waitFor(
      async () => {
        const k = await ks('maaslab-labs');
        return (
          k.status?.lastAppliedRevision === `main@sha1:${sha2}` &&
          conditionOf(k, 'Ready')?.status === 'True'
        );
      },
      {
        timeoutMs: 300_000,
        intervalMs: 500,
        description: 'maaslab-labs Ready after the removal',
        explain,
      },
    );
    console.log(`      flux: commit removing it → maaslab-labs Ready in ${Date.now() - t2} ms`);
    await waitFor(
      async () =>
        (await kubectl(
          'get',
          'maaslab',
          CLASH,
          '-n',
          LABS_NS,
          '--ignore-not-found',
          '-o',
          'name',
        )) === '',
      { timeoutMs: 120_000, intervalMs: 500, description: 'the clashing lab pruned by Flux' },
    );
  });

  it('applies a commit that grows the lab from 2 to 3 nodes; the operator builds the third', async function () {
    this.timeout(600_000);
    await writeLabs({ 'lab.yaml': labDoc(LAB, '10.86.7', 3) });
    const t = Date.now();
    const sha = await commit('grow the lab to 3 nodes');
    let appliedMs = 0;
    let operatorMs = 0;
    const lab = await waitFor(
      async () => {
        // maaslab-labs applies a revision only once maaslab-operator (dependsOn) is Ready at it.
        if (
          !operatorMs &&
          (await ks('maaslab-operator')).status?.lastAppliedRevision === `main@sha1:${sha}`
        )
          operatorMs = Date.now() - t;
        const l = await getJson<Conditioned & { spec: { nodes: { count: number } } }>(
          'maaslab',
          LAB,
          '-n',
          LABS_NS,
        );
        // Flux's apply, as the cluster shows it.
        if (!appliedMs && l.spec.nodes.count === 3) appliedMs = Date.now() - t;
        return l.spec.nodes.count === 3 && isReadyNow(l) && l;
      },
      { timeoutMs: 420_000, intervalMs: 250, description: 'the lab Ready with 3 nodes', explain },
    );
    const labReadyMs = Date.now() - t;
    expect(lab.spec.nodes.count).to.equal(3);
    const k = await waitFor(
      async () => {
        const x = await ks('maaslab-labs');
        return (
          x.status?.lastAppliedRevision === `main@sha1:${sha}` &&
          conditionOf(x, 'Ready')?.status === 'True' &&
          x
        );
      },
      {
        timeoutMs: 120_000,
        intervalMs: 250,
        description: 'maaslab-labs Ready at the commit',
        explain,
      },
    );
    const ksReadyMs = Date.now() - t;
    console.log(
      `      flux: commit → maaslab-operator at it ${operatorMs} ms, the lab applied ${appliedMs} ms, lab Ready (3 nodes) ${labReadyMs} ms, maaslab-labs Ready ${ksReadyMs} ms`,
    );
    expect(conditionOf(k, 'Ready')?.status).to.equal('True');
    const running = (await lv!.virsh(['list', '--name', '--state-running']))
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '');
    expect(running.sort()).to.deep.equal([1, 2, 3].map((i) => `${LABS_NS}.${LAB}-node${i}`));
  });
});
