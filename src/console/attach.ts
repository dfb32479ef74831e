// The libvirt half of the console endpoint: a serial console on a connection of its own
// (openDomainConsole, non-blocking and pumped by libvirt's event loop; `force` takes the
// console over from a session left behind, as `virsh console --force`), or a socket to the
// domain's VNC server from virDomainOpenGraphicsFD. The descriptor crosses libvirt's UNIX
// socket, so VNC needs a local URI (qemu:///system, qemu+unix://); over ssh, tcp or tls
// transports libvirt refuses it and the caller gets 502 with libvirt's message.

import { Socket } from 'node:net';
import { openDomainConsole, openDomainGraphicsFD } from '../libvirt/stream-pump.js';
import type { ConsoleAttacher } from './server.js';

/** Attaches through libvirt. */
export const libvirtConsoleAttacher: ConsoleAttacher = async (kind, target) => {
  if (kind === 'console') {
    return openDomainConsole({ uri: target.uri, domain: target.domain, force: true });
  }
  const fd = await openDomainGraphicsFD(target.uri, target.domain, 0);
  return new Socket({ fd, readable: true, writable: true });
};
