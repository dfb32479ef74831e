// `kubectl maaslab`: the commander program and the verbs' thin actions. Each action reads
// through a PluginApi, hands the objects to the pure modules beside this file (run-strategy,
// power-params, lab-tree, snapshot, progress, completion) and writes their text; the snapshot
// verbs are in snapshot-verbs.ts. `run` returns the exit code:
// 0, or 1 after one `error: ...` line on stderr, as kubectl does.

import { Command, CommanderError, Option } from 'commander';
import { type ConnectOptions, type PluginApi } from './api.js';
import { parseDuration, parseTarget } from './args.js';
import {
  type CompletionHints,
  bashCompletion,
  completionSpec,
  zshCompletion,
} from './completion.js';
import { type StreamDeps, addConsoleVerbs } from './console-verbs.js';
import { PluginError } from './errors.js';
import { buildLabTree, renderLabTree } from './lab-tree.js';
import { formatStructured, type StructuredFormat } from './output.js';
import { powerParamsOf, renderPowerParamsTable } from './power-params.js';
import { type PowerVerb, describePlan, hasArrived, planPowerVerb } from './run-strategy.js';
import { addSnapshotVerbs } from './snapshot-verbs.js';

/** The executable kubectl finds on the PATH for `kubectl maaslab`. */
export const PluginName = 'kubectl-maaslab';

/** What the program needs from the outside world. */
export interface PluginDeps {
  /** Opens the API for the connection flags. */
  connect(opts: ConnectOptions): PluginApi;
  stdout(text: string): void;
  stderr(text: string): void;
  /** The time now (restart tokens, wait deadlines). */
  now(): Date;
  /** Waits `ms` between polls of `--wait`. */
  sleep(ms: number): Promise<void>;
  /** Whether stderr is a terminal: progress is redrawn in place there, else plain lines. */
  readonly stderrTty?: boolean;
  /** The terminal's width, when stderr is one. */
  readonly stderrColumns?: number;
  /** Terminal, sockets and kubectl for `console` and `vnc` (created on first use). */
  streams?(): StreamDeps;
}

/** Default of `--timeout` for `--wait`. */
export const DefaultWaitTimeout = '5m';
/** How often `--wait` reads the node. */
export const WaitPollMs = 1000;

const verbHelp: Readonly<Record<PowerVerb, string>> = {
  start: 'power a node on and keep it running (spec.runStrategy: Always)',
  stop: 'shut a node down gracefully and keep it off (runStrategy: Halted, haltMode: Shutdown)',
  restart: 'reboot a running node (a new spec.restartToken, an RFC 3339 timestamp)',
  halt: 'power a node off now (runStrategy: Halted, haltMode: Destroy), or with --save save its memory to disk (haltMode: Save)',
};

const hints: CompletionHints = {
  start: { resource: 'maasnodes.maaslab.dev' },
  stop: { resource: 'maasnodes.maaslab.dev' },
  restart: { resource: 'maasnodes.maaslab.dev' },
  halt: { resource: 'maasnodes.maaslab.dev' },
  'power-params': { resource: 'maasnodes.maaslab.dev' },
  get: { resource: 'maaslabs.maaslab.dev' },
  snapshot: { resource: 'maaslabs.maaslab.dev' },
  restore: { resources: ['maaslabs.maaslab.dev', 'maaslabsnapshots.maaslab.dev'] },
  snapshots: { resource: 'maaslabs.maaslab.dev' },
  console: { resource: 'maasnodes.maaslab.dev' },
  vnc: { resource: 'maasnodes.maaslab.dev' },
  completion: { words: ['bash', 'zsh'] },
};

/** The program; actions write through `deps`. */
export function createPluginProgram(deps: PluginDeps): Command {
  const program = new Command(PluginName)
    .description(
      'Power, inspect, snapshot and restore maaslab nodes and labs (maaslab.dev/v1alpha1), in the kubectl idiom.',
    )
    .usage('[flags] <command>')
    .option('-n, --namespace <namespace>', "the namespace (default: the context's, else default)")
    .option('--context <context>', 'the kubeconfig context to use')
    .option(
      '--kubeconfig <path>',
      'the kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)',
    )
    .exitOverride()
    .configureOutput({
      writeOut: (s) => deps.stdout(s),
      writeErr: (s) => deps.stderr(s),
    })
    .showHelpAfterError(false);

  const connectOptions = (cmd: Command): ConnectOptions => {
    const o = cmd.optsWithGlobals<ConnectOptions>();
    return {
      ...(o.kubeconfig ? { kubeconfig: o.kubeconfig } : {}),
      ...(o.context ? { context: o.context } : {}),
      ...(o.namespace ? { namespace: o.namespace } : {}),
    };
  };
  const api = (cmd: Command): PluginApi => deps.connect(connectOptions(cmd));

  for (const verb of ['start', 'stop', 'restart', 'halt'] as const) {
    const cmd = program
      .command(verb)
      .description(verbHelp[verb])
      .argument('<node>', 'the MaasNode')
      .option(
        '--force',
        "change a node that belongs to a MaasLab (the lab's template sets its spec)",
      )
      .option('--wait', 'wait until the node reports the new state (Ready at the new generation)')
      .addOption(
        new Option('--timeout <duration>', 'how long --wait waits, e.g. 90s or 2m')
          .argParser(parseDuration)
          .default(parseDuration(DefaultWaitTimeout), DefaultWaitTimeout),
      );
    if (verb === 'halt')
      cmd.option('--save', 'save the memory to disk (haltMode: Save) instead of powering off');
    cmd.action(
      async (
        node: string,
        opts: { force?: boolean; wait?: boolean; timeout: number; save?: boolean },
        self: Command,
      ) => {
        const client = api(self);
        const current = await client.getNode(node);
        const plan = planPowerVerb(current, {
          verb,
          now: deps.now(),
          ...(opts.force ? { force: true } : {}),
          ...(opts.save ? { save: true } : {}),
        });
        const after = plan.patch ? await client.patchNode(node, plan.patch) : current;
        deps.stdout(`${describePlan(node, verb, plan)}\n`);
        if (!opts.wait) return;
        const generation = after.metadata?.generation ?? 0;
        const deadline = deps.now().getTime() + opts.timeout;
        for (let seen = after; !hasArrived(seen, verb, plan, generation);) {
          if (deps.now().getTime() >= deadline) {
            throw new PluginError(
              `timed out after ${opts.timeout / 1000}s waiting for maasnode "${node}" to report ` +
                `${verb === 'start' || verb === 'restart' ? 'Running' : 'halted'} and Ready at generation ${generation} ` +
                `(now: ${seen.status?.printableStatus ?? 'no status'})`,
            );
          }
          await deps.sleep(WaitPollMs);
          seen = await client.getNode(node);
        }
        deps.stdout(`maasnode.maaslab.dev/${node} condition met\n`);
      },
    );
  }

  program
    .command('power-params')
    .description("a node's MAAS power parameters, or every node's of a lab (from status.power)")
    .argument('[target]', 'NODE, or lab/LAB for every node of a lab')
    .option('--lab <lab>', 'every node of this MaasLab')
    .addOption(
      new Option('-o, --output <format>', 'json or yaml, with MAAS parameter names').choices([
        'json',
        'yaml',
      ]),
    )
    .action(
      async (
        arg: string | undefined,
        opts: { lab?: string; output?: StructuredFormat },
        self: Command,
      ) => {
        const target = parseTarget(arg, opts.lab);
        const client = api(self);
        let params;
        if (target.kind === 'node') {
          params = [powerParamsOf(await client.getNode(target.name))];
        } else {
          await client.getLab(target.name);
          const { nodes } = await client.labChildren(target.name);
          params = nodes
            .map(powerParamsOf)
            .sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
        }
        if (opts.output) {
          // One node: one object; a lab: a list, in node order.
          deps.stdout(formatStructured(target.kind === 'node' ? params[0] : params, opts.output));
        } else {
          deps.stdout(renderPowerParamsTable(params));
        }
      },
    );

  program
    .command('get')
    .description(
      'a lab as a tree: the lab, its networks, and the nodes on each (by their first NIC)',
    )
    .argument('<lab>', 'the MaasLab')
    .addOption(
      new Option('-o, --output <format>', 'wide, json or yaml').choices(['wide', 'json', 'yaml']),
    )
    .action(async (lab: string, opts: { output?: 'wide' | StructuredFormat }, self: Command) => {
      const client = api(self);
      const object = await client.getLab(lab);
      const { networks, nodes } = await client.labChildren(lab);
      const tree = buildLabTree(object, networks, nodes);
      if (opts.output === 'json' || opts.output === 'yaml') {
        deps.stdout(formatStructured(tree, opts.output));
      } else {
        deps.stdout(renderLabTree(tree, opts.output === 'wide'));
      }
    });

  addSnapshotVerbs(program, deps, api);
  addConsoleVerbs(program, api, connectOptions, deps.stderr, () => {
    if (!deps.streams) throw new PluginError('console and vnc need a terminal and sockets');
    return deps.streams();
  });

  program
    .command('completion')
    .description('a shell completion script: source <(kubectl maaslab completion bash)')
    .argument('<shell>', 'bash or zsh')
    .action((shell: string) => {
      const spec = completionSpec(program, hints);
      if (shell === 'bash') deps.stdout(bashCompletion(spec));
      else if (shell === 'zsh') deps.stdout(zshCompletion(spec));
      else throw new PluginError(`unsupported shell '${shell}': use bash or zsh`);
    });

  return program;
}

/** An error and its causes, on one line. */
export function errorLine(err: unknown): string {
  const why = (e: unknown): string =>
    e instanceof PluginError
      ? e.message
      : e instanceof Error
        ? e.message + (e.cause === undefined ? '' : `: ${why(e.cause)}`)
        : String(e);
  return `error: ${why(err).replace(/\s*\n\s*/g, ' ')}\n`;
}

/** Runs the program on `args` (without node and script); resolves to the exit code. */
export async function run(args: readonly string[], deps: PluginDeps): Promise<number> {
  const program = createPluginProgram(deps);
  try {
    await program.parseAsync([...args], { from: 'user' });
    return 0;
  } catch (err) {
    // Commander already printed its own errors and help; its exit code says which.
    if (err instanceof CommanderError) return err.exitCode;
    deps.stderr(errorLine(err));
    return 1;
  }
}
