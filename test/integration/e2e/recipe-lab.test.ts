// End to end: the operator as a user runs it — a child process of `maaslab-operator run`,
// as user maaslab-operator with only the ClusterRole and Role of deploy/base/ — against the shared
// kube-apiserver and a private libvirtd with QEMU TCG. Issue 4's scenarios 1 (recipe lab),
// 12 (metrics), 2 (drift), 10 (two replicas with --leader-elect) and 7 (delete), in that
// order, on one lab: building it is the slow part on a busy two-core machine.
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { expect } from 'chai';
import type { MaasLab, MaasNode } from '../../../src/api/v1alpha1/index.js';
import { parseDomainXml } from '../../../src/libvirt/xml/index.js';
import type { RestClient } from '../../../src/runtime/client/rest.js';
import { controlPlane } from '../../support/controlplane.js';
import {
  type E2eEnvironment,
  type MaaslabReader,
  linesOf,
  recipeLabDocs,
  startE2eEnvironment,
} from '../../support/e2e.js';
import type { PrivateLibvirtd } from '../../support/libvirtd.js';
import type { TestNamespace } from '../../support/namespace.js';
import {
  type OperatorProcess,
  kubectlApply,
  kubectlRun,
  startOperator,
} from '../../support/operator.js';
import { parseMetrics, sample } from '../../support/metrics-text.js';
import { waitFor } from '../../support/wait.js';

const LAB_READY_TIMEOUT_MS = 480_000;
const GiB = 1024 ** 3;
const MACS = ['52:54:00:7f:04:01', '52:54:00:7f:04:02', '52:54:00:7f:04:03'];

describe('e2e: the recipe lab, operator as a child process', function () {
  this.timeout(900_000);

  let env: E2eEnvironment;
  let lv: PrivateLibvirtd;
  let admin: RestClient;
  let read: MaaslabReader;
  let scratch: string;
  let leaseNs: TestNamespace;
  let labNs: TestNamespace;
  let hv: string;
  let pool: string;
  const operators: OperatorProcess[] = [];
  let serving: OperatorProcess;
  let logFile: string;

  const domainOf = (i: number): string => `${labNs.name}.recipe-node${i}`;
  const get = <T>(kind: string, name: string, namespace?: string): Promise<T> =>
    read.get<T>(kind, name, namespace);
  const list = <T>(kind: string, namespace: string): Promise<T[]> => read.list<T>(kind, namespace);
  const domainState = async (name: string): Promise<string> =>
    (await lv.virsh(['domstate', name])).trim();
  const scrape = async (op: OperatorProcess): Promise<Map<string, number>> =>
    parseMetrics(await (await fetch(op.metricsUrl)).text());

  before(async function () {
    this.timeout(300_000);
    env = await startE2eEnvironment('lab', { leaderElect: true });
    ({ lv, admin, read, scratch, leaseNs, labNs, hv, pool, logFile } = env);
    serving = env.operator;
  });

  after(async function () {
    this.timeout(180_000);
    // The replicas the tests started; env stops the first one.
    for (const op of operators) await op.stop().catch(() => undefined);
    await env?.stop();
  });

  it('1: builds the recipe lab: three running PXE-first domains on a DHCP-less network', async function () {
    const docs = await recipeLabDocs(env);
    const t0 = Date.now();
    await kubectlApply(controlPlane().adminKubeconfig, docs, join(scratch, 'lab.yaml'));
    await waitFor(
      async () => {
        const lab = await get<MaasLab>('MaasLab', 'recipe', labNs.name);
        return lab.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
      },
      {
        timeoutMs: LAB_READY_TIMEOUT_MS,
        intervalMs: 500,
        description: `lab Ready (log: ${logFile})`,
      },
    );
    const seconds = (Date.now() - t0) / 1000;
    console.log(`      apply → lab Ready: ${seconds.toFixed(1)} s`);

    const running = (await lv.virsh(['list', '--name', '--state-running'])).split('\n');
    for (const [i, mac] of MACS.entries()) {
      const name = domainOf(i + 1);
      expect(running, name).to.include(name);
      const dom = parseDomainXml(await lv.virsh(['dumpxml', '--inactive', name]));
      expect(dom.interfaces.map((n) => n.mac)).to.deep.equal([mac]);
      expect(dom.bootOrder).to.deep.equal(['network', 'disk']);
      expect(dom.memoryBytes).to.equal(GiB);
      const vol = await lv.virsh(['vol-dumpxml', '--pool', pool, `${name}-root.qcow2`]);
      expect(vol).to.match(new RegExp(`<capacity unit='bytes'>${8 * GiB}</capacity>`));
    }
    const net = `${labNs.name}.recipe-maas`;
    expect(await lv.virsh(['net-info', net])).to.match(/Active:\s+yes/);
    expect(await lv.virsh(['net-dumpxml', net])).not.to.include('<dhcp');

    for (const n of await list<MaasNode>('MaasNode', labNs.name)) {
      const s = n.status;
      expect(s?.printableStatus, n.metadata?.name).to.equal('Running');
      expect(s?.vnc?.port, 'vnc port').to.be.greaterThan(0);
      expect(s?.power?.type).to.equal('virsh');
      expect(s?.power?.address).to.be.a('string').and.not.include('?');
      expect(s?.power?.id).to.equal(domainOf(Number(n.metadata?.name?.slice(-1))));
    }
  });

  it('12: /metrics shows the controller-runtime and maaslab_* series with real values', async function () {
    const m = await scrape(serving);
    for (const name of [
      'controller_runtime_reconcile_errors_total',
      'controller_runtime_reconcile_time_seconds_bucket',
      'controller_runtime_active_workers',
      'workqueue_depth',
      'workqueue_queue_duration_seconds_bucket',
      'workqueue_work_duration_seconds_bucket',
      'workqueue_retries_total',
      'maaslab_libvirt_call_duration_seconds_bucket',
      'maaslab_hypervisor_allocated_cpus',
      'maaslab_hypervisor_allocated_memory_bytes',
      'maaslab_networks',
    ]) {
      expect(Number.isNaN(sample(m, name)), `${name} present`).to.equal(false);
    }
    const positive: Array<[string, Record<string, string>]> = [
      ['controller_runtime_reconcile_total', { controller: 'maasnode', result: 'success' }],
      ['controller_runtime_reconcile_total', { controller: 'maaslab' }],
      ['controller_runtime_reconcile_total', { controller: 'virtnetwork' }],
      ['controller_runtime_reconcile_total', { controller: 'hypervisor' }],
      ['controller_runtime_max_concurrent_reconciles', { controller: 'maasnode' }],
      ['workqueue_adds_total', { name: 'maasnode' }],
      ['leader_election_master_status', { name: `maaslab-hv-${hv}` }],
      ['maaslab_hypervisor_up', { hypervisor: hv }],
      ['maaslab_hypervisor_capacity_cpus', { hypervisor: hv }],
      ['maaslab_hypervisor_capacity_memory_bytes', { hypervisor: hv }],
      ['maaslab_libvirt_calls_total', { hypervisor: hv, result: 'success' }],
      ['maaslab_libvirt_call_duration_seconds_count', { hypervisor: hv }],
      ['maaslab_networks', { hypervisor: hv, active: 'true' }],
      // The process's own: RSS, CPU and heap, as a dashboard reads them.
      ['process_resident_memory_bytes', {}],
      ['process_cpu_seconds_total', {}],
      ['nodejs_heap_size_used_bytes', {}],
    ];
    for (const [name, labels] of positive) {
      expect(sample(m, name, labels), `${name}${JSON.stringify(labels)}`).to.be.greaterThan(0);
    }
    expect(sample(m, 'maaslab_nodes', { hypervisor: hv, status: 'Running' })).to.equal(3);
    expect(sample(m, 'maaslab_lab_nodes_ready', { namespace: labNs.name, lab: 'recipe' })).to.equal(
      3,
    );
    expect(sample(m, 'maaslab_lab_nodes_total', { namespace: labNs.name, lab: 'recipe' })).to.equal(
      3,
    );
  });

  it('shards: a process serving another hypervisor caches none of this lab (field selectors)', async function () {
    const other = await startOperator({
      kubeconfig: controlPlane().operatorKubeconfig,
      namespace: leaseNs.name,
      hypervisors: `${hv}-other`,
      logFile,
    });
    operators.push(other);
    const m = await scrape(other);
    // Its MaasNode and VirtNetwork informers list `spec.hypervisor=<other>` only: nothing of
    // ours ever reaches their queues, and it reports nothing about our hypervisor.
    for (const controller of ['maasnode', 'virtnetwork']) {
      expect(sample(m, 'workqueue_adds_total', { name: controller }), controller).to.equal(0);
    }
    expect(sample(m, 'maaslab_hypervisor_up', { hypervisor: hv })).to.be.NaN;
    expect(sample(m, 'maaslab_nodes', { hypervisor: hv })).to.be.NaN;
    expect(await other.stop()).to.equal(0);
  });

  it('2: a node destroyed by hand comes back (runStrategy Always)', async function () {
    await lv.virsh(['destroy', domainOf(1)]);
    await waitFor(async () => (await domainState(domainOf(1))) === 'running', {
      timeoutMs: 120_000,
      intervalMs: 500,
      description: `${domainOf(1)} running again`,
    });
  });

  it('2: under Manual a node destroyed by hand stays off; back to Always it runs again', async function () {
    const setStrategy = async (runStrategy: string): Promise<void> => {
      await kubectlRun(controlPlane().adminKubeconfig, [
        'patch',
        '-n',
        labNs.name,
        'maaslabs.maaslab.dev/recipe',
        '--type',
        'merge',
        '-p',
        JSON.stringify({ spec: { nodes: { template: { runStrategy } } } }),
      ]);
      // The lab passes the strategy on to its nodes; wait until node 2 has acted on it.
      await waitFor(
        async () => {
          const n = await get<MaasNode>('MaasNode', 'recipe-node2', labNs.name);
          return (
            n.spec.runStrategy === runStrategy &&
            n.status?.observedGeneration === n.metadata?.generation
          );
        },
        { timeoutMs: 120_000, intervalMs: 500, description: `recipe-node2 ${runStrategy}` },
      );
    };
    await setStrategy('Manual');
    await lv.virsh(['destroy', domainOf(2)]);
    await waitFor(
      async () => {
        const n = await get<MaasNode>('MaasNode', 'recipe-node2', labNs.name);
        return n.status?.printableStatus === 'Stopped';
      },
      { timeoutMs: 120_000, intervalMs: 500, description: 'recipe-node2 reported Stopped' },
    );
    // Long enough for the destroy event, its reconcile and a retry to have happened.
    await delay(5_000);
    expect(await domainState(domainOf(2))).to.equal('shut off');
    expect(await domainState(domainOf(1))).to.equal('running');

    await setStrategy('Always');
    await waitFor(async () => (await domainState(domainOf(2))) === 'running', {
      timeoutMs: 120_000,
      intervalMs: 500,
      description: `${domainOf(2)} running again under Always`,
    });
  });

  it('10: two replicas with --leader-elect: one serves; kill it and the other takes over', async function () {
    const second = await startOperator({
      kubeconfig: controlPlane().operatorKubeconfig,
      namespace: leaseNs.name,
      leaderElect: true,
      logFile,
    });
    operators.push(second);
    const lease = `maaslab-hv-${hv}`;
    // The first replica holds the lease; the second waits for it.
    expect(
      sample(await scrape(serving), 'leader_election_master_status', { name: lease }),
    ).to.equal(1);
    expect(
      sample(await scrape(second), 'leader_election_master_status', { name: lease }) || 0,
    ).to.equal(0);

    const killedAt = Date.now();
    await serving.kill();
    await waitFor(
      async () =>
        sample(await scrape(second), 'leader_election_master_status', { name: lease }) === 1,
      { timeoutMs: 40_000, intervalMs: 250, description: 'the second replica to take the lease' },
    );
    const tookOver = (Date.now() - killedAt) / 1000;
    console.log(`      takeover after SIGKILL: ${tookOver.toFixed(1)} s`);
    expect(tookOver).to.be.lessThan(25);
    serving = second;

    // And it serves: drift is repaired by the new holder.
    await lv.virsh(['destroy', domainOf(2)]);
    await waitFor(async () => (await domainState(domainOf(2))) === 'running', {
      timeoutMs: 120_000,
      intervalMs: 500,
      description: `${domainOf(2)} restarted by the new lease holder`,
    });
  });

  it('7: deleting the lab leaves no domains, volumes or networks; finalizers complete', async function () {
    await kubectlRun(controlPlane().adminKubeconfig, [
      'delete',
      '-n',
      labNs.name,
      'maaslabs.maaslab.dev/recipe',
      '--wait=false',
    ]);
    await waitFor(
      async () => {
        const [labs, nodes, nets] = await Promise.all([
          list<MaasLab>('MaasLab', labNs.name),
          list<MaasNode>('MaasNode', labNs.name),
          list<MaasNode>('VirtNetwork', labNs.name),
        ]);
        return labs.length + nodes.length + nets.length === 0;
      },
      { timeoutMs: 240_000, intervalMs: 500, description: 'lab, nodes and networks gone' },
    );
    const mine = (out: string): string[] => linesOf(out, labNs.name);
    expect(mine(await lv.virsh(['list', '--all', '--name']))).to.deep.equal([]);
    expect(mine(await lv.virsh(['net-list', '--all', '--name']))).to.deep.equal([]);
    expect(mine(await lv.virsh(['vol-list', '--pool', pool]))).to.deep.equal([]);
  });

  it('shuts down on SIGTERM with exit code 0, releasing its lease', async function () {
    const code = await serving.stop();
    expect(code).to.equal(0);
    const lease = await admin.request<{ spec?: { holderIdentity?: string } }>({
      method: 'GET',
      ref: {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        namespace: leaseNs.name,
        name: `maaslab-hv-${hv}`,
      },
    });
    expect(lease.spec?.holderIdentity ?? '').to.equal('');
  });
});
