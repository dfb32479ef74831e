import { expect } from 'chai';
import type {
  Condition,
  MaasLab,
  MaasNode,
  VirtNetwork,
} from '../../../../src/api/v1alpha1/index.js';
import { desiredChildren } from '../../../../src/controllers/maas-lab/desired.js';
import {
  labStatus,
  onlyProgressChanged,
  type LabObservation,
} from '../../../../src/controllers/maas-lab/status.js';
import { recipeLab } from '../fixtures.js';

const cond = (type: string, status: 'True' | 'False', reason = 'R'): Condition => ({
  type,
  status,
  reason,
  message: '',
  lastTransitionTime: '2026-01-01T00:00:00Z',
  observedGeneration: 1,
});

type Child = VirtNetwork | MaasNode;
/** A child as its controller left it: Ready, InProgress, Failed, or settled not Ready. */
function reported<T extends Child>(
  child: T,
  state: 'ready' | 'progressing' | 'failed' | 'halted',
): T {
  const conditions = {
    ready: [cond('Ready', 'True')],
    progressing: [cond('Ready', 'False'), cond('Reconciling', 'True')],
    failed: [cond('Ready', 'False'), cond('Stalled', 'True')],
    halted: [cond('Ready', 'False', 'Halted')],
  }[state];
  return {
    ...child,
    metadata: { ...child.metadata, generation: 1 },
    status: { observedGeneration: 1, conditions },
  };
}

const ok: LabObservation = { deleting: false, hypervisorReachable: true };

describe('controllers/maas-lab/status', () => {
  const lab = recipeLab();
  const desired = desiredChildren(lab);
  const [net] = desired.networks;
  const nodes = desired.nodes;

  const scenario = (
    networks: Child[],
    ns: Child[],
    o: Partial<LabObservation> = {},
    previous?: MaasLab['status'],
  ) =>
    labStatus(
      { ...lab, ...(previous && { status: previous }) },
      desired,
      networks as VirtNetwork[],
      ns as MaasNode[],
      { ...ok, ...o },
    );

  const ready = () => nodes.map((n) => reported(n, 'ready'));

  const cases: [string, () => ReturnType<typeof scenario>, string, string, string][] = [
    [
      'nothing built yet',
      () => scenario([], []),
      'Pending',
      'Ready=False/NetworksNotReady',
      'Reconciling',
    ],
    [
      'network building',
      () => scenario([reported(net!, 'progressing')], []),
      'Provisioning',
      'Ready=False/NetworksNotReady',
      'Reconciling',
    ],
    [
      'network ready, nodes missing',
      () => scenario([reported(net!, 'ready')], []),
      'Provisioning',
      'Ready=False/NodesNotReady',
      'Reconciling',
    ],
    [
      'all ready',
      () => scenario([reported(net!, 'ready')], ready()),
      'Ready',
      'Ready=True/Reconciled',
      '',
    ],
    [
      'children ready, MAAS not answering yet',
      () =>
        scenario([reported(net!, 'ready')], ready(), {
          maasWaiting: { reason: 'MaasUnreachable', message: 'm' },
        }),
      'Provisioning',
      'Ready=False/MaasUnreachable',
      'Reconciling',
    ],
    [
      'children ready, a node not enlisted yet',
      () =>
        scenario([reported(net!, 'ready')], ready(), {
          notEnlisted: { reason: 'NodesNotEnlisted', message: 'm' },
        }),
      'Provisioning',
      'Ready=False/NodesNotEnlisted',
      'Reconciling',
    ],
    [
      'MAAS went away after Ready',
      () =>
        scenario(
          [reported(net!, 'ready')],
          ready(),
          { maasWaiting: { reason: 'MaasUnreachable', message: 'm' } },
          { printableStatus: 'Ready' },
        ),
      'Degraded',
      'Ready=False/MaasUnreachable',
      'Reconciling',
    ],
    [
      'a node fell out after Ready',
      () =>
        scenario(
          [reported(net!, 'ready')],
          [...ready().slice(0, 2), reported(nodes[2]!, 'progressing')],
          {},
          { printableStatus: 'Ready' },
        ),
      'Degraded',
      'Ready=False/NodesNotReady',
      'Reconciling',
    ],
    [
      'a node is halted on purpose',
      () =>
        scenario(
          [reported(net!, 'ready')],
          [...ready().slice(0, 2), reported(nodes[2]!, 'halted')],
        ),
      'Provisioning',
      'Ready=False/NodesNotReady',
      '',
    ],
    [
      'a node stalled',
      () =>
        scenario(
          [reported(net!, 'ready')],
          [...ready().slice(0, 2), reported(nodes[2]!, 'failed')],
        ),
      'Failed',
      'Ready=False/NodesNotReady',
      'Stalled',
    ],
    [
      'the network stalled',
      () => scenario([reported(net!, 'failed')], []),
      'Failed',
      'Ready=False/NetworksNotReady',
      'Stalled',
    ],
    [
      'the network settled not Ready',
      () => scenario([reported(net!, 'halted')], []),
      'Provisioning',
      'Ready=False/NetworksNotReady',
      '',
    ],
    [
      'MAC collision',
      () =>
        scenario([reported(net!, 'ready')], ready(), {
          stalled: { reason: 'MacCollision', message: 'm' },
        }),
      'Failed',
      'Ready=False/MacCollision',
      'Stalled',
    ],
    [
      'API error',
      () => scenario([], [], { error: { reason: 'ApiError', message: 'e' } }),
      'Pending',
      'Ready=False/ApiError',
      'Reconciling',
    ],
    [
      'hypervisor unreachable',
      () => scenario([reported(net!, 'ready')], ready(), { hypervisorReachable: false }),
      'Unknown',
      'Ready=Unknown/HypervisorUnreachable',
      'Reconciling',
    ],
    [
      'deleting',
      () =>
        scenario([reported(net!, 'ready')], ready(), {
          deleting: true,
          hypervisorReachable: false,
        }),
      'Terminating',
      'Ready=False/Deleting',
      'Reconciling',
    ],
    [
      'a Ready left from an older generation does not count',
      () =>
        scenario(
          [{ ...reported(net!, 'ready'), metadata: { ...net!.metadata, generation: 2 } }],
          ready(),
        ),
      'Provisioning',
      'Ready=False/NetworksNotReady',
      'Reconciling',
    ],
    [
      'Ready condition from the last pass makes a drop Degraded',
      () =>
        scenario(
          [reported(net!, 'progressing')],
          ready(),
          {},
          { conditions: [cond('Ready', 'True')] },
        ),
      'Degraded',
      'Ready=False/NetworksNotReady',
      'Reconciling',
    ],
  ];
  for (const [name, run, printable, ready, extra] of cases) {
    it(`${name}: ${printable}, ${ready}${extra ? `, ${extra}=True` : ''}`, () => {
      const result = run();
      expect(result.status.printableStatus).to.equal(printable);
      const r = result.conditions.set.find((c) => c.type === 'Ready');
      expect(`Ready=${r?.status}/${r?.reason}`).to.equal(ready);
      const trueExtras = result.conditions.set
        .filter((c) => c.type !== 'Ready' && c.status === 'True')
        .map((c) => c.type);
      expect(trueExtras).to.deep.equal(extra ? [extra] : []);
    });
  }

  it('counts ready/total against the spec, with the Nodes column summary', () => {
    const r = scenario(
      [reported(net!, 'ready')],
      [reported(nodes[0]!, 'ready'), reported(nodes[1]!, 'progressing')],
    );
    expect(r.status.networks).to.deep.equal({ ready: 1, total: 1 });
    expect(r.status.nodes).to.deep.equal({ ready: 1, total: 3, summary: '1/3' });
    expect(r.networksReady).to.equal(true);
    expect(r.conditions.set[0]?.message).to.equal(
      'networks 1/1 ready, nodes 1/3 ready; waiting for recipe-node2, recipe-node3',
    );
  });

  it('children that are not desired any more are not counted', () => {
    const stray = reported(
      { ...nodes[0]!, metadata: { ...nodes[0]!.metadata, name: 'recipe-node9' } },
      'ready',
    );
    expect(scenario([reported(net!, 'ready')], [stray]).status.nodes?.ready).to.equal(0);
  });

  it('long lists are shortened in messages', () => {
    const big = { ...lab, spec: { ...lab.spec, nodes: { ...lab.spec.nodes, count: 8 } } };
    const d = desiredChildren(big);
    const r = labStatus(big, d, [reported(net!, 'ready')], [], ok);
    expect(r.conditions.set[0]?.message).to.match(/recipe-node5 and 3 more$/);
  });
});

describe('controllers/maas-lab/status onlyProgressChanged', () => {
  const status = (ready: number, reason = 'NodesNotReady', extra: object = {}) => ({
    observedGeneration: 1,
    printableStatus: 'Provisioning',
    networks: { ready: 1, total: 1 },
    nodes: { ready, total: 3, summary: `${ready}/3` },
    conditions: [
      { type: 'Ready', status: 'False', reason, message: `nodes ${ready}/3 ready` },
      { type: 'Reconciling', status: 'True', reason, message: `nodes ${ready}/3 ready` },
    ],
    ...extra,
  });
  it('is true when only the Ready count and the messages repeating it changed', () => {
    expect(onlyProgressChanged(status(1), status(2))).to.equal(true);
  });
  it('is false for any other change, and for a first status', () => {
    expect(onlyProgressChanged(undefined, status(0))).to.equal(false);
    expect(onlyProgressChanged(status(1), status(1, 'NetworksNotReady'))).to.equal(false);
    expect(
      onlyProgressChanged(status(1), status(2, undefined, { printableStatus: 'Ready' })),
    ).to.equal(false);
    expect(
      onlyProgressChanged(status(1), status(1, undefined, { observedGeneration: 2 })),
    ).to.equal(false);
    expect(
      onlyProgressChanged(status(1), status(1, undefined, { networks: { ready: 0, total: 1 } })),
    ).to.equal(false);
  });
});
