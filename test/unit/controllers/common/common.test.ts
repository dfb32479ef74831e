import { expect } from 'chai';
import {
  applyConditionPlan,
  childState,
  isReadyAndCurrent,
  planFor,
  withCondition,
  type Verdict,
} from '../../../../src/controllers/common/conditions.js';
import { fnv1a32 } from '../../../../src/controllers/common/hash.js';
import { ownership } from '../../../../src/controllers/common/ownership.js';
import type { Condition } from '../../../../src/api/v1alpha1/index.js';

const why = { reason: 'Because', message: 'details' };

describe('controllers/common', () => {
  describe('fnv1a32', () => {
    // Reference vectors from the FNV specification's test suite.
    const vectors: [string, number][] = [
      ['', 0x811c9dc5],
      ['a', 0xe40c292c],
      ['foobar', 0xbf9cf968],
    ];
    for (const [text, hash] of vectors) {
      it(`hashes ${JSON.stringify(text)}`, () => expect(fnv1a32(text)).to.equal(hash));
    }
  });

  describe('ownership', () => {
    const me = { kind: 'MaasNode', namespace: 'ns', name: 'n', uid: 'u1' };
    const cases: [string, { owner?: typeof me } | undefined, string][] = [
      ['absent when libvirt has nothing', undefined, 'absent'],
      ['owned with our stamp', { owner: me }, 'owned'],
      ['foreign without a stamp', {}, 'foreign'],
      [
        'foreign for an earlier incarnation (other UID)',
        { owner: { ...me, uid: 'u0' } },
        'foreign',
      ],
      ['foreign for another kind', { owner: { ...me, kind: 'VirtNetwork' } }, 'foreign'],
    ];
    for (const [name, observed, want] of cases) {
      it(name, () => expect(ownership(observed, me)).to.equal(want));
    }
  });

  describe('planFor', () => {
    const cases: [Verdict, Record<string, string>, string[]][] = [
      [{ kind: 'ready' }, { Ready: 'True' }, ['Reconciling', 'Stalled']],
      [{ kind: 'progressing', ...why }, { Ready: 'False', Reconciling: 'True' }, ['Stalled']],
      [{ kind: 'unknown', ...why }, { Ready: 'Unknown', Reconciling: 'True' }, ['Stalled']],
      [{ kind: 'stalled', ...why }, { Ready: 'False', Stalled: 'True' }, ['Reconciling']],
      [{ kind: 'settled', ...why }, { Ready: 'False' }, ['Reconciling', 'Stalled']],
    ];
    for (const [verdict, set, remove] of cases) {
      it(`${verdict.kind}: sets ${JSON.stringify(set)}, removes ${remove.join(', ')}`, () => {
        const plan = planFor(verdict);
        expect(Object.fromEntries(plan.set.map((c) => [c.type, c.status]))).to.deep.equal(set);
        expect(plan.remove).to.deep.equal(remove);
        if (verdict.kind !== 'ready') {
          expect(plan.set.every((c) => c.reason === 'Because')).to.equal(true);
        } else {
          expect(plan.set[0]?.reason).to.equal('Reconciled');
        }
      });
    }
    it('never has Reconciling and Stalled True together', () => {
      for (const [verdict] of cases) {
        const types = planFor(verdict)
          .set.filter((c) => c.status === 'True')
          .map((c) => c.type);
        expect(types.includes('Reconciling') && types.includes('Stalled')).to.equal(false);
      }
    });
  });

  describe('applyConditionPlan', () => {
    const at = { now: Date.parse('2026-01-01T00:00:10Z'), generation: 3 };
    const old: Condition[] = [
      {
        type: 'Ready',
        status: 'True',
        reason: 'Reconciled',
        message: '',
        lastTransitionTime: '2025-12-31T00:00:00Z',
        observedGeneration: 2,
      },
      {
        type: 'Stalled',
        status: 'True',
        reason: 'X',
        message: '',
        lastTransitionTime: '2025-12-31T00:00:00Z',
      },
    ];
    it('removes, sets and stamps; keeps lastTransitionTime when the status holds', () => {
      const out = applyConditionPlan(old, planFor({ kind: 'ready' }), at);
      expect(out).to.deep.equal([{ ...old[0], observedGeneration: 3 }]);
    });
    it('moves lastTransitionTime on a flip, and adds extra conditions', () => {
      const plan = withCondition(planFor({ kind: 'progressing', ...why }), 'RestartRequired', {
        status: 'True',
        reason: 'RestartPending',
      });
      const out = applyConditionPlan(old, plan, at);
      expect(out.map((c) => [c.type, c.status, c.lastTransitionTime])).to.deep.equal([
        ['Ready', 'False', '2026-01-01T00:00:10Z'],
        ['Reconciling', 'True', '2026-01-01T00:00:10Z'],
        ['RestartRequired', 'True', '2026-01-01T00:00:10Z'],
      ]);
    });
    it('withCondition(undefined) removes the type', () => {
      const plan = withCondition(planFor({ kind: 'ready' }), 'RestartRequired', undefined);
      expect(plan.remove).to.include('RestartRequired');
      expect(applyConditionPlan(undefined, plan, at).map((c) => c.type)).to.deep.equal(['Ready']);
    });
  });

  describe('isReadyAndCurrent / childState', () => {
    const ready = (gen: number, observed: number, readyGen?: number, extra: Condition[] = []) => ({
      metadata: { generation: gen },
      status: {
        observedGeneration: observed,
        conditions: [
          {
            type: 'Ready',
            status: 'True' as const,
            reason: 'R',
            message: '',
            lastTransitionTime: '2026-01-01T00:00:00Z',
            ...(readyGen !== undefined && { observedGeneration: readyGen }),
          },
          ...extra,
        ],
      },
    });
    const cond = (type: string, status: 'True' | 'False'): Condition => ({
      type,
      status,
      reason: 'R',
      message: '',
      lastTransitionTime: '2026-01-01T00:00:00Z',
    });
    const cases: [string, Parameters<typeof childState>[0], boolean, string][] = [
      ['current and Ready', ready(2, 2, 2), true, 'Current'],
      ['Ready without per-condition generation', ready(2, 2), true, 'Current'],
      ['status lags the generation', ready(3, 2, 2), false, 'InProgress'],
      ['Ready from an older generation', ready(3, 3, 2), false, 'Current'],
      ['no status yet', { metadata: { generation: 1 } }, false, 'InProgress'],
      ['Reconciling', ready(1, 1, 1, [cond('Reconciling', 'True')]), true, 'InProgress'],
      ['Stalled', ready(1, 1, 1, [cond('Stalled', 'True')]), true, 'Failed'],
      ['Stalled=False is fine', ready(1, 1, 1, [cond('Stalled', 'False')]), true, 'Current'],
      [
        'Ready=False',
        { status: { conditions: [{ ...cond('Ready', 'False') }] } },
        false,
        'Current',
      ],
    ];
    for (const [name, object, isReady, state] of cases) {
      it(`${name}: ready=${isReady}, ${state}`, () => {
        expect(isReadyAndCurrent(object)).to.equal(isReady);
        expect(childState(object)).to.equal(state);
      });
    }
  });
});
