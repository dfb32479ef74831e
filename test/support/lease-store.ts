// An in-memory LeaseStore for leader-election tests: resourceVersion locking, a write
// count, and a switch that makes it fail as an unreachable API server would.
import type { LeaseRecord, LeaseStore, StoredLease } from '../../src/runtime/index.js';

const conflict = (): Error => Object.assign(new Error('conflict'), { statusCode: 409 });

/** An in-memory LeaseStore with resourceVersion locking, and a switch to make it fail. */
export function memoryStore(): LeaseStore & {
  leases: Map<string, StoredLease>;
  down: boolean;
  writes: number;
} {
  let rv = 0;
  const s = {
    leases: new Map<string, StoredLease>(),
    down: false,
    writes: 0,
    get(name: string) {
      if (s.down) return Promise.reject(new Error('apiserver down'));
      return Promise.resolve(s.leases.get(name));
    },
    create(name: string, record: LeaseRecord) {
      if (s.down) return Promise.reject(new Error('apiserver down'));
      if (s.leases.has(name)) return Promise.reject(conflict());
      const l = { record, resourceVersion: String(++rv) };
      s.leases.set(name, l);
      s.writes++;
      return Promise.resolve(l);
    },
    update(name: string, record: LeaseRecord, resourceVersion: string) {
      if (s.down) return Promise.reject(new Error('apiserver down'));
      if (s.leases.get(name)?.resourceVersion !== resourceVersion) {
        return Promise.reject(conflict());
      }
      const l = { record, resourceVersion: String(++rv) };
      s.leases.set(name, l);
      s.writes++;
      return Promise.resolve(l);
    },
  };
  return s;
}
