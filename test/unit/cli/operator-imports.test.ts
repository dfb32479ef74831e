// What importing the operator loads: every module loaded at start stays in the heap for the
// process's life (its source and what V8 compiles), and V8 lets the old space grow to a multiple
// of what is live, so idle code raises the peak of a build (bench/RESULTS.md, 2b). These check
// what an operator that serves no console and no BMC must not load.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';

/** The modules (resolved URLs) and builtins that importing `src/cli/operator.ts` loads. */
function operatorImports(): { urls: string[]; builtins: string[] } {
  const operator = fileURLToPath(new URL('../../../src/cli/operator.ts', import.meta.url));
  // A child process, so that nothing this test process loaded counts.
  const script = `
    import { registerHooks } from 'node:module';
    const urls = [];
    registerHooks({ resolve(spec, ctx, next) { const r = next(spec, ctx); urls.push(r.url); return r; } });
    await import(${JSON.stringify(operator)});
    console.log(JSON.stringify({ urls, builtins: process.moduleLoadList }));
  `;
  const child = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', script],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
  );
  expect(child.status).to.equal(0);
  return JSON.parse(child.stdout) as { urls: string[]; builtins: string[] };
}

describe('cli/operator imports', function () {
  this.timeout(60_000);
  let loaded: { urls: string[]; builtins: string[] };
  before(() => {
    loaded = operatorImports();
  });

  it('loads the controllers (the check sees what the operator loads)', () => {
    expect(
      loaded.urls.some((u) => u.endsWith('/src/controllers/maas-node/reconciler.ts')),
    ).to.equal(true);
  });

  it('leaves the console endpoint and the BMC protocol servers until they are used', () => {
    const lazy = loaded.urls.filter((u) => /\/src\/(console|bmc\/ipmi|bmc\/redfish)\//.test(u));
    expect(lazy).to.deep.equal([]);
  });

  it("does not load undici (node:http's lazy exports, read by an ESM import of it)", () => {
    expect(loaded.builtins.filter((m) => m.includes('undici'))).to.deep.equal([]);
  });
});
