// nodeStatus: the whole status of a node after a pass, from the scope and the findings alone.
import { expect } from 'chai';
import type { MaasNode } from '../../../../src/api/v1alpha1/index.js';
import type { Findings } from '../../../../src/controllers/maas-node/pass.js';
import type { NodeScope } from '../../../../src/controllers/maas-node/scope.js';
import { nodeConditionPlan, nodeStatus } from '../../../../src/controllers/maas-node/status.js';
import { node } from '../fixtures.js';
import { hypervisorResource } from '../reconciler-support.js';

describe('controllers/maas-node nodeStatus (pure)', () => {
  const known: MaasNode = {
    ...node('n1', { interfaces: [{ network: 'maas', mac: '52:54:00:7f:04:01' }] }),
    metadata: { name: 'n1', namespace: 'maas', uid: 'n1-uid', generation: 3 },
    status: {
      observedGeneration: 2,
      uuid: 'u-1',
      state: 'running',
      interfaces: [{ network: 'maas', mac: '52:54:00:7f:04:01', bridge: 'virbr1' }],
    },
  };
  const scope = (n: MaasNode): NodeScope => ({
    node: n,
    domainName: 'maas.n1',
    owner: { kind: 'MaasNode', namespace: 'maas', name: 'n1', uid: 'n1-uid' },
    deleting: false,
    hypervisor: hypervisorResource,
    gate: { kind: 'ready' },
    networksNotReady: [],
    networksPending: [],
    cloneSource: undefined,
  });
  const found = (extra: Partial<Findings> = {}): Findings => ({
    volumesReady: false,
    volumes: [],
    pendingRestart: [],
    next: 'none',
    ...extra,
  });

  it('keeps the last known domain facts while libvirt cannot be asked, and says Unknown', () => {
    const s = nodeStatus(scope(known), found({ unreachable: 'no route' }), {
      now: 0,
      succeeded: true,
    });
    expect(s).to.include({ printableStatus: 'Unknown', uuid: 'u-1', state: 'running' });
    expect(s.interfaces).to.deep.equal(known.status?.interfaces);
    expect(s.power).to.deep.equal({
      type: 'virsh',
      address: 'qemu+ssh://maas@host/system',
      id: 'maas.n1',
    });
    expect(s.observedGeneration).to.equal(3);
  });

  it('a network libvirt showed running as specified is not waited for, others still are', () => {
    const two = { ...scope(known), networksNotReady: ['maas', 'other'] };
    const waiting = nodeStatus(two, found({ networksRunning: ['maas'] }), {
      now: 0,
      succeeded: true,
    });
    const ready = waiting.conditions?.find((c) => c.type === 'Ready');
    expect(ready).to.include({ status: 'False', reason: 'NetworkNotReady' });
    expect(ready?.message).to.contain('other').and.not.contain('maas,');
    const none = nodeStatus(
      { ...scope(known), networksNotReady: ['maas'] },
      found({ networksRunning: ['maas'] }),
      { now: 0, succeeded: true },
    );
    expect(none.conditions?.find((c) => c.type === 'Ready')?.reason).to.not.equal(
      'NetworkNotReady',
    );
  });

  it('advances observedGeneration only for a pass that succeeded', () => {
    const failed = nodeStatus(scope(known), found({ unreachable: 'no route' }), {
      now: 0,
      succeeded: false,
    });
    expect(failed.observedGeneration).to.equal(2);
  });

  it('waiting on something outside the node: Reconciling with its reason, RestartRequired kept', () => {
    const waiting = { reason: 'NetworkNotReady', message: 'waiting' };
    const o = {
      deleting: false,
      hypervisorReachable: true,
      networksReady: true,
      volumesReady: true,
      domainDefined: true,
      state: 'running' as const,
      hasManagedSave: false,
      wantsRunning: false,
      wantsStopped: false,
      pendingRestart: ['memory'],
    };
    const plan = nodeConditionPlan(o, waiting);
    expect(plan.set.map((c) => [c.type, c.reason])).to.deep.equal([
      ['Ready', 'NetworkNotReady'],
      ['Reconciling', 'NetworkNotReady'],
      ['RestartRequired', 'RestartPending'],
    ]);
    expect(nodeConditionPlan({ ...o, pendingRestart: [] }, waiting).remove).to.include(
      'RestartRequired',
    );
  });
});
