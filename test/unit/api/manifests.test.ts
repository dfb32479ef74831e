// The example and invalid manifests are well-formed data; the real API server judges them in
// test/integration/api.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { TypeRegistry } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { expect } from 'chai';
import { parseAllDocuments } from 'yaml';
import { repoRoot } from '../../../hack/gen-crds.js';
import { kinds } from '../../../src/api/v1alpha1/index.js';

// metadata is Type.Unsafe (Kubernetes' own shape); the checker only needs to accept it.
if (!TypeRegistry.Has('Unsafe')) TypeRegistry.Set('Unsafe', () => true);

const examplesDir = join(repoRoot, 'examples');
const invalidDir = join(repoRoot, 'test', 'invalid');

describe('examples/', () => {
  const files = readdirSync(examplesDir).filter((f) => f.endsWith('.yaml'));

  it('has one example per kind plus the recipe lab', () => {
    expect(files).to.include.members([
      'maaslab_v1alpha1_hypervisor.yaml',
      'maaslab_v1alpha1_virtnetwork.yaml',
      'maaslab_v1alpha1_maasnode.yaml',
      'maaslab_v1alpha1_maaslab.yaml',
      'recipe-lab.yaml',
    ]);
  });

  for (const file of files)
    it(`${file} matches the TypeBox schema (CEL is left to the API server)`, () => {
      for (const doc of parseAllDocuments(readFileSync(join(examplesDir, file), 'utf8'))) {
        const obj = doc.toJS() as { kind: string };
        // A core kind beside ours (the BMC example's credentials Secret): the API server checks it.
        if (obj.kind === 'Secret') continue;
        const info = kinds.find((k) => k.kind === obj.kind);
        if (info === undefined) throw new Error(`${file}: unknown kind ${obj.kind}`);
        const errors = [...Value.Errors(info.schema, obj)].map((e) => `${e.path}: ${e.message}`);
        expect(errors).to.deep.equal([]);
      }
    });

  it('deploy/flux/labs/lab.yaml, the lab Flux applies, matches the TypeBox schema', () => {
    const text = readFileSync(join(repoRoot, 'deploy', 'flux', 'labs', 'lab.yaml'), 'utf8');
    const obj = parseAllDocuments(text)[0]?.toJS() as { kind: string };
    const info = kinds.find((k) => k.kind === obj.kind);
    expect(info?.kind).to.equal('MaasLab');
    expect(
      [...Value.Errors(info!.schema, obj)].map((e) => `${e.path}: ${e.message}`),
    ).to.deep.equal([]);
  });

  it('recipe-lab.yaml is the manual recipe: 3 nodes, MACs 52:54:00:7f:04:01..03', () => {
    const docs = parseAllDocuments(readFileSync(join(examplesDir, 'recipe-lab.yaml'), 'utf8')).map(
      (d) => d.toJS() as { kind: string; spec: Record<string, unknown> },
    );
    expect(docs.map((d) => d.kind)).to.deep.equal(['Hypervisor', 'MaasLab']);
    const lab = docs[1]?.spec as {
      nodes: { count: number; macPrefix: string; template: Record<string, unknown> };
      networks: { ipv4: Record<string, unknown> }[];
    };
    expect(lab.nodes.count).to.equal(3);
    expect(lab.nodes.macPrefix).to.equal('52:54:00:7f:04');
    expect(lab.nodes.template['memory']).to.equal('1Gi');
    expect(lab.nodes.template['bootOrder']).to.deep.equal(['network', 'disk']);
    expect(lab.networks[0]?.ipv4).not.to.have.property('dhcp');
  });
});

describe('test/invalid/', () => {
  const files = readdirSync(invalidDir, { recursive: true, encoding: 'utf8' }).filter((f) =>
    f.endsWith('.yaml'),
  );

  it('holds at least 60 invalid manifests', () => {
    expect(files.length).to.be.at.least(60);
  });

  it('gives each an "# expect:" header that names a field', () => {
    for (const file of files) {
      const first = readFileSync(join(invalidDir, file), 'utf8').split('\n')[0] ?? '';
      expect(first, file).to.match(/^# expect: \S/);
      expect(first, file).to.match(/spec|metadata|storagePoolPath|memory/);
    }
  });
});
