// `make plugin`: kubectl-maaslab as one self-contained file (dist/kubectl-maaslab), for people
// who want the plugin without this repository or an `npm install -g`: copy it into any folder
// on the PATH; it needs only Node.js (package.json "engines"). esbuild bundles
// src/plugin/main.ts with everything it imports (commander, yaml, TypeBox, our REST client),
// as an ES module: Node recognises one by its syntax (the file has no extension), and the
// banner gives the CommonJS dependencies inside a `require`.
//
// Usage: tsx hack/build-plugin.ts [OUTFILE]   (default dist/kubectl-maaslab)
import { chmod } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Where `make plugin` writes the single file. */
export const PluginBundle = join(repo, 'dist', 'kubectl-maaslab');

/** Bundles the plugin into `outfile` (made executable); resolves to its path. */
export async function buildPlugin(outfile: string = PluginBundle): Promise<string> {
  await build({
    entryPoints: [join(repo, 'src', 'plugin', 'main.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    // Refuse rather than bundle something that cannot run from a single file.
    external: ['*.node'],
    banner: {
      js: [
        // esbuild keeps main.ts's `#!/usr/bin/env node` as the first line, above this banner.
        '// kubectl-maaslab (maaslab, Apache-2.0), bundled by hack/build-plugin.ts.',
        "import { createRequire as __maaslabCreateRequire } from 'node:module';",
        'const require = __maaslabCreateRequire(import.meta.url);',
      ].join('\n'),
    },
    legalComments: 'inline',
    logLevel: 'warning',
  });
  await chmod(outfile, 0o755);
  return outfile;
}

// No top-level await: the integration test imports this file, and mocha loads test files with
// require(), which refuses a module that awaits at the top.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  buildPlugin(process.argv[2] ? resolve(process.argv[2]) : PluginBundle).then(
    (out) => console.log(`built ${out}`),
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
