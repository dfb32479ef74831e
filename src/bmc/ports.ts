// Which UDP port a node's IPMI BMC takes: pure, so that restarts and retries are predictable.

/** `first-last`, as Hypervisor.spec.bmc.ipmiPortRange gives it. */
export function parsePortRange(range: string): { first: number; last: number } {
  const match = /^(\d{1,5})-(\d{1,5})$/.exec(range);
  const first = Number(match?.[1]);
  const last = Number(match?.[2]);
  if (!match || first < 1 || first > last || last > 65535) {
    throw new RangeError(`port range ${JSON.stringify(range)} is not first-last within 1-65535`);
  }
  return { first, last };
}

/**
 * The port for a node: the one it had (status.bmc.ipmi.port) while that is in the range and
 * free, so a BMC keeps its address across operator restarts and MAAS's power parameters stay
 * true; else the lowest free one; undefined when the range is full.
 */
export function pickIpmiPort(
  range: { first: number; last: number },
  taken: ReadonlySet<number>,
  previous?: number,
): number | undefined {
  if (previous !== undefined && previous >= range.first && previous <= range.last) {
    if (!taken.has(previous)) return previous;
  }
  for (let port = range.first; port <= range.last; port++) {
    if (!taken.has(port)) return port;
  }
  return undefined;
}
