// Prometheus text exposition, read back for assertions on an operator's /metrics.

/** Parses Prometheus text into `name{labels}` → value (labels as printed). */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

/** Sum of every sample of `name` whose labels include all of `labels`. */
export function sample(
  m: Map<string, number>,
  name: string,
  labels: Record<string, string> = {},
): number {
  let sum = 0;
  let found = false;
  for (const [key, value] of m) {
    const brace = key.indexOf('{');
    const n = brace < 0 ? key : key.slice(0, brace);
    if (n !== name) continue;
    if (!Object.entries(labels).every(([k, v]) => key.includes(`${k}="${v}"`))) continue;
    sum += value;
    found = true;
  }
  return found ? sum : Number.NaN;
}
