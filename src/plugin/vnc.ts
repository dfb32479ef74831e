// `vnc`: a listener on 127.0.0.1 that turns each local connection into one stream to the
// node's VNC server through the operator (stream-client.ts), so any VNC viewer can connect;
// `--viewer` starts one found on the PATH (TigerVNC's vncviewer, or virt-viewer's
// remote-viewer) and stops when it exits. Loopback only: the listener has no authentication
// of its own, the user's token is spent on each stream behind it.

import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { delimiter, join } from 'node:path';
import type { Duplex } from 'node:stream';
import { PluginError } from './errors.js';

/** Viewers `--viewer` looks for, in order, with how each takes the address. */
export const VncViewers: ReadonlyArray<{ readonly name: string; args(port: number): string[] }> = [
  { name: 'vncviewer', args: (port) => [`127.0.0.1::${port}`] },
  { name: 'remote-viewer', args: (port) => [`vnc://127.0.0.1:${port}`] },
];

/** The first viewer on `path` (a PATH value), with its full file name. */
export function findViewer(
  path: string | undefined,
  isExecutable: (file: string) => boolean = executable,
): { file: string; args(port: number): string[] } | undefined {
  const dirs = (path ?? '').split(delimiter).filter((d) => d !== '');
  for (const v of VncViewers) {
    for (const dir of dirs) {
      const file = join(dir, v.name);
      if (isExecutable(file)) return { file, args: v.args };
    }
  }
  return undefined;
}

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** A local VNC listener. */
export interface VncListener {
  readonly port: number;
  /** Connections served now. */
  connections(): number;
  close(): Promise<void>;
}

/**
 * Listens on 127.0.0.1:`port` (0: any free port); each connection gets `open()`'s stream.
 * A stream that cannot be opened closes that connection and is reported to `onError`.
 */
export async function listenVnc(
  port: number,
  open: () => Promise<Duplex>,
  onError: (err: unknown) => void,
): Promise<VncListener> {
  const live = new Set<Socket>();
  const server: Server = createServer((local) => {
    live.add(local);
    local.on('error', () => undefined);
    local.on('close', () => live.delete(local));
    local.pause();
    open().then(
      (remote) => {
        if (local.destroyed) return void remote.destroy();
        remote.on('error', () => local.destroy());
        remote.on('close', () => local.destroy());
        local.on('close', () => remote.destroy());
        local.pipe(remote);
        remote.pipe(local);
        local.resume();
      },
      (err: unknown) => {
        local.destroy();
        onError(err);
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new PluginError(`cannot listen on 127.0.0.1:${port}: ${err.code ?? err.message}`)),
    );
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : port,
    connections: () => live.size,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of live) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Runs `viewer` against the listener; resolves when it exits. */
export function runViewer(
  viewer: { file: string; args(port: number): string[] },
  port: number,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(viewer.file, viewer.args(port), { stdio: 'inherit' });
    child.once('error', (err) =>
      reject(new PluginError(`cannot run ${viewer.file}: ${err.message}`)),
    );
    child.once('exit', (code) => resolve(code ?? 1));
  });
}
