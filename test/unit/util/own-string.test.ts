import { expect } from 'chai';
import { ownString } from '../../../src/util/own-string.js';

describe('util/own-string', () => {
  it('returns an equal string for short, long, ASCII and non-ASCII values', () => {
    const xml = `<owner namespace="scale-1-622h7" uid="0f1c2d3e-4a5b-6c7d-8e9f-a0b1c2d3e4f5" name="nœud-é-日本-🙂-node-0001"/>`;
    for (const cut of [
      xml.slice(18, 31),
      xml.slice(38, 74),
      xml.slice(82, -3),
      xml.slice(18, 20),
      '',
      xml,
    ]) {
      const own = ownString(cut);
      expect(own).to.equal(cut);
      expect(own.length).to.equal(cut.length);
    }
  });

  it('passes undefined through', () => {
    expect(ownString(undefined)).to.equal(undefined);
  });
});

describe('owner stamps parsed from XML', () => {
  it('hold no slice of the XML they were parsed from (V8 says so under --allow-natives-syntax)', async () => {
    // A child process: %DebugPrint names each string's representation. Its output goes to a
    // file: through a pipe, the tail of V8's long dump can be lost at exit.
    const { spawnSync } = await import('node:child_process');
    const { mkdtempSync, openSync, closeSync, readFileSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { fileURLToPath } = await import('node:url');
    const metadata = fileURLToPath(
      new URL('../../../src/libvirt/xml/metadata.ts', import.meta.url),
    );
    const script = `
      const { parseOwnerMetadata, MAASLAB_XMLNS } = await import(${JSON.stringify(metadata)});
      const xml = '<maaslab:owner xmlns:maaslab="' + MAASLAB_XMLNS + '" kind="MaasNode"' +
        ' namespace="scale-1-622h7" name="lab-node-000001" uid="0f1c2d3e-4a5b-6c7d-8e9f-a0b1c2d3e4f5"' +
        ' specHash="0123456789abcdef0123"/>' + ' '.repeat(2000);
      const owner = parseOwnerMetadata(xml);
      for (const v of [owner.namespace, owner.name, owner.uid, owner.specHash]) %DebugPrint(v);
    `;
    const dir = mkdtempSync(join(tmpdir(), 'own-string-'));
    let stdout: string;
    try {
      const out = openSync(join(dir, 'out'), 'w');
      const child = spawnSync(
        process.execPath,
        ['--import', 'tsx', '--allow-natives-syntax', '--input-type=module', '-e', script],
        { stdio: ['ignore', out, 'inherit'] },
      );
      closeSync(out);
      expect(child.status).to.equal(0);
      stdout = readFileSync(join(dir, 'out'), 'utf8');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const types = [...stdout.matchAll(/- type: (\w+)/g)].map((m) => m[1]);
    expect(stdout).to.include('scale-1-622h7').and.include('0f1c2d3e-4a5b-6c7d-8e9f-a0b1c2d3e4f5');
    expect(types.length).to.be.at.least(4);
    expect(types.filter((t) => t?.startsWith('SLICED'))).to.deep.equal([]);
  });
});
