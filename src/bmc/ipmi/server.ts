// The thin socket layer: one UDP socket per BMC (per node), each datagram handed to the
// responder and its reply, if any, sent back to the datagram's source.
import { createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { LoginThrottle } from '../auth.js';
import type { BmcBackend, BmcCredentials } from '../backend.js';
import { type IpmiLog, IpmiResponder } from './responder.js';
import type { SessionLimits } from './session.js';

export interface IpmiBmcOptions {
  readonly host: string;
  /** 0 picks an ephemeral port. */
  readonly port: number;
  readonly systemId: string;
  /** Read on every login, so a rotated Secret takes effect without a restart. */
  readonly credentials: () => BmcCredentials | undefined;
  readonly backend: BmcBackend;
  readonly throttle?: LoginThrottle;
  readonly log?: IpmiLog;
  readonly now?: () => number;
  readonly limits?: Partial<SessionLimits>;
}

export interface IpmiBmc {
  readonly address: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Starts an IPMI 2.0 LAN (RMCP+) BMC for one system; resolves once the socket is bound. */
export async function startIpmiBmc(opts: IpmiBmcOptions): Promise<IpmiBmc> {
  const responder = new IpmiResponder({
    systemId: opts.systemId,
    credentials: opts.credentials,
    backend: opts.backend,
    throttle: opts.throttle ?? new LoginThrottle(opts.now ? { now: opts.now } : {}),
    ...(opts.log ? { log: opts.log } : {}),
    ...(opts.now ? { now: opts.now } : {}),
    ...(opts.limits ? { limits: opts.limits } : {}),
  });
  const socket = createSocket({ type: isIPv6(opts.host) ? 'udp6' : 'udp4' });
  socket.on('message', (datagram, rinfo) => {
    const remote =
      rinfo.family === 'IPv6'
        ? `[${rinfo.address}]:${rinfo.port}`
        : `${rinfo.address}:${rinfo.port}`;
    void responder.handle(datagram, { ip: rinfo.address, remote }).then((reply) => {
      if (reply) {
        socket.send(reply, rinfo.port, rinfo.address, (error) => {
          if (error) opts.log?.debug('IPMI reply not sent', { remote, error: String(error) });
        });
      }
    });
  });
  // A send or receive error on UDP concerns one datagram; the socket stays up.
  socket.on('error', (error) => opts.log?.warn('IPMI socket error', { error: String(error) }));
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(opts.port, opts.host, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  const bound = socket.address();
  let closed: Promise<void> | undefined;
  return {
    address: bound.address,
    port: bound.port,
    close: () => (closed ??= new Promise<void>((resolve) => socket.close(() => resolve()))),
  };
}
