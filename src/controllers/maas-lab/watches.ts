// What wakes a MaasLab pass: the lab itself (not its own status writes), the VirtNetworks and
// MaasNodes it controls (their state), other labs and stand-alone MaasNodes on the same
// hypervisor (a MAC collision may have appeared or gone), and the lab's Hypervisor.
import {
  GroupVersionKinds,
  type Hypervisor,
  type MaasLab,
  type MaasLabSnapshot,
  type MaasNode,
  type VirtNetwork,
} from '../../api/v1alpha1/index.js';
import {
  type BuilderOptions,
  type Controller,
  controllerBuilder,
  InformerEvent,
  type Manager,
  type Reconciler,
  type Request,
  requestFor,
  statusOnlyUpdatesIgnored,
} from '../../runtime/index.js';
import {
  childStateChanged,
  collisionInputsChanged,
  hypervisorGateChanged,
} from '../common/predicates.js';
import { isEnlisted } from '../maas/status.js';
import type { LabCaches } from './scope.js';
import { createStandaloneNodeIndex } from './standalone-index.js';

/**
 * A lab's passes woken by its nodes' changes come at most once per window (the first at once,
 * the rest at the window's end): every pass walks all of the lab's nodes, and while a lab
 * builds each node changes a few times. At 10 labs of 100 nodes that was ~1500 passes per
 * build, about one per node event. The window grows with the lab, NODE_EVENT_WINDOW_MS_PER_NODE
 * per node up to NODE_EVENTS_WINDOW_MS, so a pass's cost over the window stays about the same
 * at any size, and a small lab (the recipe's three nodes) reports Ready a few ms after its last
 * node, not up to 200 ms. The lab's count of Ready nodes is written at most once a second
 * anyway (PROGRESS_WRITE_INTERVAL_MS).
 */
export const NODE_EVENTS_WINDOW_MS = 200;
/** See {@link NODE_EVENTS_WINDOW_MS}. */
export const NODE_EVENT_WINDOW_MS_PER_NODE = 2;

/** The coalescing window of a lab of `count` nodes (see NODE_EVENTS_WINDOW_MS). */
export function nodeEventsWindowMs(count: number): number {
  return Math.min(NODE_EVENTS_WINDOW_MS, Math.max(0, count) * NODE_EVENT_WINDOW_MS_PER_NODE);
}

/** The manager's caches of what a MaasLab pass reads. */
export function labCaches(manager: Manager): LabCaches {
  // Stand-alone nodes per hypervisor, kept from the node informer's events.
  const standalone = createStandaloneNodeIndex();
  const nodeInformer = manager.informer<MaasNode>(GroupVersionKinds.MaasNode);
  nodeInformer.on(InformerEvent.Add, (n) => standalone.add(n));
  nodeInformer.on(InformerEvent.Update, (n, old) => standalone.update(n, old));
  nodeInformer.on(InformerEvent.Delete, (n) => standalone.remove(n));
  return {
    labs: manager.cache<MaasLab>(GroupVersionKinds.MaasLab),
    networks: manager.cache<VirtNetwork>(GroupVersionKinds.VirtNetwork),
    nodes: manager.cache<MaasNode>(GroupVersionKinds.MaasNode),
    hypervisors: manager.cache<Hypervisor>(GroupVersionKinds.Hypervisor),
    snapshots: manager.cache<MaasLabSnapshot>(GroupVersionKinds.MaasLabSnapshot),
    standaloneNodes: (hv) => standalone.on(hv),
  };
}

/** What {@link watchLabs} wires. */
export interface LabWatches {
  /** The caches the reconciler reads (labCaches). */
  readonly caches: LabCaches;
  /** Workers, timeouts and the like. */
  readonly builderOptions: BuilderOptions;
  /** The controller's name. */
  readonly name: string;
}

/** Builds the MaasLab controller around `reconciler` with everything that wakes it. */
export function watchLabs(
  manager: Manager,
  watches: LabWatches,
  reconciler: Reconciler,
): Controller {
  const { caches, builderOptions, name } = watches;
  const labsOn = (hypervisor: string | undefined, except?: string): Request[] =>
    caches.labs
      .list()
      .filter((l) => hypervisor !== undefined && l.spec.hypervisor === hypervisor)
      .filter((l) => except === undefined || l.metadata?.uid !== except)
      .map((l) => requestFor(l));
  const specOf = (o: object): { hypervisor?: string } =>
    (o as { spec?: { hypervisor?: string } }).spec ?? {};
  return (
    controllerBuilder(manager)
      // Its own status writes need no pass of their own.
      .for(GroupVersionKinds.MaasLab, { predicates: [statusOnlyUpdatesIgnored] })
      // Only the children's changes its status and diff read.
      .owns(GroupVersionKinds.VirtNetwork, { predicates: [childStateChanged] })
      // …and, with MAAS, whether each node is Enlisted (its Ready waits for that). A pass per
      // NODE_EVENTS_WINDOW_MS at most while nodes keep changing (see there).
      .owns(GroupVersionKinds.MaasNode, {
        coalesceMs: (req) => {
          const lab = caches.labs.get(req);
          return lab === undefined
            ? NODE_EVENTS_WINDOW_MS
            : nodeEventsWindowMs(lab.spec.nodes.count);
        },
        predicates: [
          {
            update: (old, obj) =>
              childStateChanged.update?.(old, obj) === true ||
              isEnlisted(old as MaasNode) !== isEnlisted(obj as MaasNode),
          },
        ],
      })
      // MAC collisions are between labs (and stand-alone nodes) on one hypervisor: a spec
      // change of one may start or end a collision for the others. Only spec and control
      // changes wake the peers; a lab's own status writes would otherwise wake every lab on
      // its hypervisor, whose status writes wake it back (O(labs²) passes per change).
      .watches(GroupVersionKinds.MaasLab, (o) => labsOn(specOf(o).hypervisor, o.metadata?.uid), {
        predicates: [collisionInputsChanged],
      })
      .watches(
        GroupVersionKinds.MaasNode,
        (o) =>
          (o.metadata?.ownerReferences ?? []).some((r) => r.controller === true)
            ? []
            : labsOn(specOf(o).hypervisor),
        { predicates: [collisionInputsChanged] },
      )
      // A snapshot that becomes ready (or goes) changes the lab's snapshot bytes, and may be
      // the one spec.restoreFrom waits for.
      .watches(GroupVersionKinds.MaasLabSnapshot, (o): Request[] => {
        const s = o as MaasLabSnapshot;
        const ns = o.metadata?.namespace;
        return caches.labs
          .list(ns)
          .filter(
            (l) =>
              l.metadata?.name === s.spec.lab || l.spec.restoreFrom?.snapshot === o.metadata?.name,
          )
          .map((l) => requestFor(l));
      })
      .watches(GroupVersionKinds.Hypervisor, (o) => labsOn(o.metadata?.name), {
        predicates: [hypervisorGateChanged],
      })
      .withOptions(builderOptions)
      .named(name)
      .complete(reconciler)
  );
}
