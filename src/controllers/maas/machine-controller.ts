// The maas-machine controller: one MAAS machine per MaasNode of a lab with MAAS. It is its own
// controller, with its own finalizer, so the MaasNode reconciler (libvirt) stays as it is and a
// MAAS that is down never holds up a domain. A pass:
//  1. Read the node, its controlling lab and its Hypervisor from the caches.
//  2. Being deleted: delete our machine from MAAS (enlist.ts release), at the MAAS the lab names
//     or, once the lab is gone, the one status.maas recorded; then drop the finalizer.
//  3. A node of a lab with MAAS: ensure the finalizer, find or create the machine (enlist.ts),
//     write status.maas and the Enlisted condition (one merge patch, only when changed), and come
//     back within a minute to read MAAS again (a commissioning finishing shows). MAAS down:
//     the error goes to the queue, whose per-key backoff paces the retries; a 401 waits
//     UNAUTHORIZED_MS. A node of a lab without MAAS is left alone.
import type { V1PolicyRule } from '@kubernetes/client-node';
import {
  Group,
  GroupVersionKinds,
  MaasLabKind,
  MaasReachableCondition,
  type Hypervisor,
  type MaasLab,
  type MaasNode,
} from '../../api/v1alpha1/index.js';
import {
  type BuilderOptions,
  type CacheReader,
  type Client,
  type Clock,
  type Controller,
  controllerBuilder,
  controllerOf,
  hasFinalizer,
  isDeleting,
  loggerFrom,
  type Manager,
  type Predicate,
  type Reconciler,
  type Request,
  requestFor,
  type Result,
} from '../../runtime/index.js';
import { applyConditionPlan } from '../common/conditions.js';
import { maasAccess, type MaasAccess } from './access.js';
import { maasEndpoint } from './desired.js';
import { connect, enlist, release, type Endpoint } from './enlist.js';
import { UNAUTHORIZED_MS } from './lab.js';
import { enlistedCondition, nodeMaasStatus, type EnlistOutcome } from './status.js';
import { definedProps } from '../../util/defined-props.js';

/** The finalizer that keeps a node until its MAAS machine is deleted. */
export const MaasMachineFinalizer = 'maaslab.dev/maas-machine';
/** The controller's name: the `controller` label on its metrics and logs. */
export const MaasMachineControllerName = 'maas-machine';
/** An enlisted node's machine is read again after this long. */
export const REFRESH_MS = 30_000;
/** A node that cannot be enlisted for a reason in MAAS (MacInUse…) is looked at again after this. */
export const RECHECK_MS = 60_000;

/** The caches a pass reads. */
export interface MachineCaches {
  readonly nodes: CacheReader<MaasNode>;
  readonly labs: CacheReader<MaasLab>;
  readonly hypervisors: CacheReader<Hypervisor>;
}

/** What the reconciler needs. */
export interface MaasMachineReconcilerOptions {
  readonly caches: MachineCaches;
  readonly client: Pick<Client, 'patchStatus' | 'ensureFinalizer' | 'dropFinalizer'>;
  readonly access: MaasAccess;
  readonly clock: Pick<Clock, 'now'>;
  /** Whether this process serves the node's hypervisor shard (default: all). */
  readonly serves?: (hypervisor: string) => boolean;
}

/** Raised so the queue backs off while MAAS cannot be reached. */
class MaasDownError extends Error {
  override name = 'MaasDownError';
}

/** The lab that controls `node`, if it is in the cache and is the same object. */
function labOf(node: Readonly<MaasNode>, labs: CacheReader<MaasLab>): MaasLab | undefined {
  const ref = controllerOf(node);
  if (ref?.kind !== MaasLabKind) return undefined;
  const lab = labs.get({ namespace: node.metadata?.namespace ?? '', name: ref.name });
  return lab?.metadata?.uid === ref.uid ? lab : undefined;
}

/**
 * Whether MAAS has anything to do with `node`: its lab names a MAAS, or the node still carries
 * our finalizer (a machine to delete, even once the lab dropped its MAAS or is gone). Nodes of
 * labs without MAAS are never queued, so a fleet without MAAS costs this controller nothing; a
 * lab that gains a MAAS later queues its nodes through the MaasLab watch.
 */
export function concernsMaas(node: Readonly<MaasNode>, labs: CacheReader<MaasLab>): boolean {
  if (hasFinalizer(node, MaasMachineFinalizer)) return true;
  const lab = labOf(node, labs);
  return lab !== undefined && maasEndpoint(lab) !== undefined;
}

export function createMaasMachineReconciler(opts: MaasMachineReconcilerOptions): Reconciler {
  const { caches, client, access, clock } = opts;
  const serves = opts.serves ?? (() => true);

  async function writeStatus(
    node: Readonly<MaasNode>,
    outcome: EnlistOutcome,
    endpoint: Endpoint,
    signal: AbortSignal,
  ): Promise<void> {
    const generation = node.metadata?.generation ?? 0;
    const conditions = applyConditionPlan(
      node.status?.conditions,
      { set: [enlistedCondition(outcome)], remove: [] },
      { now: clock.now(), generation },
    );
    const maas = nodeMaasStatus(node.status?.maas, outcome, endpoint);
    // Every other status field as it is: a merge patch drops what it leaves out.
    await client.patchStatus(node, { ...node.status, conditions, maas }, signal);
  }

  async function released(
    node: Readonly<MaasNode>,
    lab: MaasLab | undefined,
    signal: AbortSignal,
  ): Promise<Result> {
    const log = loggerFrom(signal);
    const recorded = node.status?.maas;
    const endpoint: Endpoint | undefined =
      (lab && maasEndpoint(lab)) ??
      (recorded?.url && recorded.apiKeySecretRef
        ? { url: recorded.url, apiKeySecretRef: recorded.apiKeySecretRef }
        : undefined);
    if (endpoint !== undefined) {
      const made = await connect(access, node.metadata?.namespace ?? '', endpoint, signal);
      if ('outcome' in made) {
        // Without a key MAAS can never be asked: keeping the finalizer would hold the node
        // (and its namespace) forever. Logged so the machine left behind can be found.
        log.error('MAAS machine not deleted: no usable API key', {
          url: endpoint.url,
          systemId: recorded?.systemId,
        });
      } else {
        const outcome = await release(made.client, node, signal);
        if (outcome.kind === 'unauthorized') return { requeueAfterMs: UNAUTHORIZED_MS };
        if (outcome.kind === 'unreachable') throw new MaasDownError(outcome.message);
        if (outcome.deleted.length > 0)
          log.info('MAAS machines deleted', { systemIds: outcome.deleted });
      }
    }
    await client.dropFinalizer(node, MaasMachineFinalizer, signal);
    return {};
  }

  return {
    async reconcile(req: Request, signal: AbortSignal): Promise<Result> {
      const cached = caches.nodes.get(req);
      if (!cached || !serves(cached.spec.hypervisor)) return {};
      const lab = labOf(cached, caches.labs);
      if (isDeleting(cached)) {
        return hasFinalizer(cached, MaasMachineFinalizer) ? released(cached, lab, signal) : {};
      }
      const endpoint = lab && maasEndpoint(lab);
      if (lab === undefined || endpoint === undefined) return {};
      const node = (await client.ensureFinalizer(cached, MaasMachineFinalizer, signal)).object;
      const namespace = node.metadata?.namespace ?? '';
      const made = await connect(access, namespace, endpoint, signal);
      let outcome: EnlistOutcome;
      if ('outcome' in made) {
        outcome = made.outcome;
      } else {
        const secret = node.spec.bmc?.credentialsSecretRef?.name;
        const bmcPassword = secret
          ? (await access.readSecret(namespace, secret, signal))?.['password']
          : undefined;
        const hypervisor = caches.hypervisors.get({ name: node.spec.hypervisor });
        outcome = await enlist(made.client, { lab, node, hypervisor, bmcPassword }, signal);
      }
      await writeStatus(node, outcome, endpoint, signal);
      switch (outcome.kind) {
        case 'enlisted':
          return { requeueAfterMs: REFRESH_MS };
        case 'unauthorized':
          return { requeueAfterMs: UNAUTHORIZED_MS };
        case 'unreachable':
          throw new MaasDownError(outcome.message);
        case 'notEnlisted':
          return { requeueAfterMs: RECHECK_MS };
      }
    },
  };
}

/** What enlistment reads from a node: not its own writes (status.maas, Enlisted). */
const enlistmentInputs = (o: Readonly<MaasNode>): string =>
  JSON.stringify([
    o.metadata?.generation,
    o.metadata?.deletionTimestamp,
    o.metadata?.finalizers,
    controllerOf(o)?.uid,
    o.status?.uuid,
    o.status?.power,
  ]);

/** Only nodes MAAS concerns, and of those only changes enlistment reads. */
const nodeEvents = (labs: CacheReader<MaasLab>): Predicate => ({
  create: (obj) => concernsMaas(obj as MaasNode, labs),
  update: (old, obj) =>
    concernsMaas(obj as MaasNode, labs) &&
    enlistmentInputs(old as MaasNode) !== enlistmentInputs(obj as MaasNode),
  delete: (obj) => concernsMaas(obj as MaasNode, labs),
});

const reachableOf = (o: Readonly<MaasLab>): string | undefined =>
  o.status?.conditions?.find((c) => c.type === MaasReachableCondition)?.status;

/** A lab's spec, or whether its MAAS answers, changed: its nodes look again. */
const labMaasChanged: Predicate = {
  update: (old, obj) =>
    old.metadata?.generation !== obj.metadata?.generation ||
    reachableOf(old as MaasLab) !== reachableOf(obj as MaasLab),
};

/** Registers the maas-machine controller. */
export function setup(
  manager: Manager,
  options: BuilderOptions & { readonly serves?: (hypervisor: string) => boolean } = {},
): Controller {
  const { serves, ...builderOptions } = options;
  const caches: MachineCaches = {
    nodes: manager.cache<MaasNode>(GroupVersionKinds.MaasNode),
    labs: manager.cache<MaasLab>(GroupVersionKinds.MaasLab),
    hypervisors: manager.cache<Hypervisor>(GroupVersionKinds.Hypervisor),
  };
  const reconciler = createMaasMachineReconciler({
    caches,
    client: manager.client,
    access: maasAccess(manager.client),
    clock: manager.clock,
    ...definedProps({ serves }),
  });
  const nodesOfLab = (lab: Readonly<{ metadata?: { namespace?: string; uid?: string } }>) =>
    caches.nodes
      .list(lab.metadata?.namespace)
      .filter((n) => controllerOf(n)?.uid === lab.metadata?.uid)
      .map((n) => requestFor(n));
  return controllerBuilder(manager)
    .for(GroupVersionKinds.MaasNode, { predicates: [nodeEvents(caches.labs)] })
    .watches(GroupVersionKinds.MaasLab, (o) => nodesOfLab(o), { predicates: [labMaasChanged] })
    .watches(
      GroupVersionKinds.Hypervisor,
      (o) =>
        caches.nodes
          .list()
          .filter((n) => n.spec.hypervisor === o.metadata?.name)
          .map((n) => requestFor(n)),
      { predicates: [{ update: (a, b) => a.metadata?.generation !== b.metadata?.generation }] },
    )
    .withOptions(builderOptions)
    .named(MaasMachineControllerName)
    .complete(reconciler);
}

/** The permissions the maas-machine controller uses. */
export const rbac: readonly V1PolicyRule[] = [
  { apiGroups: [Group], resources: ['maasnodes'], verbs: ['get', 'list', 'watch', 'patch'] },
  { apiGroups: [Group], resources: ['maasnodes/status'], verbs: ['patch'] },
  { apiGroups: [Group], resources: ['maaslabs', 'hypervisors'], verbs: ['get', 'list', 'watch'] },
  // The MAAS API key and the BMC password (power_pass).
  { apiGroups: [''], resources: ['secrets'], verbs: ['get'] },
];
