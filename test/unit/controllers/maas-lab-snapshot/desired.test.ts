// Lab snapshots, the pure part: members and their order, golden names, consistency, the plan
// of a restore (and its refusals), the waves a restore starts members in.
import { expect } from 'chai';
import type { MaasLab, MaasLabSnapshot } from '../../../../src/api/v1alpha1/index.js';
import { NVRAM_DISK } from '../../../../src/controllers/maas-node/desired.js';
import {
  capturedVolume,
  goldenVolumeName,
  goldenVolumes,
  humanBytes,
  labMembers,
  memberConsistency,
  memberNodes,
  memberVolumes,
  nodeIndex,
  restorePlan,
  startWaves,
  type MemberVolume,
} from '../../../../src/controllers/maas-lab-snapshot/desired.js';
import { recipeHypervisor, recipeLab } from '../fixtures.js';
import { captured, labNodes, withController } from './support.js';

const GiB = 1024 ** 3;

describe('controllers/maas-lab-snapshot/desired', () => {
  const lab = recipeLab();
  const nodes = labNodes(lab);

  it('numbers nodes by the index in their name, and nothing else', () => {
    expect(nodeIndex(lab, 'recipe-node1')).to.equal(1);
    expect(nodeIndex(lab, 'recipe-node12')).to.equal(12);
    expect(nodeIndex(lab, 'recipe-node0')).to.equal(undefined);
    expect(nodeIndex(lab, 'recipe-nodeX')).to.equal(undefined);
    expect(nodeIndex(lab, 'other-node1')).to.equal(undefined);
  });

  it('lists the members by index, each with its domain, owner stamp and volumes', () => {
    const members = labMembers(lab, [...nodes].reverse(), recipeHypervisor);
    expect(members.map((m) => [m.role, m.index, m.domain])).to.deep.equal([
      ['Node', 1, 'maas.recipe-node1'],
      ['Node', 2, 'maas.recipe-node2'],
      ['Node', 3, 'maas.recipe-node3'],
    ]);
    expect(members[0]!.owner).to.deep.equal({
      kind: 'MaasNode',
      namespace: 'maas',
      name: 'recipe-node1',
      uid: 'recipe-node1-uid',
    });
    expect(members[0]!.volumes).to.deep.equal([
      {
        name: 'maas.recipe-node1-root.qcow2',
        pool: 'default',
        format: 'qcow2',
        capacityBytes: 8 * GiB,
        disk: 'root',
      },
    ]);
  });

  it("puts the lab's MAAS controller VM first, with its overlay and the lab's stamp", () => {
    const members = labMembers(withController(lab), [...nodes].reverse(), recipeHypervisor);
    expect(members.map((m) => `${m.role}/${m.index}/${m.domain}`)).to.deep.equal([
      'Controller/0/maas.recipe-maas',
      'Node/1/maas.recipe-node1',
      'Node/2/maas.recipe-node2',
      'Node/3/maas.recipe-node3',
    ]);
    const [controller] = members;
    expect(controller!.node).to.equal(undefined);
    expect(controller!.owner).to.deep.equal({
      kind: 'MaasLab',
      namespace: 'maas',
      name: 'recipe',
      uid: 'lab-uid',
    });
    // The overlay only: not the shared read-only base behind it, nor the seed ISO.
    expect(controller!.volumes).to.deep.equal([
      {
        name: 'maas.recipe-maas-disk.qcow2',
        pool: 'default',
        format: 'qcow2',
        capacityBytes: 4 * GiB,
        disk: 'disk',
      },
    ]);
    expect(memberNodes(members.map((member) => ({ member })))).to.deep.equal(
      [...nodes].sort((a, b) => (a.metadata!.name! < b.metadata!.name! ? -1 : 1)),
    );
  });

  it('has no controller member for a lab without one, or with a misdeclared one', () => {
    expect(labMembers(lab, nodes, recipeHypervisor).map((m) => m.role)).not.to.include(
      'Controller',
    );
    const bad = withController(lab);
    bad.spec.maas!.controller!.address = '192.0.2.9'; // outside the PXE subnet
    expect(labMembers(bad, nodes, recipeHypervisor).map((m) => m.role)).not.to.include(
      'Controller',
    );
  });

  it("captures the controller's overlay into a golden volume, first", () => {
    const snap = { metadata: { name: 'golden', uid: 'abcdef0123' }, spec: { lab: 'recipe' } };
    const goldens = goldenVolumes(labMembers(withController(lab), nodes, recipeHypervisor), snap);
    expect(goldens[0]).to.deep.include({
      name: 'maas.recipe-maas-disk.snap-golden-abcdef01.qcow2',
      pool: 'default',
      format: 'qcow2',
      capacityBytes: 4 * GiB,
      mode: '0444',
      cloneFrom: { pool: 'default', volume: 'maas.recipe-maas-disk.qcow2' },
    });
    expect(goldens).to.have.length(4);
  });

  it('names golden volumes after the member volume, the snapshot and its UID; always qcow2', () => {
    expect(goldenVolumeName('maas.recipe-node1-root.qcow2', 'golden', 'abcdef0123-4')).to.equal(
      'maas.recipe-node1-root.snap-golden-abcdef01.qcow2',
    );
    expect(goldenVolumeName('maas.n-root.raw', 's', '12345678')).to.equal(
      'maas.n-root.snap-s-12345678.qcow2',
    );
    const snap = { metadata: { name: 'golden', uid: 'abcdef0123' }, spec: { lab: 'recipe' } };
    const goldens = goldenVolumes(labMembers(lab, nodes, recipeHypervisor), snap);
    expect(goldens.map((g) => [g.name, g.cloneFrom?.volume, g.format])).to.deep.equal([
      [
        'maas.recipe-node1-root.snap-golden-abcdef01.qcow2',
        'maas.recipe-node1-root.qcow2',
        'qcow2',
      ],
      [
        'maas.recipe-node2-root.snap-golden-abcdef01.qcow2',
        'maas.recipe-node2-root.qcow2',
        'qcow2',
      ],
      [
        'maas.recipe-node3-root.snap-golden-abcdef01.qcow2',
        'maas.recipe-node3-root.qcow2',
        'qcow2',
      ],
    ]);
  });

  it('says Clean for members that were off or shut down, CrashConsistent for paused or pulled', () => {
    const table: Array<[Parameters<typeof memberConsistency>, string]> = [
      [['Offline', 'shutoff', false], 'Clean'],
      [['Offline', 'running', false], 'Clean'], // its guest shut down within the grace period
      [['Offline', 'running', true], 'CrashConsistent'],
      [['Suspended', 'running', false], 'CrashConsistent'],
      [['Suspended', 'shutoff', false], 'Clean'],
      [['Suspended', 'crashed', false], 'Clean'],
      [['Suspended', undefined, false], 'Clean'],
    ];
    for (const [args, want] of table) {
      expect(memberConsistency(...args), JSON.stringify(args)).to.equal(want);
    }
  });

  describe('restorePlan', () => {
    const members = labMembers(lab, nodes, recipeHypervisor);

    it('maps each captured volume back onto the same node and disk, controller first', () => {
      const plan = restorePlan(captured(members), members);
      expect(plan.kind).to.equal('restore');
      if (plan.kind !== 'restore') return;
      expect(
        plan.members.map((m) => [
          m.member.domain,
          m.volumes.map((v) => `${v.target.name} ← ${v.golden?.volume}`),
        ]),
      ).to.deep.equal([
        [
          'maas.recipe-node1',
          ['maas.recipe-node1-root.qcow2 ← maas.recipe-node1-root.snap-golden-abcdef01.qcow2'],
        ],
        [
          'maas.recipe-node2',
          ['maas.recipe-node2-root.qcow2 ← maas.recipe-node2-root.snap-golden-abcdef01.qcow2'],
        ],
        [
          'maas.recipe-node3',
          ['maas.recipe-node3-root.qcow2 ← maas.recipe-node3-root.snap-golden-abcdef01.qcow2'],
        ],
      ]);
      expect(plan.members[0]!.volumes[0]!.target).to.deep.equal({
        name: 'maas.recipe-node1-root.qcow2',
        pool: 'default',
        format: 'qcow2',
        capacityBytes: 8 * GiB,
      });
    });

    it('restores into another lab of the same shape (the captured lab may be gone)', () => {
      const other: MaasLab = { ...lab, metadata: { ...lab.metadata, name: 'again', uid: 'u2' } };
      const theirs = labMembers(other, labNodes(other), recipeHypervisor);
      const plan = restorePlan(captured(members), theirs);
      expect(plan.kind).to.equal('restore');
      if (plan.kind !== 'restore') return;
      expect(plan.members[1]!.member.domain).to.equal('maas.again-node2');
      expect(plan.members[1]!.volumes[0]!.golden?.volume).to.equal(
        'maas.recipe-node2-root.snap-golden-abcdef01.qcow2',
      );
    });

    it("puts the controller's overlay back first, into a lab of the same shape", () => {
      const mine = labMembers(withController(lab), nodes, recipeHypervisor);
      const other = withController({
        ...lab,
        metadata: { ...lab.metadata, name: 'again', uid: 'u2' },
      });
      const plan = restorePlan(
        captured(mine).reverse(),
        labMembers(other, labNodes(other), recipeHypervisor),
      );
      expect(plan.kind).to.equal('restore');
      if (plan.kind !== 'restore') return;
      expect(plan.members.map((m) => `${m.member.role}/${m.member.domain}`)).to.deep.equal([
        'Controller/maas.again-maas',
        'Node/maas.again-node1',
        'Node/maas.again-node2',
        'Node/maas.again-node3',
      ]);
      expect(plan.members[0]!.volumes).to.deep.equal([
        {
          target: {
            name: 'maas.again-maas-disk.qcow2',
            pool: 'default',
            format: 'qcow2',
            capacityBytes: 4 * GiB,
          },
          golden: { pool: 'default', volume: 'maas.recipe-maas-disk.snap-golden-abcdef01.qcow2' },
        },
      ]);
      expect(startWaves(plan.members).map((w) => w.map((m) => m.member.role))).to.deep.equal([
        ['Controller'],
        ['Node', 'Node', 'Node'],
      ]);
    });

    it('refuses a snapshot with a controller for a lab without one, and the other way round', () => {
      const mine = labMembers(withController(lab), nodes, recipeHypervisor);
      expect(restorePlan(captured(mine), members)).to.deep.include({ kind: 'refused' });
      expect(restorePlan(captured(members), mine)).to.deep.include({ kind: 'refused' });
      const bigger = withController(lab);
      bigger.spec.maas!.controller!.diskSize = '8Gi';
      const refused = restorePlan(captured(mine), labMembers(bigger, nodes, recipeHypervisor));
      expect(refused.kind).to.equal('refused');
      if (refused.kind === 'refused') expect(refused.message).to.include('maas.recipe-maas');
    });

    it('refuses a lab of another shape before anything is touched', () => {
      expect(restorePlan(captured(members), members.slice(0, 2))).to.deep.equal({
        kind: 'refused',
        message:
          'the snapshot has 3 members and the lab 2: a restore needs a lab of the same shape',
      });
      const bigger = members.map((m) => ({
        ...m,
        volumes: m.volumes.map((v) => ({ ...v, capacityBytes: 16 * GiB })),
      }));
      const refused = restorePlan(captured(members), bigger);
      expect(refused.kind).to.equal('refused');
      if (refused.kind === 'refused') {
        expect(refused.message).to.equal(
          `maas.recipe-node1 has no disk root of ${8 * GiB} bytes in pool default (snapshot member maas.recipe-node1)`,
        );
      }
      const extraDisk = members.map((m) => ({
        ...m,
        volumes: [...m.volumes, { ...m.volumes[0]!, disk: 'data', name: 'x.qcow2' }],
      }));
      expect(restorePlan(captured(members), extraDisk)).to.deep.equal({
        kind: 'refused',
        message: 'maas.recipe-node1 has disks the snapshot does not (member maas.recipe-node1)',
      });
    });
  });

  describe('a UEFI node', () => {
    // The recipe lab with UEFI nodes: each has its NVRAM volume as a member volume too.
    const uefiNodes = nodes.map((n) => ({ ...n, spec: { ...n.spec, firmware: 'uefi' as const } }));
    const members = labMembers(lab, uefiNodes, recipeHypervisor);
    const nvram: MemberVolume = {
      name: 'maas.recipe-node1-VARS.fd',
      pool: 'default',
      format: 'raw',
      capacityBytes: 0,
      disk: NVRAM_DISK,
      madeOutside: true,
    };

    it('has its NVRAM after its disks, a volume libvirt makes (capacity: as it is)', () => {
      expect(members[0]!.volumes.map((v) => v.disk)).to.deep.equal(['root', NVRAM_DISK]);
      expect(members[0]!.volumes[1]).to.deep.equal(nvram);
      expect(memberVolumes(nodes[0]!, recipeHypervisor).map((v) => v.disk)).to.deep.equal(['root']);
    });

    it('captures it into a qcow2 golden volume, looking for the file past the pool list', () => {
      const snap = { metadata: { name: 'golden', uid: 'abcdef0123' } } as MaasLabSnapshot;
      const goldens = goldenVolumes(members.slice(0, 1), snap);
      expect(goldens.map((g) => g.name)).to.deep.equal([
        'maas.recipe-node1-root.snap-golden-abcdef01.qcow2',
        'maas.recipe-node1-VARS.snap-golden-abcdef01.qcow2',
      ]);
      expect(goldens[1]).to.deep.include({ capacityBytes: 0, mode: '0444', format: 'qcow2' });
      expect(goldens[1]!.cloneFrom).to.deep.equal({
        pool: 'default',
        volume: 'maas.recipe-node1-VARS.fd',
        madeOutside: true,
      });
      expect(goldens[0]!.cloneFrom).to.deep.equal({
        pool: 'default',
        volume: 'maas.recipe-node1-root.qcow2',
      });
    });

    it("records the NVRAM's real size in the status, and a disk's as its spec says", () => {
      const facts = { capacityBytes: 540672, allocationBytes: 200704 };
      expect(capturedVolume(nvram, 'g', facts)).to.deep.equal({
        disk: NVRAM_DISK,
        pool: 'default',
        source: 'maas.recipe-node1-VARS.fd',
        golden: 'g',
        format: 'raw',
        capacityBytes: 540672,
        sizeBytes: 200704,
      });
      const disk = members[0]!.volumes[0]!;
      expect(capturedVolume(disk, 'g', { capacityBytes: 1, allocationBytes: 2 })).to.include({
        capacityBytes: 8 * GiB,
        sizeBytes: 2,
      });
    });

    it('restores the NVRAM with the disks, whatever size its template had', () => {
      const snapshot = captured(members).map((m) => ({
        ...m,
        volumes: m.volumes.map((v) =>
          v.disk === NVRAM_DISK ? { ...v, capacityBytes: 540672 } : v,
        ),
      }));
      const plan = restorePlan(snapshot, members);
      expect(plan.kind).to.equal('restore');
      if (plan.kind !== 'restore') return;
      expect(plan.members[0]!.volumes).to.deep.equal([
        {
          target: {
            name: 'maas.recipe-node1-root.qcow2',
            pool: 'default',
            format: 'qcow2',
            capacityBytes: 8 * GiB,
          },
          golden: { pool: 'default', volume: 'maas.recipe-node1-root.snap-golden-abcdef01.qcow2' },
        },
        {
          target: {
            name: 'maas.recipe-node1-VARS.fd',
            pool: 'default',
            format: 'raw',
            capacityBytes: 0,
            madeOutside: true,
          },
          golden: { pool: 'default', volume: 'maas.recipe-node1-VARS.snap-golden-abcdef01.qcow2' },
        },
      ]);
    });

    it('deletes the NVRAM of a node the snapshot has none of (never started, or captured as BIOS-era)', () => {
      const snapshot = captured(members).map((m) => ({
        ...m,
        volumes: m.volumes.filter((v) => v.disk !== NVRAM_DISK),
      }));
      const plan = restorePlan(snapshot, members);
      expect(plan.kind).to.equal('restore');
      if (plan.kind !== 'restore') return;
      expect(plan.members[0]!.volumes.map((v) => [v.target.name, v.golden?.volume])).to.deep.equal([
        ['maas.recipe-node1-root.qcow2', 'maas.recipe-node1-root.snap-golden-abcdef01.qcow2'],
        ['maas.recipe-node1-VARS.fd', undefined],
      ]);
    });

    it('refuses a snapshot with NVRAM for a lab whose nodes are BIOS now', () => {
      const plan = restorePlan(captured(members), labMembers(lab, nodes, recipeHypervisor));
      expect(plan.kind).to.equal('refused');
      if (plan.kind !== 'refused') return;
      expect(plan.message).to.match(/has no disk UEFI-VARS/);
    });
  });

  it('starts the controller alone, then every node', () => {
    const m = (role: 'Controller' | 'Node', index: number) => ({ member: { role, index } });
    expect(startWaves([m('Node', 2), m('Controller', 0), m('Node', 1)])).to.deep.equal([
      [m('Controller', 0)],
      [m('Node', 1), m('Node', 2)],
    ]);
    expect(startWaves([m('Node', 1)])).to.deep.equal([[m('Node', 1)]]);
  });

  it('prints sizes in binary units', () => {
    expect(humanBytes(512)).to.equal('512');
    expect(humanBytes(1536)).to.equal('1.5Ki');
    expect(humanBytes(3 * GiB)).to.equal('3.0Gi');
  });
});
