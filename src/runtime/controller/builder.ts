// Builder: controller-runtime's builder, a chain that reads as a sentence.
//
//   controllerBuilder(manager)
//     .for(MaasLabKind)                                  // reconciled kind: enqueue itself
//     .owns(MaasNodeKind)                                // children: enqueue their controller owner
//     .watches(HypervisorKind, (hv) => labsOn(hv))       // others: enqueue what a function maps to
//     .withEventFilter(generationChanged)                // predicates, on every source
//     .named('maaslab')                                  // default: lowercased kind
//     .complete(reconciler);
//
// Informer handlers only compute requests and add keys to the queue; the informer catches
// anything they throw. The controller is registered with the manager, which starts it only
// after every cache has synced.

import type { KubernetesObject } from '@kubernetes/client-node';
import { type Controller, type ControllerOptions, createController } from './controller.js';
import { type Informer, InformerEvent } from '../cache/informer.js';
import type { Kind, Manager, WatchScope } from '../manager/manager.js';
import { groupOf, ownerRequest, requestFor } from './objects.js';
import { type Reconciler, type Request, requestKey } from './reconcile.js';

/** Decides whether an event reaches the queue; a missing function lets the event through. */
export interface Predicate {
  create?(obj: Readonly<KubernetesObject>): boolean;
  update?(old: Readonly<KubernetesObject>, obj: Readonly<KubernetesObject>): boolean;
  delete?(obj: Readonly<KubernetesObject>): boolean;
}

/** Passes updates only when `metadata.generation` changed (spec edits, not status writes). */
export const generationChanged: Predicate = {
  update: (old, obj) => old.metadata?.generation !== obj.metadata?.generation,
};

/**
 * The metadata a reconciler acts on besides its spec; JSON, to compare cheaply. Finalizers are
 * not in it: a controller adds its own in the pass that finds it missing and goes on, so the
 * write needs no pass of its own, and only deletion (deletionTimestamp) makes one matter.
 */
const actionableMetadata = (o: Readonly<KubernetesObject>): string => {
  const m = o.metadata;
  return JSON.stringify([m?.labels, m?.annotations, m?.deletionTimestamp, m?.ownerReferences]);
};

/**
 * Drops updates that changed only the status or the finalizers (controller-runtime's
 * GenerationChanged, LabelChanged and AnnotationChanged predicates, plus deletion and owners).
 * For a controller's own kind: its status and finalizer writes would otherwise wake it for one
 * more pass that finds nothing to do, for every write.
 */
export const statusOnlyUpdatesIgnored: Predicate = {
  update: (old, obj) =>
    old.metadata?.generation !== obj.metadata?.generation ||
    actionableMetadata(old) !== actionableMetadata(obj),
};

/** Maps an object of a watched kind to the requests to reconcile. */
export type MapFn = (obj: Readonly<KubernetesObject>) => readonly Request[];

/** Watch options: which objects (default the whole kind; several scopes union). */
export interface SourceOptions {
  readonly scopes?: readonly WatchScope[];
  /**
   * Predicates of this source alone, on top of the controller's event filters. A `watches`
   * map that fans out (one object to many requests) should let through only the changes its
   * targets depend on: every status write would otherwise wake them all.
   */
  readonly predicates?: readonly Predicate[];
  /**
   * At most one enqueue per request every `coalesceMs` from this source: the first event
   * enqueues at once, later ones within the window enqueue once at its end. For an owner
   * that aggregates many children (a lab of 100 nodes), whose every pass walks all of them:
   * a burst of child events costs a pass per window, not a pass per event. A function gives
   * each request its own window (e.g. one that grows with the owner's size); 0 or less
   * enqueues at once.
   */
  readonly coalesceMs?: number | ((req: Request) => number);
}

/** Per-controller options. */
export type BuilderOptions = Pick<
  ControllerOptions,
  'maxConcurrentReconciles' | 'reconcileTimeoutMs' | 'rateLimiter'
>;

interface Source {
  readonly kind: Kind;
  readonly map: MapFn;
  readonly scopes: readonly WatchScope[];
  readonly predicates: readonly Predicate[];
  readonly coalesceMs?: number | ((req: Request) => number);
}

/** The chain; `complete` builds, registers and returns the controller. */
export interface ControllerBuilder {
  for(kind: Kind, opts?: SourceOptions): ControllerBuilder;
  owns(kind: Kind, opts?: SourceOptions): ControllerBuilder;
  watches(kind: Kind, map: MapFn, opts?: SourceOptions): ControllerBuilder;
  withEventFilter(predicate: Predicate): ControllerBuilder;
  withOptions(opts: BuilderOptions): ControllerBuilder;
  named(name: string): ControllerBuilder;
  complete(reconciler: Reconciler): Controller;
}

/** Starts a builder for a controller run by `manager`. */
export function controllerBuilder(manager: Manager): ControllerBuilder {
  let forKind: Kind | undefined;
  let name: string | undefined;
  let options: BuilderOptions = {};
  const sources: Source[] = [];
  const predicates: Predicate[] = [];
  const sourceOf = (kind: Kind, map: MapFn, o?: SourceOptions): Source => ({
    kind,
    map,
    scopes: o?.scopes ?? [{}],
    predicates: o?.predicates ?? [],
    ...(o?.coalesceMs !== undefined && { coalesceMs: o.coalesceMs }),
  });

  const builder: ControllerBuilder = {
    for(kind, opts) {
      if (forKind) throw new Error(`for() already called with ${forKind.kind}`);
      forKind = kind;
      sources.push(sourceOf(kind, (o) => [requestFor(o)], opts));
      return builder;
    },
    owns(kind, opts) {
      // The owner kind is known only at complete(); resolve it lazily.
      sources.push(
        sourceOf(
          kind,
          (o) => {
            const r = forKind && ownerRequest(o, groupOf(forKind.apiVersion), forKind.kind);
            return r ? [r] : [];
          },
          opts,
        ),
      );
      return builder;
    },
    watches(kind, map, opts) {
      sources.push(sourceOf(kind, map, opts));
      return builder;
    },
    withEventFilter(p) {
      predicates.push(p);
      return builder;
    },
    withOptions(o) {
      options = { ...options, ...o };
      return builder;
    },
    named(n) {
      name = n;
      return builder;
    },
    complete(reconciler) {
      if (!forKind) throw new Error('controllerBuilder: for() is required');
      const ctlName = name ?? forKind.kind.toLowerCase();
      const max = options.maxConcurrentReconciles ?? 1;
      const controller = createController({
        name: ctlName,
        kind: forKind.kind,
        reconciler,
        clock: manager.clock,
        logger: manager.logger,
        metrics: manager.metrics.controller(ctlName, max),
        queueMetrics: manager.metrics.queue(ctlName),
        ...options,
      });
      // Register first: a duplicate name throws before any handler is wired.
      manager.add(controller);
      for (const src of sources) {
        const filters = [...predicates, ...src.predicates];
        const add =
          src.coalesceMs === undefined
            ? (req: Request) => controller.enqueue(req)
            : coalescing(src.coalesceMs);
        for (const scope of src.scopes) {
          wire(manager.informer(src.kind, scope), src.map, filters, add);
        }
      }
      return controller;

      /** See SourceOptions.coalesceMs; a window lives only while its request has events. */
      function coalescing(windowOf: number | ((req: Request) => number)): (req: Request) => void {
        const open = new Map<string, { again: boolean }>();
        const start = (key: string, req: Request, windowMs: number): void => {
          const window = { again: false };
          open.set(key, window);
          manager.clock.setTimer(windowMs, () => {
            open.delete(key);
            if (!window.again) return;
            controller.enqueue(req);
            start(key, req, windowMs);
          });
        };
        return (req) => {
          const key = requestKey(req);
          const window = open.get(key);
          if (window) {
            window.again = true;
            return;
          }
          controller.enqueue(req);
          const windowMs = typeof windowOf === 'number' ? windowOf : windowOf(req);
          if (windowMs > 0) start(key, req, windowMs);
        };
      }

      function wire(
        informer: Informer<KubernetesObject>,
        map: MapFn,
        filters: readonly Predicate[],
        add: (req: Request) => void,
      ): void {
        const enqueue = (o: Readonly<KubernetesObject>): void => {
          for (const req of map(o)) add(req);
        };
        informer.on(InformerEvent.Add, (o) => {
          if (filters.every((p) => p.create?.(o) ?? true)) enqueue(o);
        });
        informer.on(InformerEvent.Update, (o, old) => {
          if (!filters.every((p) => p.update?.(old, o) ?? true)) return;
          enqueue(o);
          // A child that moved to another owner must wake the old owner too.
          enqueue(old);
        });
        informer.on(InformerEvent.Delete, (o) => {
          if (filters.every((p) => p.delete?.(o) ?? true)) enqueue(o);
        });
      }
    },
  };
  return builder;
}
