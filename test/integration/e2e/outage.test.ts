// End to end, the operator as a child process (as user maaslab-operator with deploy/base/ RBAC
// only) against the shared kube-apiserver and a private libvirtd with QEMU TCG: issue 4's
// scenarios 9b (kube-apiserver restart: the informers recover), 3 (power: managed save,
// restartToken) and 8 (foreign domain and network of our names), on one small lab.
import { access, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'chai';
import type { MaasNode, VirtNetwork } from '../../../src/api/v1alpha1/index.js';
import { NameConflictReason } from '../../../src/api/v1alpha1/index.js';
import { buildDomainXml, buildNetworkXml } from '../../../src/libvirt/xml/index.js';
import { controlPlane } from '../../support/controlplane.js';
import {
  GROUP_VERSION,
  type MaaslabReader,
  conditionOf,
  isReadyNow,
  type E2eEnvironment,
  envHypervisor,
  smallLab,
  startE2eEnvironment,
} from '../../support/e2e.js';
import { labView } from '../../support/e2e-lab.js';
import { type PrivateLibvirtd } from '../../support/libvirtd.js';
import { type TestNamespace } from '../../support/namespace.js';
import { type OperatorProcess, kubectlApply, kubectlRun } from '../../support/operator.js';
import { parseMetrics, sample } from '../../support/metrics-text.js';
import { waitFor } from '../../support/wait.js';

const LAB = 'ou';
const NET = `${LAB}-maas`;
const MiB = 1024 ** 2;
const LONG = { timeoutMs: 240_000, intervalMs: 500 } as const;
/**
 * How soon after the apiserver is back the operator must act on a change. Its informers
 * retry with backoff capped at 30 s; a watchdog relist (minutes) must not be needed.
 */
const RECOVERY_MS = 90_000;

describe('e2e: outages and ownership (apiserver restart, power, foreign objects)', function () {
  this.timeout(900_000);

  let lv: PrivateLibvirtd;
  let read: MaaslabReader;
  let scratch: string;
  let labNs: TestNamespace;
  let hv: string;
  let operator: OperatorProcess | undefined;
  let logFile: string;
  let env: E2eEnvironment | undefined;

  const kubeconfig = (): string => controlPlane().adminKubeconfig;
  const ns = (): string => labNs.name;
  const {
    domainOf,
    labNode,
    lab,
    labReady,
    verdict,
    patch,
    nodeStatus,
    labDomains,
    domId,
    domState,
  } = labView(() => env!, LAB, LONG);
  const apply = async (
    kind: string,
    name: string,
    spec: Record<string, unknown>,
  ): Promise<void> => {
    const doc = { apiVersion: GROUP_VERSION, kind, metadata: { name, namespace: ns() }, spec };
    await kubectlApply(kubeconfig(), [doc], join(scratch, `${kind}-${name}.yaml`));
  };
  const stalledConflict = async <T extends MaasNode | VirtNetwork>(
    kind: string,
    name: string,
  ): Promise<T> =>
    waitFor(
      async () =>
        ((x) => conditionOf(x, 'Stalled')?.status === 'True' && x)(
          await read.get<T>(kind, name, ns()),
        ),
      { ...LONG, description: `${kind} ${name} Stalled (log: ${logFile})` },
    );
  const gone = (kind: string, name: string): Promise<boolean> =>
    waitFor(
      async () => {
        try {
          await read.get(kind, name, ns());
          return false;
        } catch {
          return true;
        }
      },
      { ...LONG, description: `${kind} ${name} gone` },
    );

  before(async function () {
    this.timeout(300_000);
    env = await startE2eEnvironment('ou');
    ({ read, scratch, logFile, lv, labNs, hv, operator } = env);
  });

  after(async function () {
    this.timeout(180_000);
    await env?.stop();
  });

  it('9b: kube-apiserver restarted under a Ready lab: the operator acts on the next change, no duplicates', async function () {
    const docs = [
      envHypervisor(env!),
      smallLab({
        name: LAB,
        namespace: ns(),
        hypervisor: hv,
        subnet: '10.89.0',
        macPrefix: '52:54:00:7f:09',
      }),
    ];
    await kubectlApply(kubeconfig(), docs, join(scratch, 'lab.yaml'));
    await labReady('lab Ready');
    const ids = await Promise.all([1, 2].map((i) => domId(labNode(i))));

    const restarts = async (kind: string): Promise<number> =>
      sample(
        parseMetrics(await (await fetch(operator?.metricsUrl ?? '')).text()),
        'maaslab_informer_restarts_total',
        { kind },
      );
    const kinds = ['MaasLab', 'MaasNode', 'VirtNetwork', 'Hypervisor'];
    const restartsBefore = await Promise.all(kinds.map(restarts));
    await controlPlane().restartApiServer();
    expect(operator?.child.exitCode, 'operator survived the outage').to.equal(null);

    // Only a live watch (or a relist) shows the operator this change.
    await patch(`maaslabs.maaslab.dev/${LAB}`, { spec: { nodes: { count: 3 } } });
    await waitFor(
      async () => ((x) => x.status?.observedGeneration === x.metadata?.generation)(await lab()),
      {
        timeoutMs: RECOVERY_MS,
        intervalMs: 250,
        description: `the operator to observe the scale-up after the restart (log: ${logFile})`,
      },
    );
    // The lab's own node informer must work too: node3 is created, runs and is counted.
    await waitFor(async () => ((x) => isReadyNow(x) && x.status?.nodes?.ready === 3)(await lab()), {
      ...LONG,
      description: `lab Ready with 3 nodes (log: ${logFile})`,
    });

    expect(await labDomains()).to.deep.equal([1, 2, 3].map((i) => domainOf(labNode(i))).sort());
    // The nodes that ran through the outage were left alone.
    expect(await Promise.all([1, 2].map((i) => domId(labNode(i))))).to.deep.equal(ids);
    expect(await verdict('MaasLab', `${ns()}/${LAB}`)).to.equal('Current');
    expect(await verdict('Hypervisor', hv)).to.equal('Current');
    expect(operator?.child.exitCode).to.equal(null);
    // The outage was real to the operator: its informers lost their watches and restarted
    // (maaslab_informer_restarts_total{kind} went up for every kind).
    const restartsAfter = await Promise.all(kinds.map(restarts));
    kinds.forEach((kind, i) => {
      expect(restartsAfter[i], `${kind} informer restarted`).to.be.greaterThan(
        restartsBefore[i] ?? Number.NaN,
      );
    });
  });

  it('3: Halted with haltMode Save keeps a managed save; Always resumes it; restartToken reboots', async function () {
    const name = 'pw';
    const spec = {
      hypervisor: hv,
      memory: '128Mi',
      disks: [{ name: 'root', size: '64Mi' }],
      interfaces: [{ network: NET }],
      vnc: { enabled: false },
    };
    await apply('MaasNode', name, spec);
    await nodeStatus(name, 'Running');

    await patch(`maasnodes.maaslab.dev/${name}`, {
      spec: { runStrategy: 'Halted', haltMode: 'Save' },
    });
    const saved = await nodeStatus(name, 'Saved');
    expect(saved.status?.state).to.equal('shutoff');
    expect(await domState(name)).to.equal('shut off');
    expect(await lv.virsh(['dominfo', domainOf(name)])).to.match(/Managed save:\s+yes/);
    // libvirtd-env.sh bind-mounts DIR/lib over /var/lib/libvirt: the image is on disk here.
    const image = join(lv.dir, 'lib', 'qemu', 'save', `${domainOf(name)}.save`);
    await access(image);

    await patch(`maasnodes.maaslab.dev/${name}`, { spec: { runStrategy: 'Always' } });
    await nodeStatus(name, 'Running');
    expect(await domState(name)).to.equal('running');
    // Started from the image, which libvirt then drops.
    expect(await lv.virsh(['dominfo', domainOf(name)])).to.match(/Managed save:\s+no/);
    expect(
      await access(image).then(
        () => 'present',
        () => 'gone',
      ),
    ).to.equal('gone');

    const before = await domId(name);
    await patch(`maasnodes.maaslab.dev/${name}`, { spec: { restartToken: 'reboot-1' } });
    await waitFor(
      async () =>
        (await domState(name)) === 'running' && (await domId(name)) !== before ? true : undefined,
      { ...LONG, description: `${name} power-cycled (new domain ID) (log: ${logFile})` },
    );
    await nodeStatus(name, 'Running');
    expect(await verdict('MaasNode', `${ns()}/${name}`)).to.equal('Current');
  });

  it('8: a hand-made domain and network of our names survive untouched; both report NameConflict', async function () {
    const netName = 'forn';
    const libvirtNet = `${ns()}.${netName}`;
    const netPath = join(lv.dir, 'foreign-net.xml');
    await writeFile(
      netPath,
      buildNetworkXml({
        name: libvirtNet,
        mode: 'isolated',
        ipv4: { address: '10.88.0.1', prefix: 24 },
      }),
    );
    await lv.virsh(['net-define', netPath]);
    const nodeName = 'forn-node';
    const libvirtDomain = domainOf(nodeName);
    const domPath = join(lv.dir, 'foreign-dom.xml');
    await writeFile(
      domPath,
      buildDomainXml({
        name: libvirtDomain,
        type: 'qemu',
        memoryBytes: 128 * MiB,
        vcpus: 1,
        arch: 'x86_64',
        firmware: 'bios',
        bootOrder: [],
        disks: [],
        interfaces: [],
      }),
    );
    await lv.virsh(['define', domPath]);
    const netBefore = await lv.virsh(['net-dumpxml', '--inactive', libvirtNet]);
    const domBefore = await lv.virsh(['dumpxml', '--inactive', libvirtDomain]);

    await apply('VirtNetwork', netName, {
      hypervisor: hv,
      mode: 'isolated',
      ipv4: { address: '10.87.0.1', prefixLength: 24 },
    });
    // On the lab's network, which exists: only the name clash can stop it.
    await apply('MaasNode', nodeName, {
      hypervisor: hv,
      memory: '128Mi',
      interfaces: [{ network: NET }],
      vnc: { enabled: false },
    });
    const v = await stalledConflict<VirtNetwork>('VirtNetwork', netName);
    expect(conditionOf(v, 'Stalled')?.reason).to.equal(NameConflictReason);
    const n = await stalledConflict<MaasNode>('MaasNode', nodeName);
    expect(conditionOf(n, 'Stalled')?.reason).to.equal(NameConflictReason);
    expect(await verdict('VirtNetwork', `${ns()}/${netName}`)).to.equal('Failed');
    expect(await verdict('MaasNode', `${ns()}/${nodeName}`)).to.equal('Failed');

    expect(await lv.virsh(['net-dumpxml', '--inactive', libvirtNet])).to.equal(netBefore);
    expect(await lv.virsh(['net-info', libvirtNet])).to.match(/Active:\s+no/);
    expect(await lv.virsh(['dumpxml', '--inactive', libvirtDomain])).to.equal(domBefore);
    expect(await lv.virsh(['domstate', libvirtDomain])).to.match(/shut off/);

    // Deleting the resources leaves the foreign objects where they were.
    await kubectlRun(kubeconfig(), ['delete', '-n', ns(), `maasnodes.maaslab.dev/${nodeName}`]);
    await kubectlRun(kubeconfig(), ['delete', '-n', ns(), `virtnetworks.maaslab.dev/${netName}`]);
    await gone('MaasNode', nodeName);
    await gone('VirtNetwork', netName);
    expect(await lv.virsh(['net-dumpxml', '--inactive', libvirtNet])).to.equal(netBefore);
    expect(await lv.virsh(['dumpxml', '--inactive', libvirtDomain])).to.equal(domBefore);
    await lv.virsh(['undefine', libvirtDomain]);
    await lv.virsh(['net-undefine', libvirtNet]);
  });
});
