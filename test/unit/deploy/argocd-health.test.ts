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
import { GroupVersion, kinds } from '../../../src/api/v1alpha1/index.js';
import { type ArgoHealth, argoHealth } from '../../support/monitoring.js';

type Condition = { type: string; status: string; reason?: string; message?: string };

/** An object of `kind` at generation 3, with the given status (none when undefined). */
const object = (
  kind: string,
  status?: { observedGeneration?: number; conditions?: Condition[] } | null,
): Record<string, unknown> => ({
  apiVersion: GroupVersion,
  kind,
  metadata: { name: 'x', generation: 3 },
  ...(status !== undefined && { status }),
});

const ready = (status: string, reason = 'Reconciled', message = ''): Condition => ({
  type: 'Ready',
  status,
  reason,
  message,
});

/** Each branch of health.lua, in its order, with an object that takes it and the verdict. */
const branches: ReadonlyArray<{
  name: string;
  status: Parameters<typeof object>[1];
  expect: ArgoHealth;
}> = [
  {
    name: '1: observedGeneration behind generation (even with Ready=True)',
    status: { observedGeneration: 2, conditions: [ready('True')] },
    expect: {
      status: 'Progressing',
      message: 'Waiting for the controller to observe generation 3',
    },
  },
  {
    name: '1: no status at all',
    status: undefined,
    expect: {
      status: 'Progressing',
      message: 'Waiting for the controller to observe generation 3',
    },
  },
  {
    name: '1: status null',
    status: null,
    expect: {
      status: 'Progressing',
      message: 'Waiting for the controller to observe generation 3',
    },
  },
  {
    name: '2: Stalled=True',
    status: {
      observedGeneration: 3,
      conditions: [
        ready('False', 'NameConflict', 'a domain of that name exists'),
        {
          type: 'Stalled',
          status: 'True',
          reason: 'NameConflict',
          message: 'a domain of that name exists',
        },
      ],
    },
    expect: { status: 'Degraded', message: 'a domain of that name exists' },
  },
  {
    name: '2: Stalled=True wins over Reconciling=True',
    status: {
      observedGeneration: 3,
      conditions: [
        { type: 'Reconciling', status: 'True', reason: 'Progressing', message: 'creating' },
        { type: 'Stalled', status: 'True', reason: 'MacCollision', message: '' },
      ],
    },
    expect: { status: 'Degraded', message: 'MacCollision' },
  },
  {
    name: '3: Reconciling=True',
    status: {
      observedGeneration: 3,
      conditions: [
        ready('Unknown', 'HypervisorUnreachable', 'libvirt cannot be reached'),
        {
          type: 'Reconciling',
          status: 'True',
          reason: 'HypervisorUnreachable',
          message: 'libvirt cannot be reached',
        },
      ],
    },
    expect: { status: 'Progressing', message: 'libvirt cannot be reached' },
  },
  {
    name: '4: Ready=True (Stalled and Reconciling False)',
    status: {
      observedGeneration: 3,
      conditions: [
        ready('True', 'Reconciled', 'nodes 3/3 ready'),
        { type: 'Reconciling', status: 'False', reason: 'Done' },
        { type: 'Stalled', status: 'False', reason: 'Fine' },
      ],
    },
    expect: { status: 'Healthy', message: 'nodes 3/3 ready' },
  },
  {
    name: '4: Ready=True, reason Halted (a node off as declared is healthy)',
    status: {
      observedGeneration: 3,
      conditions: [ready('True', 'Halted', 'the domain is saved')],
    },
    expect: { status: 'Healthy', message: 'the domain is saved' },
  },
  {
    name: '5: Ready=False for any other reason, nothing in progress',
    status: {
      observedGeneration: 3,
      conditions: [ready('False', 'NodesNotReady', 'nodes 2/3 ready')],
    },
    expect: { status: 'Progressing', message: 'Waiting for the Ready condition' },
  },
  {
    name: '5: no Ready condition yet',
    status: { observedGeneration: 3, conditions: [] },
    expect: { status: 'Progressing', message: 'Waiting for the Ready condition' },
  },
  {
    name: '5: Ready=Unknown without Reconciling',
    status: { observedGeneration: 3, conditions: [ready('Unknown', 'Unknown')] },
    expect: { status: 'Progressing', message: 'Waiting for the Ready condition' },
  },
];

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
