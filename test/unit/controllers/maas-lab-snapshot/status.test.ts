// MaasLabSnapshot status (pure): the verdict each phase and finding gives, first match wins,
// and the conditions it stamps; and the hold acknowledgement the capture waits for.
import { expect } from 'chai';
import {
  HeldReason,
  heldMessage,
  HoldAnnotation,
  type MaasNode,
  type SnapshotPhase,
} from '../../../../src/api/v1alpha1/index.js';
import {
  heldByOthers,
  holdAcknowledged,
} from '../../../../src/controllers/maas-lab-snapshot/hold.js';
import {
  capturingStatus,
  snapshotStatus,
  withCaptureProgress,
  snapshotVerdict,
  type SnapshotFindings,
} from '../../../../src/controllers/maas-lab-snapshot/status.js';
import { node } from '../fixtures.js';

describe('controllers/maas-lab-snapshot/status', () => {
  it('counts the capture: Capturing with captured/total, or the phase given with the count', () => {
    const base = { phase: 'Stopping' as const, hypervisor: 'hv1', stopRequestedAt: 't' };
    expect(capturingStatus(base, 2, 3)).to.deep.equal({
      phase: 'Capturing',
      hypervisor: 'hv1',
      stopRequestedAt: 't',
      membersCaptured: 2,
      membersTotal: 3,
    });
    expect(withCaptureProgress({ phase: 'Failed', failedMember: 'd2' }, 0, 3)).to.deep.equal({
      phase: 'Failed',
      failedMember: 'd2',
      membersCaptured: 0,
      membersTotal: 3,
    });
    // Pure: the input is left as it was.
    expect(base).to.deep.equal({ phase: 'Stopping', hypervisor: 'hv1', stopRequestedAt: 't' });
  });

  it('gives each phase and finding one verdict, first match wins', () => {
    const why = (reason: string) => ({ reason, message: 'm' });
    const table: Array<[SnapshotPhase, SnapshotFindings, string]> = [
      ['Ready', {}, 'ready/SnapshotReady'],
      ['Ready', { stalled: why('X') }, 'ready/SnapshotReady'], // done is done
      ['Deleting', { error: why('E') }, 'progressing/Deleting'],
      ['Pending', { stalled: why('LabNotFound') }, 'stalled/LabNotFound'],
      ['Failed', { stalled: why('CaptureFailed') }, 'stalled/CaptureFailed'],
      ['Failed', {}, 'stalled/CaptureFailed'],
      [
        'Capturing',
        { error: why('LibvirtError'), waiting: why('Stopping') },
        'progressing/LibvirtError',
      ],
      ['Pending', { waiting: why('LabBusy') }, 'progressing/LabBusy'],
      ['Holding', {}, 'progressing/Holding'],
      ['Stopping', {}, 'progressing/Stopping'],
      ['Pending', {}, 'progressing/Progressing'],
    ];
    for (const [phase, found, want] of table) {
      const v = snapshotVerdict(phase, found);
      expect(`${v.kind}/${v.reason ?? ''}`, `${phase} ${JSON.stringify(found)}`).to.equal(want);
    }
  });

  it('stamps kstatus conditions at the one generation there is', () => {
    const snap = { metadata: { generation: 1 }, spec: { lab: 'recipe' } };
    const s = snapshotStatus(snap, { phase: 'Ready', readyToUse: true }, {}, Date.UTC(2026, 0, 1));
    expect(s.observedGeneration).to.equal(1);
    expect(s.conditions?.map((c) => `${c.type}=${c.status}/${c.reason}`)).to.deep.equal([
      'Ready=True/SnapshotReady',
    ]);
    const failed = snapshotStatus(
      { ...snap, status: s },
      { phase: 'Failed' },
      { stalled: { reason: 'CaptureFailed', message: 'capturing n2 failed' } },
      Date.UTC(2026, 0, 1, 0, 1),
    );
    expect(failed.conditions?.map((c) => `${c.type}=${c.status}/${c.reason}`)).to.deep.equal([
      'Ready=False/CaptureFailed',
      'Stalled=True/CaptureFailed',
    ]);
  });

  it("acknowledges a hold only with the node controller's Held report for that holder", () => {
    const held = (holder: string, reportedFor: string): MaasNode => ({
      ...node('n1'),
      metadata: { ...node('n1').metadata, annotations: { [HoldAnnotation]: holder } },
      status: {
        conditions: [
          {
            type: 'Reconciling',
            status: 'True',
            reason: HeldReason,
            message: heldMessage(reportedFor),
            lastTransitionTime: '2026-01-01T00:00:00Z',
          },
        ],
      },
    });
    expect(holdAcknowledged(held('A', 'A'), 'A')).to.equal(true);
    // Annotated for A, but the last report was for B: a pass of the node may still act.
    expect(holdAcknowledged(held('A', 'B'), 'A')).to.equal(false);
    expect(holdAcknowledged(node('n1'), 'A')).to.equal(false);
    expect(heldByOthers([held('A', 'A'), held('B', 'B'), node('n3')], 'A').length).to.equal(1);
  });
});
