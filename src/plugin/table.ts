// Plain-text tables as kubectl prints them: upper-case headers, columns left-aligned and
// separated by three spaces (kubectl's tabwriter padding), no trailing spaces. Pure.

/** The cell kubectl prints for a value that is not there. */
export const NONE = '-';

/** Renders `rows` under `headers`; a missing or empty cell prints as {@link NONE}. */
export function renderTable(
  headers: readonly string[],
  rows: ReadonlyArray<ReadonlyArray<string | undefined>>,
): string {
  const cells = [headers, ...rows.map((r) => headers.map((_, i) => r[i] || NONE))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : (c ?? '').padEnd((widths[i] ?? 0) + 3)))
        .join('')
        .trimEnd(),
    )
    .map((line) => `${line}\n`)
    .join('');
}
