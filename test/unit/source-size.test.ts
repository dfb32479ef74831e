// Issue 11's bound on the shape of the code: no hand-written source file in src/ grows past
// 500 lines; a longer one is split by concern (as maas-node/desired.ts and domain-diff.ts
// were). Generated files say so on their first line and are exempt.
import { expect } from 'chai';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MAX_LINES = 500;
const src = fileURLToPath(new URL('../../src/', import.meta.url));

describe('source size', () => {
  it(`no hand-written file in src/ is over ${MAX_LINES} lines`, async () => {
    const entries = await readdir(src, { recursive: true, withFileTypes: true });
    const files = entries.filter((e) => e.isFile() && /\.(ts|cc|h)$/.test(e.name));
    expect(files.length).to.be.above(50);
    const over: string[] = [];
    for (const f of files) {
      const path = join(f.parentPath, f.name);
      const text = await readFile(path, 'utf8');
      if (/^\/\/ GENERATED\b/.test(text)) continue;
      const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
      if (lines > MAX_LINES) over.push(`${path.slice(src.length)}: ${lines}`);
    }
    expect(over).to.deep.equal([]);
  });
});
