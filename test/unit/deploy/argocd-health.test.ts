// deploy/argocd: the generated argocd-cm patch matches health.lua, and the Lua gives the
// kstatus-ordered verdict for every branch and every kind, run under lua5.1 as Argo CD would.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'chai';
import { parse } from 'yaml';
import {
  ARGOCD_CM_PATCH,
  HEALTH_LUA,
  healthKey,
  renderArgocdCmPatch,
  repoRoot,
} from '../../../hack/gen-argocd-health.js';
import { kinds } from '../../../src/api/v1alpha1/index.js';
import { argoHealth } from '../../support/monitoring.js';
import { branches, object, ready } from '../../support/argocd-health-cases.js';

describe('deploy/argocd', () => {
  it('argocd-cm-patch.yaml is generated from health.lua (run `make crds` when this fails)', async () => {
    const lua = await readFile(join(repoRoot, HEALTH_LUA), 'utf8');
    expect(await readFile(join(repoRoot, ARGOCD_CM_PATCH), 'utf8')).to.equal(
      renderArgocdCmPatch(lua),
    );
  });

  it('the patch carries health.lua, unchanged, for exactly the five maaslab kinds', async () => {
    const lua = await readFile(join(repoRoot, HEALTH_LUA), 'utf8');
    const patch = parse(await readFile(join(repoRoot, ARGOCD_CM_PATCH), 'utf8')) as {
      kind: string;
      metadata: { name: string; namespace: string };
      data: Record<string, string>;
    };
    expect(patch.kind).to.equal('ConfigMap');
    expect(patch.metadata).to.include({ name: 'argocd-cm', namespace: 'argocd' });
    expect(Object.keys(patch.data).sort()).to.deep.equal(
      [
        'resource.customizations.health.maaslab.dev_Hypervisor',
        'resource.customizations.health.maaslab.dev_MaasLab',
        'resource.customizations.health.maaslab.dev_MaasLabSnapshot',
        'resource.customizations.health.maaslab.dev_MaasNode',
        'resource.customizations.health.maaslab.dev_VirtNetwork',
      ].sort(),
    );
    expect(kinds.map((k) => healthKey(k.kind)).sort()).to.deep.equal(
      Object.keys(patch.data).sort(),
    );
    for (const text of Object.values(patch.data)) expect(text).to.equal(lua);
  });

  describe('health.lua under lua5.1', () => {
    for (const b of branches) {
      it(`${b.name} → ${b.expect.status}, for every kind`, async () => {
        const got = await argoHealth(kinds.map((k) => object(k.kind, b.status)));
        expect(got).to.deep.equal(kinds.map(() => b.expect));
      });
    }

    it('one run per object: nothing leaks from one object into the next', async () => {
      const objs = branches.map((b) => object('MaasNode', b.status));
      expect(await argoHealth(objs)).to.deep.equal(branches.map((b) => b.expect));
    });

    it('an object without metadata.generation skips the generation check', async () => {
      const [got] = await argoHealth([
        { kind: 'MaasNode', status: { conditions: [ready('True')] } },
      ]);
      expect(got).to.deep.equal({ status: 'Healthy', message: 'Reconciled' });
    });
  });
});
