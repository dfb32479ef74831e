// The phases of a MaasLab pass while the lab is not being deleted: check the Hypervisor and
// MAC collisions (pure), then the writes: delete unwanted MaasNodes, delete the networks the
// spec dropped, then apply missing or changed VirtNetworks and MaasNodes in one round of
// requests; last, name the children of the lab's names it does not control.
import {
  ControllerReadyCondition,
  GroupVersionKinds,
  MaasWaitingReason,
  HypervisorNotFoundReason,
  MacCollisionReason,
  MaasNodeKind,
  NameConflictReason,
  ProgressingReason,
  StalledCondition,
  VirtNetworkKind,
  type MaasLab,
  type MaasNode,
} from '../../api/v1alpha1/index.js';
import { EventType, isDeleting } from '../../runtime/index.js';
import { next, type Phase, stop } from '../common/phases.js';
import {
  FieldManager,
  childAction,
  collisionMessage,
  collisionsBlocking,
  controllerPxeMac,
  macCollisions,
  macsOf,
  networksToDelete,
  nodesToDelete,
} from './desired.js';
import { controllerProblem } from '../maas/controller-desired.js';
import { controllerHoldOf } from '../maas-lab-snapshot/hold.js';
import {
  CONTROLLER_FINALIZER,
  heldController,
  reconcileController,
} from '../maas/controller-vm.js';
import { labMaasProblem, maasEndpoint } from '../maas/desired.js';
import { reconcileLabMaas } from '../maas/lab.js';
import { LabEventReason } from './events.js';
import { restore } from './restore.js';
import type { LabPass } from './pass.js';

/** Node applies in flight at once, per lab pass. */
const CONCURRENT_CHILD_APPLIES = 10;

/** An error's message, for condition messages (logs get the whole chain). */
const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** A short list for messages: at most `max` items, then "and N more". */
const listOf = (items: readonly string[], max = 5): string =>
  items.length > max
    ? `${items.slice(0, max).join(', ')} and ${items.length - max} more`
    : items.join(', ');

/**
 * A phase whose API writes may fail: the failure is reported (Reconciling, "retrying: …",
 * observedGeneration kept) and is the pass's error, so the queue retries.
 */
const retried =
  (phase: Phase<LabPass>): Phase<LabPass> =>
  async (pass) => {
    try {
      return await phase(pass);
    } catch (err) {
      pass.found.error = { reason: ProgressingReason, message: `retrying: ${messageOf(err)}` };
      throw (pass.found.failure = err);
    }
  };

/** The same objects in the same order (the caches' frozen objects: identity means unchanged). */
const sameObjects = (a: readonly object[], b: readonly object[]): boolean =>
  a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * The last collisions computed on a hypervisor, with the objects they were computed from. A
 * lab passes again whenever one of its nodes' status changes, while its peers and stand-alone
 * nodes (cached objects, replaced whenever they change) stay the same: at 1000 nodes the
 * recomputation was 9 % of all the operator allocated during a build.
 */
const lastCollisions = new Map<
  string,
  {
    readonly peers: readonly Readonly<MaasLab>[];
    readonly standalone: readonly Readonly<MaasNode>[];
    readonly collisions: ReturnType<typeof macCollisions>;
  }
>();

/** macCollisions, or the last result on the same hypervisor when its inputs are the same. */
function collisionsOf(
  peers: readonly Readonly<MaasLab>[],
  standalone: readonly Readonly<MaasNode>[],
): ReturnType<typeof macCollisions> {
  const hypervisor = peers[0]?.spec.hypervisor ?? '';
  const last = lastCollisions.get(hypervisor);
  if (last && sameObjects(last.peers, peers) && sameObjects(last.standalone, standalone)) {
    return last.collisions;
  }
  const collisions = macCollisions(peers, standalone);
  if (peers.length > 0) lastCollisions.set(hypervisor, { peers, standalone, collisions });
  return collisions;
}

/** A missing Hypervisor stalls the lab (HypervisorNotFound); nothing is built. */
const requireHypervisor: Phase<LabPass> = async ({ scope, found }) => {
  if (scope.hypervisor !== undefined) return next;
  found.stalled = {
    reason: HypervisorNotFoundReason,
    message: `Hypervisor ${scope.lab.spec.hypervisor} does not exist`,
  };
  return stop();
};

/**
 * MAC collisions with older labs or stand-alone nodes on the same hypervisor stall the lab
 * (MacCollision) and keep the colliding nodes from being applied; a Warning once per
 * collision, not once per pass (the condition carries it meanwhile).
 */
const checkMacs: Phase<LabPass> = async (pass) => {
  const { scope, found } = pass;
  const { lab } = scope;
  pass.blocking = collisionsBlocking(lab, collisionsOf(scope.peers, scope.standaloneNodes));
  if (pass.blocking.length === 0) return next;
  const message = collisionMessage(pass.blocking);
  found.stalled = { reason: MacCollisionReason, message };
  const stalled = lab.status?.conditions?.find((c) => c.type === StalledCondition);
  if (stalled?.reason !== MacCollisionReason || stalled.message !== message) {
    pass.record(EventType.Warning, LabEventReason.MacCollision, 'CheckMacs', message);
  }
  return next;
};

/** What one kind's applies in a round did: the children created, and the first failure. */
interface Applied {
  readonly created: readonly string[];
  readonly failed?: { readonly error: unknown };
}

/**
 * The missing or changed VirtNetworks, applied at once. The selection (and the conflicts it
 * notes) is made before the first request, so conflicts are listed in the same order whatever
 * the requests' timing.
 */
function applyNetworks(pass: LabPass): Promise<Applied> {
  const { scope, desired, deps, signal } = pass;
  const toApply: Array<{ net: (typeof desired.networks)[number]; create: boolean }> = [];
  for (const net of desired.networks) {
    const name = net.metadata?.name ?? '';
    if (scope.foreignNetworks.has(name)) {
      pass.conflicts.push(`${VirtNetworkKind} ${name}`);
      continue;
    }
    const observed = scope.networks.get(name);
    // A child being deleted is left to finish: an apply could not change it anyway.
    if (observed !== undefined && isDeleting(observed)) continue;
    const action = childAction(net, observed);
    if (action === 'none') continue;
    toApply.push({ net, create: action === 'create' });
  }
  return settle(
    toApply.map(({ net, create }) => ({
      name: net.metadata?.name ?? '',
      create,
      apply: async () => {
        const applied = await deps.client.apply(net, { fieldManager: FieldManager, signal });
        scope.networks.set(net.metadata?.name ?? '', applied);
      },
    })),
    toApply.length,
  );
}

/**
 * Runs `applies`, `limit` at a time; never rejects: what was created, and the first failure.
 */
async function settle(
  applies: ReadonlyArray<{ name: string; create: boolean; apply: () => Promise<void> }>,
  limit: number,
): Promise<Applied> {
  const created: string[] = [];
  for (let i = 0; i < applies.length; i += Math.max(1, limit)) {
    const batch = applies.slice(i, i + Math.max(1, limit));
    const results = await Promise.allSettled(batch.map((a) => a.apply()));
    results.forEach((r, j) => {
      if (r.status === 'fulfilled' && batch[j]!.create) created.push(batch[j]!.name);
    });
    const failure = results.find((r) => r.status === 'rejected');
    if (failure) return { created, failed: { error: failure.reason } };
  }
  return { created };
}

/** Scale down before scale up, highest-numbered first, so 5 → 2 removes 5, 4, 3. */
const deleteNodes: Phase<LabPass> = async (pass) => {
  const { scope, desired, deps, signal } = pass;
  const deleted: string[] = [];
  for (const name of nodesToDelete([...scope.nodes.keys()], desired.nodes)) {
    // Already going (its finalizer is cleaning up libvirt): deleting again would only
    // repeat the event.
    if (isDeleting(scope.nodes.get(name) ?? {})) continue;
    const ref = { apiVersion: GroupVersionKinds.MaasNode.apiVersion, kind: MaasNodeKind };
    if (
      await deps.client.delete({ ...ref, namespace: scope.lab.metadata?.namespace, name }, signal)
    ) {
      deleted.push(name);
    }
    scope.nodes.delete(name);
  }
  if (deleted.length > 0) {
    const note = `deleted MaasNodes ${listOf(deleted)}`;
    pass.record(EventType.Normal, LabEventReason.NodesDeleted, 'Delete', note);
  }
  return next;
};

/**
 * A network the spec dropped goes after the nodes: its controller refuses to delete a
 * network that nodes still use.
 */
const deleteNetworks: Phase<LabPass> = async (pass) => {
  const { scope, desired, deps, signal } = pass;
  const deleted: string[] = [];
  for (const name of networksToDelete([...scope.networks.keys()], desired.networks)) {
    if (isDeleting(scope.networks.get(name) ?? {})) continue;
    const ref = { apiVersion: GroupVersionKinds.VirtNetwork.apiVersion, kind: VirtNetworkKind };
    if (
      await deps.client.delete({ ...ref, namespace: scope.lab.metadata?.namespace, name }, signal)
    ) {
      deleted.push(name);
    }
    scope.networks.delete(name);
  }
  if (deleted.length > 0) {
    const note = `deleted VirtNetworks ${listOf(deleted)}`;
    pass.record(EventType.Normal, LabEventReason.NetworksDeleted, 'Delete', note);
  }
  return next;
};

/**
 * Nodes, created with the networks rather than after them: each makes its disks and
 * definition while the networks come up and starts only once they run (the recipe's
 * "MAAS DHCP must start after virbr0" is the node's gate). A node whose MAC another claimant
 * keeps is left out, and no node is created while a network of the lab's is someone else's
 * (it would attach to that one). A few applies at a time: a lab of 100 nodes is not 100
 * round trips in a row, and each node's controller starts on it as soon as it exists.
 */
function applyNodes(pass: LabPass): Promise<Applied> {
  const { scope, desired, deps, signal } = pass;
  const networksOurs = desired.networks.every(
    (n) => !scope.foreignNetworks.has(n.metadata?.name ?? ''),
  );
  const blockedMacs = new Set(pass.blocking.map((c) => c.mac));
  const toApply: Array<{ node: MaasNode; create: boolean }> = [];
  for (const node of desired.nodes) {
    const name = node.metadata?.name ?? '';
    if (scope.foreignNodes.has(name)) {
      pass.conflicts.push(`${MaasNodeKind} ${name}`);
      continue;
    }
    // Most passes block no MAC: then no node's MACs need listing (a pass per child event).
    if (blockedMacs.size > 0 && macsOf(node).some((mac) => blockedMacs.has(mac))) continue;
    const observed = scope.nodes.get(name);
    if (observed !== undefined && isDeleting(observed)) continue;
    const action = childAction(node, observed);
    if (action === 'none' || (action === 'create' && !networksOurs)) continue;
    toApply.push({ node, create: action === 'create' });
  }
  return settle(
    toApply.map(({ node, create }) => ({
      name: node.metadata?.name ?? '',
      create,
      apply: async () => {
        const applied = await deps.client.apply(node, { fieldManager: FieldManager, signal });
        scope.nodes.set(node.metadata?.name ?? '', applied);
      },
    })),
    CONCURRENT_CHILD_APPLIES,
  );
}

/**
 * Networks and nodes in one round of requests, after the deletions: a node needs no network
 * to exist to be created (it makes its disks and definition meanwhile and starts once its
 * network runs, see applyNodes), so its apply does not wait for the network's round trip.
 * Events say networks first, then nodes; the first failure is the pass's, after every apply
 * of the round has ended (what succeeded is kept and its event told).
 */
const applyChildren: Phase<LabPass> = async (pass) => {
  const [networks, nodes] = await Promise.all([applyNetworks(pass), applyNodes(pass)]);
  if (networks.created.length > 0) {
    const note = `created VirtNetworks ${listOf(networks.created)}`;
    pass.record(EventType.Normal, LabEventReason.NetworksCreated, 'Create', note);
  }
  if (nodes.created.length > 0) {
    const note = `created MaasNodes ${listOf(nodes.created)}`;
    pass.record(EventType.Normal, LabEventReason.NodesCreated, 'Create', note);
  }
  const failed = networks.failed ?? nodes.failed;
  if (failed) throw failed.error;
  return next;
};

/** Objects of a child's name the lab does not control are never touched: NameConflict. */
const flagConflicts: Phase<LabPass> = async (pass) => {
  const { conflicts, found } = pass;
  if (conflicts.length === 0 || found.stalled !== undefined) return next;
  const message = `${listOf(conflicts)} exist and are not controlled by this lab; they are left untouched`;
  found.stalled = { reason: NameConflictReason, message };
  pass.record(EventType.Warning, LabEventReason.NameConflict, 'Apply', message);
  return next;
};

/**
 * A lab with MAAS whose PXE network has libvirt DHCP (or no subnet) is refused before anything
 * is built: two DHCP servers on one segment would make PXE boots a coin toss.
 */
const refuseMisdeclaredMaas: Phase<LabPass> = async ({ scope, found }) => {
  const problem = labMaasProblem(scope.lab) ?? controllerProblem(scope.lab);
  if (problem === undefined) return next;
  found.stalled = problem;
  return stop();
};

/**
 * MAAS last, after the lab's own objects: a MAAS that is down must not hold up the VMs. Its
 * faults are findings (MaasReachable, Stalled MaasUnauthorized), paced by the phase's own
 * backoff rather than by the queue's, so other wake-ups do not ask MAAS again.
 */
const lookAtMaas: Phase<LabPass> = async (pass) => {
  const { deps, found } = pass;
  if (deps.maas === undefined) return next;
  // A controller lab's MAAS is asked once its controller runs and its API key is stored;
  // until then MaasReachable says what it waits for, and nothing stalls.
  const endpoint = maasEndpoint(pass.scope.lab);
  if (
    pass.scope.lab.spec.maas?.controller !== undefined &&
    found.controller?.apiKeyReady !== true
  ) {
    if (endpoint === undefined) return next;
    const why = found.controller?.maasWaiting ?? {
      reason: MaasWaitingReason,
      message: `waiting for ${ControllerReadyCondition}`,
    };
    found.maas = {
      outcome: { kind: 'notAsked', why },
      status: { url: endpoint.url, apiKeySecretRef: endpoint.apiKeySecretRef },
      requeueAfterMs: 0,
    };
    return next;
  }
  const maas = await reconcileLabMaas(pass.scope.lab, deps.maas, pass.signal);
  if (maas === undefined) return next;
  found.maas = maas;
  if (maas.stalled && found.stalled === undefined) found.stalled = maas.stalled;
  if (maas.retrying && found.error === undefined) found.error = maas.retrying;
  return maas.requeueAfterMs > 0 ? { requeueAfterMs: maas.requeueAfterMs } : next;
};

/**
 * The lab's own MAAS controller VM (spec.maas.controller): image, disks, seed, domain, API
 * key (controller-vm.ts). After the nodes: they do not wait for it, MAAS enlists them later.
 * Its faults are findings; a checksum mismatch stalls the lab.
 */
export const provisionController: Phase<LabPass> = async (pass) => {
  const { deps, found, scope } = pass;
  if (deps.controller === undefined || scope.hypervisor === undefined) return next;
  // A capture or this lab's restore holds the controller VM: nothing is done to it, and
  // ControllerReady says so (the capture's proof that no pass acts on it any more).
  const holder = controllerHoldOf(scope.lab, pass.restoreHoldsController);
  if (holder !== undefined) {
    // The finalizer still: a restore into a new lab makes the overlay before this phase ever
    // ran, and deleting the lab must remove it.
    if (!scope.lab.metadata?.finalizers?.includes(CONTROLLER_FINALIZER)) {
      await deps.controller.finalizers.ensureFinalizer(
        scope.lab,
        CONTROLLER_FINALIZER,
        pass.signal,
      );
    }
    found.controller = heldController(scope.lab, holder);
    return next;
  }
  // Its PXE MAC is taken by an older lab or node: it yields, as a colliding node does
  // (checkMacs has reported MacCollision).
  const mac = controllerPxeMac(scope.lab);
  if (pass.blocking.some((c) => c.mac === mac)) return next;
  const controller = await reconcileController(
    scope.lab,
    scope.hypervisor,
    scope.networks,
    deps.controller,
    pass.signal,
  );
  if (controller === undefined) return next;
  found.controller = controller;
  if (controller.stalled && found.stalled === undefined) found.stalled = controller.stalled;
  return controller.requeueAfterMs > 0 ? { requeueAfterMs: controller.requeueAfterMs } : next;
};

/** The phases of a pass over a lab that is not being deleted, in order. */
export const normalPhases: ReadonlyArray<Phase<LabPass>> = [
  requireHypervisor,
  refuseMisdeclaredMaas,
  retried(restore),
  checkMacs,
  retried(deleteNodes),
  retried(deleteNetworks),
  retried(applyChildren),
  retried(provisionController),
  lookAtMaas,
  flagConflicts,
];
