// The Dockerfile reader of test/support/dockerfile.ts, and what it reads from our Dockerfile:
// the runtime stage that the OCI image of hack/build-image.sh must match
// (test/integration/deploy/image-oci.test.ts compares the two).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import {
  command,
  instructions,
  keyValues,
  runs,
  stageConfig,
  stages,
} from '../../support/dockerfile.js';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));

describe('Dockerfile reader', () => {
  it('joins continuation lines, drops comments (also inside them) and blank lines', () => {
    const got = instructions('# c\nFROM a\n\nRUN x \\\n# inside\n  && y \\\n  && z\nUSER 1\n');
    expect(got).to.deep.equal([
      { keyword: 'FROM', args: 'a', line: 2 },
      { keyword: 'RUN', args: 'x && y && z', line: 4 },
      { keyword: 'USER', args: '1', line: 8 },
    ]);
  });

  it('substitutes global ARG defaults in FROM and names stages', () => {
    const s = stages('ARG BASE=debian:12\nFROM ${BASE} AS build\nRUN a\nFROM $BASE\nUSER 2\n');
    expect(s.map((x) => [x.from, x.name])).to.deep.equal([
      ['debian:12', 'build'],
      ['debian:12', undefined],
    ]);
    expect(s[1]!.instructions.map((i) => i.keyword)).to.deep.equal(['USER']);
  });

  it('reads ENV and LABEL pairs, quoted, several per line, and the legacy form', () => {
    expect(keyValues('A=1 B="two \\"quoted\\" words" C=')).to.deep.equal([
      ['A', '1'],
      ['B', 'two "quoted" words'],
      ['C', ''],
    ]);
    expect(keyValues('LEGACY some value')).to.deep.equal([['LEGACY', 'some value']]);
  });

  it('keeps the exec form and wraps the shell form in /bin/sh -c', () => {
    expect(command('["node", "/app/x.js"]')).to.deep.equal(['node', '/app/x.js']);
    expect(command('node /app/x.js')).to.deep.equal(['/bin/sh', '-c', 'node /app/x.js']);
    expect(() => command('["node", 1]')).to.throw(/exec form/);
  });

  it('gives the last stage its config; ENTRYPOINT resets an earlier CMD, WORKDIR nests', () => {
    const c = stageConfig(
      'FROM a AS b\nUSER 9\nFROM c\nCMD ["x"]\nENTRYPOINT ["e"]\nWORKDIR /w\nWORKDIR v\n' +
        'ENV P=/p\nENV Q=$P/q\nEXPOSE 80 53/udp\nCOPY --from=b --chown=1:1 /s/ /d/\n',
    );
    expect(c).to.deep.equal({
      workingDir: '/w/v',
      env: { P: '/p', Q: '/p/q' },
      entrypoint: ['e'],
      exposedPorts: ['80/tcp', '53/udp'],
      labels: {},
      copies: [{ from: 'b', chown: '1:1', sources: ['/s/'], dest: '/d/' }],
    });
  });
});

describe('the Dockerfile runtime stage (what the OCI image must match)', () => {
  let text: string;
  before(async () => {
    text = await readFile(join(repoRoot, 'Dockerfile'), 'utf8');
  });

  it('runs node on /app/dist/src/cli/main.js as 65532:65532 from /app, --help by default', () => {
    const c = stageConfig(text);
    expect(c.user).to.equal('65532:65532');
    expect(c.workingDir).to.equal('/app');
    expect(c.entrypoint).to.deep.equal(['node', '/app/dist/src/cli/main.js']);
    expect(c.cmd).to.deep.equal(['--help']);
    expect(c.exposedPorts).to.deep.equal(['8080/tcp', '8081/tcp']);
    expect(c.env).to.deep.equal({
      NODE_ENV: 'production',
      NODE_OPTIONS: '--max-semi-space-size=4',
      MALLOC_ARENA_MAX: '2',
    });
  });

  it('fills /app with one COPY of what hack/stage-image.sh staged in the build stage', () => {
    const c = stageConfig(text);
    expect(c.copies).to.deep.equal([{ from: 'build', sources: ['/stage/'], dest: '/app/' }]);
    expect(
      runs(text, 'build').some((r) => /(^|\s)hack\/stage-image\.sh \/stage(\s|$)/.test(r)),
    ).to.equal(true);
  });
});
