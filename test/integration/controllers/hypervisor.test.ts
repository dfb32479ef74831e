// The Hypervisor controller on a real kube-apiserver with the real libvirt binding: the test
// driver (test:///default) for a reachable host, and a socket that does not exist for an
// unreachable one. Status, storage pool, events and the maaslab_hypervisor_* gauges.
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'chai';
import { Registry } from 'prom-client';
import {
  GroupVersion,
  HypervisorUnreachableReason,
  StoragePoolNotFoundReason,
  type Hypervisor,
} from '../../../src/api/v1alpha1/index.js';
import {
  createHypervisorRegistry,
  type HypervisorRegistry,
} from '../../../src/controllers/common/hypervisor-registry.js';
import { rbac, setup } from '../../../src/controllers/hypervisor/reconciler.js';
import { createHypervisorMetrics } from '../../../src/controllers/metrics.js';
import { MAASLAB_XMLNS } from '../../../src/libvirt/xml/index.js';
import type { Connection } from '../../../src/libvirt/connection.js';
import { type ConnectionPool, createConnectionPool } from '../../../src/libvirt/connection-pool.js';
import { type Manager, createManager } from '../../../src/runtime/manager/manager.js';
import {
  type ObjectList,
  type RestClient,
  createRestClient,
} from '../../../src/runtime/client/rest.js';
import { controlPlane } from '../../support/controlplane.js';
import { startPrivateLibvirtd } from '../../support/libvirtd.js';
import { waitFor } from '../../support/wait.js';
import { grantOperator } from './rbac.js';

const HV = { apiVersion: GroupVersion, kind: 'Hypervisor' } as const;

describe('controllers/hypervisor (real API server, libvirt test driver and a private libvirtd)', function () {
  let rest: RestClient;
  let manager: Manager | undefined;
  let pool: ConnectionPool<Connection> | undefined;
  let hypervisors: HypervisorRegistry | undefined;
  let registry: Registry;
  let revoke: (() => Promise<void>) | undefined;
  const created: string[] = [];
  const suffix = Math.random().toString(36).slice(2, 8);

  const createHv = async (name: string, spec: object): Promise<void> => {
    await rest.request({ method: 'POST', ref: HV, body: { ...HV, metadata: { name }, spec } });
    created.push(name);
  };
  const getHv = (name: string) => rest.request<Hypervisor>({ method: 'GET', ref: { ...HV, name } });
  const ready = (hv: Hypervisor) => hv.status?.conditions?.find((c) => c.type === 'Ready');

  const start = async (opts: { refreshMs?: number } = {}): Promise<void> => {
    registry = new Registry();
    pool = createConnectionPool();
    // Run as the operator user with only the controller's own `rbac` rules.
    const m = createManager({
      restConfig: controlPlane().restConfig('operator'),
      namespace: 'default',
      metricsRegistry: registry,
      metricsBindAddress: '0',
      healthProbeBindAddress: '0',
    });
    hypervisors = createHypervisorRegistry({ connections: pool });
    setup(m, {
      connections: pool,
      hypervisors,
      metrics: createHypervisorMetrics(registry),
      ...opts,
    });
    await m.start(AbortSignal.timeout(60_000));
    manager = m;
  };

  before(async () => {
    rest = createRestClient(controlPlane().restConfig('admin'));
    revoke = await grantOperator(rest, `maaslab-it-hv-${suffix}`, rbac);
  });
  after(async () => {
    await revoke?.();
  });
  afterEach(async () => {
    await manager?.stop();
    manager = undefined;
    await hypervisors?.close();
    hypervisors = undefined;
    await pool?.close();
    pool = undefined;
    for (const name of created.splice(0)) {
      await rest.request({ method: 'DELETE', ref: { ...HV, name } }).catch(() => undefined);
    }
  });

  it('reports a reachable host: Ready, facts, capacity, the pool created, gauges', async () => {
    const name = `hv-test-${suffix}`;
    const poolName = `maaslab-it-${suffix}`;
    await start();
    await createHv(name, {
      uri: 'test:///default',
      storagePool: poolName,
      storagePoolPath: `/var/lib/maaslab-it/${suffix}`,
    });
    const hv = await waitFor(
      async () => {
        const h = await getHv(name);
        return ready(h)?.status === 'True' && h;
      },
      { description: 'Hypervisor Ready=True' },
    );
    expect(hv.status?.observedGeneration).to.equal(hv.metadata?.generation);
    expect(hv.status?.hostname).to.be.a('string').and.not.equal('');
    expect(hv.status?.libvirtVersion).to.match(/^\d+\.\d+\.\d+$/);
    expect(hv.status?.hypervisorVersion).to.match(/^TEST \d+\.\d+\.\d+$/);
    expect(hv.status?.capacity?.cpus).to.be.greaterThan(0);
    expect(hv.status?.capacity?.memory)
      .to.be.a('string')
      .and.match(/^\d+(Ki|Mi|Gi|Ti)?$/);
    // test:///default's own domain carries no maaslab stamp: nothing is ours.
    expect(hv.status?.allocated).to.deep.equal({ cpus: 0, memory: '0' });
    expect(hv.status?.domains).to.equal(0);
    expect(hv.status?.conditions?.map((c) => c.type)).to.deep.equal(['Ready']);

    // The dir pool was defined and started on the (in-memory) test driver.
    const conn = await pool!.get('test:///default');
    using sp = await conn.storagePoolLookupByName(poolName);
    expect(await sp.isActive()).to.equal(true);

    const text = await registry.metrics();
    expect(text).to.contain(`maaslab_hypervisor_up{hypervisor="${name}"} 1`);
    expect(text).to.match(
      new RegExp(`maaslab_hypervisor_capacity_cpus\\{hypervisor="${name}"\\} [1-9]`),
    );
    expect(text).to.match(
      new RegExp(`maaslab_hypervisor_capacity_memory_bytes\\{hypervisor="${name}"\\} [1-9]`),
    );
    expect(text).to.contain(`maaslab_hypervisor_allocated_cpus{hypervisor="${name}"} 0`);
    expect(text).to.contain(`maaslab_hypervisor_allocated_memory_bytes{hypervisor="${name}"} 0`);

    const events = await waitFor(
      async () => {
        const list = await rest.request<
          ObjectList<{ reason?: string; regarding?: { name?: string } }>
        >({
          method: 'GET',
          ref: { apiVersion: 'events.k8s.io/v1', kind: 'Event', namespace: 'default' },
        });
        const mine = list.items.filter((e) => e.regarding?.name === name).map((e) => e.reason);
        return mine.includes('StoragePoolCreated') && mine.includes('Connected') && mine;
      },
      { description: 'Connected and StoragePoolCreated events' },
    );
    expect(events).to.include.members(['Connected', 'StoragePoolCreated']);
  });

  it('stalls when the storage pool is missing and no path is given', async () => {
    const name = `hv-nopool-${suffix}`;
    await start();
    await createHv(name, { uri: 'test:///default', storagePool: `absent-${suffix}` });
    const hv = await waitFor(
      async () => {
        const h = await getHv(name);
        return h.status?.conditions?.find((c) => c.type === 'Stalled') && h;
      },
      { description: 'Stalled' },
    );
    expect(ready(hv)?.status).to.equal('False');
    expect(ready(hv)?.reason).to.equal(StoragePoolNotFoundReason);
    // The host itself answered: its facts are reported all the same.
    expect(hv.status?.capacity?.cpus).to.be.greaterThan(0);
  });

  it('reports an unreachable host as Ready=False HypervisorUnreachable, up=0', async () => {
    const name = `hv-gone-${suffix}`;
    await start();
    await createHv(name, { uri: 'qemu+unix:///system?socket=/nonexistent/sock' });
    const hv = await waitFor(
      async () => {
        const h = await getHv(name);
        return ready(h)?.status === 'False' && h;
      },
      { description: 'Hypervisor Ready=False' },
    );
    expect(ready(hv)?.reason).to.equal(HypervisorUnreachableReason);
    expect(ready(hv)?.message).to.contain('/nonexistent/sock');
    expect(hv.status?.conditions?.find((c) => c.type === 'Reconciling')?.status).to.equal('True');
    expect(hv.status?.capacity).to.equal(undefined);
    expect(await registry.metrics()).to.contain(`maaslab_hypervisor_up{hypervisor="${name}"} 0`);
  });

  it('follows domains defined and undefined by hand on a real libvirtd at once, not at the next refresh', async function () {
    this.timeout(240_000);
    const lv = await startPrivateLibvirtd();
    try {
      const name = `hv-alloc-${suffix}`;
      // A refresh far away: only the domain events can bring the changes in time.
      await start({ refreshMs: 600_000 });
      await createHv(name, {
        uri: lv.uri,
        storagePool: 'images',
        storagePoolPath: `${lv.dir}/pool-images`,
      });
      await waitFor(
        async () => {
          const h = await getHv(name);
          return ready(h)?.status === 'True' && h.status?.domains === 0 && h;
        },
        { timeoutMs: 60_000, description: 'Ready=True with no domains of ours' },
      );
      // A fixed UUID per name, so a second define is a redefinition.
      const uuids = new Map<string, string>();
      const domainXml = (domain: string, stamp: string, vcpus: number, mib: number): string => {
        if (!uuids.has(domain)) uuids.set(domain, randomUUID());
        return (
          `<domain type='qemu'><name>${domain}</name><uuid>${uuids.get(domain)}</uuid>${stamp}` +
          `<memory unit='MiB'>${mib}</memory><vcpu>${vcpus}</vcpu>` +
          `<os><type arch='x86_64'>hvm</type></os></domain>`
        );
      };
      const define = async (file: string, xml: string): Promise<void> => {
        await writeFile(join(lv.dir, file), xml);
        await lv.virsh(['define', join(lv.dir, file)]);
      };
      // Someone else's domain first: it never counts.
      await define('foreign.xml', domainXml('by-hand-foreign', '', 1, 64));
      const stamp =
        `<metadata><maaslab:owner xmlns:maaslab='${MAASLAB_XMLNS}' kind='MaasNode' ` +
        `namespace='lab' name='by-hand' uid='uid-by-hand-${suffix}'/></metadata>`;
      await define('ours.xml', domainXml('by-hand-ours', stamp, 3, 192));
      const counted = await waitFor(
        async () => {
          const h = await getHv(name);
          return h.status?.domains === 1 && h;
        },
        { timeoutMs: 30_000, description: 'domains: 1 after the define event' },
      );
      expect(counted.status?.allocated).to.deep.equal({ cpus: 3, memory: '192Mi' });
      expect(await registry.metrics()).to.contain(
        `maaslab_hypervisor_allocated_cpus{hypervisor="${name}"} 3`,
      );

      // Redefined bigger, then undefined: each shows without a refresh.
      await define('ours.xml', domainXml('by-hand-ours', stamp, 4, 256));
      const bigger = await waitFor(
        async () => {
          const h = await getHv(name);
          return h.status?.allocated?.cpus === 4 && h;
        },
        { timeoutMs: 30_000, description: 'allocated.cpus: 4 after the redefinition' },
      );
      expect(bigger.status?.allocated?.memory).to.equal('256Mi');
      await lv.virsh(['undefine', 'by-hand-ours']);
      const emptied = await waitFor(
        async () => {
          const h = await getHv(name);
          return h.status?.domains === 0 && h;
        },
        { timeoutMs: 30_000, description: 'domains: 0 after the undefine event' },
      );
      expect(emptied.status?.allocated).to.deep.equal({ cpus: 0, memory: '0' });
    } finally {
      await manager?.stop();
      manager = undefined;
      await hypervisors?.close();
      hypervisors = undefined;
      await pool?.close();
      pool = undefined;
      await lv.stop();
    }
  });

  it('follows a real libvirtd going away and coming back (pool down/up events)', async function () {
    this.timeout(240_000);
    const lv = await startPrivateLibvirtd();
    try {
      const name = `hv-outage-${suffix}`;
      await start();
      await createHv(name, {
        uri: lv.uri,
        storagePool: 'images',
        storagePoolPath: `${lv.dir}/pool-images`,
      });
      const up = await waitFor(
        async () => {
          const h = await getHv(name);
          return ready(h)?.status === 'True' && h;
        },
        { timeoutMs: 60_000, description: 'Ready=True on the private libvirtd' },
      );
      expect(up.status?.hypervisorVersion).to.match(/^QEMU /);

      // The daemon dies: the connection's close callback marks the URI down, whose event
      // enqueues the Hypervisor long before the 60 s refresh would.
      await lv.kill();
      const down = await waitFor(
        async () => {
          const h = await getHv(name);
          return ready(h)?.reason === HypervisorUnreachableReason && h;
        },
        { timeoutMs: 45_000, description: 'Ready=False HypervisorUnreachable' },
      );
      expect(ready(down)?.status).to.equal('False');
      expect(await registry.metrics()).to.contain(`maaslab_hypervisor_up{hypervisor="${name}"} 0`);

      // Back again: the pool reconnects with its backoff and its `up` event brings Ready back.
      await lv.restart();
      await waitFor(async () => ready(await getHv(name))?.status === 'True', {
        timeoutMs: 90_000,
        description: 'Ready=True after the restart',
      });
      expect(await registry.metrics()).to.contain(`maaslab_hypervisor_up{hypervisor="${name}"} 1`);
    } finally {
      await manager?.stop();
      manager = undefined;
      await hypervisors?.close();
      hypervisors = undefined;
      await pool?.close();
      pool = undefined;
      await lv.stop();
    }
  });
});
