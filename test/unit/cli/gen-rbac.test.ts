import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'chai';
import { parseAllDocuments } from 'yaml';
import {
  RbacDirs,
  mergeRules,
  renderAgentRbac,
  renderRbac,
  repoRoot,
} from '../../../hack/gen-rbac.js';

describe('hack/gen-rbac', () => {
  const rendered = [
    [RbacDirs.base, renderRbac()],
    [RbacDirs.agent, renderAgentRbac()],
  ] as const;

  for (const [dir, files] of rendered) {
    it(`matches the committed ${dir} (run \`make crds\` when this fails)`, async () => {
      const committed = (await readdir(join(repoRoot, dir))).filter((f) => f.endsWith('.yaml'));
      // Generated files only: hand-written manifests may sit beside them in an overlay.
      expect(committed.sort()).to.include.members([...files.keys()]);
      for (const [name, content] of files) {
        expect(await readFile(join(repoRoot, dir, name), 'utf8'), name).to.equal(content);
      }
    });
  }

  it('grants no wildcard anywhere', () => {
    for (const [dir, files] of rendered) {
      for (const [name, content] of files) {
        for (const doc of parseAllDocuments(content)) {
          expect(JSON.stringify(doc.toJS()), join(dir, name)).not.to.include('*');
        }
      }
    }
  });

  it('lets a MaasLab block the deletion of its children (maaslabs/finalizers update)', () => {
    const role = parseAllDocuments(renderRbac().get('role.yaml') ?? '')[0]?.toJS() as {
      rules: { resources: string[]; verbs: string[] }[];
    };
    const rule = role.rules.find((r) => r.resources.includes('maaslabs/finalizers'));
    expect(rule?.verbs).to.deep.equal(['update']);
  });

  it('gives the agent create and patch on hypervisors, nothing else', () => {
    const role = parseAllDocuments(
      renderAgentRbac().get('registration-role.yaml') ?? '',
    )[0]?.toJS();
    expect(role)
      .to.have.nested.property('rules')
      .that.deep.equals([
        { apiGroups: ['maaslab.dev'], resources: ['hypervisors'], verbs: ['create', 'patch'] },
      ]);
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
