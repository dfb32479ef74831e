// The image's runtime files are enough: hack/stage-image.sh (the script the Dockerfile's
// build stage runs to fill /app) stages dist/, production node_modules and the addon into
// a temp folder, and the ENTRYPOINT command runs from there against kube-apiserver, as
// user maaslab-operator with only deploy/base's RBAC. It serves one Hypervisor on the
// libvirt test driver, whose status proves the addon loaded from the staged tree, becomes
// ready, and exits 0 on SIGTERM. No container engine runs here: this checks the files, not
// the base image (node:24-slim with libvirt0 and openssh-client).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { controlPlane, repoRoot } from '../../support/controlplane.js';
import { type TestNamespace, createTestNamespace } from '../../support/namespace.js';
import {
  type OperatorProcess,
  applyOperatorRbac,
  kubectlRun,
  startOperator,
} from '../../support/operator.js';
import { imageEntrypoint, imageEnv } from '../../support/image.js';
import { httpsGet } from '../../support/metrics-auth.js';
import { waitFor } from '../../support/wait.js';

const run = promisify(execFile);

describe('the image layout (hack/stage-image.sh + the Dockerfile ENTRYPOINT)', function () {
  this.timeout(600_000);
  let stage: string;
  let ns: TestNamespace | undefined;
  let operator: OperatorProcess | undefined;
  const hv = `image-${randomBytes(3).toString('hex')}`;
  const admin = (): string => controlPlane().adminKubeconfig;

  before(async () => {
    stage = await mkdtemp(join(tmpdir(), 'maaslab-image-'));
  });
  after(async () => {
    await operator?.kill();
    await kubectlRun(admin(), ['delete', 'hypervisor', hv, '--ignore-not-found', '--wait=false']);
    await ns?.delete();
    if (process.env.MAASLAB_KEEP_E2E) console.log(`      staged image kept in ${stage}`);
    else await rm(stage, { recursive: true, force: true });
  });

  it('stages dist/, production node_modules and the addon under /app', async () => {
    // What the Dockerfile's build stage does before the script: compile TypeScript.
    await run('npm', ['run', 'build'], { cwd: repoRoot, maxBuffer: 16 * 1024 * 1024 });
    await run(join(repoRoot, 'hack', 'stage-image.sh'), [stage], { maxBuffer: 16 * 1024 * 1024 });
    const [node, script] = await imageEntrypoint();
    expect(node).to.equal('node');
    expect(script).to.match(/^\/app\//);
    await access(join(stage, script!.slice('/app/'.length)));
    await access(join(stage, 'build', 'Release', 'maaslab_libvirt.node'));
    // Production dependencies only: no compiler, test runner or loader.
    for (const dev of ['typescript', 'mocha', 'tsx', 'node-gyp']) {
      await access(join(stage, 'node_modules', dev)).then(
        () => expect.fail(`${dev} was staged`),
        () => undefined,
      );
    }
  });

  it('runs from the staged tree: ready, HTTPS metrics refusing anonymous callers, serves a Hypervisor through the addon, exits 0 on SIGTERM', async () => {
    const [, script] = await imageEntrypoint();
    const cp = controlPlane();
    ns = await createTestNamespace(cp.kubeConfig('admin'), 'image');
    await applyOperatorRbac(admin(), ns.name, stage);
    operator = await startOperator({
      script: join(stage, script!.slice('/app/'.length)),
      kubeconfig: cp.operatorKubeconfig,
      namespace: ns.name,
      hypervisors: hv,
      logFile: join(stage, 'operator.log'),
      // With the image's environment (its V8 and malloc settings).
      env: await imageEnv(),
      // As the manifests run it: HTTPS metrics, certificate made by the staged dependencies.
      secureMetrics: true,
    });
    const anonymous = await httpsGet(operator.metricsUrl);
    expect([anonymous.status, anonymous.certificate.subject?.CN]).to.deep.equal([
      401,
      'maaslab-operator-metrics',
    ]);
    // The test driver's host reports CPUs: only the libvirt binding can have read them.
    await writeFile(
      join(stage, 'hv.yaml'),
      `apiVersion: maaslab.dev/v1alpha1\nkind: Hypervisor\nmetadata:\n  name: ${hv}\nspec:\n  uri: test:///default\n`,
    );
    await kubectlRun(admin(), ['apply', '--server-side', '-f', join(stage, 'hv.yaml')]);
    const cpus = await waitFor(
      async () => {
        const out = await kubectlRun(admin(), [
          'get',
          'hypervisor',
          hv,
          '-o',
          'jsonpath={.status.capacity.cpus}',
        ]);
        return out.trim() === '' ? undefined : Number(out);
      },
      {
        timeoutMs: 60_000,
        description: `status.capacity of ${hv} (log: ${join(stage, 'operator.log')})`,
      },
    );
    expect(cpus).to.be.above(0);
    expect(await operator.stop()).to.equal(0);
  });
});
