// VNC over qemu+ssh, the pure half: virDomainOpenGraphicsFD passes a descriptor over libvirt's
// UNIX socket, which an ssh transport cannot carry, so for a Hypervisor whose URI is
// qemu+ssh:// the console endpoint reaches the VNC server through `ssh -W HOST:PORT` instead,
// to the same user, host and port, with the same ssh configuration (~/.ssh/config) libvirt's
// own transport uses. Here: the URI read into what ssh needs (refusing anything ssh could take
// for an option), the argv, and the VNC server's address from the domain's live XML.
//
// libvirt's ssh transport (docs/uri.rst, "ssh transport") honours `keyfile=` (ssh -i),
// `no_verify=` (StrictHostKeyChecking=no) and `command=` (the ssh binary); `known_hosts=` and
// `known_hosts_verify=` belong to the libssh and libssh2 transports only, so libvirt's ssh
// ignores them and so do we: both connections check the host key against the same file.

import type { ParsedVnc } from '../libvirt/xml/index.js';

/** Where and how to ssh, read from a qemu+ssh URI. */
export interface SshDestination {
  /** The host as ssh takes it (an IPv6 literal without its brackets). */
  readonly host: string;
  readonly user?: string;
  readonly port?: number;
  /** `keyfile=`: the private key (ssh -i). */
  readonly keyfile?: string;
  /** `no_verify=` non-zero: accept a host key known_hosts does not hold yet. */
  readonly noVerify: boolean;
  /** `command=`: the ssh binary; `ssh` from PATH when absent. */
  readonly command: string;
}

/** A URI the tunnel will not use, with why. */
export class SshUriError extends Error {
  override readonly name = 'SshUriError';
}

/** The domain has no VNC server to reach (no graphics, no TCP port yet). */
export class VncUnavailableError extends Error {
  override readonly name = 'VncUnavailableError';
}

// Any C0 control character or DEL: URL parsing drops tabs and newlines silently, so they are
// refused on the raw text before it is parsed.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
const HOSTNAME = /^[A-Za-z0-9_](?:[A-Za-z0-9._-]*[A-Za-z0-9_])?$/;
const IPV6 = /^[0-9A-Fa-f:.]+$/;
const USER = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

/** Whether `uri`'s transport is ssh (`driver+ssh://`): libvirt's ssh binary transport. */
export function isSshUri(uri: string): boolean {
  return /^[A-Za-z][A-Za-z0-9]*\+ssh:\/\//.test(uri);
}

/** Reads a `driver+ssh://[user@]host[:port]/path[?params]` URI; throws SshUriError. */
export function parseSshUri(uri: string): SshDestination {
  if (CONTROL.test(uri)) throw new SshUriError('the URI holds a control character');
  if (!isSshUri(uri)) throw new SshUriError(`not an ssh URI: ${JSON.stringify(uri)}`);
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new SshUriError(`not a valid URI: ${JSON.stringify(uri)}`);
  }
  const raw = url.hostname;
  const bracketed = raw.startsWith('[') && raw.endsWith(']');
  const host = bracketed ? raw.slice(1, -1) : raw;
  if (!(bracketed ? IPV6.test(host) && host.includes(':') : HOSTNAME.test(host))) {
    throw new SshUriError(`not a host name or address ssh can be given: ${JSON.stringify(raw)}`);
  }
  let user: string | undefined;
  if (url.username !== '') {
    try {
      user = decodeURIComponent(url.username);
    } catch {
      throw new SshUriError('the URI user is not valid percent-encoding');
    }
    if (!USER.test(user)) {
      throw new SshUriError(`not a user name ssh can be given: ${JSON.stringify(user)}`);
    }
  }
  if (url.password !== '') throw new SshUriError('the URI holds a password; ssh takes none');
  let port: number | undefined;
  if (url.port !== '') {
    port = Number(url.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new SshUriError(`not a TCP port: ${url.port}`);
    }
  }
  const param = (name: string): string | undefined => {
    const all = url.searchParams.getAll(name);
    if (all.length > 1) throw new SshUriError(`${name}= is given more than once`);
    const value = all[0];
    if (value !== undefined && CONTROL.test(value)) {
      throw new SshUriError(`${name}= holds a control character`);
    }
    return value;
  };
  const absolute = (name: string): string | undefined => {
    const value = param(name);
    if (value !== undefined && !value.startsWith('/')) {
      throw new SshUriError(`${name}= must be an absolute path: ${JSON.stringify(value)}`);
    }
    return value;
  };
  const keyfile = absolute('keyfile');
  const command = absolute('command') ?? 'ssh';
  const noVerify = Number(param('no_verify') ?? '0');
  return {
    host,
    ...(user !== undefined && { user }),
    ...(port !== undefined && { port }),
    ...(keyfile !== undefined && { keyfile }),
    noVerify: Number.isFinite(noVerify) && noVerify !== 0,
    command,
  };
}

/** A TCP address on the remote host. */
export interface RemoteAddress {
  readonly host: string;
  readonly port: number;
}

/**
 * Where the VNC server of a running domain listens, seen from its host, from the live XML's
 * graphics element: its TCP port, and its listen address, where a wildcard (0.0.0.0, ::) or
 * none (QEMU's default, vnc_listen = 127.0.0.1) means the host's own loopback.
 */
export function vncRemoteAddress(vnc: ParsedVnc | undefined, domain: string): RemoteAddress {
  if (!vnc) throw new VncUnavailableError(`domain ${domain} has no VNC display`);
  const port = vnc.port;
  if (port === undefined || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new VncUnavailableError(`the VNC display of domain ${domain} has no TCP port`);
  }
  const listen = vnc.listen?.replace(/^\[(.*)\]$/, '$1');
  if (listen === undefined || listen === '' || listen === '0.0.0.0' || listen === '::') {
    return { host: '127.0.0.1', port };
  }
  if (
    CONTROL.test(listen) ||
    !(HOSTNAME.test(listen) || (IPV6.test(listen) && listen.includes(':')))
  ) {
    throw new VncUnavailableError(
      `the VNC display of domain ${domain} listens on ${JSON.stringify(listen)}, not an address`,
    );
  }
  return { host: listen, port };
}

/** ssh's `-W` argument: `host:port`, an IPv6 address in brackets. */
function forwardTarget(to: RemoteAddress): string {
  return `${to.host.includes(':') ? `[${to.host}]` : to.host}:${to.port}`;
}

/** Seconds ssh may take to connect (the pod's ssh_config says the same). */
export const SSH_CONNECT_TIMEOUT_S = 10;

/**
 * The command that connects stdin/stdout to `to` on `dest`'s host: `ssh -W`, never asking
 * for a password (BatchMode), no tty, no escape character, no forwardings from ssh_config,
 * the destination after `--` so that nothing in it is read as an option. Everything else
 * (key, known_hosts, strict checking) comes from ~/.ssh/config, as for libvirt's connection.
 */
export function sshForwardCommand(
  dest: SshDestination,
  to: RemoteAddress,
): { readonly file: string; readonly args: readonly string[] } {
  return {
    file: dest.command,
    args: [
      ...(dest.port !== undefined ? ['-p', String(dest.port)] : []),
      ...(dest.user !== undefined ? ['-l', dest.user] : []),
      ...(dest.keyfile !== undefined ? ['-i', dest.keyfile] : []),
      '-T',
      ...['-e', 'none'],
      ...['-o', 'BatchMode=yes'],
      ...['-o', `ConnectTimeout=${SSH_CONNECT_TIMEOUT_S}`],
      ...['-o', 'ClearAllForwardings=yes'],
      ...['-o', 'ControlMaster=no'],
      ...(dest.noVerify ? ['-o', 'StrictHostKeyChecking=no'] : []),
      ...['-W', forwardTarget(to)],
      '--',
      dest.host,
    ],
  };
}
