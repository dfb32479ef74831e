import { expect } from 'chai';
import type { MaasLab } from '../../../../src/api/v1alpha1/index.js';
import {
  LabLabel,
  childAction,
  collisionsBlocking,
  controllerPxeMac,
  desiredChildren,
  labNodeName,
  macCollisions,
  networksToDelete,
  nodesToDelete,
  prefixMac,
} from '../../../../src/controllers/maas-lab/desired.js';
import { defaultMac } from '../../../../src/controllers/maas-node/desired.js';
import { withSchemaDefaults } from '../../../../src/api/v1alpha1/defaults.js';
import { deepFreeze } from '../../../../src/runtime/index.js';
import { MaasNodeSpecSchema } from '../../../../src/api/v1alpha1/index.js';
import { node, recipeLab } from '../fixtures.js';

/** A lab like the recipe's, renamed, with other counts or prefixes. */
function lab(name: string, nodes: Partial<MaasLab['spec']['nodes']>, created: string): MaasLab {
  const base = recipeLab();
  return {
    ...base,
    metadata: { ...base.metadata, name, uid: `${name}-uid`, creationTimestamp: new Date(created) },
    spec: { ...base.spec, nodes: { ...base.spec.nodes, ...nodes } },
  };
}

describe('controllers/maas-lab/desired', () => {
  describe('desiredChildren kept per lab until its spec changes', () => {
    it('hands out the same frozen children for the same identity and spec', () => {
      const first = desiredChildren(lab('kept', { count: 3 }, '2026-01-01T00:00:00Z'));
      const again = desiredChildren(lab('kept', { count: 3 }, '2026-01-01T00:00:00Z'));
      expect(again).to.equal(first);
      expect(Object.isFrozen(first.nodes[0]?.spec.interfaces?.[0])).to.equal(true);
    });

    it('builds them again for another spec, or another lab of the same UID', () => {
      const three = desiredChildren(lab('kept2', { count: 3 }, '2026-01-01T00:00:00Z'));
      const four = desiredChildren(lab('kept2', { count: 4 }, '2026-01-01T00:00:00Z'));
      expect(four.nodes).to.have.length(4);
      expect(desiredChildren(lab('kept2', { count: 3 }, '2026-01-01T00:00:00Z'))).to.not.equal(
        three,
      );
      const base = lab('kept3', { count: 1 }, '2026-01-01T00:00:00Z');
      const moved = { ...base, metadata: { ...base.metadata, namespace: 'elsewhere' } };
      desiredChildren(base);
      expect(desiredChildren(moved).nodes[0]?.metadata?.namespace).to.equal('elsewhere');
    });
  });

  describe('childAction', () => {
    it('answers the same for the same frozen pair, and anew for a changed child', () => {
      const [desired] = desiredChildren(lab('acts', { count: 1 }, '2026-01-01T00:00:00Z')).nodes;
      if (!desired) throw new Error('no node');
      const same = deepFreeze(structuredClone(desired));
      expect(childAction(desired, same)).to.equal('none');
      expect(childAction(desired, same)).to.equal('none');
      const changed = deepFreeze({ ...same, spec: { ...same.spec, memory: '3Gi' } });
      expect(childAction(desired, changed)).to.equal('update');
      // Not frozen: asked afresh every time, so a later edit counts.
      const open = structuredClone(desired);
      expect(childAction(desired, open)).to.equal('none');
      open.spec = { ...open.spec, memory: '3Gi' };
      expect(childAction(desired, open)).to.equal('update');
    });
  });

  describe('desiredChildren (the recipe lab)', () => {
    const { networks, nodes } = desiredChildren(recipeLab());

    it('one VirtNetwork <lab>-<network> with every default spelled out', () => {
      expect(networks).to.deep.equal([
        {
          apiVersion: 'maaslab.dev/v1alpha1',
          kind: 'VirtNetwork',
          metadata: {
            name: 'recipe-maas',
            namespace: 'maas',
            labels: { [LabLabel]: 'recipe' },
            // Created with its cleanup finalizer: its controller needs no write to add it.
            finalizers: ['maaslab.dev/cleanup'],
            ownerReferences: [
              {
                apiVersion: 'maaslab.dev/v1alpha1',
                kind: 'MaasLab',
                name: 'recipe',
                uid: 'lab-uid',
                controller: true,
                blockOwnerDeletion: true,
              },
            ],
          },
          spec: {
            hypervisor: 'local',
            mode: 'isolated',
            ipv4: { address: '10.77.0.1', prefixLength: 24 },
            autostart: true,
          },
        },
      ]);
    });

    it('MaasNodes recipe-node1..3 with MACs 52:54:00:7f:04:01..03 and full specs', () => {
      expect(nodes.map((n) => n.metadata?.name)).to.deep.equal([
        'recipe-node1',
        'recipe-node2',
        'recipe-node3',
      ]);
      expect(nodes.map((n) => n.spec.interfaces?.[0]?.mac)).to.deep.equal([
        '52:54:00:7f:04:01',
        '52:54:00:7f:04:02',
        '52:54:00:7f:04:03',
      ]);
      expect(nodes[0]?.spec).to.deep.equal({
        hypervisor: 'local',
        vcpus: 1,
        memory: '1Gi',
        arch: 'x86_64',
        firmware: 'bios',
        bootOrder: ['network', 'disk'],
        disks: [
          { name: 'root', size: '8Gi', bus: 'virtio', format: 'qcow2', deletionPolicy: 'Delete' },
        ],
        interfaces: [{ network: 'recipe-maas', mac: '52:54:00:7f:04:01', model: 'virtio' }],
        vnc: { enabled: true, listen: '127.0.0.1' },
        runStrategy: 'Always',
        haltMode: 'Shutdown',
      });
      expect(nodes[0]?.metadata?.ownerReferences?.[0]?.controller).to.equal(true);
      expect(nodes[0]?.metadata?.finalizers).to.deep.equal(['maaslab.dev/cleanup']);
    });
  });

  it('a template BMC goes to every node, with runStrategy Manual unless the template says', () => {
    const lab = (template: MaasLab['spec']['nodes']['template']): MaasLab => ({
      metadata: { name: 'l', namespace: 'ns', uid: 'u' },
      spec: { hypervisor: 'h', nodes: { count: 2, template } },
    });
    const bmc = { type: 'ipmi' as const, credentialsSecretRef: { name: 'creds' } };
    const managed = desiredChildren(lab({ bmc })).nodes.map((n) => n.spec);
    expect(managed.map((s) => s.bmc)).to.deep.equal([bmc, bmc]);
    expect(managed.map((s) => s.runStrategy)).to.deep.equal(['Manual', 'Manual']);
    const always = desiredChildren(lab({ bmc, runStrategy: 'Always' })).nodes[0]?.spec;
    expect(always?.runStrategy).to.equal('Always');
    const none = desiredChildren(lab({ bmc: { type: 'none' } })).nodes[0]?.spec;
    expect(none?.bmc).to.deep.equal({ type: 'none' });
    expect(none?.runStrategy).to.equal('Always');
    const plain = desiredChildren(lab({})).nodes[0]?.spec;
    expect(plain).not.to.have.property('bmc');
    expect(plain?.runStrategy).to.equal('Always');
  });

  it('an empty template gets every default, derived MACs, and further NICs derived', () => {
    const l: MaasLab = {
      metadata: { name: 'l', namespace: 'ns', uid: 'u' },
      spec: {
        hypervisor: 'h',
        networks: [
          { name: 'a', bridge: { name: 'br9' } },
          { name: 'b', mode: 'route', domain: 'x', mtu: 1400 },
        ],
        nodes: {
          count: 1,
          template: {
            interfaces: [{ network: 'a' }, { network: 'b', name: 'second', model: 'e1000' }],
            disks: [{ name: 'd', size: '1Gi', pool: 'p', deletionPolicy: 'Retain' }],
            restartToken: 't1',
          },
        },
      },
    };
    const { networks, nodes } = desiredChildren(l);
    expect(networks.map((n) => n.spec)).to.deep.equal([
      { hypervisor: 'h', mode: 'nat', bridge: { name: 'br9', stp: true }, autostart: true },
      { hypervisor: 'h', mode: 'route', domain: 'x', mtu: 1400, autostart: true },
    ]);
    const spec = nodes[0]!.spec;
    expect(nodes[0]?.metadata?.name).to.equal('l-node1');
    expect(spec.interfaces).to.deep.equal([
      { network: 'l-a', mac: defaultMac('ns', 'l-node1', 0), model: 'virtio' },
      { name: 'second', network: 'l-b', mac: defaultMac('ns', 'l-node1', 1), model: 'e1000' },
    ]);
    expect(spec.disks).to.deep.equal([
      {
        name: 'd',
        size: '1Gi',
        bus: 'virtio',
        format: 'qcow2',
        pool: 'p',
        deletionPolicy: 'Retain',
      },
    ]);
    expect(spec.restartToken).to.equal('t1');
  });

  it('a macPrefix only sets the first NIC; further NICs are derived', () => {
    const l = lab('x', { count: 1 }, '2026-01-01T00:00:00Z');
    l.spec.nodes.template = { interfaces: [{ network: 'maas' }, { network: 'maas' }] };
    const nics = desiredChildren(l).nodes[0]?.spec.interfaces;
    expect(nics?.map((n) => n.mac)).to.deep.equal([
      '52:54:00:7f:04:01',
      defaultMac('maas', 'x-node1', 1),
    ]);
  });

  it('defaults the template once, yet every node is what defaulting it alone gives, and none shares an object with another', () => {
    const bmc = { type: 'redfish' as const, credentialsSecretRef: { name: 'creds' } };
    const variants: Array<MaasLab['spec']['nodes']['template']> = [
      undefined,
      recipeLab().spec.nodes.template,
      { bmc, interfaces: [{ network: 'maas' }, { network: 'maas', model: 'e1000' }] },
      { firmware: 'uefi', disks: [{ name: 'root', size: '8Gi' }], interfaces: [] },
    ];
    for (const template of variants) {
      for (const macPrefix of [undefined, '52:54:00:7f:04']) {
        const l = lab('v', { count: 3 }, '2026-01-01T00:00:00Z');
        l.spec.nodes = { count: 3, ...(template && { template }), ...(macPrefix && { macPrefix }) };
        const nodes = desiredChildren(l).nodes;
        const { interfaces = [], ...rest } = template ?? {};
        nodes.forEach((n, i) => {
          const name = labNodeName(l, i + 1);
          const alone = withSchemaDefaults(MaasNodeSpecSchema, {
            ...rest,
            hypervisor: l.spec.hypervisor,
            interfaces: interfaces.map((nic, k) => ({
              ...nic,
              network: `v-${nic.network}`,
              mac:
                k === 0 && macPrefix !== undefined
                  ? prefixMac(macPrefix, i + 1)
                  : defaultMac('maas', name, k),
            })),
            runStrategy: rest.runStrategy ?? (rest.bmc ? 'Manual' : 'Always'),
          });
          // Key order too: server-side apply sends what JSON.stringify makes of it.
          expect(JSON.stringify(n.spec), name).to.equal(JSON.stringify(alone));
        });
        const [a, b] = nodes;
        if (a?.spec.disks && b?.spec.disks) expect(a.spec.disks).not.to.equal(b.spec.disks);
        expect(a?.spec.interfaces).not.to.equal(b?.spec.interfaces);
      }
    }
  });

  it('count 0 and no networks give nothing', () => {
    const l: MaasLab = {
      metadata: { name: 'e', namespace: 'ns', uid: 'u' },
      spec: { hypervisor: 'h', nodes: { count: 0 } },
    };
    expect(desiredChildren(l)).to.deep.equal({ networks: [], nodes: [] });
    expect(() => desiredChildren({ ...l, metadata: { name: 'e' } })).to.throw(TypeError);
  });

  it('prefixMac: two lowercase hex digits, 1..255', () => {
    expect(prefixMac('52:54:00:7F:04', 1)).to.equal('52:54:00:7f:04:01');
    expect(prefixMac('52:54:00:7f:04', 26)).to.equal('52:54:00:7f:04:1a');
    expect(prefixMac('52:54:00:7f:04', 255)).to.equal('52:54:00:7f:04:ff');
    for (const bad of [0, 256, 1.5])
      expect(() => prefixMac('52:54:00:7f:04', bad)).to.throw(RangeError);
  });

  it('labNodeName uses namePrefix', () => {
    expect(labNodeName(lab('big', { namePrefix: 'worker' }, '2026-01-01T00:00:00Z'), 12)).to.equal(
      'big-worker12',
    );
  });

  describe('nodesToDelete', () => {
    const cases: [string, string[], number, string[]][] = [
      [
        'scale 5 → 2 removes the highest first',
        ['recipe-node1', 'recipe-node2', 'recipe-node3', 'recipe-node4', 'recipe-node5'],
        2,
        ['recipe-node5', 'recipe-node4', 'recipe-node3'],
      ],
      [
        'numeric, not lexical, order',
        ['recipe-node2', 'recipe-node10', 'recipe-node9'],
        1,
        ['recipe-node10', 'recipe-node9', 'recipe-node2'],
      ],
      ['nothing to remove', ['recipe-node1'], 3, []],
      [
        'names from an old prefix go last',
        ['recipe-old', 'recipe-node4', 'recipe-other'],
        3,
        ['recipe-node4', 'recipe-old', 'recipe-other'],
      ],
    ];
    for (const [name, existing, count, want] of cases) {
      it(name, () => {
        const desired = desiredChildren({
          ...recipeLab(),
          spec: { ...recipeLab().spec, nodes: { ...recipeLab().spec.nodes, count } },
        }).nodes;
        expect(nodesToDelete(existing, desired)).to.deep.equal(want);
      });
    }
  });

  it('networksToDelete removes networks no longer in the spec', () => {
    const desired = desiredChildren(recipeLab()).networks;
    expect(networksToDelete(['recipe-maas', 'recipe-old', 'recipe-b'], desired)).to.deep.equal([
      'recipe-b',
      'recipe-old',
    ]);
  });

  describe('macCollisions', () => {
    const older = lab('a', { count: 3 }, '2026-01-01T00:00:00Z');
    const newer = lab('b', { count: 2 }, '2026-02-01T00:00:00Z');

    it('none for one lab, or labs with distinct prefixes', () => {
      expect(macCollisions([older])).to.deep.equal([]);
      expect(
        macCollisions([older, lab('c', { macPrefix: '52:54:00:7f:05' }, '2026-03-01T00:00:00Z')]),
      ).to.deep.equal([]);
    });

    it('same prefix on one hypervisor: the newer lab yields, the older keeps its MACs', () => {
      const found = macCollisions([newer, older]);
      expect(found.map((c) => c.mac)).to.deep.equal(['52:54:00:7f:04:01', '52:54:00:7f:04:02']);
      expect(found[0]?.message).to.equal(
        'MAC 52:54:00:7f:04:01 on hypervisor local is claimed by a-node1 (MaasLab maas/a), b-node1 (MaasLab maas/b)',
      );
      expect(collisionsBlocking(newer, found)).to.have.length(2);
      expect(collisionsBlocking(older, found)).to.deep.equal([]);
    });

    it('same prefix on different hypervisors is fine', () => {
      const elsewhere = { ...newer, spec: { ...newer.spec, hypervisor: 'other' } };
      expect(macCollisions([older, elsewhere])).to.deep.equal([]);
    });

    it('a stand-alone MaasNode claiming a lab MAC collides; lab-owned nodes are not counted twice', () => {
      const stray = node('stray', { interfaces: [{ network: 'lan', mac: '52:54:00:7F:04:03' }] });
      stray.metadata = { ...stray.metadata, creationTimestamp: new Date('2025-06-01T00:00:00Z') };
      const owned = node('a-node1', { interfaces: [{ network: 'lan', mac: '52:54:00:7f:04:01' }] });
      owned.metadata = {
        ...owned.metadata,
        ownerReferences: [
          { apiVersion: 'maaslab.dev/v1alpha1', kind: 'MaasLab', name: 'a', uid: 'a-uid' },
        ],
      };
      const found = macCollisions([older], [stray, owned]);
      expect(found.map((c) => [c.mac, c.claims.map((x) => x.owner)])).to.deep.equal([
        ['52:54:00:7f:04:03', ['MaasNode maas/stray', 'MaasLab maas/a']],
      ]);
      // The stray node is older: the lab yields.
      expect(collisionsBlocking(older, found)).to.have.length(1);
    });

    it("a lab's MAAS controller claims its PXE MAC: <macPrefix>:00, else a derived one", () => {
      const withController = (l: MaasLab): MaasLab => ({
        ...l,
        spec: { ...l.spec, maas: { controller: { image: { volume: 'base.qcow2' } } } },
      });
      const a = withController(older);
      expect(controllerPxeMac(a)).to.equal('52:54:00:7f:04:00');
      expect(controllerPxeMac(older)).to.equal(undefined);
      // A stand-alone node that took :00 first: the lab's controller yields, its nodes do not.
      const stray = node('stray', { interfaces: [{ network: 'lan', mac: '52:54:00:7f:04:00' }] });
      stray.metadata = { ...stray.metadata, creationTimestamp: new Date('2025-06-01T00:00:00Z') };
      const found = macCollisions([a], [stray]);
      expect(found.map((c) => [c.mac, c.claims.map((x) => x.node)])).to.deep.equal([
        ['52:54:00:7f:04:00', ['stray', 'a-maas']],
      ]);
      expect(collisionsBlocking(a, found)).to.have.length(1);
      // Without a prefix: the MAC a stand-alone node named <lab>-maas would get.
      const bare = withController(lab('c', { macPrefix: undefined }, '2026-03-01T00:00:00Z'));
      delete bare.spec.nodes.macPrefix;
      expect(controllerPxeMac(bare)).to.equal(defaultMac('maas', 'c-maas', 0).toLowerCase());
    });

    it('stand-alone nodes without MACs use derived ones', () => {
      const n1 = node('n1', { interfaces: [{ network: 'lan' }] });
      const twin = node('twin', {
        interfaces: [{ network: 'lan', mac: defaultMac('maas', 'n1', 0) }],
      });
      expect(macCollisions([], [n1, twin])).to.have.length(1);
    });
  });
});
