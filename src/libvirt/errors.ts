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

/**
 * What ssh said when it refused the host's key, for a qemu+ssh connection that failed on it;
 * undefined for any other failure.
 *
 * The one place we read message text (house rule 6's exception, and why): libvirt's ssh
 * transport runs the `ssh` binary and, when ssh exits, reports SYSTEM_ERROR from the RPC layer
 * ("Cannot recv data: <ssh's stderr>: Connection reset by peer"), the same code and domain as
 * any dropped socket. ssh's stderr is the only thing that tells a rejected host key apart, so
 * only its own final line counts: `Host key verification failed.` as a whole line of that
 * stderr, in an RPC/Remote SYSTEM_ERROR, anywhere on the `cause` chain (a
 * HypervisorUnreachableError wraps it). The text around it (a host name, a banner) never
 * matches by itself. The result is ssh's explanation line when it printed one ("Host key for H
 * has changed…", "No … host key is known for H…"), else its final line, trimmed and bounded.
 */
export function sshHostKeyRejection(e: unknown): string | undefined {
  for (let cur: unknown = e, depth = 0; cur instanceof Error && depth < 8; depth++) {
    if (
      cur instanceof LibvirtError &&
      cur.code === ErrorNumber.SystemError &&
      (cur.domain === ErrorDomain.Rpc || cur.domain === ErrorDomain.Remote)
    ) {
      return hostKeyLine(cur.message);
    }
    cur = cur.cause;
  }
  return undefined;
}

/** ssh's last words on a refused host key: the final line of its stderr. */
const HOST_KEY_FAILED = 'Host key verification failed.';
/** The lines of ssh's that say why (changed key, unknown key), as OpenSSH words them. */
const HOST_KEY_WHY = /^(?:Host key for \S+ has changed|No \S+ host key is known for \S+)\b/;
/** Condition messages stay short: ssh's line is cut here. */
const MAX_LINE = 200;

function hostKeyLine(message: string): string | undefined {
  // libvirt: "Cannot recv data: " + ssh's stderr + ": " + strerror(errno).
  const prefix = /^Cannot (?:recv|send) data: /.exec(message);
  if (!prefix) return undefined;
  const stderr = message.slice(prefix[0].length).replace(/: [^:\r\n]*$/, '');
  const lines = stderr.split(/\r?\n/).map((l) => l.trim());
  if (lines.at(-1) !== HOST_KEY_FAILED) return undefined;
  const why = lines.find((l) => HOST_KEY_WHY.test(l));
  return (why ?? HOST_KEY_FAILED).slice(0, MAX_LINE);
}
