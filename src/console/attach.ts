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
import { Connection } from '../libvirt/connection.js';
import { openDomainConsole, openDomainGraphicsFD } from '../libvirt/stream-pump.js';
import { parseDomainXml } from '../libvirt/xml/index.js';
import type { ConsoleAttacher } from './server.js';
import type { ConsoleDomain } from './target.js';
import { isSshUri, parseSshUri, sshForwardCommand, vncRemoteAddress } from './ssh.js';
import { openProcessTunnel } from './tunnel.js';

/** The live XML of `domain` on a connection of its own, closed after. */
async function liveXml(uri: string, domainName: string): Promise<string> {
  const conn = await Connection.open(uri);
  try {
    const domain = await conn.domainLookupByName(domainName);
    try {
      return await domain.getXMLDesc();
    } finally {
      domain.free();
    }
  } finally {
    await conn.close().catch(() => undefined);
  }
}

/** The domain's VNC server through `ssh -W` to its host; its URI is an ssh one. */
export async function openVncOverSsh(target: ConsoleDomain): Promise<Duplex> {
  // The URI first: a URI the tunnel refuses fails before any connection is made.
  const dest = parseSshUri(target.uri);
  const to = vncRemoteAddress(
    parseDomainXml(await liveXml(target.uri, target.domain)).vnc,
    target.domain,
  );
  const { file, args } = sshForwardCommand(dest, to);
  return openProcessTunnel(file, args);
}

/** Attaches through libvirt (and, for VNC over an ssh URI, through ssh). */
export const libvirtConsoleAttacher: ConsoleAttacher = async (kind, target) => {
  if (kind === 'console') {
    return openDomainConsole({ uri: target.uri, domain: target.domain, force: true });
  }
  if (isSshUri(target.uri)) return openVncOverSsh(target);
  const fd = await openDomainGraphicsFD(target.uri, target.domain, 0);
  return new Socket({ fd, readable: true, writable: true });
};
