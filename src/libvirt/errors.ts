// libvirt errors, typed by code (house rule 6): callers branch on `code`, never on
// message text.
import {
  ErrorDomain,
  ErrorDomainNames,
  type ErrorLevel,
  ErrorLevelNames,
  ErrorNumber,
  ErrorNumberNames,
} from './constants.js';

/**
 * A failed libvirt call. Carries the four fields of libvirt's virError.
 * `name` is the symbolic error code ('NO_DOMAIN', 'OPERATION_INVALID', ...), as
 * libvirt spells it without the `VIR_ERR_` prefix.
 * @see https://libvirt.org/html/libvirt-virterror.html#virError
 */
export class LibvirtError extends Error {
  /** Symbolic name of `code`, e.g. 'NO_DOMAIN'. */
  override readonly name: string;
  /** Symbolic name of `domain`, e.g. 'QEMU' or 'TEST'. */
  readonly domainName: string;
  /** Symbolic name of `level`: 'WARNING' or 'ERROR'. */
  readonly levelName: string;

  /** Builds an error from libvirt's fields; the binding calls this for every failure. */
  constructor(
    /** virErrorNumber: what went wrong. */
    readonly code: ErrorNumber,
    /** virErrorDomain: which part of libvirt reported it. */
    readonly domain: ErrorDomain,
    /** virErrorLevel */
    readonly level: ErrorLevel,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = ErrorNumberNames[code] ?? `UNKNOWN_${code}`;
    this.domainName = ErrorDomainNames[domain] ?? `UNKNOWN_${domain}`;
    this.levelName = ErrorLevelNames[level] ?? `UNKNOWN_${level}`;
  }
}

/**
 * True when `e` is a LibvirtError, and, if `codes` are given, has one of them.
 * @example if (isLibvirtError(err, ErrorNumber.NoDomain)) return undefined;
 */
export function isLibvirtError(e: unknown, ...codes: ErrorNumber[]): e is LibvirtError {
  return e instanceof LibvirtError && (codes.length === 0 || codes.includes(e.code));
}

/** The codes libvirt uses for "no such object" lookups. */
export const NOT_FOUND_CODES: readonly ErrorNumber[] = [
  ErrorNumber.NoDomain,
  ErrorNumber.NoNetwork,
  ErrorNumber.NoStoragePool,
  ErrorNumber.NoStorageVol,
  ErrorNumber.NoDomainSnapshot,
];

/** True when `e` says the looked-up libvirt object does not exist. */
export function isNotFound(e: unknown): e is LibvirtError {
  return isLibvirtError(e, ...NOT_FOUND_CODES);
}

/** libvirt cannot be reached: connect failed, the daemon went away, keepalive timed out. */
export class HypervisorUnreachableError extends Error {
  override readonly name = 'HypervisorUnreachableError';
  /** Builds the error; pass the libvirt error as `cause`. */
  constructor(
    /** The hypervisor URI. */
    readonly uri: string,
    options?: ErrorOptions,
  ) {
    const cause = options?.cause;
    super(
      `hypervisor ${uri} is unreachable` + (cause instanceof Error ? `: ${cause.message}` : ''),
      options,
    );
  }
}

/** Codes that always mean the connection is unusable. */
const CONNECTION_CODES: readonly ErrorNumber[] = [
  ErrorNumber.NoConnect,
  ErrorNumber.InvalidConn,
  ErrorNumber.Rpc,
  ErrorNumber.AuthFailed,
];

/**
 * True when a libvirt error means the connection (not the operation) failed. SYSTEM_ERROR
 * counts only when raised by the RPC or remote layers (a dead socket: "Cannot write data",
 * "End of file"): the QEMU driver also uses SYSTEM_ERROR for, e.g., a missing image file.
 */
export function isUnreachableError(e: unknown): e is LibvirtError {
  if (!(e instanceof LibvirtError)) return false;
  if (CONNECTION_CODES.includes(e.code)) return true;
  return (
    e.code === ErrorNumber.SystemError &&
    (e.domain === ErrorDomain.Rpc || e.domain === ErrorDomain.Remote)
  );
}
