// labReport, progressHold and hypervisorReachableOf are pure: the whole MaasLab status from a
// scope, its desired children and the findings of a pass, without an API server.
import { expect } from 'chai';
import type { Hypervisor, MaasLab } from '../../../../src/api/v1alpha1/index.js';
import { desiredChildren } from '../../../../src/controllers/maas-lab/desired.js';
import type { LabScope } from '../../../../src/controllers/maas-lab/scope.js';
import type { Findings } from '../../../../src/controllers/maas-lab/pass.js';
import {
  hypervisorReachableOf,
  labObservation,
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

describe('controllers/maas-lab labReport with a MAAS controller (pure)', () => {
  const controllerLab = (): MaasLab => {
    const l = recipeLab();
    return {
      ...l,
      metadata: { ...l.metadata, generation: 1 },
      spec: { ...l.spec, maas: { controller: { image: { volume: 'noble.qcow2' } } } },
    };
  };

  it('ControllerReady comes first and holds Ready back; the download progress is in status.maas.controller', () => {
    const l = controllerLab();
    const found: Findings = {
      controller: {
        condition: {
          type: 'ControllerReady',
          status: 'False',
          reason: 'ImageDownloading',
          message: 'downloading http://i/x: 10 of 100 bytes',
        },
        status: { domain: 'maas.recipe-maas', image: { bytesDone: 10, bytesTotal: 100 } },
        apiKeyReady: false,
        requeueAfterMs: 2000,
      },
      maas: {
        outcome: {
          kind: 'notAsked',
          why: { reason: 'Waiting', message: 'waiting for ControllerReady' },
        },
        status: { url: 'http://10.77.0.2:5240/MAAS' },
        requeueAfterMs: 0,
      },
    };
    const s = labReport(scopeOf(l), desiredChildren(l), found, at);
    const ready = s.conditions.find((c) => c.type === 'ControllerReady');
    expect(ready).to.deep.include({ status: 'False', reason: 'ImageDownloading' });
    expect(s.conditions.find((c) => c.type === 'MaasReachable')).to.deep.include({
      status: 'Unknown',
      reason: 'Waiting',
    });
    // Once networks and nodes are Ready, Ready waits for the controller before MAAS.
    expect(labObservation(scopeOf(l), found).maasWaiting?.message).to.include(
      'ControllerReady is False (ImageDownloading',
    );
    expect(s.maas).to.deep.equal({
      url: 'http://10.77.0.2:5240/MAAS',
      controller: { domain: 'maas.recipe-maas', image: { bytesDone: 10, bytesTotal: 100 } },
    });
  });

  it('a lab without a controller has no ControllerReady and no status.maas.controller', () => {
    const l = {
      ...controllerLab(),
      spec: { ...controllerLab().spec, maas: undefined },
      status: {
        conditions: [
          {
            type: 'ControllerReady',
            status: 'True' as const,
            reason: 'Running',
            message: '',
            lastTransitionTime: '2026-01-01T00:00:00Z',
          },
        ],
        maas: { controller: { domain: 'x' } },
      },
    } as MaasLab;
    const s = labReport(scopeOf(l), desiredChildren(l), {}, at);
    expect(s.conditions.map((c) => c.type)).to.not.include('ControllerReady');
    expect(s.maas).to.equal(undefined);
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
