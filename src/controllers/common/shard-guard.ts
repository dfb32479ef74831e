// Shard guard: status writes only while this process serves the object's hypervisor shard.
//
// Every reconciler checks `serves` when its pass starts, but a shard lease can be lost while
// a pass is in flight (libvirt calls take seconds). libvirt's mutating verbs are fenced
// (hypervisor-registry.ts); this is the same fence for status: a pass that outlived its lease
// writes no status for that shard, so it cannot overwrite what the new holder reports.
import type { Client, StatusObject } from '../../runtime/index.js';
import { ShardLostError } from './hypervisor-registry.js';

/** The hypervisor shard an object belongs to: a Hypervisor's own name, else `spec.hypervisor`. */
export function shardOf(obj: Readonly<StatusObject>): string | undefined {
  if (obj.kind === 'Hypervisor') return obj.metadata?.name;
  const spec = (obj as { spec?: unknown }).spec;
  const hv =
    typeof spec === 'object' && spec !== null
      ? (spec as { hypervisor?: unknown }).hypervisor
      : undefined;
  return typeof hv === 'string' && hv !== '' ? hv : undefined;
}

/**
 * `client` whose `patchStatus` refuses, with {@link ShardLostError} and without a request,
 * an object whose shard `serves` says this process no longer serves. Objects that belong to
 * no shard, and every other method, pass through unchanged.
 */
export function shardGuardedClient<C extends Pick<Client, 'patchStatus'>>(
  client: C,
  serves: (hypervisor: string) => boolean,
): C {
  const patchStatus: Client['patchStatus'] = (obj, status, signal) => {
    const shard = shardOf(obj);
    if (shard !== undefined && !serves(shard)) return Promise.reject(new ShardLostError(shard));
    return client.patchStatus(obj, status, signal);
  };
  return Object.assign(Object.create(client) as C, { patchStatus });
}
