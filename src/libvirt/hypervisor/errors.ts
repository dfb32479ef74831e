// The named failures of the Hypervisor verbs, beside libvirt's own LibvirtError. The one every
// verb can throw, HypervisorUnreachableError, lives in ../errors.ts: the connection pool throws
// it too.
import type { OwnerMetadata } from '../xml/index.js';

/**
 * A domain or network of the name we would use exists and is not ours (no stamp, or another
 * owner or UID). The object is left untouched; the resource reports Stalled/NameConflict.
 */
export class NameConflictError extends Error {
  override readonly name = 'NameConflictError';
  /** Builds the error; `found` is the stamp the object carries, if any. */
  constructor(
    /** `domain` or `network`. */
    readonly objectKind: 'domain' | 'network',
    /** The libvirt name. */
    readonly objectName: string,
    /** The owner stamp found on the object; undefined when it has none. */
    readonly found?: OwnerMetadata,
  ) {
    super(
      `${objectKind} ${objectName} exists and is not ours` +
        (found
          ? ` (owned by ${found.kind} ${found.namespace ?? ''}/${found.name} uid ${found.uid})`
          : ''),
    );
  }
}

/** The storage pool does not exist and no path was given to create it. */
export class PoolNotFoundError extends Error {
  override readonly name = 'PoolNotFoundError';
  /** Builds the error; pass the libvirt lookup error as `cause`. */
  constructor(
    /** The pool name. */
    readonly pool: string,
    options?: ErrorOptions,
  ) {
    super(`storage pool ${pool} does not exist`, options);
  }
}

/**
 * A bridge-mode network names a host bridge that does not exist. virNetworkCreate does not
 * check (libvirt 9.0), so the network would look active with nothing behind it; the network
 * is left unstarted and the resource reports Stalled/BridgeNotFound until the bridge appears.
 */
export class BridgeNotFoundError extends Error {
  override readonly name = 'BridgeNotFoundError';
  /** Builds the error; pass the libvirt lookup error as `cause`. */
  constructor(
    /** The host bridge name. */
    readonly bridge: string,
    options?: ErrorOptions,
  ) {
    super(`host bridge ${bridge} does not exist`, options);
  }
}

/** Uploaded bytes do not have the SHA-256 they should: the volume was removed. */
export class ChecksumMismatchError extends Error {
  override readonly name = 'ChecksumMismatchError';
  constructor(
    readonly volume: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`volume ${volume}: SHA-256 ${actual}, expected ${expected}; the volume was removed`);
  }
}

/** An upload's source gave a different number of bytes than announced: the volume was removed. */
export class UploadSizeMismatchError extends Error {
  override readonly name = 'UploadSizeMismatchError';
  constructor(
    readonly volume: string,
    readonly expected: number,
    readonly actual: number,
  ) {
    super(
      `volume ${volume}: ${actual} bytes came, ${expected} were announced; the volume was removed`,
    );
  }
}
