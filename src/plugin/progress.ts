// The progress `--wait` shows on stderr while a capture or a restore runs. On a terminal one
// line is redrawn in place (carriage return, erase line), cut to the terminal's width so it
// never wraps; elsewhere (a pipe, a CI log) a plain line is written each time the phase, the
// count or the operator's message changes, never just because time passed. The rendering is
// pure; the writer keeps only the last line written.

import type { Progress } from './snapshot.js';

/** What one progress line shows. */
export interface ProgressView extends Progress {
  /** What is waited for, e.g. `maaslabsnapshot/recipe-20261205-163000`. */
  readonly label: string;
  /** Time since the wait began. */
  readonly elapsedMs: number;
}

/** The bar's width in characters, between the brackets. */
export const BarWidth = 24;
/** ANSI: carriage return, then erase the whole line. */
export const RedrawPrefix = '\r\x1b[2K';

/** `[#########...............]`: `done` of `total`; all dots while the total is unknown. */
export function progressBar(done: number | undefined, total: number | undefined): string {
  const fraction =
    total === undefined || total <= 0 ? 0 : Math.min(1, Math.max(0, (done ?? 0) / total));
  const filled = Math.round(fraction * BarWidth);
  return `[${'#'.repeat(filled)}${'.'.repeat(BarWidth - filled)}]`;
}

/** `2/3 members`, or nothing while the total is unknown. */
const count = (v: Progress): string | undefined =>
  v.total === undefined ? undefined : `${v.done ?? 0}/${v.total} members`;

/** Whole seconds, e.g. `12s`. */
const seconds = (ms: number): string => `${Math.floor(Math.max(0, ms) / 1000)}s`;

/**
 * The terminal line (without the redraw prefix): label, bar, count, phase, elapsed time and
 * message, cut to `columns - 1` characters so the cursor never wraps.
 */
export function renderTtyProgress(view: ProgressView, columns = 80): string {
  const line = [
    view.label,
    progressBar(view.done, view.total),
    count(view),
    view.phase,
    seconds(view.elapsedMs),
    view.detail,
  ]
    .filter((x): x is string => !!x)
    .join('  ');
  const room = Math.max(10, columns - 1);
  return line.length <= room ? line : `${line.slice(0, room - 1)}…`;
}

/** The plain line, e.g. `maaslabsnapshot/x: Capturing, 2/3 members (12s): copying the disks`. */
export function renderPlainProgress(view: ProgressView): string {
  const what = [view.phase, count(view)].filter((x): x is string => !!x).join(', ');
  const detail = view.detail ? `: ${view.detail}` : '';
  return `${view.label}: ${what} (${seconds(view.elapsedMs)})${detail}`;
}

/** Writes progress lines. */
export interface ProgressWriter {
  /** Shows `view`: redrawn on a terminal, a new line elsewhere when something changed. */
  update(view: ProgressView): void;
  /** Ends the progress: a terminal's line is closed with a newline (before any error line). */
  end(): void;
}

/** How a plain line is told apart from the last: everything but the time. */
const changeKey = (v: ProgressView): string =>
  JSON.stringify([v.label, v.phase, v.done, v.total, v.detail]);

/** A writer to `write` (stderr): in place when `tty`, plain lines otherwise. */
export function progressWriter(
  write: (text: string) => void,
  tty: boolean,
  columns?: number,
): ProgressWriter {
  let last: string | undefined;
  let drawn = false;
  return {
    update(view) {
      if (tty) {
        write(`${RedrawPrefix}${renderTtyProgress(view, columns)}`);
        drawn = true;
        return;
      }
      const key = changeKey(view);
      if (key === last) return;
      last = key;
      write(`${renderPlainProgress(view)}\n`);
    },
    end() {
      if (drawn) write('\n');
      drawn = false;
    },
  };
}
