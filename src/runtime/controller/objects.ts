// Objects: pure helpers over object metadata — finalizers and owner references.
//
// Like controller-runtime's controllerutil, each helper says whether it changed anything,
// so callers patch only when needed; unlike it, nothing is mutated: cached objects are
// shared, and a helper hands back new values instead. Patches that touch finalizers carry
// the resourceVersion they were computed from, so the API server rejects them (409) if the
// object moved on meanwhile — an optimistic lock, retried by the caller.

import type { V1OwnerReference } from '@kubernetes/client-node';
import type { Request } from './reconcile.js';

/** The finalizer maaslab puts on objects whose libvirt resources garbage collection cannot reach. */
export const CLEANUP_FINALIZER = 'maaslab.dev/cleanup';

/**
 * The metadata fields these helpers read. Readonly throughout, so frozen cache objects are
 * accepted; client-node's V1ObjectMeta fits, and so does raw JSON (string timestamps).
 */
export interface MetaLike {
  /** Object name. */
  readonly name?: string;
  /** Namespace; absent for cluster-scoped kinds. */
  readonly namespace?: string;
  /** Server-assigned identity. */
  readonly uid?: string;
  /** Version for optimistic locking. */
  readonly resourceVersion?: string;
  /** Finalizers holding the object. */
  readonly finalizers?: readonly string[];
  /** Owners. */
  readonly ownerReferences?: ReadonlyArray<Readonly<V1OwnerReference>>;
  /** Set once deletion has been requested. */
  readonly deletionTimestamp?: Date | string | null;
}

/** Any object with Kubernetes metadata. */
export interface MetaObject {
  /** `apiVersion`, e.g. `maaslab.dev/v1alpha1`. */
  readonly apiVersion?: string;
  /** `kind`, e.g. `MaasLab`. */
  readonly kind?: string;
  /** Standard metadata. */
  readonly metadata?: MetaLike;
}

/** The outcome of a finalizer change. */
export interface FinalizerChange {
  /** True when the list differs from the object's. */
  readonly changed: boolean;
  /** The new list (a fresh array). */
  readonly finalizers: string[];
}

/** True when `obj` carries `finalizer`. */
export function hasFinalizer(obj: MetaObject, finalizer: string): boolean {
  return obj.metadata?.finalizers?.includes(finalizer) ?? false;
}

/** The finalizer list with `finalizer` appended if missing. */
export function addFinalizer(obj: MetaObject, finalizer: string): FinalizerChange {
  const current = obj.metadata?.finalizers ?? [];
  return current.includes(finalizer)
    ? { changed: false, finalizers: [...current] }
    : { changed: true, finalizers: [...current, finalizer] };
}

/** The finalizer list without `finalizer` (every copy of it). */
export function removeFinalizer(obj: MetaObject, finalizer: string): FinalizerChange {
  const current = obj.metadata?.finalizers ?? [];
  const finalizers = current.filter((f) => f !== finalizer);
  return { changed: finalizers.length !== current.length, finalizers };
}

/** A JSON merge patch setting `finalizers`, locked to the object's resourceVersion. */
export function finalizersPatch(
  obj: MetaObject,
  finalizers: readonly string[],
): { metadata: { finalizers: string[]; resourceVersion?: string } } {
  const rv = obj.metadata?.resourceVersion;
  return { metadata: { finalizers: [...finalizers], ...(rv ? { resourceVersion: rv } : {}) } };
}

/** True once deletion has been requested (finalizers now hold the object). */
export function isDeleting(obj: MetaObject): boolean {
  const ts = obj.metadata?.deletionTimestamp;
  return ts !== undefined && ts !== null && ts !== '';
}

/** The API group of an apiVersion: `maaslab.dev/v1alpha1` → `maaslab.dev`, `v1` → `` (core). */
export function groupOf(apiVersion: string): string {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? '' : apiVersion.slice(0, slash);
}

/**
 * A controller owner reference to `owner` (controller and blockOwnerDeletion set), so garbage
 * collection deletes the child with its owner. Throws if `owner` lacks what the API requires.
 */
export function controllerReference(owner: MetaObject): V1OwnerReference {
  const { apiVersion, kind } = owner;
  const name = owner.metadata?.name;
  const uid = owner.metadata?.uid;
  if (!apiVersion || !kind || !name || !uid) {
    throw new TypeError('owner needs apiVersion, kind, metadata.name and metadata.uid');
  }
  return { apiVersion, kind, name, uid, controller: true, blockOwnerDeletion: true };
}

/** The owner reference with `controller: true`, if any. */
export function controllerOf(obj: MetaObject): Readonly<V1OwnerReference> | undefined {
  return obj.metadata?.ownerReferences?.find((r) => r.controller === true);
}

/** True when `obj`'s controller is `owner` (same group, kind, name and uid; version may differ). */
export function isControlledBy(obj: MetaObject, owner: MetaObject): boolean {
  const ref = controllerOf(obj);
  return (
    ref !== undefined &&
    owner.apiVersion !== undefined &&
    groupOf(ref.apiVersion) === groupOf(owner.apiVersion) &&
    ref.kind === owner.kind &&
    ref.name === owner.metadata?.name &&
    ref.uid === owner.metadata?.uid
  );
}

/**
 * The owner to enqueue when a child changes (controller-runtime's EnqueueRequestForOwner with
 * OnlyControllerOwner): the child's controller if it is of `ownerKind` in `ownerGroup`. Owners
 * live in the child's namespace, as owner references cannot cross namespaces.
 */
export function ownerRequest(
  obj: MetaObject,
  ownerGroup: string,
  ownerKind: string,
): Request | undefined {
  const ref = controllerOf(obj);
  if (!ref || ref.kind !== ownerKind || groupOf(ref.apiVersion) !== ownerGroup) return undefined;
  const namespace = obj.metadata?.namespace;
  return namespace ? { namespace, name: ref.name } : { name: ref.name };
}

/** The request that names `obj` itself. */
export function requestFor(obj: MetaObject): Request {
  const name = obj.metadata?.name;
  if (!name) throw new TypeError('object has no metadata.name');
  const namespace = obj.metadata?.namespace;
  return namespace ? { namespace, name } : { name };
}
