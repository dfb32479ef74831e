// The verbs of lab snapshots: `snapshot LAB [NAME]` creates a MaasLabSnapshot, `restore LAB
// SNAPSHOT` sets the lab's spec.restoreFrom with a new token, and both wait (by default)
// with a progress line on stderr until the operator reports the capture or the restore
// over; `snapshots LAB` lists a lab's snapshots. Thin actions: the objects, patches and wait
// conditions come from snapshot.ts, the progress lines from progress.ts.

import { type Command, Option } from 'commander';
import {
  DefaultSnapshotMode,
  type MaasLabSnapshot,
  type SnapshotMode,
  SnapshotModes,
} from '../api/v1alpha1/index.js';
import type { PluginApi } from './api.js';
import { parseDuration } from './args.js';
import { PluginError } from './errors.js';
import { formatStructured, type StructuredFormat } from './output.js';
import type { PluginDeps } from './program.js';
import { progressWriter } from './progress.js';
import {
  type WaitState,
  defaultSnapshotName,
  renderSnapshotTable,
  restorePatch,
  restoreToken,
  restoreWaitState,
  snapshotList,
  snapshotObject,
  snapshotRows,
  snapshotWaitState,
} from './snapshot.js';

/** Default of `--timeout` for the snapshot verbs: a capture or restore copies whole disks. */
export const DefaultSnapshotTimeout = '10m';
/** How often the wait reads the snapshot or the lab. */
export const SnapshotPollMs = 1000;

/** What a waiting verb needs besides the API. */
interface WaitOptions {
  readonly wait: boolean;
  readonly timeout: number;
}

/** `--wait`, `--no-wait` and `--timeout` on `cmd`. */
function waitFlags(cmd: Command, what: string): Command {
  return cmd
    .option('--wait', `wait until ${what}, with progress on stderr (the default)`, true)
    .option('--no-wait', 'return once the request is sent')
    .addOption(
      new Option('--timeout <duration>', 'how long to wait, e.g. 90s or 10m')
        .argParser(parseDuration)
        .default(parseDuration(DefaultSnapshotTimeout), DefaultSnapshotTimeout),
    );
}

/**
 * Reads with `read` every {@link SnapshotPollMs} until `stateOf` says done (resolves to the
 * last read) or failed (a PluginError with its message), showing progress on stderr, for at
 * most `timeoutMs` (a PluginError naming `what` and where it got to).
 */
async function waitWithProgress<T>(
  deps: PluginDeps,
  label: string,
  what: string,
  timeoutMs: number,
  read: () => Promise<T>,
  stateOf: (o: T) => WaitState,
): Promise<T> {
  const start = deps.now().getTime();
  const progress = progressWriter(deps.stderr, deps.stderrTty ?? false, deps.stderrColumns);
  try {
    for (;;) {
      const seen = await read();
      const state = stateOf(seen);
      const elapsedMs = deps.now().getTime() - start;
      progress.update({ label, elapsedMs, ...state.progress });
      if (state.kind === 'done') return seen;
      if (state.kind === 'failed') throw new PluginError(state.message);
      if (elapsedMs >= timeoutMs) {
        const p = state.progress;
        const count = p.total === undefined ? '' : `, ${p.done ?? 0}/${p.total} members`;
        throw new PluginError(
          `timed out after ${timeoutMs / 1000}s waiting for ${what} (now: ${p.phase}${count})`,
        );
      }
      await deps.sleep(SnapshotPollMs);
    }
  } finally {
    progress.end();
  }
}

/** Adds `snapshot`, `restore` and `snapshots` to `program`. */
export function addSnapshotVerbs(
  program: Command,
  deps: PluginDeps,
  api: (cmd: Command) => PluginApi,
): void {
  waitFlags(
    program
      .command('snapshot')
      .description(
        'capture a whole lab as one MaasLabSnapshot (every member and disk); waits until it is ready to use',
      )
      .argument('<lab>', 'the MaasLab')
      .argument('[name]', 'the snapshot (default: LAB-YYYYMMDD-HHMMSS, UTC)')
      .addOption(
        new Option(
          '--mode <mode>',
          `Offline (shut the members down: clean disks) or Suspended (pause them: crash-consistent) (default: ${DefaultSnapshotMode}, the CRD's default)`,
        ).choices(SnapshotModes),
      ),
    'the snapshot is ready to use',
  ).action(
    async (
      lab: string,
      name: string | undefined,
      opts: WaitOptions & { mode?: SnapshotMode },
      self: Command,
    ) => {
      const client = api(self);
      await client.getLab(lab);
      const snapName = name ?? defaultSnapshotName(lab, deps.now());
      const created = await client.createSnapshot(
        snapshotObject(client.namespace, lab, snapName, opts.mode),
      );
      const ref = `maaslabsnapshot.maaslab.dev/${snapName}`;
      deps.stdout(
        `${ref} created (lab ${lab}, mode ${created.spec.mode ?? DefaultSnapshotMode})\n`,
      );
      if (!opts.wait) return;
      const done = await waitWithProgress<MaasLabSnapshot>(
        deps,
        `maaslabsnapshot/${snapName}`,
        `maaslabsnapshot "${snapName}" to be ready to use`,
        opts.timeout,
        () => client.getSnapshot(snapName),
        snapshotWaitState,
      );
      const s = done.status;
      const members = s?.membersTotal ?? s?.members?.length ?? 0;
      deps.stdout(`${ref} ready to use (${members} members, ${s?.size ?? '0'})\n`);
    },
  );

  waitFlags(
    program
      .command('restore')
      .description(
        'return every member of a lab to a MaasLabSnapshot (spec.restoreFrom with a new token); waits until it is done',
      )
      .argument('<lab>', 'the MaasLab')
      .argument('<snapshot>', 'the MaasLabSnapshot'),
    'the restore has completed',
  ).action(async (lab: string, snapshot: string, opts: WaitOptions, self: Command) => {
    const client = api(self);
    await client.getLab(lab);
    const snap = await client.getSnapshot(snapshot);
    if (snap.status?.phase === 'Failed') {
      throw new PluginError(
        `maaslabsnapshot "${snapshot}" failed (${snap.status.failedMember ?? 'no member named'}): there is nothing to restore`,
      );
    }
    const token = restoreToken(deps.now());
    await client.patchLab(lab, restorePatch(snapshot, token));
    const ref = `maaslab.maaslab.dev/${lab}`;
    deps.stdout(`${ref} restoring from maaslabsnapshot "${snapshot}" (token ${token})\n`);
    if (!opts.wait) return;
    await waitWithProgress(
      deps,
      `maaslab/${lab} restore`,
      `maaslab "${lab}" to complete the restore from maaslabsnapshot "${snapshot}"`,
      opts.timeout,
      () => client.getLab(lab),
      (l) => restoreWaitState(l, token),
    );
    deps.stdout(`${ref} restored from maaslabsnapshot "${snapshot}"\n`);
  });

  program
    .command('snapshots')
    .description("a lab's snapshots: mode, phase, ready, members, size, age and consistency")
    .argument('<lab>', 'the MaasLab')
    .addOption(
      new Option('-o, --output <format>', 'wide, json or yaml').choices(['wide', 'json', 'yaml']),
    )
    .action(async (lab: string, opts: { output?: 'wide' | StructuredFormat }, self: Command) => {
      const client = api(self);
      await client.getLab(lab);
      const snaps = await client.labSnapshots(lab);
      if (opts.output === 'json' || opts.output === 'yaml') {
        deps.stdout(formatStructured(snapshotList(snaps), opts.output));
      } else if (snaps.length === 0) {
        // As kubectl says it, on stderr, so that stdout stays a table or nothing.
        deps.stderr(`No snapshots of maaslab "${lab}" found in ${client.namespace} namespace.\n`);
      } else {
        deps.stdout(renderSnapshotTable(snapshotRows(snaps, deps.now()), opts.output === 'wide'));
      }
    });
}
