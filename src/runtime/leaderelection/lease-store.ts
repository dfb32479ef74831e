// LeaseStore: reads and writes coordination.k8s.io/v1 Leases for the elector.
//
// The elector depends only on this interface (tests use an in-memory one). The real store
// sends raw JSON, because client-node's serializer would write MicroTime fields as
// millisecond Dates; we write `toMicroTime` strings (six fractional digits) instead.
// Updates are PUTs carrying the resourceVersion that was read, so a concurrent writer
// makes ours fail with 409, exactly as client-go's resource lock does.

import { type LeaseRecord, fromMicroTime, toMicroTime } from './lease-record.js';
import { type ResourceRef, type RestClient, isNotFound } from '../client/rest.js';

/** A Lease as read: its record and the version to lock the next write to. */
export interface StoredLease {
  readonly record: LeaseRecord;
  readonly resourceVersion: string;
}

/** Where Leases live. */
export interface LeaseStore {
  /** Reads Lease `name`; undefined when it does not exist. Other failures reject. */
  get(name: string, signal?: AbortSignal): Promise<StoredLease | undefined>;
  /** Creates Lease `name`; rejects (409) if it exists. */
  create(name: string, record: LeaseRecord, signal?: AbortSignal): Promise<StoredLease>;
  /** Replaces Lease `name`'s spec if its version is still `resourceVersion`; else rejects (409). */
  update(
    name: string,
    record: LeaseRecord,
    resourceVersion: string,
    signal?: AbortSignal,
  ): Promise<StoredLease>;
}

/** The Lease JSON the API server sends and accepts. */
interface LeaseJson {
  readonly metadata?: { readonly resourceVersion?: string };
  readonly spec?: {
    readonly holderIdentity?: string;
    readonly leaseDurationSeconds?: number;
    readonly acquireTime?: string;
    readonly renewTime?: string;
    readonly leaseTransitions?: number;
  };
}

/** Lease spec JSON → LeaseRecord. */
export function recordFromLease(lease: LeaseJson): LeaseRecord {
  const s = lease.spec ?? {};
  const acquireTimeMs = fromMicroTime(s.acquireTime);
  const renewTimeMs = fromMicroTime(s.renewTime);
  return {
    ...(s.holderIdentity !== undefined ? { holderIdentity: s.holderIdentity } : {}),
    ...(s.leaseDurationSeconds !== undefined
      ? { leaseDurationSeconds: s.leaseDurationSeconds }
      : {}),
    ...(acquireTimeMs !== undefined ? { acquireTimeMs } : {}),
    ...(renewTimeMs !== undefined ? { renewTimeMs } : {}),
    ...(s.leaseTransitions !== undefined ? { leaseTransitions: s.leaseTransitions } : {}),
  };
}

/** LeaseRecord → Lease spec JSON, times as MicroTime. */
export function leaseSpec(record: LeaseRecord): Record<string, unknown> {
  return {
    holderIdentity: record.holderIdentity ?? '',
    leaseDurationSeconds: record.leaseDurationSeconds,
    ...(record.acquireTimeMs !== undefined
      ? { acquireTime: toMicroTime(record.acquireTimeMs) }
      : {}),
    ...(record.renewTimeMs !== undefined ? { renewTime: toMicroTime(record.renewTimeMs) } : {}),
    leaseTransitions: record.leaseTransitions ?? 0,
  };
}

const LEASE = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease' } as const;

/** A LeaseStore for Leases in `namespace`. */
export function createLeaseStore(rest: RestClient, namespace: string): LeaseStore {
  const ref = (name?: string): ResourceRef => ({
    ...LEASE,
    namespace,
    ...(name ? { name } : {}),
  });
  const stored = (l: LeaseJson): StoredLease => ({
    record: recordFromLease(l),
    resourceVersion: l.metadata?.resourceVersion ?? '',
  });
  const opt = (signal?: AbortSignal): { signal?: AbortSignal } => (signal ? { signal } : {});
  return {
    async get(name, signal) {
      try {
        return stored(
          await rest.request<LeaseJson>({ method: 'GET', ref: ref(name), ...opt(signal) }),
        );
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    async create(name, record, signal) {
      const { apiVersion, kind } = LEASE;
      const body = { apiVersion, kind, metadata: { name, namespace }, spec: leaseSpec(record) };
      return stored(
        await rest.request<LeaseJson>({ method: 'POST', ref: ref(), body, ...opt(signal) }),
      );
    },
    async update(name, record, resourceVersion, signal) {
      const { apiVersion, kind } = LEASE;
      return stored(
        await rest.request<LeaseJson>({
          method: 'PUT',
          ref: ref(name),
          body: {
            apiVersion,
            kind,
            metadata: { name, namespace, resourceVersion },
            spec: leaseSpec(record),
          },
          ...opt(signal),
        }),
      );
    },
  };
}
