// The cache key of hack/build-image.sh: it hashes everything the image is made of and
// nothing else, so a warm `make image` reuses the image exactly when it would come out the
// same. Runs the script's `key` and `inputs` commands on a copy of the inputs; builds nothing.
import { execFile } from 'node:child_process';
import { appendFile, cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));

const run = promisify(execFile);

const script = (root: string, cmd: 'key' | 'inputs'): Promise<string> =>
  run(join(root, 'hack', 'build-image.sh'), [cmd], { maxBuffer: 16 * 1024 * 1024 }).then((r) =>
    r.stdout.trim(),
  );

describe('hack/build-image.sh cache key', function () {
  this.timeout(60_000);
  let copy: string;

  before(async () => {
    copy = await mkdtemp(join(tmpdir(), 'maaslab-image-key-'));
    await mkdir(join(copy, 'hack'));
    for (const f of ['build-image.sh', 'stage-image.sh', 'ensure-node.sh'])
      await cp(join(repoRoot, 'hack', f), join(copy, 'hack', f));
    for (const f of [
      'package.json',
      'package-lock.json',
      'binding.gyp',
      'tsconfig.json',
      'tsconfig.build.json',
    ])
      await cp(join(repoRoot, f), join(copy, f));
    await cp(join(repoRoot, 'src'), join(copy, 'src'), { recursive: true });
  });
  after(() => rm(copy, { recursive: true, force: true }));

  it('hashes the package list, the Node version, the lockfile, src/ and the scripts', async () => {
    const lines = (await script(repoRoot, 'inputs')).split('\n');
    const files = lines
      .map((l) => /^[0-9a-f]{64} {2}(.*)$/.exec(l)?.[1])
      .filter((f) => f !== undefined);
    expect(files).to.include.members([
      'hack/build-image.sh',
      'hack/stage-image.sh',
      'hack/ensure-node.sh',
      'package.json',
      'package-lock.json',
      'binding.gyp',
      'tsconfig.build.json',
      'src/cli/main.ts',
      'src/libvirt/native/addon.cc',
    ]);
    expect(files.filter((f) => !f.startsWith('src/'))).to.have.length(8);
    expect(lines.find((l) => l.startsWith('node='))).to.match(/^node=v\d+\.\d+\.\d+ \w+$/);
    expect(lines.find((l) => l.startsWith('declare -a rootfs_packages='))).to.include('libvirt0');
    expect(lines.find((l) => l.startsWith('suite='))).to.match(/^suite=\w+ arch=\w+$/);
  });

  it('is 16 hex digits, the same for the same inputs wherever the tree is', async () => {
    const key = await script(repoRoot, 'key');
    expect(key).to.match(/^[0-9a-f]{16}$/);
    expect(await script(copy, 'key')).to.equal(key);
  });

  it('changes with a source file, the lockfile or the package list, not with a test', async () => {
    const before = await script(copy, 'key');
    await mkdir(join(copy, 'test'), { recursive: true });
    await writeFile(join(copy, 'test', 'x.test.ts'), 'export {};\n');
    expect(await script(copy, 'key'), 'a test file').to.equal(before);

    await appendFile(join(copy, 'src', 'cli', 'main.ts'), '\n// changed\n');
    const afterSrc = await script(copy, 'key');
    expect(afterSrc, 'src/cli/main.ts').to.not.equal(before);

    await appendFile(join(copy, 'package-lock.json'), '\n');
    const afterLock = await script(copy, 'key');
    expect(afterLock, 'package-lock.json').to.not.equal(afterSrc);

    const build = join(copy, 'hack', 'build-image.sh');
    const text = await readFile(build, 'utf8');
    await writeFile(
      build,
      text.replace('rootfs_packages=(libvirt0 ', 'rootfs_packages=(libvirt0 curl '),
    );
    expect(await script(copy, 'key'), 'the package list').to.not.equal(afterLock);
  });
});
