// A host that never answers, for tests of what a dead hypervisor does to the rest: a network
// namespace of the test's own, reached from this one through a veth pair, whose address drops
// every TCP packet (no RST, no ICMP), as a powered-off host behind a router looks to TCP.
// Nothing outside the namespace is addressed; deleting the namespace removes both veth ends.
import { randomInt } from 'node:crypto';
import { run } from './libvirtd.js';

/** A silent host: its address, and how to remove it. */
export interface SilentHost {
  /** The namespace side's IPv4 address: TCP to it gets no answer at all. */
  readonly address: string;
  /** The network namespace the address lives in. */
  readonly netns: string;
  /** Deletes the namespace (and with it both veth ends). Idempotent. */
  remove(): Promise<void>;
}

/** Creates a {@link SilentHost} on a random /30 of 10.254.0.0/16 (root needed). */
export async function createSilentHost(): Promise<SilentHost> {
  const tag = randomInt(0x10000).toString(16).padStart(4, '0');
  const netns = `maaslab-test-silent-${tag}`;
  const outer = `mlsil${tag}o`;
  const inner = `mlsil${tag}i`;
  const third = randomInt(256);
  const fourth = randomInt(64) * 4;
  const here = `10.254.${third}.${fourth + 1}`;
  const address = `10.254.${third}.${fourth + 2}`;
  let removed = false;
  const remove = async (): Promise<void> => {
    if (removed) return;
    removed = true;
    await run('ip', ['netns', 'del', netns]).catch(() => undefined);
    await run('ip', ['link', 'del', outer]).catch(() => undefined);
  };
  try {
    await run('ip', ['netns', 'add', netns]);
    await run('ip', ['link', 'add', outer, 'type', 'veth', 'peer', 'name', inner, 'netns', netns]);
    await run('ip', ['addr', 'add', `${here}/30`, 'dev', outer]);
    await run('ip', ['link', 'set', outer, 'up']);
    const inNs = (args: readonly string[]): Promise<unknown> =>
      run('ip', ['netns', 'exec', netns, ...args]);
    await inNs(['ip', 'link', 'set', 'lo', 'up']);
    await inNs(['ip', 'addr', 'add', `${address}/30`, 'dev', inner]);
    await inNs(['ip', 'link', 'set', inner, 'up']);
    await inNs(['iptables', '-A', 'INPUT', '-p', 'tcp', '-j', 'DROP']);
  } catch (err) {
    await remove();
    throw err;
  }
  return { address, netns, remove };
}
