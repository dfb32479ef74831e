// The power verbs `start`, `stop`, `restart` and `halt`, as virtctl has them: each is a JSON
// merge patch of a MaasNode's spec (runStrategy, haltMode, restartToken), computed here from
// the node as read, with the sentence saying what changed, and the state `--wait` waits for.
// Pure: no API calls; the clock comes in as `now`.

import {
  type HaltMode,
  LabLabel,
  type MaasNode,
  MaasLabKind,
  type RunStrategy,
  ReadyCondition,
  defaultRunStrategy,
} from '../api/v1alpha1/index.js';
import { PluginError } from './errors.js';

/** The verbs that change how a node is powered. */
export const PowerVerbs = ['start', 'stop', 'restart', 'halt'] as const;
/** One of {@link PowerVerbs}. */
export type PowerVerb = (typeof PowerVerbs)[number];

/** What the user asked for. */
export interface PowerRequest {
  readonly verb: PowerVerb;
  /** `halt --save`: save memory to disk instead of powering off. */
  readonly save?: boolean;
  /** `--force`: change a node that belongs to a MaasLab all the same. */
  readonly force?: boolean;
  /** The time of the request; `restart` writes it as the restartToken (RFC 3339). */
  readonly now: Date;
}

/** The spec fields a power verb sets. */
export interface PowerSpec {
  runStrategy?: RunStrategy;
  haltMode?: HaltMode;
  restartToken?: string;
}

/** One field the verb changes. */
export interface SpecChange {
  readonly field: keyof PowerSpec;
  /** The value before, undefined when the field was unset. */
  readonly from?: string;
  readonly to: string;
}

/** What to send, and what to say. */
export interface PowerPlan {
  /** The merge patch; undefined when the spec already says what was asked. */
  readonly patch?: { readonly spec: PowerSpec };
  /** The fields that change (empty when there is nothing to do). */
  readonly changes: readonly SpecChange[];
  /** The spec fields the node will have once patched. */
  readonly target: PowerSpec;
}

/** The spec fields `req` asks for. */
export function targetSpec(req: PowerRequest): PowerSpec {
  switch (req.verb) {
    case 'start':
      return { runStrategy: 'Always' };
    case 'stop':
      // A graceful ACPI shutdown, even if an earlier `halt --save` left haltMode Save.
      return { runStrategy: 'Halted', haltMode: 'Shutdown' };
    case 'halt':
      // Now: hard power-off, or memory saved to disk (restored by the next start).
      return { runStrategy: 'Halted', haltMode: req.save ? 'Save' : 'Destroy' };
    case 'restart':
      return { restartToken: req.now.toISOString() };
  }
}

/**
 * The MaasLab a node belongs to: its controller owner reference of kind MaasLab, else the
 * lab label. Undefined for a stand-alone node.
 */
export function owningLab(node: MaasNode): string | undefined {
  const owner = node.metadata?.ownerReferences?.find(
    (r) => r.kind === MaasLabKind && r.controller === true,
  );
  return owner?.name ?? node.metadata?.labels?.[LabLabel];
}

/** The run strategy in effect: the spec's, else the default for the node's BMC. */
export const effectiveRunStrategy = (node: MaasNode): RunStrategy =>
  node.spec.runStrategy ?? defaultRunStrategy(node.spec.bmc);

/**
 * The patch and changes for `req` on `node`. Throws {@link PluginError} when the node belongs
 * to a MaasLab (its spec is the lab's) and `force` is not set, or on `restart` of a halted node.
 */
export function planPowerVerb(node: MaasNode, req: PowerRequest): PowerPlan {
  const name = node.metadata?.name ?? '?';
  const lab = owningLab(node);
  if (lab !== undefined && !req.force) {
    throw new PluginError(
      `maasnode "${name}" belongs to maaslab "${lab}", whose spec.nodes.template sets its spec: ` +
        `edit the lab's template (kubectl edit maaslab ${lab}) or act on the lab, ` +
        `or pass --force to patch this node anyway`,
    );
  }
  if (req.verb === 'restart' && effectiveRunStrategy(node) === 'Halted') {
    throw new PluginError(
      `maasnode "${name}" is halted (runStrategy Halted): use 'start' to power it on`,
    );
  }
  const target = targetSpec(req);
  const changes: SpecChange[] = [];
  for (const field of ['runStrategy', 'haltMode', 'restartToken'] as const) {
    const to = target[field];
    if (to === undefined) continue;
    const from = node.spec[field];
    if (from !== to) changes.push({ field, to, ...(from === undefined ? {} : { from }) });
  }
  if (changes.length === 0) return { changes, target };
  const spec: PowerSpec = {};
  for (const c of changes) Object.assign(spec, { [c.field]: c.to });
  return { patch: { spec }, changes, target };
}

/** The past tense kubectl-style messages use, per verb. */
const done: Readonly<Record<PowerVerb, string>> = {
  start: 'started',
  stop: 'stopped',
  restart: 'restarted',
  halt: 'halted',
};

/**
 * The line printed after the verb, e.g.
 * `maasnode.maaslab.dev/n1 stopped (runStrategy: Always -> Halted, haltMode: <unset> -> Shutdown)`.
 */
export function describePlan(name: string, verb: PowerVerb, plan: PowerPlan): string {
  const ref = `maasnode.maaslab.dev/${name}`;
  if (plan.changes.length === 0) {
    const fields = Object.entries(plan.target)
      .map(([k, v]) => `${k} ${String(v)}`)
      .join(', ');
    return `${ref} unchanged (already ${fields})`;
  }
  const what = plan.changes.map((c) => `${c.field}: ${c.from ?? '<unset>'} -> ${c.to}`).join(', ');
  return `${ref} ${done[verb]} (${what})`;
}

/** The printable statuses that count as having reached a verb's state. */
const arrived: Readonly<Record<PowerVerb, (halt: HaltMode | undefined) => readonly string[]>> = {
  start: () => ['Running'],
  restart: () => ['Running'],
  stop: () => ['Stopped'],
  halt: (mode) => (mode === 'Save' ? ['Saved'] : ['Stopped']),
};

/**
 * Whether `node` (read after the patch at `generation`) reports the state `plan` asked for:
 * status observed at that generation, Ready=True at it, the printable status the verb leads
 * to, and for `restart` the token recorded as done.
 */
export function hasArrived(
  node: MaasNode,
  verb: PowerVerb,
  plan: PowerPlan,
  generation: number,
): boolean {
  const status = node.status;
  if (!status || (status.observedGeneration ?? 0) < generation) return false;
  const ready = status.conditions?.find((c) => c.type === ReadyCondition);
  if (ready?.status !== 'True' || (ready.observedGeneration ?? generation) < generation) {
    return false;
  }
  if (verb === 'restart' && status.lastRestartToken !== plan.target.restartToken) return false;
  return arrived[verb](plan.target.haltMode).includes(status.printableStatus ?? '');
}
