// The libvirt half of the console endpoint: a serial console on a connection of its own
// (openDomainConsole, non-blocking and pumped by libvirt's event loop; `force` takes the
// console over from a session left behind, as `virsh console --force`), or a socket to the
// domain's VNC server. For a local URI (qemu:///system, qemu+unix://) that socket comes from
// virDomainOpenGraphicsFD, which passes the descriptor over libvirt's UNIX socket. No remote
// transport can carry a descriptor, so for an ssh URI (qemu+ssh://) the endpoint reads the
// VNC server's port and listen address from the domain's live XML and opens `ssh -W` to it
// with the operator's ssh client and configuration, as libvirt's own connection does (ssh.ts,
// tunnel.ts). Over tcp and tls transports libvirt refuses and the caller gets 502.

import type { Duplex } from 'node:stream';
import { Socket } from 'node:net';
import type { ConnectionPool } from '../libvirt/connection-pool.js';
import { Connection } from '../libvirt/connection.js';
import { isUnreachableError } from '../libvirt/errors.js';
import { openDomainConsole, openDomainGraphicsFD } from '../libvirt/stream-pump.js';
import { parseDomainXml } from '../libvirt/xml/index.js';
import type { ConsoleAttacher } from './server.js';
import type { ConsoleDomain } from './target.js';
import { isSshUri, parseSshUri, sshForwardCommand, vncRemoteAddress } from './ssh.js';
import { openProcessTunnel } from './tunnel.js';

/** Reads the live XML of domain `domain` on the host at `uri`. */
export type LiveXmlReader = (uri: string, domain: string) => Promise<string>;

/** The live XML of `domain` on `conn`. */
async function domainXml(conn: Connection, domainName: string): Promise<string> {
  const domain = await conn.domainLookupByName(domainName);
  try {
    return await domain.getXMLDesc();
  } finally {
    domain.free();
  }
}

/** Reads the live XML on a connection of its own, closed after (a second ssh login over ssh). */
export const ownConnectionXml: LiveXmlReader = async (uri, domainName) => {
  const conn = await Connection.open(uri);
  try {
    return await domainXml(conn, domainName);
  } finally {
    await conn.close().catch(() => undefined);
  }
};

/**
 * Reads the live XML on the operator's pooled connection to the host (no ssh login of its
 * own: one quick call, unlike a console stream, which gets a connection of its own); a call
 * that finds the connection dead reports it to the pool, as the controllers' calls do.
 */
export function pooledXml(pool: ConnectionPool<Connection>): LiveXmlReader {
  return async (uri, domainName) => {
    const conn = await pool.get(uri);
    try {
      return await domainXml(conn, domainName);
    } catch (err) {
      if (isUnreachableError(err)) pool.reportFailure(uri, conn, err);
      throw err;
    }
  };
}

/** The domain's VNC server through `ssh -W` to its host; its URI is an ssh one. */
export async function openVncOverSsh(
  target: ConsoleDomain,
  liveXml: LiveXmlReader = ownConnectionXml,
): Promise<Duplex> {
  // The URI first: a URI the tunnel refuses fails before any connection is made.
  const dest = parseSshUri(target.uri);
  const xml = await liveXml(target.uri, target.domain);
  const to = vncRemoteAddress(parseDomainXml(xml).vnc, target.domain);
  const { file, args } = sshForwardCommand(dest, to);
  return openProcessTunnel(file, args);
}

/**
 * Attaches through libvirt (and, for VNC over an ssh URI, through ssh), reading a domain's
 * live XML with `liveXml` (default: a connection of its own).
 */
export function createLibvirtConsoleAttacher(
  liveXml: LiveXmlReader = ownConnectionXml,
): ConsoleAttacher {
  return async (kind, target) => {
    if (kind === 'console') {
      return openDomainConsole({ uri: target.uri, domain: target.domain, force: true });
    }
    if (isSshUri(target.uri)) return openVncOverSsh(target, liveXml);
    const fd = await openDomainGraphicsFD(target.uri, target.domain, 0);
    return new Socket({ fd, readable: true, writable: true });
  };
}

/** Attaches through libvirt, each attach on connections of its own. */
export const libvirtConsoleAttacher: ConsoleAttacher = createLibvirtConsoleAttacher();
