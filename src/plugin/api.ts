// The plugin's only I/O: our own REST client (src/runtime/client: kubeconfig with contexts,
// credentials, discovery) reading and patching MaasNodes, MaasLabs and VirtNetworks, and
// creating and reading MaasLabSnapshots, in one namespace. Imported file by file, not through src/runtime/index.js, so that a plugin run
// loads neither the libvirt binding nor the operator's logging and metrics.

import {
  GroupVersion,
  LabLabel,
  type MaasLab,
  MaasLabKind,
  type MaasLabSnapshot,
  MaasLabSnapshotKind,
  type MaasNode,
  MaasNodeKind,
  type VirtNetwork,
  VirtNetworkKind,
} from '../api/v1alpha1/index.js';
import { createCredentials } from '../runtime/client/credentials.js';
import { loadRestConfig } from '../runtime/client/kubeconfig.js';
import {
  ContentType,
  type ObjectList,
  type RestClient,
  createRestClient,
  isConflict,
  isNotFound,
} from '../runtime/client/rest.js';
import { podFromHolder, shardLeaseName } from './endpoint.js';
import { PluginError } from './errors.js';

/** The field manager of every write the plugin makes. */
export const FieldManager = 'kubectl-maaslab';

/** Where to connect: kubectl's flags. */
export interface ConnectOptions {
  /** `--kubeconfig`; else `$KUBECONFIG`, else `~/.kube/config`. */
  readonly kubeconfig?: string;
  /** `--context`; else the current context. */
  readonly context?: string;
  /** `-n`; else the context's namespace, else `default`. */
  readonly namespace?: string;
}

/** What the verbs read and write, in one namespace. */
export interface PluginApi {
  /** The namespace every call works in. */
  readonly namespace: string;
  /** A MaasNode; a PluginError naming it when there is none. */
  getNode(name: string): Promise<MaasNode>;
  /** Merge-patches a MaasNode's spec; resolves to the node as stored after the patch. */
  patchNode(name: string, patch: unknown): Promise<MaasNode>;
  /** A MaasLab; a PluginError naming it when there is none. */
  getLab(name: string): Promise<MaasLab>;
  /** Merge-patches a MaasLab; resolves to the lab as stored after the patch. */
  patchLab(name: string, patch: unknown): Promise<MaasLab>;
  /** The VirtNetworks and MaasNodes that carry the lab's label. */
  labChildren(lab: string): Promise<{ networks: VirtNetwork[]; nodes: MaasNode[] }>;
  /** A MaasLabSnapshot; a PluginError naming it when there is none. */
  getSnapshot(name: string): Promise<MaasLabSnapshot>;
  /** The MaasLabSnapshots whose spec.lab is `lab`. */
  labSnapshots(lab: string): Promise<MaasLabSnapshot[]>;
  /** Creates a MaasLabSnapshot; a PluginError when one of that name exists. */
  createSnapshot(snapshot: MaasLabSnapshot): Promise<MaasLabSnapshot>;
  /**
   * The kubeconfig's credential as an Authorization header, when it is a bearer token
   * (token, token file or exec plugin): what the console endpoint's TokenReview checks.
   */
  bearerAuthorization(): Promise<string | undefined>;
  /**
   * The operator pod serving Hypervisor `hv`: its shard Lease's holder in `namespace`, else a
   * running pod labelled `selector`; undefined when there is none.
   */
  operatorPod(hv: string, namespace: string, selector: string): Promise<string | undefined>;
}

interface LeaseLike {
  readonly spec?: { readonly holderIdentity?: string };
}
interface PodLike {
  readonly metadata?: { readonly name?: string; readonly deletionTimestamp?: string };
  readonly status?: { readonly phase?: string };
}

const resources: Readonly<Record<string, string>> = {
  [MaasNodeKind]: 'maasnodes.maaslab.dev',
  [MaasLabKind]: 'maaslabs.maaslab.dev',
  [MaasLabSnapshotKind]: 'maaslabsnapshots.maaslab.dev',
  [VirtNetworkKind]: 'virtnetworks.maaslab.dev',
};

/** Connects as kubectl would with the same flags (no request is sent yet). */
export function connect(opts: ConnectOptions): PluginApi {
  const config = loadRestConfig({
    ...(opts.kubeconfig ? { kubeconfig: opts.kubeconfig } : {}),
    ...(opts.context ? { context: opts.context } : {}),
  });
  const rest: RestClient = createRestClient(config);
  const namespace = opts.namespace || config.namespace || 'default';
  const ref = (kind: string, name?: string) => ({
    apiVersion: GroupVersion,
    kind,
    namespace,
    ...(name ? { name } : {}),
  });

  const get = async <T>(kind: string, name: string): Promise<T> => {
    try {
      return await rest.request<T>({ method: 'GET', ref: ref(kind, name) });
    } catch (err) {
      if (isNotFound(err)) {
        throw new PluginError(
          `${resources[kind]} "${name}" not found in namespace "${namespace}"`,
          {
            cause: err,
          },
        );
      }
      throw err;
    }
  };
  const list = async <T>(kind: string, labelSelector?: string): Promise<T[]> =>
    (
      await rest.request<ObjectList<T>>({
        method: 'GET',
        ref: ref(kind),
        query: labelSelector === undefined ? {} : { labelSelector },
      })
    ).items;
  const mergePatch = <T>(kind: string, name: string, patch: unknown): Promise<T> =>
    rest.request<T>({
      method: 'PATCH',
      ref: ref(kind, name),
      body: patch,
      contentType: ContentType.MergePatch,
      query: { fieldManager: FieldManager },
    });

  return {
    namespace,
    getNode: (name) => get<MaasNode>(MaasNodeKind, name),
    getLab: (name) => get<MaasLab>(MaasLabKind, name),
    patchNode: (name, patch) => mergePatch<MaasNode>(MaasNodeKind, name, patch),
    patchLab: (name, patch) => mergePatch<MaasLab>(MaasLabKind, name, patch),
    getSnapshot: (name) => get<MaasLabSnapshot>(MaasLabSnapshotKind, name),
    // Snapshots carry no lab label and spec.lab is not a selectable field: filtered here.
    labSnapshots: async (lab) =>
      (await list<MaasLabSnapshot>(MaasLabSnapshotKind)).filter((s) => s.spec.lab === lab),
    async createSnapshot(snapshot) {
      const name = snapshot.metadata?.name ?? '';
      try {
        return await rest.request<MaasLabSnapshot>({
          method: 'POST',
          ref: ref(MaasLabSnapshotKind),
          body: snapshot,
          query: { fieldManager: FieldManager },
        });
      } catch (err) {
        if (isConflict(err)) {
          throw new PluginError(
            `${resources[MaasLabSnapshotKind]} "${name}" already exists in namespace "${namespace}"`,
            { cause: err },
          );
        }
        throw err;
      }
    },
    async bearerAuthorization() {
      const c = await createCredentials(config).current();
      return c.authorization?.toLowerCase().startsWith('bearer ') ? c.authorization : undefined;
    },
    async operatorPod(hv, operatorNamespace, selector) {
      try {
        const lease = await rest.request<LeaseLike>({
          method: 'GET',
          ref: {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            namespace: operatorNamespace,
            name: shardLeaseName(hv),
          },
        });
        const pod = podFromHolder(lease.spec?.holderIdentity);
        if (pod) return pod;
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      const pods = await rest.request<ObjectList<PodLike>>({
        method: 'GET',
        ref: { apiVersion: 'v1', kind: 'Pod', namespace: operatorNamespace },
        query: { labelSelector: selector },
      });
      return pods.items.find((p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp)
        ?.metadata?.name;
    },
    async labChildren(lab) {
      const selector = `${LabLabel}=${lab}`;
      const [networks, nodes] = await Promise.all([
        list<VirtNetwork>(VirtNetworkKind, selector),
        list<MaasNode>(MaasNodeKind, selector),
      ]);
      return { networks, nodes };
    },
  };
}
