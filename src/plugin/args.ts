// Parsing what the user typed beyond commander's own checks: durations (`--timeout 2m`) and
// the target of `power-params` (a node, `lab/LAB` or `--lab LAB`). Pure.

import { InvalidArgumentError } from 'commander';
import { PluginError } from './errors.js';

const units: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A Go-style duration (`90s`, `2m`, `1m30s`, `500ms`) in ms; a commander argument parser. */
export function parseDuration(value: string): number {
  const parts = [...value.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== value) {
    throw new InvalidArgumentError(`'${value}' is not a duration such as 30s, 2m or 1m30s`);
  }
  return parts.reduce((ms, p) => ms + Number(p[1]) * (units[p[2] ?? 's'] ?? 0), 0);
}

/** What `power-params` reports on. */
export type Target = { readonly kind: 'node' | 'lab'; readonly name: string };

const labPrefixes = ['lab/', 'maaslab/', 'maaslabs/', 'maaslab.maaslab.dev/'];
const nodePrefixes = ['mn/', 'maasnode/', 'maasnodes/', 'maasnode.maaslab.dev/'];

/** `NODE`, `maasnode/NODE`, `lab/LAB` or `maaslab/LAB`, or `--lab LAB`: exactly one of them. */
export function parseTarget(arg: string | undefined, lab: string | undefined): Target {
  if (arg !== undefined && lab !== undefined) {
    throw new PluginError('give a node or --lab, not both');
  }
  if (lab !== undefined) return { kind: 'lab', name: lab };
  if (arg === undefined || arg === '') {
    throw new PluginError('name a node, lab/LAB, or --lab LAB');
  }
  for (const p of labPrefixes) if (arg.startsWith(p)) return named('lab', arg.slice(p.length));
  for (const p of nodePrefixes) if (arg.startsWith(p)) return named('node', arg.slice(p.length));
  if (arg.includes('/')) {
    throw new PluginError(`'${arg}': expected NODE, maasnode/NODE or lab/LAB`);
  }
  return { kind: 'node', name: arg };
}

const named = (kind: Target['kind'], name: string): Target => {
  if (name === '') throw new PluginError(`a ${kind} name is missing after the '/'`);
  return { kind, name };
};
