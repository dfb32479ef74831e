// Reads a V8 .cpuprofile (`node --cpu-prof`) and ranks functions by self time: where the
// operator's main thread actually spent its CPU. Pure apart from reading the file.
import { readFileSync } from 'node:fs';
import { repoRoot } from '../test/support/controlplane.js';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: {
    readonly functionName: string;
    readonly url: string;
    readonly lineNumber: number;
  };
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** One function's self time. */
export interface ProfileCost {
  readonly functionName: string;
  /** File (relative to the repository, or node:…) and 1-based line. */
  readonly where: string;
  readonly selfMs: number;
  /** Of all non-idle samples. */
  readonly share: number;
}

/** The `top` functions by self time, idle time left out. */
export function topSelfCosts(file: string, top: number): ProfileCost[] {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<string, { fn: string; where: string; us: number }>();
  let busyUs = 0;
  profile.samples.forEach((id, i) => {
    const node = byId.get(id);
    if (!node) return;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') return;
    // The delta before the next sample is the time this one stood for.
    const us = profile.timeDeltas[i + 1] ?? 0;
    busyUs += us;
    const where = url
      ? `${url.replace(`file://${repoRoot}`, '').replace(/^file:\/\//, '')}:${lineNumber + 1}`
      : '(native)';
    const key = `${functionName}\n${where}`;
    const entry = selfUs.get(key) ?? { fn: functionName || '(anonymous)', where, us: 0 };
    entry.us += us;
    selfUs.set(key, entry);
  });
  return [...selfUs.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, top)
    .map((e) => ({
      functionName: e.fn,
      where: e.where,
      selfMs: e.us / 1000,
      share: e.us / busyUs,
    }));
}
