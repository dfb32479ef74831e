// TEST ONLY: fault injection at the verb layer. The e2e tests of lab snapshots need a volume
// copy to fail part-way through a capture and a restore, on a real libvirtd, at a chosen
// member; nothing the test can do to a root-run daemon's pool fails one copy and not the
// others. The operator turns this on only when MAASLAB_TEST_FAULTS_FILE is set (see
// src/cli/operator.ts); production deployments never set it.
import type { Hypervisor } from './interface.js';
import type { VolumeSpec } from './types.js';

/** The error an injected fault rejects with. */
export class InjectedFaultError extends Error {
  override readonly name = 'InjectedFaultError';
}

/**
 * `verbs`, except that ensureVolumes rejects, before creating anything, when one of the
 * volumes it would create (one that does not exist yet) has a name `failingVolume()` matches.
 * A volume that exists is only looked at, so the fault never fails a pass that creates
 * nothing. The pattern is asked per call, so a test can set and clear it while the operator
 * runs.
 */
export function withInjectedFaults(
  verbs: Hypervisor,
  failingVolume: () => RegExp | undefined,
): Hypervisor {
  return new Proxy(verbs, {
    get(target, key, receiver) {
      const value: unknown = Reflect.get(target, key, receiver);
      if (typeof value !== 'function') return value;
      if (key !== 'ensureVolumes') {
        return (...args: unknown[]): unknown => Reflect.apply(value, target, args);
      }
      return async (volumes: readonly VolumeSpec[]): Promise<unknown> => {
        const pattern = failingVolume();
        for (const v of volumes) {
          if (!pattern?.test(v.name)) continue;
          const existing = await target.observeVolumes(v.pool, [v.name]);
          if (existing.length === 0) {
            throw new InjectedFaultError(`injected fault: creating volume ${v.name}`);
          }
        }
        return Reflect.apply(value, target, [volumes]);
      };
    },
  });
}
