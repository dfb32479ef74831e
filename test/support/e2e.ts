// Helpers shared by the e2e tests (test/integration/e2e/): typed reads of our kinds as the
// admin user, condition checks, kstatus's verdict, and filtering virsh listings to one
// test namespace.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { createRestClient, type RestClient } from '../../src/runtime/client/rest.js';
import { controlPlane, repoRoot } from './controlplane.js';
import { type PrivateLibvirtd, run, startPrivateLibvirtd } from './libvirtd.js';
import { type TestNamespace, createTestNamespace } from './namespace.js';
import {
  type OperatorProcess,
  type OperatorProcessOptions,
  applyOperatorRbac,
  startOperator,
} from './operator.js';
import { waitFor } from './wait.js';

/** apiVersion of every maaslab kind. */
export const GROUP_VERSION = 'maaslab.dev/v1alpha1';

/** The shape every maaslab object shares, enough to read its conditions. */
export interface Conditioned {
  readonly metadata?: { readonly name?: string; readonly generation?: number };
  readonly status?: {
    readonly observedGeneration?: number;
    readonly conditions?: ReadonlyArray<{
      readonly type: string;
      readonly status: string;
      readonly reason?: string;
      readonly message?: string;
    }>;
  };
}

/** Typed GET and LIST of maaslab kinds through one client. */
export interface MaaslabReader {
  get<T>(kind: string, name: string, namespace?: string): Promise<T>;
  list<T>(kind: string, namespace: string): Promise<T[]>;
}

/** A {@link MaaslabReader} over `client` (the admin user in the e2e tests). */
export function maaslabReader(client: RestClient): MaaslabReader {
  return {
    get: async <T>(kind: string, name: string, namespace?: string): Promise<T> =>
      client.request<T>({
        method: 'GET',
        ref: { apiVersion: GROUP_VERSION, kind, name, ...(namespace && { namespace }) },
      }),
    list: async <T>(kind: string, namespace: string): Promise<T[]> =>
      (
        await client.request<{ items: T[] }>({
          method: 'GET',
          ref: { apiVersion: GROUP_VERSION, kind, namespace },
        })
      ).items,
  };
}

/** The condition `type` of `obj`, if reported. */
export const conditionOf = (
  obj: Conditioned,
  type: string,
): { readonly status: string; readonly reason?: string; readonly message?: string } | undefined =>
  obj.status?.conditions?.find((c) => c.type === type);

/** Ready=True, reported for the object's current generation. */
export const isReadyNow = (obj: Conditioned): boolean =>
  obj.status?.observedGeneration === obj.metadata?.generation &&
  conditionOf(obj, 'Ready')?.status === 'True';

/** The trimmed lines of a virsh listing that mention `namespace` (our domains, volumes, networks). */
export const linesOf = (out: string, namespace: string): string[] =>
  out
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.includes(namespace));

/** kstatus's verdicts, as `kube-testenv kstatus` prints them. */
export type KstatusVerdict =
  'Current' | 'InProgress' | 'Failed' | 'Terminating' | 'NotFound' | 'Unknown';

/**
 * kstatus's verdict on one object (sigs.k8s.io/cli-utils/pkg/kstatus, through
 * `bin/kube-testenv kstatus`): `kind` as `Kind`, `ref` as `name` or `namespace/name`.
 */
export async function kstatus(
  kubeconfig: string,
  kind: string,
  ref: string,
): Promise<{ status: KstatusVerdict; message: string }> {
  const { stdout } = await run(join(repoRoot, 'bin', 'kube-testenv'), [
    'kstatus',
    '--kubeconfig',
    kubeconfig,
    `${GROUP_VERSION}/${kind}`,
    ref,
  ]);
  return JSON.parse(stdout) as { status: KstatusVerdict; message: string };
}

/**
 * One e2e suite's world: a private libvirtd, a namespace for the operator's Leases and one for
 * the lab, the generated RBAC, and one operator child process serving every hypervisor.
 */
export interface E2eEnvironment {
  readonly admin: RestClient;
  readonly read: MaaslabReader;
  readonly scratch: string;
  readonly logFile: string;
  readonly lv: PrivateLibvirtd;
  readonly leaseNs: TestNamespace;
  readonly labNs: TestNamespace;
  /** A Hypervisor name unique to this run. */
  readonly hv: string;
  /** A storage pool name unique to this run. */
  readonly pool: string;
  readonly operator: OperatorProcess;
  /**
   * Stops the operator, deletes the Hypervisor, stops libvirtd and deletes the namespaces;
   * keeps the scratch folder (and the operator log) when MAASLAB_KEEP_E2E is set.
   */
  stop(): Promise<void>;
}

/**
 * Starts an {@link E2eEnvironment}; `tag` names its namespaces, Hypervisor and pool, and
 * `operatorOptions` adds flags to the operator (e.g. `leaderElect`).
 */
export async function startE2eEnvironment(
  tag: string,
  operatorOptions: Pick<
    OperatorProcessOptions,
    'leaderElect' | 'args' | 'secureMetrics' | 'wrap' | 'env'
  > = {},
): Promise<E2eEnvironment> {
  const cp = controlPlane();
  const admin = createRestClient(cp.restConfig('admin'));
  const scratch = await mkdtemp(join(tmpdir(), `maaslab-e2e-${tag}-`));
  const logFile = join(scratch, 'operator.log');
  // Torn down in reverse, also when a later step of the start fails.
  const teardown: Array<() => Promise<unknown>> = [
    () =>
      process.env.MAASLAB_KEEP_E2E
        ? Promise.resolve(console.log(`      operator log kept in ${logFile}`))
        : rm(scratch, { recursive: true, force: true }),
  ];
  const stop = async (): Promise<void> => {
    for (const step of teardown.reverse()) await step().catch(() => undefined);
  };
  try {
    const lv = await startPrivateLibvirtd();
    teardown.push(() => lv.stop());
    const leaseNs = await createTestNamespace(cp.kubeConfig('admin'), `e2e-${tag}-operator`);
    teardown.push(() => leaseNs.delete());
    const labNs = await createTestNamespace(cp.kubeConfig('admin'), `e2e-${tag}`);
    teardown.push(() => labNs.delete());
    const hv = `e2e-${tag}-${labNs.name.slice(-5)}`;
    const pool = `maaslab-${tag}-${labNs.name.slice(-5)}`;
    // Cluster-scoped: deleting the namespaces would not remove it.
    teardown.push(() =>
      admin.request({
        method: 'DELETE',
        ref: { apiVersion: GROUP_VERSION, kind: 'Hypervisor', name: hv },
      }),
    );
    await applyOperatorRbac(cp.adminKubeconfig, leaseNs.name, scratch);
    const operator = await startOperator({
      ...operatorOptions,
      kubeconfig: cp.operatorKubeconfig,
      namespace: leaseNs.name,
      logFile,
    });
    teardown.push(() => operator.stop());
    const read = maaslabReader(admin);
    return { admin, read, scratch, logFile, lv, leaseNs, labNs, hv, pool, operator, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A document of an example manifest, as the e2e tests edit it before applying. */
export interface ExampleDoc {
  kind: string;
  metadata: { name: string; namespace?: string };
  spec: Record<string, unknown>;
}

/**
 * examples/recipe-lab.yaml as a user would apply it to `env`: the Hypervisor renamed to env's,
 * on env's private libvirtd and pool (the private daemon has no `default` pool: the Hypervisor
 * controller makes a dir pool), the lab in env's lab namespace on that Hypervisor. `editLab`
 * changes the lab document before it is returned (its name, count, template, …).
 */
export async function recipeLabDocs(
  env: Pick<E2eEnvironment, 'hv' | 'lv' | 'pool' | 'labNs'>,
  editLab: (lab: ExampleDoc) => void = () => undefined,
): Promise<ExampleDoc[]> {
  const docs = parseAllDocuments(
    await readFile(join(repoRoot, 'examples', 'recipe-lab.yaml'), 'utf8'),
  ).map((d) => d.toJS() as ExampleDoc);
  for (const d of docs) {
    if (d.kind === 'Hypervisor') {
      d.metadata.name = env.hv;
      Object.assign(d.spec, {
        uri: env.lv.uri,
        storagePool: env.pool,
        storagePoolPath: join(env.lv.dir, 'pool'),
      });
    } else {
      d.metadata.namespace = env.labNs.name;
      d.spec.hypervisor = env.hv;
      editLab(d);
    }
  }
  return docs;
}

/** What varies between the small labs of the e2e tests. */
export interface SmallLabOptions {
  readonly name: string;
  readonly namespace: string;
  readonly hypervisor: string;
  /** The first three octets of the lab network's /24, e.g. `10.83.3`. */
  readonly subnet: string;
  /** Five octets: the nodes' MACs are this plus their index. */
  readonly macPrefix: string;
  readonly count?: number;
  /** QEMU's VNC server on the hypervisor's loopback (the console tests want it). */
  readonly vnc?: boolean;
}

/**
 * A MaasLab as small as QEMU runs it (128 MiB nodes with a 64 MiB disk, two by default) on
 * one isolated network `maas` at `<subnet>.1/24`: what the e2e tests build when the recipe's
 * shape does not matter, only that its domains run.
 */
export const smallLab = (o: SmallLabOptions): Record<string, unknown> => ({
  apiVersion: GROUP_VERSION,
  kind: 'MaasLab',
  metadata: { name: o.name, namespace: o.namespace },
  spec: {
    hypervisor: o.hypervisor,
    networks: [
      { name: 'maas', mode: 'isolated', ipv4: { address: `${o.subnet}.1`, prefixLength: 24 } },
    ],
    nodes: {
      count: o.count ?? 2,
      macPrefix: o.macPrefix,
      template: {
        memory: '128Mi',
        disks: [{ name: 'root', size: '64Mi' }],
        interfaces: [{ network: 'maas' }],
        vnc: { enabled: o.vnc ?? false },
      },
    },
  },
});

/**
 * The environment's Hypervisor: its private libvirtd, with a dir pool in the daemon's
 * folder (the private daemon has no `default` pool: the Hypervisor controller makes it).
 */
export const envHypervisor = (
  env: Pick<E2eEnvironment, 'hv' | 'lv' | 'pool'>,
  spec: Record<string, unknown> = {},
): Record<string, unknown> => ({
  apiVersion: GROUP_VERSION,
  kind: 'Hypervisor',
  metadata: { name: env.hv },
  spec: {
    uri: env.lv.uri,
    storagePool: env.pool,
    storagePoolPath: join(env.lv.dir, 'pool'),
    ...spec,
  },
});

/**
 * Waits for the pool the operator makes for {@link envHypervisor}, then creates `name` in it,
 * a blank qcow2 of `size` (virsh's units) as a user would make an image volume (the operator
 * never deletes it).
 */
export async function createUserVolume(
  env: Pick<E2eEnvironment, 'lv' | 'pool' | 'logFile'>,
  name: string,
  size: string,
): Promise<void> {
  await waitFor(
    async () =>
      await env.lv.virsh(['pool-info', env.pool]).then(
        () => true,
        () => false,
      ),
    { timeoutMs: 240_000, intervalMs: 500, description: `pool ${env.pool} (log: ${env.logFile})` },
  );
  await env.lv.virsh(['vol-create-as', env.pool, name, size, '--format', 'qcow2']);
}
