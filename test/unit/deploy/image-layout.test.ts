// The readers the OCI image test relies on: parseListing on a real GNU tar listing (the
// entry types, owners and names a layer holds), and appLayoutProblems, which says what is
// wrong with an /app tree (what hack/stage-image.sh stages for both ways of building the image).
import { execFile } from 'node:child_process';
import { chown, link, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { appLayoutProblems } from '../../support/image.js';
import { type LayerEntry, parseListing } from '../../support/oci-archive.js';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
const run = promisify(execFile);

describe('the OCI layer listing reader (parseListing)', () => {
  let dir: string;
  let entries: LayerEntry[];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'maaslab-listing-'));
    const tree = join(dir, 'tree');
    await mkdir(join(tree, 'home', 'maaslab'), { recursive: true });
    await writeFile(join(tree, 'home', 'maaslab', 'a file'), 'twelve bytes');
    await link(join(tree, 'home', 'maaslab', 'a file'), join(tree, 'home', 'maaslab', 'linked'));
    await symlink('maaslab/a file', join(tree, 'home', 'to it'));
    if (process.getuid?.() === 0) await chown(join(tree, 'home', 'maaslab'), 65532, 65532);
    // As mmdebstrap writes a layer (./-prefixed names), listed as the image test lists one.
    await run('tar', ['-cf', join(dir, 'layer.tar'), '-C', tree, '.']);
    const { stdout } = await run('tar', [
      '-tvf',
      join(dir, 'layer.tar'),
      '--numeric-owner',
      '--quoting-style=literal',
    ]);
    entries = stdout
      .split('\n')
      .map(parseListing)
      .filter((e): e is LayerEntry => e !== undefined && e.path !== '');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('gives each entry its path without ./ or a trailing /, its type, owner and size', () => {
    const by = new Map(entries.map((e) => [e.path, e]));
    expect([...by.keys()].sort()).to.deep.equal([
      'home',
      'home/maaslab',
      'home/maaslab/a file',
      'home/maaslab/linked',
      'home/to it',
    ]);
    expect(by.get('home')).to.include({ type: 'd', mode: 'rwxr-xr-x' });
    const file = [by.get('home/maaslab/a file')!, by.get('home/maaslab/linked')!];
    // tar stores the second name of a hard link as a link to the first, without content.
    expect(file.map((e) => e.type).sort()).to.deep.equal(['-', 'h']);
    expect(file.find((e) => e.type === '-')!.size).to.equal(12);
    expect(by.get('home/to it')).to.include({ type: 'l' });
    if (process.getuid?.() === 0)
      expect(by.get('home/maaslab')).to.include({ type: 'd', uid: 65532, gid: 65532 });
  });
});

describe('the /app layout check (appLayoutProblems)', () => {
  let srcFiles: string[];
  let good: string[];

  before(async () => {
    const { stdout } = await run('find', ['src', '-type', 'f'], { cwd: repoRoot });
    srcFiles = stdout.trim().split('\n');
    const dist = srcFiles
      .filter((f) => f.endsWith('.ts'))
      .flatMap((f) => ['.js', '.js.map'].map((ext) => `dist/${f.replace(/\.ts$/, ext)}`));
    const dirs = new Set<string>();
    for (const f of dist)
      for (
        let d = f.slice(0, f.lastIndexOf('/'));
        d;
        d = d.slice(0, Math.max(0, d.lastIndexOf('/')))
      )
        dirs.add(d);
    // The lockfile's production packages, those that install on linux-x64 (a plain package
    // or an optional one without a narrower os/cpu list).
    const lock = JSON.parse(await readFile(join(repoRoot, 'package-lock.json'), 'utf8')) as {
      packages: Record<
        string,
        { dev?: boolean; optional?: boolean; os?: string[]; cpu?: string[] }
      >;
    };
    const packages = Object.entries(lock.packages)
      .filter(([k, p]) => k.startsWith('node_modules/') && !p.dev)
      .filter(
        ([, p]) =>
          !p.optional || ((!p.os || p.os.includes('linux')) && (!p.cpu || p.cpu.includes('x64'))),
      )
      .flatMap(([k]) => [k, `${k}/package.json`]);
    good = [
      'package.json',
      'package-lock.json',
      'build',
      'build/Release',
      'build/Release/maaslab_libvirt.node',
      'node_modules',
      ...dirs,
      ...dist,
      ...packages,
    ];
  });

  it('finds nothing wrong with the staged layout', async () => {
    expect(await appLayoutProblems(good, srcFiles)).to.deep.equal([]);
  });

  it("names what else is in dist/: make plugin's bundle, the output of a removed source", async () => {
    const extra = ['dist/kubectl-maaslab', 'dist/src/gone.js', 'dist/src/gone.d.ts', 'dist/test'];
    expect(await appLayoutProblems([...good, ...extra], srcFiles)).to.deep.equal(
      extra.map((p) => `unexpected ${p}`),
    );
  });

  it('names a missing compiled file, a missing package, and anything at the top level', async () => {
    const main = 'dist/src/cli/main.js.map';
    const pkg = good.find((p) => /^node_modules\/[^/]+\/package\.json$/.test(p))!;
    const tree = [...good.filter((p) => p !== main && p !== pkg), 'src'];
    const problems = await appLayoutProblems(tree, srcFiles);
    expect(problems).to.include(`missing ${main}`);
    expect(problems).to.include(`missing package ${pkg.slice(0, -'/package.json'.length)}`);
    expect(problems.some((p) => p.startsWith('top level is '))).to.equal(true);
  });

  it("names what hack/stage-image.sh trims: declarations (ours too), source maps, Markdown, a package's tests; not a licence", async () => {
    const pkg = good.find((p) => /^node_modules\/[^/@]+\/package\.json$/.test(p))!;
    const dir = pkg.slice(0, -'/package.json'.length);
    const scoped = good.find((p) => /^node_modules\/@[^/]+\/[^/]+\/package\.json$/.test(p))!;
    const scopedDir = scoped.slice(0, -'/package.json'.length);
    const kept = [
      `${dir}/LICENSE.md`,
      `${dir}/license.md`,
      `${dir}/lib/test.js`,
      `${dir}/lib/index.js`,
    ];
    const trimmed = [
      `${dir}/index.d.ts`,
      `${dir}/esm/index.d.mts`,
      `${dir}/index.js.map`,
      `${dir}/README.md`,
      `${dir}/CHANGELOG.MD`,
      `${dir}/test`,
      `${dir}/test/spec.js`,
      `${scopedDir}/examples/use.js`,
      `${dir}/node_modules/${dir.slice('node_modules/'.length)}/.github/workflows/ci.yml`,
    ];
    expect(await appLayoutProblems([...good, ...kept, ...trimmed], srcFiles)).to.deep.equal(
      trimmed.map((p) => `untrimmed ${p}`),
    );
    expect(await appLayoutProblems([...good, 'dist/src/cli/main.d.ts'], srcFiles)).to.deep.equal([
      'unexpected dist/src/cli/main.d.ts',
    ]);
  });
});
