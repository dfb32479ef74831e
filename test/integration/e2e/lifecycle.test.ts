// End to end, the lab's life after it is built: the operator as a child process (as user
// maaslab-operator with deploy/base/ RBAC only) against the shared kube-apiserver and a private
// libvirtd with QEMU TCG. Issue 4's scenarios 11 (kstatus), 6 (scale), 4 (network address
// change on a lab), 5 (clone), and 9a (libvirtd outage), in that order, on one small lab:
// 128 MiB nodes with 64 MiB disks keep a busy two-core machine fast enough.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { expect } from 'chai';
import type {
  Hypervisor,
  MaasLab,
  MaasNode,
  VirtNetwork,
} from '../../../src/api/v1alpha1/index.js';
import { MacCollisionReason, NameConflictReason } from '../../../src/api/v1alpha1/index.js';
import { buildDomainXml, parseDomainXml, parseNetworkXml } from '../../../src/libvirt/xml/index.js';
import { controlPlane } from '../../support/controlplane.js';
import {
  GROUP_VERSION,
  type MaaslabReader,
  conditionOf,
  isReadyNow,
  linesOf,
  type E2eEnvironment,
  envHypervisor,
  smallLab,
  startE2eEnvironment,
} from '../../support/e2e.js';
import { labView } from '../../support/e2e-lab.js';
import { type PrivateLibvirtd } from '../../support/libvirtd.js';
import { type TestNamespace } from '../../support/namespace.js';
import { kubectlApply, kubectlRun } from '../../support/operator.js';
import { waitFor } from '../../support/wait.js';

const LAB = 'lc';
const NET = `${LAB}-maas`;
const MiB = 1024 ** 2;
/** Issue 4, scenario 9a: how long libvirtd stays down. */
const OUTAGE_MS = 20_000;
const LONG = { timeoutMs: 240_000, intervalMs: 500 } as const;

describe('e2e: lab lifecycle (kstatus, scale, network move, clone, libvirtd outage)', function () {
  this.timeout(900_000);

  let lv: PrivateLibvirtd;
  let read: MaaslabReader;
  let scratch: string;
  let labNs: TestNamespace;
  let hv: string;
  let pool: string;
  let env: E2eEnvironment | undefined;

  const kubeconfig = (): string => controlPlane().adminKubeconfig;
  const ns = (): string => labNs.name;
  const { domainOf, labNode, lab, node, verdict, patch, labReady, nodeStatus, labDomains, domId } =
    labView(() => env!, LAB, LONG);
  const volumeOf = (name: string): string => `${domainOf(name)}-root.qcow2`;
  /** Our lab's volumes, sorted. */
  const labVolumes = async (): Promise<string[]> =>
    linesOf(await lv.virsh(['vol-list', '--pool', pool]), `${ns()}.${LAB}-node`)
      .map((l) => l.split(/\s+/)[0] ?? '')
      .sort();
  const macOf = async (name: string): Promise<string | undefined> =>
    parseDomainXml(await lv.virsh(['dumpxml', '--inactive', domainOf(name)])).interfaces[0]?.mac;
  const capacityOf = async (volume: string): Promise<string> =>
    /<capacity unit='bytes'>(\d+)<\/capacity>/.exec(
      await lv.virsh(['vol-dumpxml', '--pool', pool, volume]),
    )?.[1] ?? '';
  const expectLabNodes = async (count: number): Promise<void> => {
    const names = Array.from({ length: count }, (_, i) => labNode(i + 1));
    expect(await labDomains()).to.deep.equal(names.map(domainOf).sort());
    expect(await labVolumes()).to.deep.equal(names.map(volumeOf).sort());
    const nodes = (await read.list<MaasNode>('MaasNode', ns()))
      .map((n) => n.metadata?.name ?? '')
      .filter((n) => n.startsWith(`${LAB}-node`))
      .sort();
    expect(nodes).to.deep.equal([...names].sort());
  };
  const nodeSpec = (extra: Record<string, unknown>): Record<string, unknown> => ({
    hypervisor: hv,
    memory: '128Mi',
    interfaces: [{ network: NET }],
    vnc: { enabled: false },
    ...extra,
  });
  const applyNode = async (name: string, spec: Record<string, unknown>): Promise<void> => {
    const doc = {
      apiVersion: GROUP_VERSION,
      kind: 'MaasNode',
      metadata: { name, namespace: ns() },
      spec,
    };
    await kubectlApply(kubeconfig(), [doc], join(scratch, `${name}.yaml`));
  };
  const deleteNode = async (name: string): Promise<void> => {
    await kubectlRun(kubeconfig(), ['delete', '-n', ns(), `maasnodes.maaslab.dev/${name}`]);
  };

  before(async function () {
    this.timeout(300_000);
    env = await startE2eEnvironment('lc');
    ({ read, scratch, lv, labNs, hv, pool } = env);
  });

  after(async function () {
    this.timeout(180_000);
    await env?.stop();
  });

  it('11: a Ready lab, its nodes, network and hypervisor are all Current to kstatus', async function () {
    const docs = [
      envHypervisor(env!),
      smallLab({
        name: LAB,
        namespace: ns(),
        hypervisor: hv,
        subnet: '10.79.0',
        macPrefix: '52:54:00:7f:05',
        count: 3,
      }),
    ];
    await kubectlApply(kubeconfig(), docs, join(scratch, 'lab.yaml'));
    await labReady('lab Ready');
    await expectLabNodes(3);

    expect(await verdict('MaasLab', `${ns()}/${LAB}`)).to.equal('Current');
    expect(await verdict('VirtNetwork', `${ns()}/${NET}`)).to.equal('Current');
    expect(await verdict('Hypervisor', hv)).to.equal('Current');
    for (let i = 1; i <= 3; i++) {
      const name = labNode(i);
      expect(await verdict('MaasNode', `${ns()}/${name}`), name).to.equal('Current');
      const volPath = (await lv.virsh(['vol-path', '--pool', pool, volumeOf(name)])).trim();
      expect((await node(name)).status?.disks, name).to.deep.equal([
        { name: 'root', volume: volumeOf(name), path: volPath, capacity: '64Mi' },
      ]);
    }
  });

  it('6: scales 3 → 5 → 2 (InProgress to kstatus meanwhile); volumes come and go with nodes', async function () {
    await patch(`maaslabs.maaslab.dev/${LAB}`, { spec: { nodes: { count: 5 } } });
    // Right after a spec change the lab is reconciling: either observedGeneration lags, or
    // Reconciling=True until the new nodes are Ready.
    expect(await verdict('MaasLab', `${ns()}/${LAB}`)).to.equal('InProgress');
    const five = await labReady('lab Ready with 5 nodes');
    expect(five.status?.nodes?.total).to.equal(5);
    expect(five.status?.nodes?.ready).to.equal(5);
    await expectLabNodes(5);
    for (const i of [4, 5]) {
      expect(await macOf(labNode(i))).to.equal(`52:54:00:7f:05:0${i}`);
    }

    await patch(`maaslabs.maaslab.dev/${LAB}`, { spec: { nodes: { count: 2 } } });
    await waitFor(
      async () => {
        const x = await lab();
        const nodes = await read.list<MaasNode>('MaasNode', ns());
        return isReadyNow(x) && x.status?.nodes?.total === 2 && nodes.length === 2;
      },
      { ...LONG, description: 'lab Ready with 2 nodes, node3..5 gone' },
    );
    // Finalizers ran before the objects went away: nothing of node3..5 is left in libvirt.
    await expectLabNodes(2);
    expect(await verdict('MaasLab', `${ns()}/${LAB}`)).to.equal('Current');
  });

  it("4: moving the lab's network address restarts the network; running domains stay, re-plugged", async function () {
    const nodes = [labNode(1), labNode(2)];
    const ids = await Promise.all(nodes.map(domId));
    await patch(`maaslabs.maaslab.dev/${LAB}`, {
      spec: {
        networks: [
          { name: 'maas', mode: 'isolated', ipv4: { address: '10.80.0.1', prefixLength: 24 } },
        ],
      },
    });
    const v = await waitFor(
      async () => {
        const x = await read.get<VirtNetwork>('VirtNetwork', NET, ns());
        return x.spec.ipv4?.address === '10.80.0.1' && isReadyNow(x) && x;
      },
      { ...LONG, description: 'VirtNetwork Ready on 10.80.0.1' },
    );
    await labReady('lab Ready after the move');
    const live = parseNetworkXml(await lv.virsh(['net-dumpxml', `${ns()}.${NET}`]));
    expect(live.ipv4?.address).to.equal('10.80.0.1');
    const bridge = v.status?.bridge ?? '';
    expect(bridge).to.not.equal('');
    const addr = await lv.netnsExec(['ip', '-o', '-4', 'addr', 'show', 'dev', bridge]);
    expect(addr).to.contain('10.80.0.1/24').and.not.contain('10.79.0.1');
    const taps = await lv.netnsExec(['ip', '-o', 'link', 'show', 'master', bridge]);
    for (const [i, name] of nodes.entries()) {
      expect(await domId(name), `${name} kept running, not restarted`).to.equal(ids[i]);
      const tap = parseDomainXml(await lv.virsh(['dumpxml', domainOf(name)])).interfaces[0]
        ?.targetDev;
      expect(tap, `${name} tap`).to.be.a('string');
      expect(taps, `${name} tap on ${bridge}`).to.contain(`${tap}:`);
    }
  });

  it('5: clones a halted node: a new domain with a new MAC and a copied disk', async function () {
    await applyNode(
      'golden',
      nodeSpec({ disks: [{ name: 'root', size: '64Mi' }], haltMode: 'Destroy' }),
    );
    await nodeStatus('golden', 'Running');
    await patch('maasnodes.maaslab.dev/golden', { spec: { runStrategy: 'Halted' } });
    await nodeStatus('golden', 'Stopped');
    expect((await lv.virsh(['domstate', domainOf('golden')])).trim()).to.equal('shut off');
    // Off as declared is Ready (reason Halted), so kubectl wait and kstatus see it settled.
    await waitFor(
      async () => conditionOf(await node('golden'), 'Ready')?.reason === 'Halted' || undefined,
      { ...LONG, description: 'golden Ready reason Halted' },
    );
    expect(conditionOf(await node('golden'), 'Ready')).to.include({ status: 'True' });
    expect(await verdict('MaasNode', `${ns()}/golden`)).to.equal('Current');
    await kubectlRun(kubeconfig(), [
      'wait',
      '-n',
      ns(),
      '--for=condition=Ready',
      '--timeout=30s',
      'maasnode/golden',
    ]);

    await applyNode('copy', nodeSpec({ cloneFrom: { name: 'golden' } }));
    const copy = await nodeStatus('copy', 'Running');
    expect(copy.status?.domainName).to.equal(domainOf('copy'));
    const [sourceMac, copyMac] = await Promise.all([macOf('golden'), macOf('copy')]);
    expect(copyMac).to.be.a('string').and.not.equal(sourceMac);

    const vols = linesOf(await lv.virsh(['vol-list', '--pool', pool]), ns()).map(
      (l) => l.split(/\s+/)[0],
    );
    expect(vols).to.include.members([volumeOf('golden'), volumeOf('copy')]);
    expect(await capacityOf(volumeOf('copy'))).to.equal(String(64 * MiB));
    expect(await capacityOf(volumeOf('copy'))).to.equal(await capacityOf(volumeOf('golden')));
    const disk = parseDomainXml(await lv.virsh(['dumpxml', '--inactive', domainOf('copy')]))
      .disks[0];
    expect(disk?.volume).to.equal(volumeOf('copy'));
    // status.disks reports the copy's own volume, with the path libvirt gives it.
    const volPath = (await lv.virsh(['vol-path', '--pool', pool, volumeOf('copy')])).trim();
    expect(copy.status?.disks).to.deep.equal([
      { name: 'root', volume: volumeOf('copy'), path: volPath, capacity: '64Mi' },
    ]);
    // The source stays halted.
    expect((await lv.virsh(['domstate', domainOf('golden')])).trim()).to.equal('shut off');
  });

  it('11: Failed to kstatus when Stalled (foreign domain of the same name, MAC collision); InProgress while waiting', async function () {
    const foreign = domainOf('clash');
    const path = join(lv.dir, 'clash.xml');
    await writeFile(
      path,
      buildDomainXml({
        name: foreign,
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
    await lv.virsh(['define', path]);
    await applyNode('clash', nodeSpec({}));
    const n = await waitFor(
      async () => ((x) => conditionOf(x, 'Stalled')?.status === 'True' && x)(await node('clash')),
      { ...LONG, description: 'clash Stalled' },
    );
    expect(conditionOf(n, 'Stalled')?.reason).to.equal(NameConflictReason);
    expect(await verdict('MaasNode', `${ns()}/clash`)).to.equal('Failed');

    // A node on a network that does not exist waits (NetworkNotReady): InProgress.
    await applyNode('waiting', nodeSpec({ interfaces: [{ network: 'nowhere' }] }));
    await waitFor(
      async () => (await node('waiting')).status?.observedGeneration === 1 || undefined,
      { ...LONG, description: 'waiting observed' },
    );
    expect(await verdict('MaasNode', `${ns()}/waiting`)).to.equal('InProgress');

    for (const name of ['clash', 'waiting']) await deleteNode(name);
    await lv.virsh(['undefine', foreign]);

    // A second lab whose MACs collide with ours on the same hypervisor: it yields, Stalled
    // MacCollision, Failed to kstatus; ours stays Current and no colliding node is made.
    const dup = {
      apiVersion: GROUP_VERSION,
      kind: 'MaasLab',
      metadata: { name: 'dup', namespace: ns() },
      spec: {
        hypervisor: hv,
        networks: [
          { name: 'maas', mode: 'isolated', ipv4: { address: '10.81.0.1', prefixLength: 24 } },
        ],
        nodes: {
          count: 1,
          macPrefix: '52:54:00:7f:05',
          template: { memory: '128Mi', interfaces: [{ network: 'maas' }] },
        },
      },
    };
    await kubectlApply(kubeconfig(), [dup], join(scratch, 'dup.yaml'));
    const stalled = await waitFor(
      async () =>
        ((x) => conditionOf(x, 'Stalled')?.status === 'True' && x)(
          await read.get<MaasLab>('MaasLab', 'dup', ns()),
        ),
      { ...LONG, description: 'lab dup Stalled' },
    );
    expect(conditionOf(stalled, 'Stalled')?.reason).to.equal(MacCollisionReason);
    expect(await verdict('MaasLab', `${ns()}/dup`)).to.equal('Failed');
    expect(await verdict('MaasLab', `${ns()}/${LAB}`)).to.equal('Current');
    const names = (await read.list<MaasNode>('MaasNode', ns())).map((n) => n.metadata?.name);
    expect(names).to.not.include('dup-node1');
    await kubectlRun(kubeconfig(), ['delete', '-n', ns(), 'maaslabs.maaslab.dev/dup']);
    await waitFor(
      async () =>
        (await read.list<VirtNetwork>('VirtNetwork', ns())).every(
          (n) => n.metadata?.name !== 'dup-maas',
        ),
      { ...LONG, description: 'dup-maas gone' },
    );
  });

  it('9a: libvirtd down for 20 s: Hypervisor Ready=False, then True; all reconverges, no duplicates', async function () {
    const expectedDomains = async (): Promise<string[]> =>
      (await read.list<MaasNode>('MaasNode', ns())).map((n) => domainOf(n.metadata?.name ?? ''));
    const before = await expectedDomains();
    const running = [labNode(1), labNode(2), 'copy'];
    const ids = await Promise.all(running.map(domId));
    const downAt = Date.now();
    await lv.kill();
    await waitFor(
      async () =>
        conditionOf(await read.get<Hypervisor>('Hypervisor', hv), 'Ready')?.status === 'False',
      {
        timeoutMs: OUTAGE_MS,
        intervalMs: 250,
        description: 'Hypervisor Ready=False during the outage',
      },
    );
    // The scenario is a real outage of this length, not a condition to poll for.
    await delay(Math.max(0, OUTAGE_MS - (Date.now() - downAt)));
    await lv.restart();
    await waitFor(async () => isReadyNow(await read.get<Hypervisor>('Hypervisor', hv)), {
      ...LONG,
      description: 'Hypervisor Ready=True again',
    });
    for (const name of running) await nodeStatus(name, 'Running');
    // QEMU outlived the daemon: the same guests, not new ones.
    expect(await Promise.all(running.map(domId))).to.deep.equal(ids);
    await nodeStatus('golden', 'Stopped');
    await labReady('lab Ready after the outage');
    expect(await verdict('MaasLab', `${ns()}/${LAB}`)).to.equal('Current');
    expect(await verdict('Hypervisor', hv)).to.equal('Current');
    const all = linesOf(await lv.virsh(['list', '--all', '--name']), ns()).sort();
    expect(all).to.deep.equal(before.sort());
  });
});
