import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'chai';
import { parseAllDocuments } from 'yaml';
import { mergeRules, renderRbac, repoRoot } from '../../../hack/gen-rbac.js';

describe('hack/gen-rbac', () => {
  const dir = join(repoRoot, 'deploy', 'rbac');

  it('matches the committed deploy/rbac (run `make crds` when this fails)', async () => {
    const rendered = renderRbac();
    const committed = (await readdir(dir)).filter((f) => f.endsWith('.yaml')).sort();
    expect(committed).to.deep.equal([...rendered.keys()].sort());
    for (const [name, content] of rendered) {
      expect(await readFile(join(dir, name), 'utf8'), name).to.equal(content);
    }
  });

  it('grants no wildcard anywhere', () => {
    for (const [name, content] of renderRbac()) {
      for (const doc of parseAllDocuments(content)) {
        expect(JSON.stringify(doc.toJS()), name).not.to.include('*');
      }
    }
  });

  it('unions verbs per resource and groups resources with equal verbs', () => {
    expect(
      mergeRules([
        [{ apiGroups: ['g'], resources: ['b'], verbs: ['list', 'get'] }],
        [
          { apiGroups: ['g'], resources: ['a'], verbs: ['get'] },
          { apiGroups: ['g'], resources: ['a'], verbs: ['list'] },
          { apiGroups: [''], resources: ['events'], verbs: ['create'] },
        ],
      ]),
    ).to.deep.equal([
      { apiGroups: [''], resources: ['events'], verbs: ['create'] },
      { apiGroups: ['g'], resources: ['a', 'b'], verbs: ['get', 'list'] },
    ]);
  });

  it('refuses wildcards', () => {
    expect(() => mergeRules([[{ apiGroups: ['*'], resources: ['x'], verbs: ['get'] }]])).to.throw(
      /wildcard/,
    );
    expect(() => mergeRules([[{ apiGroups: ['g'], resources: ['x'], verbs: ['*'] }]])).to.throw(
      /wildcard/,
    );
  });
});
