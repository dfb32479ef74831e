// labReport, progressHold and hypervisorReachableOf are pure: the whole MaasLab status from a
// scope, its desired children and the findings of a pass, without an API server.
import { expect } from 'chai';
import type { Hypervisor, MaasLab } from '../../../../src/api/v1alpha1/index.js';
import { desiredChildren } from '../../../../src/controllers/maas-lab/desired.js';
import type { LabScope } from '../../../../src/controllers/maas-lab/scope.js';
import {
  hypervisorReachableOf,
  labReport,
  progressHold,
} from '../../../../src/controllers/maas-lab/status.js';
import { recipeLab } from '../fixtures.js';
import { hypervisorResource } from '../reconciler-support.js';

const at = { now: Date.parse('2026-01-01T00:00:00Z'), succeeded: true };

function scopeOf(lab: MaasLab, hypervisor: Hypervisor | undefined = hypervisorResource): LabScope {
  return {
    lab,
    hypervisor,
    networks: new Map(),
    nodes: new Map(),
    foreignNetworks: new Set(),
    foreignNodes: new Set(),
    peers: [lab],
    standaloneNodes: [],
  };
}

describe('controllers/maas-lab labReport (pure)', () => {
  const lab = (): MaasLab => {
    const l = recipeLab();
    return { ...l, metadata: { ...l.metadata, generation: 3 }, status: { observedGeneration: 2 } };
  };

  it('nothing built yet: Pending, counts against the spec, observedGeneration advanced', () => {
    const l = lab();
    const s = labReport(scopeOf(l), desiredChildren(l), {}, at);
    const total = desiredChildren(l).nodes.length;
    expect(s).to.deep.include({ observedGeneration: 3, printableStatus: 'Pending' });
    expect(s.nodes).to.deep.equal({ ready: 0, total, summary: `0/${total}` });
    expect(s.conditions.map((c) => c.observedGeneration)).to.satisfy((g: number[]) =>
      g.every((x) => x === 3),
    );
  });

  it('a failed pass keeps the old observedGeneration and says it is retrying', () => {
    const l = lab();
    const error = { reason: 'Progressing', message: 'retrying: boom' };
    const s = labReport(scopeOf(l), desiredChildren(l), { error }, { ...at, succeeded: false });
    expect(s.observedGeneration).to.equal(2);
    expect(s.conditions.find((c) => c.type === 'Reconciling')?.message).to.equal('retrying: boom');
  });

  it('stalled findings win over progress; deletion wins over all', () => {
    const l = lab();
    const stalled = { reason: 'HypervisorNotFound', message: 'Hypervisor x does not exist' };
    const s = labReport(scopeOf(l, undefined), desiredChildren(l), { stalled }, at);
    expect(s.printableStatus).to.equal('Failed');
    expect(s.conditions.find((c) => c.type === 'Stalled')?.reason).to.equal('HypervisorNotFound');
    const gone = { ...l, metadata: { ...l.metadata, deletionTimestamp: new Date() } };
    expect(
      labReport(scopeOf(gone), desiredChildren(gone), { stalled }, at).printableStatus,
    ).to.equal('Terminating');
  });

  it('hypervisorReachableOf: down only when its controller says HypervisorUnreachable', () => {
    const withReady = (status: 'True' | 'False' | 'Unknown', reason: string): Hypervisor => ({
      ...hypervisorResource,
      status: {
        conditions: [
          {
            type: 'Ready',
            status,
            reason,
            message: '',
            lastTransitionTime: '2026-01-01T00:00:00Z',
          },
        ],
      },
    });
    expect(hypervisorReachableOf(undefined)).to.equal(true);
    expect(hypervisorReachableOf({ ...hypervisorResource, status: {} })).to.equal(true);
    expect(hypervisorReachableOf(withReady('Unknown', 'HypervisorUnreachable'))).to.equal(false);
    expect(hypervisorReachableOf(withReady('False', 'Progressing'))).to.equal(true);
  });
});

describe('controllers/maas-lab progressHold (pure)', () => {
  const status = (ready: number) => ({
    nodes: { ready, total: 3, summary: `${ready}/3` },
    printableStatus: 'Provisioning',
  });

  it('holds a progress-only change written less than an interval ago, for the rest of it', () => {
    expect(progressHold(status(0), status(1), 10_000, 10_400, 1000)).to.equal(600);
  });

  it('writes at once: after the interval, with no write remembered, or for more than progress', () => {
    expect(progressHold(status(0), status(1), 10_000, 11_000, 1000)).to.equal(undefined);
    expect(progressHold(status(0), status(1), undefined, 10_400, 1000)).to.equal(undefined);
    const ready = { ...status(3), printableStatus: 'Ready' };
    expect(progressHold(status(2), ready, 10_000, 10_400, 1000)).to.equal(undefined);
    expect(progressHold(undefined, status(1), 10_000, 10_400, 1000)).to.equal(undefined);
  });
});
