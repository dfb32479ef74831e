// The per-call cost of the binding's wrapper (withCallSites in src/libvirt/binding.ts) on
// test:///default: virDomainLookupByName through the raw addon and through the wrapper, and
// the wrapper's own cost around a promise that is already resolved, against the design it
// replaced (capturing the call site up front with Error.captureStackTrace on every call).
// CPU time of the main thread (process.threadCpuUsage: where the wrapper runs) and of the
// whole process (the libvirt call itself runs on a worker thread). Medians of interleaved
// rounds; prints only, nothing goes to RESULTS.md.
//
//   tsx bench/binding-overhead.ts [calls per round]     (default 20000)
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { raw, withCallSites } from '../src/libvirt/binding.js';
import { LibvirtError } from '../src/libvirt/errors.js';
import { repoRoot } from '../test/support/controlplane.js';

const CALLS = Number(process.argv[2] ?? 20_000);
const ROUNDS = 7;

type Call = (conn: unknown, name: string) => Promise<unknown>;

/** The previous wrapper: the call site captured before every call. */
function eagerCallSite(fn: Call): Call {
  const wrapper: Call = (...args) => {
    const result = fn(...args);
    const site: { stack?: string } = {};
    Error.captureStackTrace(site, wrapper);
    return result.catch((err: unknown) => {
      if (err instanceof LibvirtError && site.stack !== undefined) err.stack = site.stack;
      throw err;
    });
  };
  return wrapper;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? NaN;

/** Median µs per call, main thread and whole process, of `calls` awaited calls of `f`. */
async function measure(
  variants: Record<string, Call>,
  calls: number,
  each: (result: unknown) => void,
): Promise<void> {
  const thread: Record<string, number[]> = {};
  const proc: Record<string, number[]> = {};
  for (let r = 0; r < ROUNDS; r++) {
    for (const [label, f] of Object.entries(variants)) {
      const t0 = process.threadCpuUsage();
      const p0 = process.cpuUsage();
      for (let i = 0; i < calls; i++) each(await f(conn, 'test'));
      const t = process.threadCpuUsage(t0);
      const p = process.cpuUsage(p0);
      (thread[label] ??= []).push((t.user + t.system) / calls);
      (proc[label] ??= []).push((p.user + p.system) / calls);
    }
  }
  for (const label of Object.keys(variants)) {
    const line = `  ${label.padEnd(34)} main thread ${median(thread[label]!).toFixed(2).padStart(6)} µs`;
    process.stdout.write(`${line}, process ${median(proc[label]!).toFixed(2).padStart(6)} µs\n`);
  }
}

const native = createRequire(import.meta.url)(
  join(repoRoot, 'build', 'Release', 'maaslab_libvirt.node'),
) as typeof raw;
const conn = await native.connectOpen('test:///default', 0);

process.stdout.write(`virDomainLookupByName + free, ${CALLS} calls × ${ROUNDS} rounds:\n`);
await measure(
  {
    'addon, no wrapper': native.domainLookupByName as Call,
    'withCallSites (binding.ts)': raw.domainLookupByName as Call,
    'eager call site (previous)': eagerCallSite(native.domainLookupByName as Call),
  },
  CALLS,
  (d) => native.free(d as never),
);

const resolved: Call = () => Promise.resolve(undefined);
process.stdout.write(
  `the wrapper alone, around a resolved promise, ${CALLS * 10} calls × ${ROUNDS}:\n`,
);
await measure(
  {
    'no wrapper': resolved,
    'withCallSites (binding.ts)': (withCallSites({ resolved }) as { resolved: Call }).resolved,
    'eager call site (previous)': eagerCallSite(resolved),
  },
  CALLS * 10,
  () => undefined,
);
await native.connectClose(conn);
