import { expect } from 'chai';
import type { Condition as ApiCondition } from '../../../src/api/v1alpha1/common.js';
import {
  type Condition,
  getCondition,
  isFalse,
  isTrue,
  kstatusOf,
  markReady,
  markReconciling,
  markStalled,
  removeCondition,
  setCondition,
  sortConditions,
  statusEqual,
} from '../../../src/runtime/conditions.js';

const T0 = Date.UTC(2026, 10, 24, 4, 0, 0, 123);
const at = (offsetS: number, generation = 1) => ({ now: T0 + offsetS * 1000, generation });

/** Both kstatus conditions true at once is the invariant we must never break. */
function assertKstatusInvariant(conds: readonly Condition[]): void {
  expect(
    isTrue(conds, 'Stalled') && isTrue(conds, 'Reconciling'),
    'Stalled and Reconciling',
  ).to.equal(false);
}

describe('runtime/conditions', () => {
  it('setCondition stamps generation and a seconds-truncated transition time, immutably', () => {
    const before: Condition[] = [];
    const after = setCondition(
      before,
      { type: 'Ready', status: 'False', reason: 'Waiting' },
      at(0, 3),
    );
    expect(before).to.have.length(0);
    expect(after).to.deep.equal([
      {
        type: 'Ready',
        status: 'False',
        reason: 'Waiting',
        message: '',
        observedGeneration: 3,
        lastTransitionTime: '2026-11-24T04:00:00Z',
      },
    ]);
  });

  it('lastTransitionTime moves only when status flips', () => {
    let c = setCondition([], { type: 'Ready', status: 'False', reason: 'A' }, at(0));
    c = setCondition(c, { type: 'Ready', status: 'False', reason: 'B', message: 'new' }, at(60, 2));
    expect(getCondition(c, 'Ready')).to.include({
      reason: 'B',
      message: 'new',
      observedGeneration: 2,
      lastTransitionTime: '2026-11-24T04:00:00Z',
    });
    c = setCondition(c, { type: 'Ready', status: 'True', reason: 'Succeeded' }, at(120, 2));
    expect(getCondition(c, 'Ready')?.lastTransitionTime).to.equal('2026-11-24T04:02:00Z');
    c = setCondition(c, { type: 'Ready', status: 'True', reason: 'Succeeded' }, at(999, 2));
    expect(getCondition(c, 'Ready')?.lastTransitionTime).to.equal('2026-11-24T04:02:00Z');
  });

  it('does not mutate the input array or its conditions', () => {
    const input = Object.freeze([
      Object.freeze(setCondition([], { type: 'Ready', status: 'True', reason: 'X' }, at(0))[0]!),
    ]);
    const out = setCondition(input, { type: 'Ready', status: 'False', reason: 'Y' }, at(5));
    expect(input[0]?.status).to.equal('True');
    expect(out[0]?.status).to.equal('False');
  });

  it('rejects what the API server would reject', () => {
    expect(() => setCondition([], { type: 'Ready', status: 'True', reason: '' }, at(0))).to.throw(
      TypeError,
    );
    expect(() =>
      setCondition([], { type: 'Ready', status: 'True', reason: 'has space' }, at(0)),
    ).to.throw(TypeError);
    expect(() =>
      setCondition([], { type: 'bad type!', status: 'True', reason: 'X' }, at(0)),
    ).to.throw(TypeError);
    expect(() =>
      setCondition(
        [],
        { type: 'example.com/Custom', status: 'True', reason: 'Some_Reason:1' },
        at(0),
      ),
    ).not.to.throw();
  });

  it('sorts Ready first, then Reconciling, Stalled, then by type', () => {
    let c: Condition[] = [];
    for (const type of ['Zeta', 'Stalled', 'Alpha', 'Ready', 'Reconciling']) {
      c = setCondition(c, { type, status: 'False', reason: 'R' }, at(0));
    }
    expect(c.map((x) => x.type)).to.deep.equal([
      'Ready',
      'Reconciling',
      'Stalled',
      'Alpha',
      'Zeta',
    ]);
    expect(sortConditions([...c].reverse()).map((x) => x.type)).to.deep.equal(c.map((x) => x.type));
  });

  it('accepts and returns the API types’ conditions (observedGeneration optional there)', () => {
    const fromServer: readonly ApiCondition[] = [
      {
        type: 'Ready',
        status: 'True',
        reason: 'Reconciled',
        message: '',
        lastTransitionTime: '2026-01-01T00:00:00Z',
      },
    ];
    const next: ApiCondition[] = markReconciling(fromServer, { reason: 'Progressing' }, at(0, 4));
    expect(getCondition(next, 'Ready')).to.include({ status: 'False', observedGeneration: 4 });
  });

  it('getCondition, isTrue, isFalse and removeCondition', () => {
    const c = setCondition(undefined, { type: 'Ready', status: 'True', reason: 'R' }, at(0));
    expect(isTrue(c, 'Ready')).to.equal(true);
    expect(isFalse(c, 'Ready')).to.equal(false);
    expect(isTrue(undefined, 'Ready')).to.equal(false);
    expect(getCondition(c, 'Nope')).to.equal(undefined);
    expect(removeCondition(c, 'Ready')).to.deep.equal([]);
    expect(c).to.have.length(1);
  });

  describe('kstatus helpers', () => {
    it('markReconciling: Reconciling=True, Ready=False, no Stalled → InProgress', () => {
      const stalled = markStalled([], { reason: 'NameConflict', message: 'foreign domain' }, at(0));
      const c = markReconciling(
        stalled,
        { reason: 'Provisioning', message: 'defining domain' },
        at(10),
      );
      assertKstatusInvariant(c);
      expect(getCondition(c, 'Stalled')).to.equal(undefined);
      expect(getCondition(c, 'Reconciling')).to.include({ status: 'True', reason: 'Provisioning' });
      expect(getCondition(c, 'Ready')).to.include({ status: 'False', reason: 'Provisioning' });
      expect(kstatusOf({ generation: 1, observedGeneration: 1, conditions: c })).to.equal(
        'InProgress',
      );
    });

    it('markStalled: Stalled=True, Ready=False, no Reconciling → Failed', () => {
      const reconciling = markReconciling([], { reason: 'Provisioning' }, at(0));
      const c = markStalled(
        reconciling,
        { reason: 'NameConflict', message: 'foreign domain' },
        at(10),
      );
      assertKstatusInvariant(c);
      expect(getCondition(c, 'Reconciling')).to.equal(undefined);
      expect(getCondition(c, 'Stalled')).to.include({ status: 'True', reason: 'NameConflict' });
      expect(getCondition(c, 'Ready')).to.include({
        status: 'False',
        // Ready was already False: the reason changes, the transition time does not.
        lastTransitionTime: '2026-11-24T04:00:00Z',
      });
      expect(kstatusOf({ generation: 1, observedGeneration: 1, conditions: c })).to.equal('Failed');
    });

    it('markReady: Ready=True, Reconciling and Stalled gone → Current', () => {
      const c = markReady(markReconciling([], { reason: 'Provisioning' }, at(0)), {}, at(30));
      assertKstatusInvariant(c);
      expect(c.map((x) => x.type)).to.deep.equal(['Ready']);
      expect(getCondition(c, 'Ready')).to.include({
        status: 'True',
        reason: 'Reconciled',
        lastTransitionTime: '2026-11-24T04:00:30Z',
      });
      expect(kstatusOf({ generation: 1, observedGeneration: 1, conditions: c })).to.equal(
        'Current',
      );
      expect(kstatusOf({ generation: 2, observedGeneration: 1, conditions: c })).to.equal(
        'InProgress',
      );
      expect(kstatusOf({ deletionTimestamp: '2026-11-24T04:00:00Z', conditions: c })).to.equal(
        'Terminating',
      );
    });

    it('keeps the invariant across any sequence of marks', () => {
      const marks = [
        (c: Condition[], s: number) => markReady(c, {}, at(s)),
        (c: Condition[], s: number) => markReconciling(c, { reason: 'Working' }, at(s)),
        (c: Condition[], s: number) => markStalled(c, { reason: 'Broken' }, at(s)),
      ];
      let c: Condition[] = [];
      for (let i = 0; i < 60; i++) {
        c = marks[(i * 7 + (i >> 2)) % 3]!(c, i);
        assertKstatusInvariant(c);
        expect(c[0]?.type).to.equal('Ready');
      }
    });
  });

  describe('statusEqual', () => {
    it('is exact on values, order and shape', () => {
      const base = {
        observedGeneration: 2,
        conditions: [{ type: 'Ready', status: 'True' }],
        macs: ['a', 'b'],
      };
      expect(statusEqual(base, structuredClone(base))).to.equal(true);
      expect(statusEqual(base, { ...base, observedGeneration: 3 })).to.equal(false);
      expect(statusEqual(base, { ...base, macs: ['b', 'a'] })).to.equal(false);
      expect(statusEqual(base, { ...base, macs: ['a'] })).to.equal(false);
      expect(statusEqual(base, { ...base, extra: null })).to.equal(false);
      expect(statusEqual({ a: 1 }, { a: '1' })).to.equal(false);
      expect(statusEqual({ a: [] }, { a: {} })).to.equal(false);
      expect(statusEqual({ a: null }, { a: {} })).to.equal(false);
      expect(statusEqual(null, null)).to.equal(true);
      expect(statusEqual(Number.NaN, Number.NaN)).to.equal(true);
      expect(statusEqual(new Date(5), new Date(5))).to.equal(true);
      expect(statusEqual(new Date(5), new Date(6))).to.equal(false);
      expect(statusEqual(new Date(5), {})).to.equal(false);
    });

    it('treats an undefined property as absent, as JSON does', () => {
      expect(statusEqual({ a: 1, b: undefined }, { a: 1 })).to.equal(true);
      expect(statusEqual({ a: 1 }, { a: 1, b: undefined })).to.equal(true);
      expect(statusEqual({ a: undefined }, { b: undefined })).to.equal(true);
      expect(statusEqual({ a: 1, b: undefined }, { a: 1, c: 2 })).to.equal(false);
    });

    it('sees no change after setting an identical condition later', () => {
      const c = setCondition([], { type: 'Ready', status: 'True', reason: 'R' }, at(0));
      const again = setCondition(c, { type: 'Ready', status: 'True', reason: 'R' }, at(300));
      expect(statusEqual({ conditions: c }, { conditions: again })).to.equal(true);
    });
  });
});
