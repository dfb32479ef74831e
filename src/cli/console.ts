// The operator's console endpoint, wired to what the operator already has: its own
// credentials for the TokenReviews and SubjectAccessReviews (metricsAuthRbac covers both),
// the MaasNode and Hypervisor caches, the shard check every reconciler uses, and a
// self-signed serving certificate (the plugin reaches it through `kubectl port-forward`,
// whose tunnel the API server authenticates).

import type { Connection, ConnectionPool } from '../libvirt/index.js';
import { GroupVersionKinds, type Hypervisor, type MaasNode } from '../api/v1alpha1/index.js';
import {
  type ConsoleServer,
  createConsoleAuthorizer,
  createKubeConsoleReviewer,
  createLibvirtConsoleAttacher,
  pooledXml,
  startConsoleServer,
} from '../console/index.js';
import {
  createRestClient,
  type Logger,
  loadServingCertificate,
  type Manager,
  type RestConfig,
} from '../runtime/index.js';

/** What the endpoint needs from the running operator. */
export interface OperatorConsoleOptions {
  readonly bindAddress: string;
  readonly manager: Manager;
  readonly restConfig: RestConfig;
  /** Whether this process serves Hypervisor shard `hv` now. */
  readonly serves: (hv: string) => boolean;
  readonly logger: Logger;
  /** The operator's libvirt connections: VNC over ssh reads a domain's live XML on them. */
  readonly connections?: ConnectionPool<Connection>;
}

/** Starts the console endpoint on `bindAddress`. */
export async function startOperatorConsole(opts: OperatorConsoleOptions): Promise<ConsoleServer> {
  const nodes = opts.manager.cache<MaasNode>(GroupVersionKinds.MaasNode);
  const hypervisors = opts.manager.cache<Hypervisor>(GroupVersionKinds.Hypervisor);
  const certificate = await loadServingCertificate({ clock: opts.manager.clock });
  return startConsoleServer({
    bindAddress: opts.bindAddress,
    certificate,
    authorize: createConsoleAuthorizer({
      reviewer: createKubeConsoleReviewer(createRestClient(opts.restConfig)),
    }),
    lookup: (ref) => {
      const node = nodes.get({ namespace: ref.namespace, name: ref.name });
      const hv = node?.spec.hypervisor;
      return {
        node,
        hypervisor: hv === undefined ? undefined : hypervisors.get({ name: hv }),
        serves: hv !== undefined && opts.serves(hv),
      };
    },
    attach: createLibvirtConsoleAttacher(
      opts.connections === undefined ? undefined : pooledXml(opts.connections),
    ),
    logger: opts.logger,
  });
}
