// What the Dockerfile says about how the operator runs, for tests and benchmarks that run it
// as the image does (same entry point, same environment).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot } from './controlplane.js';

const dockerfile = (): Promise<string> => readFile(join(repoRoot, 'Dockerfile'), 'utf8');

/** The exec-form ENTRYPOINT, e.g. ["node", "/app/dist/src/cli/main.js"]. */
export async function imageEntrypoint(): Promise<string[]> {
  const line = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(await dockerfile());
  if (!line) throw new Error('Dockerfile has no exec-form ENTRYPOINT');
  return JSON.parse(line[1]!) as string[];
}

/**
 * The runtime stage's `ENV KEY=value` and `ENV KEY="a b"` lines (one variable per line, as
 * the Dockerfile writes them), minus NODE_ENV, which only matters to npm.
 */
export async function imageEnv(): Promise<Record<string, string>> {
  const text = await dockerfile();
  const runtime = text.slice(text.lastIndexOf('\nFROM '));
  const env: Record<string, string> = {};
  const line = /^ENV\s+([A-Z_][A-Z0-9_]*)=(?:"([^"]*)"|(\S+))\s*$/gm;
  for (const [, key, quoted, bare] of runtime.matchAll(line)) {
    if (key !== 'NODE_ENV') env[key!] = quoted ?? bare!;
  }
  return env;
}
