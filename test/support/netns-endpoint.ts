// An address of the test's own, inside a network namespace of the test's own, that forwards
// TCP to a Unix socket of the test process: how a test makes "the MAAS controller at
// 10.x.y.2:5240" answer the operator process, which runs in this (the host's) namespace,
// without anything listening on a host interface and without touching any other address.
//
//   operator ──TCP──▶ route ADDRESS/32 via veth ──▶ [namespace: ADDRESS:PORT, netns-forwarder]
//                                                          │ Unix socket (the file system)
//                                                          ▼
//                                               the test's server (e.g. the MAAS API test server)
//
// The host side gets a /30 on one end of a veth pair and a /32 route to ADDRESS through it;
// deleting the namespace removes both veth ends and with them the route. Nothing else in the
// host's routing changes, so ADDRESS must be one the test made up (the lab's own subnet).
import { type ChildProcess, spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { run } from './libvirtd.js';

const FORWARDER = fileURLToPath(new URL('./netns-forwarder.mjs', import.meta.url));

/** A forwarded address, and how to remove it. */
export interface NetnsEndpoint {
  /** The address callers in this namespace connect to. */
  readonly address: string;
  readonly port: number;
  /** The network namespace the address lives in. */
  readonly netns: string;
  /** The host side's address on the veth pair: the source of every forwarded connection. */
  readonly hostSide: string;
  /** Source addresses of the connections forwarded so far, in order. */
  connections(): readonly string[];
  /** Stops the forwarder and deletes the namespace (and with it the veth pair). Idempotent. */
  remove(): Promise<void>;
}

/**
 * Makes `address:port` reachable from this namespace, and only through a namespace created
 * here, forwarding each connection to the Unix socket `socketPath` (root needed).
 */
export async function exposeInNetns(
  address: string,
  port: number,
  socketPath: string,
): Promise<NetnsEndpoint> {
  const tag = randomInt(0x10000).toString(16).padStart(4, '0');
  const netns = `maaslab-test-ep-${tag}`;
  const outer = `mlep${tag}o`;
  const inner = `mlep${tag}i`;
  const third = randomInt(256);
  const fourth = randomInt(64) * 4;
  const hostSide = `10.252.${third}.${fourth + 1}`;
  const nsSide = `10.252.${third}.${fourth + 2}`;
  const seen: string[] = [];
  let forwarder: ChildProcess | undefined;
  let removed = false;
  const remove = async (): Promise<void> => {
    if (removed) return;
    removed = true;
    if (forwarder?.exitCode === null) {
      const exited = new Promise((resolve) => forwarder?.once('exit', resolve));
      forwarder.kill('SIGTERM');
      await exited;
    }
    await run('ip', ['netns', 'del', netns]).catch(() => undefined);
    await run('ip', ['link', 'del', outer]).catch(() => undefined);
  };
  try {
    await run('ip', ['netns', 'add', netns]);
    await run('ip', ['link', 'add', outer, 'type', 'veth', 'peer', 'name', inner, 'netns', netns]);
    await run('ip', ['addr', 'add', `${hostSide}/30`, 'dev', outer]);
    await run('ip', ['link', 'set', outer, 'up']);
    const inNs = (args: readonly string[]): Promise<unknown> =>
      run('ip', ['netns', 'exec', netns, ...args]);
    await inNs(['ip', 'link', 'set', 'lo', 'up']);
    await inNs(['ip', 'addr', 'add', `${nsSide}/30`, 'dev', inner]);
    await inNs(['ip', 'addr', 'add', `${address}/32`, 'dev', inner]);
    await inNs(['ip', 'link', 'set', inner, 'up']);
    await run('ip', ['route', 'add', `${address}/32`, 'via', nsSide, 'dev', outer]);

    const child = spawn(
      'ip',
      ['netns', 'exec', netns, process.execPath, FORWARDER, address, String(port), socketPath],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    forwarder = child;
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    await new Promise<void>((resolve, reject) => {
      let buffered = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        buffered += d;
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          if (line === 'listening') resolve();
          const from = /^connection from (.+)$/.exec(line)?.[1];
          if (from !== undefined) seen.push(from);
        }
      });
      child.once('exit', (code) =>
        reject(new Error(`netns forwarder exited (${code}) before listening: ${stderr.trim()}`)),
      );
      child.once('error', reject);
    });
  } catch (err) {
    await remove();
    throw err;
  }
  return { address, port, netns, hostSide, connections: () => [...seen], remove };
}
