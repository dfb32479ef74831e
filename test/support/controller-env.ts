// The world of a controller integration test (test/integration/controllers/): the admin's
// clients of the real kube-apiserver, a private real libvirtd in its own network namespace, a
// test namespace, and a manager in this process running the Hypervisor controller and whichever
// of the others the test sets up, all on one hypervisor registry as the operator has (see
// HypervisorSetupOptions); and one Hypervisor on that libvirtd.
import { createWriteStream } from 'node:fs';
import type { KubeConfig } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { GroupVersion } from '../../src/api/v1alpha1/index.js';
import {
  createHypervisorRegistry,
  type HypervisorRegistry,
} from '../../src/controllers/common/hypervisor-registry.js';
import { setup as setupHypervisor } from '../../src/controllers/hypervisor/reconciler.js';
import type { Connection } from '../../src/libvirt/connection.js';
import { type ConnectionPool, createConnectionPool } from '../../src/libvirt/connection-pool.js';
import { type RestClient, createRestClient } from '../../src/runtime/client/rest.js';
import { createLogger } from '../../src/runtime/log.js';
import { type Manager, createManager } from '../../src/runtime/manager/manager.js';
import { controlPlane } from './controlplane.js';
import { type PrivateLibvirtd, startPrivateLibvirtd } from './libvirtd.js';
import { type TestNamespace, createTestNamespace } from './namespace.js';

const HV = { apiVersion: GroupVersion, kind: 'Hypervisor' } as const;

/** Options for {@link startControllerEnv}. */
export interface ControllerEnvOptions {
  /** The test namespace's prefix. */
  readonly namespace: string;
  /** The Hypervisor's name (cluster-scoped: unique to the run). */
  readonly hypervisor: string;
  /**
   * Sets up the controllers besides the Hypervisor's on `manager`, before it starts; `registry`
   * is the manager's metrics registry, for metrics of the test's own.
   */
  setup(manager: Manager, hypervisors: HypervisorRegistry, registry: Registry): void;
}

/** A started {@link ControllerEnvOptions} world. */
export interface ControllerEnv {
  readonly kc: KubeConfig;
  readonly rest: RestClient;
  readonly lv: PrivateLibvirtd;
  readonly ns: TestNamespace;
  /** GET of the maaslab object `kind` `name` in the test namespace. */
  get<T>(kind: string, name: string): Promise<T>;
  /** Creates a maaslab object `kind` `name` with `spec` in the test namespace; resolves to it. */
  create<T = unknown>(kind: string, name: string, spec: object): Promise<T>;
  /** The manager's metrics registry (a new one, not the global). */
  readonly registry: Registry;
  readonly manager: Manager;
  /** Stops the manager and closes the registry and the connection pool; once. */
  stopManager(): Promise<void>;
  /** {@link stopManager}, then deletes the Hypervisor and the namespace and stops libvirtd. */
  stop(): Promise<void>;
}

/**
 * Starts a {@link ControllerEnv}: libvirtd, the namespace, the manager (its debug log in the
 * file MAASLAB_TEST_LOG names, when set, for a failing run), then the Hypervisor
 * `o.hypervisor` on that libvirtd with a dir pool `maaslab` in its folder. What it started is
 * stopped again when a later step fails.
 */
export async function startControllerEnv(o: ControllerEnvOptions): Promise<ControllerEnv> {
  const kc = controlPlane().kubeConfig('admin');
  const rest = createRestClient(controlPlane().restConfig('admin'));
  const lv = await startPrivateLibvirtd();
  let ns: TestNamespace | undefined;
  let manager: Manager | undefined;
  let hypervisors: HypervisorRegistry | undefined;
  let pool: ConnectionPool<Connection> | undefined;
  let managerStopped: Promise<void> | undefined;
  const stopManager = (): Promise<void> =>
    (managerStopped ??= (async () => {
      await manager?.stop();
      await hypervisors?.close();
      await pool?.close();
    })());
  const stop = async (): Promise<void> => {
    await stopManager();
    await rest
      .request({ method: 'DELETE', ref: { ...HV, name: o.hypervisor } })
      .catch(() => undefined);
    await ns?.delete();
    await lv.stop();
  };
  try {
    ns = await createTestNamespace(kc, o.namespace);
    const registry = new Registry();
    pool = createConnectionPool();
    const m = createManager({
      restConfig: controlPlane().restConfig('admin'),
      namespace: 'default',
      metricsRegistry: registry,
      metricsBindAddress: '0',
      healthProbeBindAddress: '0',
      ...(process.env.MAASLAB_TEST_LOG && {
        logger: createLogger({
          level: 'debug',
          format: 'text',
          stream: createWriteStream(process.env.MAASLAB_TEST_LOG),
        }),
      }),
    });
    hypervisors = createHypervisorRegistry({ connections: pool });
    setupHypervisor(m, { connections: pool, hypervisors });
    o.setup(m, hypervisors, registry);
    await m.start(AbortSignal.timeout(60_000));
    manager = m;
    await rest.request({
      method: 'POST',
      ref: HV,
      body: {
        ...HV,
        metadata: { name: o.hypervisor },
        spec: { uri: lv.uri, storagePool: 'maaslab', storagePoolPath: `${lv.dir}/pool` },
      },
    });
    const namespace = ns.name;
    const get = <T>(kind: string, name: string): Promise<T> =>
      rest.request<T>({ method: 'GET', ref: { apiVersion: GroupVersion, kind, namespace, name } });
    const create = <T = unknown>(kind: string, name: string, spec: object): Promise<T> =>
      rest.request<T>({
        method: 'POST',
        ref: { apiVersion: GroupVersion, kind, namespace },
        body: { apiVersion: GroupVersion, kind, metadata: { name }, spec },
      });
    return { kc, rest, lv, ns, get, create, registry, manager: m, stopManager, stop };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}
