// `make image-compare` (hack/image-compare.sh): the Dockerfile's image, rebuilt without a
// registry (node:24-slim as debuerreotype and docker-node make it, then the Dockerfile's
// runtime stage), against the image of `make image`. The README's size comparison comes from
// build/image/compare.json, so this checks that what it compares is what the Dockerfile
// builds: node:24-slim's layers and one per RUN, WORKDIR and COPY of the runtime stage, the
// same configuration and the same /app as `make image`, and figures that add up.
//
// Cached like make image: node:24-slim by its recipe, the runtime stage's layers before the
// COPY by the Dockerfile; a change to src/ costs one layer and the measuring. Skipped only
// where the build cannot run at all (not root, or no apt-get to install mmdebstrap and umoci).
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { repoRoot } from '../../support/controlplane.js';
import { stages } from '../../support/dockerfile.js';
import { runtimeStage } from '../../support/image.js';
import { type LayerEntry, type OciArchive, openOciArchive } from '../../support/oci-archive.js';

const run = promisify(execFile);
const imageDir = join(repoRoot, 'build', 'image');

interface Layer {
  readonly createdBy: string;
  readonly digest: string;
  readonly compressed: number;
  readonly uncompressed: number;
}
interface Measured {
  readonly layerCount: number;
  readonly compressed: number;
  readonly uncompressed: number;
  readonly layers: readonly Layer[];
}
interface Compare {
  readonly debian: string;
  readonly versions: Readonly<Record<'node' | 'npm' | 'corepack' | 'yarn', string>>;
  readonly nodeSlim: Measured;
  readonly dockerfile: Measured;
  readonly makeImage: Measured;
  readonly ratio: { readonly compressed: number; readonly uncompressed: number };
}

async function canBuild(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'hack/image-compare.sh needs root (mmdebstrap, chroot)';
  const has = (cmd: string): Promise<boolean> =>
    run('sh', ['-c', cmd]).then(
      () => true,
      () => false,
    );
  return (await has('command -v umoci && command -v mmdebstrap')) ||
    (await has('command -v apt-get'))
    ? undefined
    : 'neither mmdebstrap and umoci nor apt-get to install them';
}

/** What a layer listing says of each entry, for comparing two layers entry by entry. */
const entries = (layer: readonly LayerEntry[]): string[] =>
  layer.map((e) => `${e.type}${e.mode} ${e.uid}:${e.gid} ${e.size} ${e.path}`).sort();

describe("the Dockerfile's image rebuilt without a registry (make image-compare) against make image", function () {
  // Cold: mmdebstrap, three apt runs, umoci repack of ~320 MB, on two shared cores.
  this.timeout(30 * 60_000);
  let compare: Compare;
  let ours: OciArchive;
  let theirs: OciArchive;

  before(async function () {
    const why = await canBuild();
    if (why) {
      console.log(`      skipped: ${why}`);
      this.skip();
    }
    await run(join(repoRoot, 'hack', 'build-image.sh'), ['tools'], { cwd: repoRoot });
    await run(join(repoRoot, 'hack', 'build-image.sh'), [], {
      cwd: repoRoot,
      maxBuffer: 64 * 1024 * 1024,
    });
    const started = Date.now();
    const { stdout, stderr } = await run(join(repoRoot, 'hack', 'image-compare.sh'), [], {
      cwd: repoRoot,
      maxBuffer: 64 * 1024 * 1024,
    });
    const how = /image-compare: cached/.test(stderr)
      ? 'cached'
      : /up to COPY cached/.test(stderr)
        ? 'built (runtime stage cached up to the COPY)'
        : 'built';
    console.log(`      ${how} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    console.log(stdout.replace(/^/gm, '      ').trimEnd());
    compare = JSON.parse(await readFile(join(imageDir, 'compare.json'), 'utf8')) as Compare;
    ours = await openOciArchive(join(imageDir, 'maaslab-operator.oci.tar'));
    theirs = await openOciArchive(join(imageDir, 'dockerfile-image.oci.tar'));
  });

  it("is node:24-slim's five layers, then one per RUN, WORKDIR and COPY of the runtime stage", async () => {
    const runtime = stages(await readFile(join(repoRoot, 'Dockerfile'), 'utf8')).at(-1)!;
    const layered = runtime.instructions.filter((i) =>
      ['RUN', 'WORKDIR', 'COPY', 'ADD'].includes(i.keyword),
    );
    expect(runtime.from).to.equal('node:24-slim');
    expect(compare.nodeSlim.layerCount).to.equal(5);
    expect(compare.dockerfile.layerCount).to.equal(5 + layered.length);
    expect(compare.dockerfile.layers.slice(0, 5)).to.deep.equal(compare.nodeSlim.layers);
    expect(compare.dockerfile.layers.slice(5).map((l) => l.createdBy)).to.deep.equal(
      layered.map((i) => `${i.keyword} ${i.args}`),
    );
    // The archive holds that image, and compare.json measured its blobs.
    expect(theirs.index.manifests).to.have.length(1);
    expect(theirs.manifest.layers.map((l) => [l.digest, l.size])).to.deep.equal(
      compare.dockerfile.layers.map((l) => [l.digest, l.compressed]),
    );
    expect(compare.makeImage.layerCount).to.equal(3);
    expect(ours.manifest.layers.map((l) => [l.digest, l.size])).to.deep.equal(
      compare.makeImage.layers.map((l) => [l.digest, l.compressed]),
    );
    expect(compare.versions.node).to.equal(process.versions.node);
  });

  it('runs the same user, working directory, entry point, command, ports and environment as make image', async () => {
    const want = await runtimeStage();
    const a = theirs.config.config;
    const b = ours.config.config;
    expect(a.User).to.equal(want.user).and.to.equal(b.User);
    expect(a.WorkingDir).to.equal(want.workingDir).and.to.equal(b.WorkingDir);
    expect(a.Entrypoint).to.deep.equal(want.entrypoint).and.to.deep.equal(b.Entrypoint);
    expect(a.Cmd).to.deep.equal(want.cmd).and.to.deep.equal(b.Cmd);
    expect(Object.keys(a.ExposedPorts ?? {}).sort()).to.deep.equal(
      Object.keys(b.ExposedPorts ?? {}).sort(),
    );
    // node:24-slim adds its NODE_VERSION and YARN_VERSION; the rest is the same.
    const env = (c: typeof a): string[] =>
      (c.Env ?? []).filter((kv) => !/^(NODE|YARN)_VERSION=/.test(kv)).sort();
    expect(env(a)).to.deep.equal(env(b));
    expect(a.Env).to.include(`NODE_VERSION=${compare.versions.node}`);
  });

  it('holds the same /app as make image, entry by entry, in its last layer', async () => {
    const [a, b] = await Promise.all([theirs.layers(), ours.layers()]);
    const app = entries(a.at(-1)!);
    expect(app).to.deep.equal(entries(b.at(-1)!));
    expect(app.length).to.be.above(100);
  });

  it('reports figures that add up, and make image the smaller in both', () => {
    for (const m of [compare.nodeSlim, compare.dockerfile, compare.makeImage]) {
      expect(m.compressed).to.equal(m.layers.reduce((n, l) => n + l.compressed, 0));
      expect(m.uncompressed).to.equal(m.layers.reduce((n, l) => n + l.uncompressed, 0));
      for (const l of m.layers) expect(l.uncompressed).to.be.at.least(l.compressed);
    }
    expect(compare.makeImage.compressed).to.be.below(compare.dockerfile.compressed);
    expect(compare.makeImage.uncompressed).to.be.below(compare.dockerfile.uncompressed);
    expect(compare.ratio.compressed).to.equal(
      +(compare.makeImage.compressed / compare.dockerfile.compressed).toFixed(3),
    );
  });
});
