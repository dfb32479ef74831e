// What the Dockerfile says about how the operator runs, for tests and benchmarks that run it
// as the image does (same entry point, same environment), and what /app must hold, whichever
// way the image is built (the Dockerfile, or hack/build-image.sh without a container engine).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot } from './controlplane.js';
import { type StageConfig, stageConfig } from './dockerfile.js';

const dockerfile = (): Promise<string> => readFile(join(repoRoot, 'Dockerfile'), 'utf8');

/** The Dockerfile's final (runtime) stage: USER, WORKDIR, ENV, ENTRYPOINT, CMD, EXPOSE, COPY. */
export async function runtimeStage(): Promise<StageConfig> {
  return stageConfig(await dockerfile());
}

/** The exec-form ENTRYPOINT, e.g. ["node", "/app/dist/src/cli/main.js"]. */
export async function imageEntrypoint(): Promise<string[]> {
  const { entrypoint } = await runtimeStage();
  if (!entrypoint || entrypoint[0] === '/bin/sh')
    throw new Error('Dockerfile has no exec-form ENTRYPOINT');
  return [...entrypoint];
}

/** The runtime stage's ENV, minus NODE_ENV, which only matters to npm. */
export async function imageEnv(): Promise<Record<string, string>> {
  const { NODE_ENV: _, ...env } = (await runtimeStage()).env;
  return env;
}

interface LockPackage {
  readonly dev?: boolean;
  readonly optional?: boolean;
  readonly os?: readonly string[];
  readonly cpu?: readonly string[];
}

/** npm's os/cpu lists: `linux`, `!win32`; x64 for cpu. */
const fits = (list: readonly string[] | undefined, value: string): boolean =>
  list === undefined ||
  (list.some((x) => !x.startsWith('!')) ? list.includes(value) : !list.includes(`!${value}`));

/**
 * What is wrong with an /app tree, given its paths (relative to /app, files and directories):
 * the layout hack/stage-image.sh makes. Exactly package.json, package-lock.json, dist/ with
 * a .js and .js.map per src/**.ts and nothing else, build/Release/maaslab_libvirt.node alone,
 * and node_modules/ with exactly the lockfile's production packages for linux-x64, trimmed of
 * what no running program reads (see untrimmed). Empty when the tree is right.
 */
export async function appLayoutProblems(
  paths: readonly string[],
  srcFiles: readonly string[],
): Promise<string[]> {
  const have = new Set(paths);
  const problems: string[] = [];
  const top = new Set(paths.map((p) => p.split('/')[0]!));
  const wantTop = ['build', 'dist', 'node_modules', 'package-lock.json', 'package.json'];
  if ([...top].sort().join() !== wantTop.join())
    problems.push(`top level is ${[...top].sort().join(', ')}`);
  const build = paths.filter((p) => p.startsWith('build/'));
  if (build.sort().join() !== ['build/Release', 'build/Release/maaslab_libvirt.node'].join())
    problems.push(`build/ holds ${build.join(', ')}`);

  const wantDist = srcFiles
    .filter((f) => f.endsWith('.ts'))
    .flatMap((f) => ['.js', '.js.map'].map((ext) => `dist/${f.replace(/\.ts$/, ext)}`));
  for (const f of wantDist) if (!have.has(f)) problems.push(`missing ${f}`);
  // Nothing else under dist/ (the output of a removed source, make plugin's bundle) but the
  // directories that hold what is wanted.
  const wanted = new Set(wantDist);
  for (const f of wantDist)
    for (
      let d = f.slice(0, f.lastIndexOf('/'));
      d.includes('/');
      d = d.slice(0, d.lastIndexOf('/'))
    )
      wanted.add(d);
  wanted.add('dist');
  for (const p of paths)
    if ((p === 'dist' || p.startsWith('dist/')) && !wanted.has(p)) problems.push(`unexpected ${p}`);

  const lock = JSON.parse(await readFile(join(repoRoot, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockPackage>;
  };
  const production = Object.entries(lock.packages)
    .filter(([k, p]) => k.startsWith('node_modules/') && !p.dev)
    .filter(([, p]) => !p.optional || (fits(p.os, 'linux') && fits(p.cpu, 'x64')))
    .map(([k]) => k);
  for (const k of production)
    if (!have.has(`${k}/package.json`)) problems.push(`missing package ${k}`);
  const wantPkgs = new Set(production);
  const pkgRoot =
    /^(node_modules\/(?:@[^/]+\/)?[^/]+(?:\/node_modules\/(?:@[^/]+\/)?[^/]+)*)\/package\.json$/;
  for (const p of paths) {
    const k = pkgRoot.exec(p)?.[1];
    if (k !== undefined && !wantPkgs.has(k)) problems.push(`unexpected package ${k}`);
  }
  for (const p of paths) if (untrimmed(p)) problems.push(`untrimmed ${p}`);
  return problems;
}

/**
 * Whether a path under node_modules/ is one hack/stage-image.sh removes: a TypeScript
 * declaration, a source map, Markdown other than a licence, or a test, example or CI
 * directory at a package's root.
 */
export function untrimmed(path: string): boolean {
  if (!path.startsWith('node_modules/')) return false;
  const name = path.slice(path.lastIndexOf('/') + 1);
  if (/\.d\.[cm]?ts$|\.map$/.test(name)) return true;
  if (/\.md$/i.test(name) && !/^(licen[cs]e|copying|notice)/i.test(name)) return true;
  return /(^|\/)node_modules\/(@[^/]+\/)?[^@/][^/]*\/(test|tests|__tests__|examples?|\.github)(\/|$)/.test(
    path,
  );
}
