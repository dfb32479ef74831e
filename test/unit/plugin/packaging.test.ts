// How kubectl-maaslab reaches a PATH: package.json "bin" (npm install -g) names the compiled
// entry point, which keeps its `#!/usr/bin/env node`; hack/kubectl-maaslab runs the sources
// from this checkout, also through a symbolic link in another folder. (The bundled single file
// and the real kubectl are exercised by test/integration/plugin/kubectl-maaslab.test.ts.)
import { execFile } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { PluginName } from '../../../src/plugin/program.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const json = (file: string): Record<string, unknown> =>
  JSON.parse(readFileSync(join(repo, file), 'utf8')) as Record<string, unknown>;

describe('plugin/packaging', function () {
  this.timeout(30_000);

  it('package.json "bin" names the compiled src/plugin/main.ts as kubectl-maaslab', () => {
    const bin = json('package.json').bin as Record<string, string>;
    const { outDir, rootDir } = (json('tsconfig.json').compilerOptions ?? {}) as {
      outDir: string;
      rootDir: string;
    };
    expect(rootDir).to.equal('.');
    expect(bin[PluginName]).to.equal(posix.join(outDir, 'src/plugin/main.js'));
    expect(readFileSync(join(repo, 'src/plugin/main.ts'), 'utf8').split('\n', 1)[0]).to.equal(
      '#!/usr/bin/env node',
    );
  });

  it('hack/kubectl-maaslab is executable and runs the sources through a link from elsewhere', async () => {
    const launcher = join(repo, 'hack', PluginName);
    accessSync(launcher, constants.X_OK);
    const dir = await mkdtemp(join(tmpdir(), 'kubectl-maaslab-link-'));
    try {
      const link = join(dir, PluginName);
      await symlink(launcher, link);
      const { stdout } = await promisify(execFile)(link, ['--help'], {
        cwd: dir,
        env: { PATH: [dirname(process.execPath), '/usr/bin', '/bin'].join(':'), HOME: dir },
      });
      expect(stdout).to.match(/^Usage: kubectl-maaslab \[flags\] <command>\n/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
