// The pinned kubectl (bin/kubectl, the control plane's release) against real objects of each
// kind: every word a user may type for a kind — singular, plural, short name — works with
// get, describe, wait and delete, `kubectl get maaslab-all` lists every kind, and no word of
// ours is taken by a stock resource of this kube-apiserver. No operator runs here: the
// objects get no finalizer, and the test sets their Ready condition itself.
import { expect } from 'chai';
import { Group, kinds, type KindInfo } from '../../../src/api/v1alpha1/index.js';
import { controlPlane } from '../../support/controlplane.js';
import { createTestNamespace, type TestNamespace } from '../../support/namespace.js';
import {
  type ResourceNames,
  nameClashes,
  ourResourceNames,
  resourceWords,
} from '../../support/resource-names.js';
import { adminKube, type Kube, type KubectlResult } from './kube.js';

/** A spec each kind accepts; Hypervisors point at the in-process test driver. */
const specs: Readonly<Record<string, Record<string, unknown>>> = {
  Hypervisor: { uri: 'test:///default' },
  VirtNetwork: { hypervisor: 'kubectl-hv' },
  MaasNode: { hypervisor: 'kubectl-hv' },
  MaasLab: { hypervisor: 'kubectl-hv', nodes: { count: 0 } },
  MaasLabSnapshot: { lab: 'kubectl-lab' },
};

/** The words a user types for a kind, by what they are. */
const forms = (k: KindInfo): ReadonlyArray<readonly [string, string]> => [
  ['singular', k.singular],
  ['plural', k.plural],
  ...k.shortNames.map((s) => ['short name', s] as const),
];

describe('api: kubectl on every kind, by each of its names', function () {
  this.timeout(120_000);
  let kube: Kube;
  let ns: TestNamespace;
  /** Hypervisors are cluster-scoped: names unique to this run, deleted in after(). */
  const hypervisors = new Set<string>();

  before(async () => {
    kube = adminKube();
    ns = await createTestNamespace(controlPlane().kubeConfig('admin'), 'kubectl');
  });

  after(async () => {
    for (const name of hypervisors)
      await kube.kubectl(['delete', 'hypervisors.maaslab.dev', name, '--ignore-not-found']);
    await ns?.delete();
  });

  /** Runs kubectl and fails with its stderr unless it exited 0; resolves to stdout. */
  const ok = async (args: readonly string[], input?: string): Promise<string> => {
    const r: KubectlResult = await kube.kubectl(args, input);
    expect(r.code, `kubectl ${args.join(' ')}: ${r.stderr}`).to.equal(0);
    return r.stdout;
  };
  /** `-n NS` for namespaced kinds, nothing for cluster-scoped ones. */
  const nsArgs = (k: KindInfo): string[] => (k.scope === 'Namespaced' ? ['-n', ns.name] : []);
  const objectName = (k: KindInfo, label: string): string => {
    const base = label.replace(/ /g, '-');
    if (k.scope === 'Namespaced') return base;
    const name = `${ns.name}-${base}`;
    hypervisors.add(name);
    return name;
  };

  /** Creates an object of kind `k` and sets its Ready condition to True through /status. */
  async function createReady(k: KindInfo, name: string, word: string): Promise<void> {
    const object = {
      apiVersion: `${Group}/v1alpha1`,
      kind: k.kind,
      metadata: { name },
      spec: specs[k.kind],
    };
    await ok(['create', ...nsArgs(k), '-f', '-'], JSON.stringify(object));
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const status = {
      status: {
        conditions: [
          {
            type: 'Ready',
            status: 'True',
            reason: 'SetByTest',
            message: 'set by the kubectl test: no operator runs here',
            lastTransitionTime: now,
          },
        ],
      },
    };
    await ok([
      'patch',
      word,
      name,
      ...nsArgs(k),
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify(status),
    ]);
  }

  for (const k of kinds) {
    for (const [label, word] of forms(k)) {
      it(`${k.kind} as "${word}" (${label}): get, describe, wait for Ready, delete`, async () => {
        const name = objectName(k, label);
        await createReady(k, name, word);
        const full = `${k.singular}.${Group}/${name}`;

        // `kubectl get maaslab recipe` failed while `maaslab` was also the category.
        expect((await ok(['get', word, name, ...nsArgs(k), '-o', 'name'])).trim()).to.equal(full);
        expect(await ok(['get', word, name, ...nsArgs(k)])).to.match(
          new RegExp(`^${name}\\s.*\\bTrue\\b`, 'm'),
        );
        const described = await ok(['describe', word, name, ...nsArgs(k)]);
        expect(described).to.match(new RegExp(`^Name:\\s+${name}$`, 'm'));
        expect(described).to.match(new RegExp(`^Kind:\\s+${k.kind}$`, 'm'));
        expect(described).to.contain('SetByTest');
        expect(
          await ok([
            'wait',
            '--for=condition=Ready',
            `${word}/${name}`,
            ...nsArgs(k),
            '--timeout=30s',
          ]),
        ).to.contain(`${full} condition met`);
        expect(await ok(['delete', word, name, ...nsArgs(k)])).to.contain(
          `${k.singular}.${Group} "${name}" deleted`,
        );
        const gone = await kube.kubectl(['get', word, name, ...nsArgs(k)]);
        expect(gone.code).to.equal(1);
        expect(gone.stderr).to.contain('NotFound');
      });
    }
  }

  it('lists every kind with `kubectl get maaslab-all`; `kubectl get maaslab` is MaasLabs alone', async () => {
    const names = new Map<string, string>();
    for (const k of kinds) {
      const name = objectName(k, 'all');
      names.set(k.kind, name);
      await createReady(k, name, k.plural);
    }
    const listed = await ok(['get', 'maaslab-all', '-n', ns.name, '-o', 'name']);
    for (const k of kinds)
      expect(listed, k.kind).to.contain(`${k.singular}.${Group}/${names.get(k.kind) ?? ''}\n`);
    // The table form too: one block per kind, each object Ready.
    const table = await ok(['get', 'maaslab-all', '-n', ns.name]);
    for (const k of kinds) expect(table).to.match(new RegExp(`^${k.singular}\\.${Group}/`, 'm'));

    const labs = (await ok(['get', 'maaslab', '-n', ns.name, '-o', 'name'])).trim().split('\n');
    expect(labs).to.include(`maaslab.${Group}/${names.get('MaasLab') ?? ''}`);
    for (const line of labs) expect(line).to.match(new RegExp(`^maaslab\\.${Group}/`));
  });

  it('no name, short name or category of ours is a stock resource’s word', async () => {
    // Discovery of this kube-apiserver, less every group that comes from a CRD (ours, and
    // whatever other tests installed): the resources a stock cluster of this release serves.
    const crdGroups = new Set(
      (await ok(['get', 'crds', '-o', 'jsonpath={.items[*].spec.group}'])).split(/\s+/),
    );
    // An APIResourceList; `group` is left out for the core group.
    const { resources } = JSON.parse(await ok(['api-resources', '-o', 'json'])) as {
      resources: Array<Omit<ResourceNames, 'group'> & { group?: string }>;
    };
    const served: ResourceNames[] = resources.map((r) => ({ ...r, group: r.group ?? '' }));
    const stock = served.filter((r) => !crdGroups.has(r.group) && !r.name.includes('/'));
    // A sanity check that this is the stock list it claims to be.
    const pods = stock.find((r) => r.group === '' && r.name === 'pods');
    expect(pods?.shortNames).to.deep.equal(['po']);
    expect(pods?.categories).to.include('all');
    expect(stock.length).to.be.above(40);

    // And that discovery names ours as crds/ declares them.
    for (const ours of ourResourceNames) {
      const mine = served.find((r) => r.group === Group && r.name === ours.name);
      expect(mine && [...resourceWords(mine)], ours.name).to.have.members([...resourceWords(ours)]);
      expect(mine?.categories, ours.name).to.deep.equal(ours.categories);
    }

    expect(nameClashes(ourResourceNames, stock)).to.deep.equal([]);
    // The check bites on this list: a short name `po` would be caught.
    const withPo = ourResourceNames.map((r) => ({ ...r, shortNames: ['po'] }));
    expect(nameClashes(withPo, stock)).to.include(
      '"po" names both hypervisors.maaslab.dev and pods',
    );
  });
});
