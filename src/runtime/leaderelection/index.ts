// leaderelection: client-go's Lease-based leader election. lease-record.ts is the pure step
// function (acquire, renew, release, MicroTime), lease-store.ts reads and writes
// coordination.k8s.io/v1 Leases, and lease.ts is the elector that runs one Lease.
export type { LeaseElector, LeaseElectorOptions, LeaseListeners } from './lease.js';
export { LeaseEvent, createLeaseElector } from './lease.js';
export type {
  LeaseRecord,
  LeaseStep,
  LeaseStepInput,
  LeaseTiming,
  Observed,
} from './lease-record.js';
export {
  DEFAULT_LEASE_TIMING,
  LEASE_RETRY_JITTER,
  candidateRetryMs,
  fromMicroTime,
  nextLeaseStep,
  observe,
  releaseRecord,
  renewDeadlinePassed,
  sameRecord,
  toMicroTime,
} from './lease-record.js';
export type { LeaseStore, StoredLease } from './lease-store.js';
export { createLeaseStore, leaseSpec, recordFromLease } from './lease-store.js';
