// The cleanup finalizer, first thing in a pass: added when missing, and the pass goes on with
// the object the server returned (its resourceVersion locks the pass's later writes; the write
// itself wakes no pass, see statusOnlyUpdatesIgnored).
import {
  CLEANUP_FINALIZER,
  type Client,
  hasFinalizer,
  type MetaObject,
} from '../../runtime/index.js';

/**
 * `object` with the cleanup finalizer: as it is when it has it or is being deleted (a
 * finalizer cannot be added then), else as the server returned it after adding it.
 */
export async function withCleanupFinalizer<T extends MetaObject>(
  object: T,
  deleting: boolean,
  client: Pick<Client, 'ensureFinalizer'>,
  signal: AbortSignal,
): Promise<T> {
  if (deleting || hasFinalizer(object, CLEANUP_FINALIZER)) return object;
  return (await client.ensureFinalizer(object, CLEANUP_FINALIZER, signal)).object;
}
