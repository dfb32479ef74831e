// The CRD generator: deterministic, structural, bounded for CEL, and in sync with crds/.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { parse } from 'yaml';
import { crdFor, renderCrds, repoRoot } from '../../../hack/gen-crds.js';
import { kinds } from '../../../src/api/v1alpha1/index.js';

type Node = Record<string, unknown>;
const isNode = (v: unknown): v is Node => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Every schema node, with its path, depth first. */
function* walk(node: Node, path: string): Generator<[string, Node]> {
  yield [path, node];
  const props = node['properties'];
  if (isNode(props))
    for (const [name, child] of Object.entries(props))
      if (isNode(child)) yield* walk(child, `${path}.${name}`);
  const items = node['items'];
  if (isNode(items)) yield* walk(items, `${path}[]`);
}

const schemaOf = (crd: Node): Node => {
  const spec = crd['spec'] as Node;
  const version = (spec['versions'] as Node[])[0] as Node;
  return (version['schema'] as Node)['openAPIV3Schema'] as Node;
};

const versionOf = (crd: Node): Node => ((crd['spec'] as Node)['versions'] as Node[])[0] as Node;

describe('hack/gen-crds', () => {
  const crds = kinds.map((k) => [k.kind, crdFor(k) as Node] as const);

  it('is deterministic', () => {
    expect([...renderCrds()]).to.deep.equal([...renderCrds()]);
  });

  it('matches the committed crds/ (run `make crds` and commit when this fails)', () => {
    const dir = join(repoRoot, 'crds');
    const generated = renderCrds();
    expect(readdirSync(dir).sort()).to.deep.equal([...generated.keys()].sort());
    for (const [name, content] of generated)
      expect(readFileSync(join(dir, name), 'utf8'), `crds/${name} is stale`).to.equal(content);
  });

  it('writes YAML that parses back to the CRD objects', () => {
    for (const k of kinds) {
      const text = renderCrds().get(`maaslab.dev_${k.plural}.yaml`);
      expect(parse(text ?? '')).to.deep.equal(crdFor(k));
    }
  });

  for (const [kind, crd] of crds) {
    describe(kind, () => {
      const schema = schemaOf(crd);

      it('is structural: every node has a type (or is int-or-string)', () => {
        for (const [path, node] of walk(schema, kind)) {
          if (node['x-kubernetes-int-or-string'] === true) {
            expect(node['type'], path).to.equal(undefined);
            expect(node['anyOf'], path).to.deep.equal([{ type: 'integer' }, { type: 'string' }]);
          } else {
            expect(node['type'], `${path} has no type`).to.be.a('string');
            expect(node, `${path} uses anyOf`).not.to.have.property('anyOf');
          }
        }
      });

      it('bounds every string and list, so the CEL cost budget holds', () => {
        for (const [path, node] of walk(schema, kind)) {
          if (path === `${kind}.metadata`) continue;
          const bounded =
            'maxLength' in node || 'enum' in node || 'format' in node || 'pattern' in node;
          if (node['type'] === 'string' || node['x-kubernetes-int-or-string'] === true)
            expect(bounded, `${path} has no maxLength/enum/format/pattern`).to.equal(true);
          if (node['type'] === 'array')
            expect(node, `${path} has no maxItems`).to.have.property('maxItems');
        }
      });

      it('describes every property', () => {
        for (const [path, node] of walk(schema, kind))
          if (path !== `${kind}.metadata`)
            expect(node['description'], `${path} has no description`).to.be.a('string');
      });

      it('gives every CEL rule a message', () => {
        for (const [path, node] of walk(schema, kind)) {
          const rules = (node['x-kubernetes-validations'] ?? []) as Node[];
          for (const r of rules)
            expect(
              typeof r['message'] === 'string' || typeof r['messageExpression'] === 'string',
              `${path}: ${String(r['rule'])}`,
            ).to.equal(true);
        }
      });

      it('has the status subresource, the maaslab-all category, short names and columns', () => {
        const version = versionOf(crd);
        expect(version['subresources']).to.deep.equal({ status: {} });
        const names = (crd['spec'] as Node)['names'] as Node;
        expect(names['categories']).to.deep.equal(['maaslab-all']);
        expect(names['shortNames']).to.have.length.greaterThan(0);
        const columns = version['additionalPrinterColumns'] as Node[];
        expect(columns.map((c) => c['name'])).to.include.members(['Ready', 'Age']);
        expect(columns.find((c) => c['name'] === 'Ready')?.['jsonPath']).to.equal(
          '.status.conditions[?(@.type=="Ready")].status',
        );
      });

      it('declares conditions as a map keyed by type, and observedGeneration', () => {
        const status = (schema['properties'] as Node)['status'] as Node;
        const props = status['properties'] as Node;
        const conditions = props['conditions'] as Node;
        expect(conditions['x-kubernetes-list-type']).to.equal('map');
        expect(conditions['x-kubernetes-list-map-keys']).to.deep.equal(['type']);
        expect((props['observedGeneration'] as Node)['type']).to.equal('integer');
      });
    });
  }

  it('makes spec.hypervisor selectable on VirtNetwork and MaasNode', () => {
    const selectable = Object.fromEntries(
      crds.map(([kind, crd]) => [kind, versionOf(crd)['selectableFields'] ?? []]),
    );
    expect(selectable['VirtNetwork']).to.deep.equal([{ jsonPath: '.spec.hypervisor' }]);
    expect(selectable['MaasNode']).to.deep.equal([{ jsonPath: '.spec.hypervisor' }]);
  });

  it('has the printer columns the issue lists', () => {
    const columns = Object.fromEntries(
      crds.map(([kind, crd]) => [
        kind,
        (versionOf(crd)['additionalPrinterColumns'] as Node[]).map((c) => c['name']),
      ]),
    );
    expect(columns).to.deep.equal({
      Hypervisor: ['URI', 'Ready', 'CPUs', 'Memory', 'Age'],
      VirtNetwork: ['Hypervisor', 'Mode', 'Address', 'Bridge', 'Ready', 'Age'],
      MaasLabSnapshot: ['Lab', 'Mode', 'Phase', 'ReadyToUse', 'Size', 'Ready', 'Age'],
      MaasNode: ['Hypervisor', 'Status', 'MAC', 'VNC', 'MAAS', 'Ready', 'Age'],
      MaasLab: [
        'Hypervisor',
        'Nodes',
        'Status',
        'MAAS',
        'MAAS-Reachable',
        'Restore',
        'Ready',
        'Age',
      ],
    });
  });

  it('carries the defaults', () => {
    const at = (kind: string, path: string): unknown => {
      const crd = crds.find(([k]) => k === kind)?.[1];
      let node = schemaOf(crd as Node);
      for (const p of path.split('.')) node = (node['properties'] as Node)[p] as Node;
      return node['default'];
    };
    expect(at('Hypervisor', 'spec.storagePool')).to.equal('default');
    expect(at('Hypervisor', 'spec.unschedulable')).to.equal(false);
    expect(at('VirtNetwork', 'spec.mode')).to.equal('nat');
    expect(at('VirtNetwork', 'spec.autostart')).to.equal(true);
    expect(at('VirtNetwork', 'spec.bridge.stp')).to.equal(true);
    expect(at('MaasNode', 'spec.vcpus')).to.equal(1);
    expect(at('MaasNode', 'spec.memory')).to.equal('1Gi');
    expect(at('MaasNode', 'spec.arch')).to.equal('x86_64');
    expect(at('MaasNode', 'spec.firmware')).to.equal('bios');
    expect(at('MaasNode', 'spec.bootOrder')).to.deep.equal(['network', 'disk']);
    expect(at('MaasNode', 'spec.vnc')).to.deep.equal({});
    expect(at('MaasNode', 'spec.vnc.enabled')).to.equal(true);
    expect(at('MaasNode', 'spec.vnc.listen')).to.equal('127.0.0.1');
    // No server default: it depends on spec.bmc (Manual with a BMC, Always without).
    expect(at('MaasNode', 'spec.runStrategy')).to.equal(undefined);
    expect(at('MaasNode', 'spec.bmc.type')).to.equal('none');
    expect(at('Hypervisor', 'spec.bmc.redfishPort')).to.equal(8443);
    expect(at('Hypervisor', 'spec.bmc.ipmiPortRange')).to.equal('6230-6329');
    expect(at('Hypervisor', 'spec.bmc.redfishScheme')).to.equal('https');
    expect(at('MaasNode', 'spec.haltMode')).to.equal('Shutdown');
    expect(at('MaasLab', 'spec.nodes.namePrefix')).to.equal('node');
    expect(at('MaasLab', 'spec.nodes.template')).to.deep.equal({});
    expect(at('MaasLab', 'spec.nodes.template.memory')).to.equal('1Gi');
  });

  it('lists the printable statuses the issue names', () => {
    const mn = schemaOf(crds.find(([k]) => k === 'MaasNode')?.[1] as Node);
    const status = (mn['properties'] as Node)['status'] as Node;
    expect(((status['properties'] as Node)['printableStatus'] as Node)['enum']).to.deep.equal([
      'Pending',
      'Provisioning',
      'Starting',
      'Running',
      'Stopped',
      'Saved',
      'Paused',
      'Terminating',
      'Failed',
      'Unknown',
    ]);
  });
});
