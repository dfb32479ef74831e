// The snapshot verbs' pure parts: default names, the object created, the restore patch and
// token, when a capture or a restore is over (or failed), and the `snapshots` table.
import { expect } from 'chai';
import type { MaasLab, MaasLabSnapshot } from '../../../src/api/v1alpha1/index.js';
import { DnsSubdomainPattern } from '../../../src/api/v1alpha1/common.js';
import {
  consistencyOf,
  defaultSnapshotName,
  renderSnapshotTable,
  restorePatch,
  restoreToken,
  restoreWaitState,
  snapshotList,
  snapshotObject,
  snapshotRows,
  snapshotWaitState,
} from '../../../src/plugin/snapshot.js';
import { humanDuration } from '../../../src/plugin/table.js';
import { recipeLab } from './fixtures.js';

const now = new Date('2026-12-05T16:30:07.123Z');

const cond = (type: string, status: 'True' | 'False', reason: string, message: string) => ({
  type,
  status,
  reason,
  message,
  lastTransitionTime: '2026-12-05T16:00:00Z',
});

/** A snapshot of `recipe` with `status`, created `ageS` seconds before `now`. */
const snap = (
  name: string,
  status: MaasLabSnapshot['status'],
  ageS = 30,
  mode?: 'Offline' | 'Suspended',
): MaasLabSnapshot => ({
  apiVersion: 'maaslab.dev/v1alpha1',
  kind: 'MaasLabSnapshot',
  metadata: {
    name,
    namespace: 'lab-ns',
    creationTimestamp: new Date(now.getTime() - ageS * 1000).toISOString() as unknown as Date,
  },
  spec: { lab: 'recipe', ...(mode ? { mode } : {}) },
  status,
});

const member = (i: number, consistency: 'Clean' | 'CrashConsistent') => ({
  role: 'Node' as const,
  index: i,
  domain: `lab-ns.recipe-node${i}`,
  volumes: [],
  sizeBytes: 1024,
  consistency,
});

const ready = snap(
  'recipe-golden',
  {
    phase: 'Ready',
    readyToUse: true,
    membersCaptured: 3,
    membersTotal: 3,
    size: '192.8Mi',
    hypervisor: 'hv1',
    creationTime: '2026-12-05T16:29:50Z',
    members: [member(1, 'Clean'), member(2, 'Clean'), member(3, 'CrashConsistent')],
    conditions: [cond('Ready', 'True', 'SnapshotReady', 'captured; ready to restore')],
  },
  3 * 3600 + 20 * 60,
);
const capturing = snap('recipe-20261205-163000', {
  phase: 'Capturing',
  membersCaptured: 1,
  membersTotal: 3,
  hypervisor: 'hv1',
  conditions: [
    cond('Ready', 'False', 'Progressing', 'copying the disks'),
    cond('Reconciling', 'True', 'Progressing', 'copying the disks'),
  ],
});
const failed = snap(
  'broken',
  {
    phase: 'Failed',
    readyToUse: false,
    failedMember: 'lab-ns.recipe-node2',
    membersCaptured: 0,
    membersTotal: 3,
    conditions: [
      cond(
        'Stalled',
        'True',
        'CaptureFailed',
        'capturing lab-ns.recipe-node2 failed: no space; every golden volume made was removed',
      ),
    ],
  },
  90,
  'Suspended',
);

describe('plugin/snapshot', () => {
  it('names a snapshot LAB-YYYYMMDD-HHMMSS in UTC, a valid name even for the longest lab', () => {
    expect(defaultSnapshotName('recipe', now)).to.equal('recipe-20261205-163007');
    // Another time zone's midnight is still UTC's afternoon.
    expect(defaultSnapshotName('r', new Date('2026-12-31T23:59:59+01:00'))).to.equal(
      'r-20261231-225959',
    );
    const long = `${'a'.repeat(240)}.b-c`;
    const name = defaultSnapshotName(long, now);
    expect(name).to.have.length.at.most(253);
    expect(name).to.match(new RegExp(DnsSubdomainPattern));
    expect(name).to.match(/^a+-20261205-163007$/);
  });

  it('creates the snapshot with the mode given, else none (the CRD defaults it)', () => {
    expect(snapshotObject('lab-ns', 'recipe', 's1', 'Suspended')).to.deep.equal({
      apiVersion: 'maaslab.dev/v1alpha1',
      kind: 'MaasLabSnapshot',
      metadata: { name: 's1', namespace: 'lab-ns' },
      spec: { lab: 'recipe', mode: 'Suspended' },
    });
    expect(snapshotObject('lab-ns', 'recipe', 's1').spec).to.deep.equal({ lab: 'recipe' });
  });

  it('restores with a merge patch of spec.restoreFrom and a token the CRD pattern allows', () => {
    const token = restoreToken(now);
    expect(token).to.equal('2026-12-05T163007.123Z');
    expect(token).to.match(/^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/);
    expect(token.length).to.be.at.most(63);
    expect(restoreToken(new Date(now.getTime() + 1))).to.not.equal(token);
    expect(restorePatch('recipe-golden', token)).to.deep.equal({
      spec: { restoreFrom: { snapshot: 'recipe-golden', token } },
    });
  });

  it('waits for a capture: counts while Capturing, done when Ready, failed naming the member', () => {
    expect(snapshotWaitState(snap('new', undefined))).to.deep.equal({
      kind: 'waiting',
      progress: { phase: 'Pending' },
    });
    expect(snapshotWaitState(capturing)).to.deep.equal({
      kind: 'waiting',
      progress: { phase: 'Capturing', done: 1, total: 3, detail: 'copying the disks' },
    });
    expect(snapshotWaitState(ready)).to.deep.equal({
      kind: 'done',
      progress: { phase: 'Ready', done: 3, total: 3 },
    });
    // Ready without readyToUse is not done yet.
    const notYet = snap('x', { ...ready.status, readyToUse: false });
    expect(snapshotWaitState(notYet).kind).to.equal('waiting');
    const f = snapshotWaitState(failed);
    expect(f).to.deep.include({ kind: 'failed' });
    expect(f.kind === 'failed' && f.message).to.equal(
      'maaslabsnapshot "broken" failed: capturing lab-ns.recipe-node2 failed: no space; every golden volume made was removed',
    );
    // A message that does not name the member gets it appended.
    const bare = snap('b', { phase: 'Failed', failedMember: 'lab-ns.recipe-node3' });
    const b = snapshotWaitState(bare);
    expect(b.kind === 'failed' && b.message).to.equal(
      'maaslabsnapshot "b" failed: the capture failed (member lab-ns.recipe-node3)',
    );
    // Stalled before Failed (the lab went away): shown, and waited on.
    const stalled = snap('s', {
      phase: 'Pending',
      conditions: [cond('Stalled', 'True', 'LabNotFound', 'MaasLab recipe does not exist')],
    });
    expect(snapshotWaitState(stalled)).to.deep.equal({
      kind: 'waiting',
      progress: { phase: 'Pending', detail: 'MaasLab recipe does not exist' },
    });
  });

  it('waits for the restore of its own token: Completed is done, Refused failed, others wait', () => {
    const lab = (restore?: NonNullable<MaasLab['status']>['restore']): MaasLab => ({
      ...recipeLab,
      status: { ...recipeLab.status, ...(restore ? { restore } : {}) },
    });
    const r = { snapshot: 'recipe-golden', token: 't2' };
    expect(restoreWaitState(lab(), 't2').kind).to.equal('waiting');
    // An earlier restore, even Completed, is not this one.
    expect(restoreWaitState(lab({ ...r, token: 't1', phase: 'Completed' }), 't2')).to.deep.equal({
      kind: 'waiting',
      progress: { phase: 'Pending', detail: 'waiting for the operator to start the restore' },
    });
    expect(
      restoreWaitState(
        lab({
          ...r,
          phase: 'Restoring',
          message: 'restoring lab-ns.recipe-node2 failed: boom; retrying',
          failedMember: 'lab-ns.recipe-node2',
          membersRestored: 1,
          membersTotal: 3,
        }),
        't2',
      ),
    ).to.deep.equal({
      kind: 'waiting',
      progress: {
        phase: 'Restoring',
        done: 1,
        total: 3,
        detail:
          'restoring lab-ns.recipe-node2 failed: boom; retrying; failed member: lab-ns.recipe-node2',
      },
    });
    expect(
      restoreWaitState(
        lab({ ...r, phase: 'Completed', membersRestored: 3, membersTotal: 3, message: 'back' }),
        't2',
      ),
    ).to.deep.equal({
      kind: 'done',
      progress: { phase: 'Completed', done: 3, total: 3, detail: 'back' },
    });
    const refused = restoreWaitState(
      lab({ ...r, phase: 'Refused', message: 'MaasLabSnapshot recipe-golden: 2 members, lab 3' }),
      't2',
    );
    expect(refused.kind === 'failed' && refused.message).to.equal(
      'maaslab "recipe" refused the restore from maaslabsnapshot "recipe-golden": MaasLabSnapshot recipe-golden: 2 members, lab 3',
    );
  });

  it('prints the table oldest first, with members, size, age and consistency', () => {
    const rows = snapshotRows([capturing, failed, ready], now);
    expect(rows.map((r) => r.name)).to.deep.equal([
      'recipe-golden',
      'broken',
      'recipe-20261205-163000',
    ]);
    expect(renderSnapshotTable(rows)).to.equal(
      [
        'NAME                     MODE        PHASE       READY   MEMBERS   SIZE      AGE     CONSISTENCY',
        'recipe-golden            Offline     Ready       true    3/3       192.8Mi   3h20m   Mixed',
        'broken                   Suspended   Failed      false   0/3       -         90s     -',
        'recipe-20261205-163000   Offline     Capturing   -       1/3       -         30s     -',
        '',
      ].join('\n'),
    );
    const wide = renderSnapshotTable(rows, true).split('\n');
    expect(wide[0]).to.match(/ CONSISTENCY +HYPERVISOR +CREATED +MESSAGE$/);
    expect(wide[1]).to.match(/ Mixed +hv1 +2026-12-05T16:29:50Z +captured; ready to restore$/);
    expect(wide[2]).to.match(/ - +- +- +capturing lab-ns\.recipe-node2 failed: no space; /);
    expect(wide[3]).to.match(/ - +hv1 +- +copying the disks$/);
  });

  it('counts a Ready snapshot written before membersTotal existed by its members', () => {
    const { membersCaptured: _c, membersTotal: _t, ...old } = ready.status!;
    expect(snapshotRows([snap('old', old)], now)[0]).to.include({ members: '3/3' });
    expect(consistencyOf(snap('c', { members: [member(1, 'Clean')] }))).to.equal('Clean');
    expect(consistencyOf(snap('n', {}))).to.equal(undefined);
  });

  it('-o json|yaml: the objects in a kubectl List, oldest first', () => {
    expect(snapshotList([capturing, ready])).to.deep.equal({
      apiVersion: 'v1',
      kind: 'List',
      items: [ready, capturing],
      metadata: { resourceVersion: '' },
    });
  });

  it("prints ages as kubectl's AGE column does", () => {
    const s = 1000;
    const cases: Array<[number, string]> = [
      [-5 * s, '<invalid>'],
      [-500, '0s'],
      [0, '0s'],
      [119 * s, '119s'],
      [150 * s, '2m30s'],
      [180 * s, '3m'],
      [15 * 60 * s, '15m'],
      [200 * 60 * s, '3h20m'],
      [4 * 3600 * s, '4h'],
      [20 * 3600 * s, '20h'],
      [76 * 3600 * s, '3d4h'],
      [120 * 86400 * s, '120d'],
      [(2 * 365 + 30) * 86400 * s, '2y30d'],
      [9 * 365 * 86400 * s, '9y'],
    ];
    for (const [ms, text] of cases) expect(humanDuration(ms), `${ms} ms`).to.equal(text);
  });
});
