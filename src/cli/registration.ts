// Hypervisor self-registration for agent mode (`run --register-hypervisor`): the process
// server-side applies its own cluster-scoped Hypervisor, the way kubelet registers its Node,
// and /readyz fails until that worked. Retries forever with a capped backoff, as kubelet
// does: RBAC or the admission policy may arrive after the DaemonSet (GitOps ordering).
//
// Agent mode also has a libvirt readiness check (`libvirt-reachable`): the pod is Ready only
// while its connection to the host's libvirtd is up, so a host whose libvirtd stopped (or whose
// socket the pod may not open) shows as not Ready, while /healthz stays ok and kubelet does not
// restart a process that could do nothing better after a restart.
//
// Only `spec.uri` is applied, under field manager `maaslab-agent`: whatever else an admin
// sets on the object (storagePool, unschedulable) belongs to their manager and is kept.

import type { V1PolicyRule } from '@kubernetes/client-node';
import { type Hypervisor, Group, GroupVersion, HypervisorKind } from '../api/v1alpha1/index.js';
import type { ConnectionPool } from '../libvirt/connection-pool.js';
import {
  type Backoff,
  type Client,
  type Clock,
  createJitteredBackoff,
  describeError,
  type Logger,
  realClock,
  type Runnable,
} from '../runtime/index.js';

/** The field manager of the agent's apply: kubectl shows who owns `spec.uri`. */
export const REGISTRATION_FIELD_MANAGER = 'maaslab-agent';

/** The /readyz check that passes once the Hypervisor is registered. */
export const REGISTRATION_READY_CHECK = 'hypervisor-registered';

/** The /readyz check that passes while the agent's libvirt connection is up. */
export const LIBVIRT_READY_CHECK = 'libvirt-reachable';

/** The URI of the local libvirt daemon, through the socket the agent DaemonSet mounts. */
export const DEFAULT_REGISTER_URI = 'qemu:///system';

/**
 * What the agent needs beyond the operator's ClusterRole: create the Hypervisor when it is
 * missing, patch it otherwise (server-side apply is a PATCH that may create). RBAC cannot
 * narrow `create` by name; the agent overlay's ValidatingAdmissionPolicy does.
 */
export const registrationRbac: readonly V1PolicyRule[] = [
  { apiGroups: [Group], resources: ['hypervisors'], verbs: ['create', 'patch'] },
];

/** The object the agent applies for node `name`: nothing but the fields it owns. */
export function registrationObject(name: string, uri: string): Hypervisor {
  return {
    apiVersion: GroupVersion,
    kind: HypervisorKind,
    metadata: { name },
    spec: { uri },
  };
}

/** Options for {@link createRegistration}. */
export interface RegistrationOptions {
  /** The Hypervisor's name: the node's. */
  readonly name: string;
  readonly uri: string;
  readonly client: Client;
  readonly logger: Logger;
  readonly clock?: Clock;
  /** Delays between failed attempts (default 0.8 s doubling to 30 s, jittered). */
  readonly backoff?: Backoff;
}

/** The registration loop, as a manager runnable, and its readiness. */
export interface Registration extends Runnable {
  /** True once the apply succeeded. */
  registered(): boolean;
  /** Resolves after the loop ended (registered, or stopped). */
  readonly done: Promise<void>;
}

/** Creates the registration loop; it runs from `start()` until it succeeds or `stop()`. */
export function createRegistration(opts: RegistrationOptions): Registration {
  const clock = opts.clock ?? realClock;
  const backoff = opts.backoff ?? createJitteredBackoff({ clock });
  const halt = new AbortController();
  let registered = false;
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (finish = resolve));

  const loop = async (): Promise<void> => {
    const desired = registrationObject(opts.name, opts.uri);
    while (!halt.signal.aborted) {
      try {
        await opts.client.apply(desired, {
          fieldManager: REGISTRATION_FIELD_MANAGER,
          signal: halt.signal,
        });
        registered = true;
        opts.logger.info('Registered hypervisor', { name: opts.name, uri: opts.uri });
        return;
      } catch (err) {
        if (halt.signal.aborted) return;
        const delayMs = backoff.next();
        opts.logger.warn('Registering hypervisor failed', {
          name: opts.name,
          error: describeError(err),
          retryInMs: Math.round(delayMs),
        });
        await clock.sleep(delayMs, halt.signal).catch(() => undefined);
      }
    }
  };

  let started = false;
  return {
    name: 'hypervisor-registration',
    start() {
      if (started) return;
      started = true;
      void loop().finally(finish);
    },
    async stop() {
      halt.abort();
      if (!started) finish();
      await done;
    },
    registered: () => registered,
    done,
  };
}

/**
 * Agent mode's readiness on libvirt: true while `pool` has a working connection to `uri`.
 * Otherwise it asks the pool for one and answers false at once, without waiting for the open
 * (kubelet gives a probe one second; an open may take the pool's open timeout): the pool
 * reconnects in the background with its backoff, and the check passes once it is up again.
 * Each change between reachable and not is logged once, with libvirt's error (say "Permission
 * denied" when the pod is not in the socket's group, "No such file or directory" when libvirtd
 * is not running).
 */
export function libvirtReadyCheck(
  pool: Pick<ConnectionPool<unknown>, 'isUp' | 'get'>,
  uri: string,
  logger: Logger,
): () => boolean {
  let reported: string | undefined;
  const report = (state: string, log: () => void): void => {
    if (state === reported) return;
    reported = state;
    log();
  };
  return () => {
    if (pool.isUp(uri)) {
      report('up', () => logger.info('libvirt reachable: ready', { uri }));
      return true;
    }
    pool.get(uri).then(
      () => report('up', () => logger.info('libvirt reachable: ready', { uri })),
      (err: unknown) => {
        const error = describeError(err);
        report(JSON.stringify(error), () =>
          logger.warn('libvirt not reachable: not ready', { uri, error }),
        );
      },
    );
    return false;
  };
}
