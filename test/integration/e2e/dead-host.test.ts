// End to end, issue 11's "no shared stall": one Hypervisor on a healthy private libvirtd and
// one whose URI names a host that never answers (a namespace of the test's own that drops all
// TCP). The dead one reports Ready=False (HypervisorUnreachable) within its connect timeout,
// with a lab of its own waiting on it; the healthy lab converges about as fast as alone, and
// no libvirt call to the healthy host takes as long as the dead host's timeout.
import { join } from 'node:path';
import { expect } from 'chai';
import type { Hypervisor, MaasLab } from '../../../src/api/v1alpha1/index.js';
import { HypervisorUnreachableReason } from '../../../src/api/v1alpha1/index.js';
import {
  GROUP_VERSION,
  conditionOf,
  isReadyNow,
  type E2eEnvironment,
  smallLab,
  envHypervisor,
  startE2eEnvironment,
} from '../../support/e2e.js';
import { controlPlane } from '../../support/controlplane.js';
import { kubectlApply, kubectlRun } from '../../support/operator.js';
import { createSilentHost, type SilentHost } from '../../support/silent-host.js';
import { waitFor } from '../../support/wait.js';

/** The operator's --libvirt-connect-timeout in this test. */
const CONNECT_TIMEOUT_S = 10;
const LONG = { timeoutMs: 240_000, intervalMs: 200 } as const;

describe('e2e: a hypervisor that never answers stalls nothing else', function () {
  this.timeout(900_000);
  let env: E2eEnvironment | undefined;
  let silent: SilentHost | undefined;
  let deadHv = '';

  const ns = (): string => env?.labNs.name ?? '';
  const kubeconfig = (): string => controlPlane().adminKubeconfig;
  const lab = (name: string, hypervisor: string, third: number): Record<string, unknown> =>
    smallLab({
      name,
      namespace: ns(),
      hypervisor,
      subnet: `10.83.${third}`,
      macPrefix: `52:54:00:7f:${(0x20 + third).toString(16)}`,
    });
  /** Applies a lab and resolves to the milliseconds from the apply to Ready. */
  const buildLab = async (name: string, hypervisor: string, third: number): Promise<number> => {
    const e = env as E2eEnvironment;
    const t0 = performance.now();
    await kubectlApply(
      kubeconfig(),
      [lab(name, hypervisor, third)],
      join(e.scratch, `${name}.yaml`),
    );
    await waitFor(async () => isReadyNow(await e.read.get<MaasLab>('MaasLab', name, ns())), {
      ...LONG,
      description: `lab ${name} Ready (log: ${e.logFile})`,
    });
    return performance.now() - t0;
  };
  /** Sum of the histogram's bucket samples for `hypervisor` at `le`. */
  const callsUpTo = (metrics: string, hypervisor: string, le: string): number =>
    metrics
      .split('\n')
      .filter(
        (l) =>
          l.startsWith('maaslab_libvirt_call_duration_seconds_bucket{') &&
          l.includes(`hypervisor="${hypervisor}"`) &&
          l.includes(`le="${le}"`),
      )
      .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);

  before(async function () {
    this.timeout(300_000);
    env = await startE2eEnvironment('dh', {
      args: ['--libvirt-connect-timeout', `${CONNECT_TIMEOUT_S}s`],
    });
    await kubectlApply(kubeconfig(), [envHypervisor(env)], join(env.scratch, 'hv.yaml'));
  });

  after(async function () {
    this.timeout(180_000);
    if (env && deadHv) {
      await kubectlRun(kubeconfig(), [
        'delete',
        'hypervisors.maaslab.dev',
        deadHv,
        '--wait=false',
      ]).catch(() => undefined);
    }
    await silent?.remove();
    await env?.stop();
  });

  it('reports the dead host within its timeout; the healthy lab is as fast as alone', async function () {
    const e = env as E2eEnvironment;
    const alone = await buildLab('alone', e.hv, 1);

    silent = await createSilentHost();
    deadHv = `${e.hv}-dead`;
    const appliedAt = performance.now();
    await kubectlApply(
      kubeconfig(),
      [
        {
          apiVersion: GROUP_VERSION,
          kind: 'Hypervisor',
          metadata: { name: deadHv },
          spec: { uri: `qemu+tcp://${silent.address}/system` },
        },
        lab('stranded', deadHv, 2),
      ],
      join(e.scratch, 'dead.yaml'),
    );
    const dead = await waitFor(
      async () =>
        ((h) => conditionOf(h, 'Ready')?.status === 'False' && h)(
          await e.read.get<Hypervisor>('Hypervisor', deadHv),
        ),
      { ...LONG, description: `${deadHv} Ready=False (log: ${e.logFile})` },
    );
    const reportedMs = performance.now() - appliedAt;
    expect(conditionOf(dead, 'Ready')?.reason).to.equal(HypervisorUnreachableReason);
    expect(conditionOf(dead, 'Ready')?.message).to.include(`within ${CONNECT_TIMEOUT_S} s`);
    // The first attempt's timeout, plus the status write and a loaded machine's slack.
    expect(reportedMs, 'Ready=False within the connect timeout').to.be.lessThan(
      (CONNECT_TIMEOUT_S + 10) * 1000,
    );

    // The healthy host builds a lab of the same shape while the dead one keeps timing out.
    const beside = await buildLab('beside', e.hv, 3);
    console.log(
      `      [dead-host] lab alone ${(alone / 1000).toFixed(2)} s, beside a dead host ` +
        `${(beside / 1000).toFixed(2)} s; dead host reported in ${(reportedMs / 1000).toFixed(1)} s`,
    );
    expect(beside, 'the healthy lab is not held up by the dead host').to.be.lessThan(
      Math.max(2 * alone, alone + CONNECT_TIMEOUT_S * 1000),
    );
    const stranded = await e.read.get<MaasLab>('MaasLab', 'stranded', ns());
    expect(isReadyNow(stranded), 'the lab on the dead host is not Ready').to.equal(false);

    // No call to the healthy host waited as long as a connection attempt to the dead one.
    const metrics = await (await fetch(e.operator.metricsUrl)).text();
    const all = callsUpTo(metrics, e.hv, '+Inf');
    expect(all, 'calls to the healthy host were made').to.be.greaterThan(0);
    expect(callsUpTo(metrics, e.hv, String(CONNECT_TIMEOUT_S))).to.equal(all);
  });
});
