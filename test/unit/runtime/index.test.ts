import { expect } from 'chai';
import * as runtime from '../../../src/runtime/index.js';

describe('runtime/index', () => {
  it('exports factories and helpers, not implementation classes', () => {
    const values = Object.keys(runtime).sort();
    for (const name of [
      'createController',
      'createWorkQueue',
      'createRuntimeMetrics',
      'createLogger',
      'createItemExponentialRateLimiter',
      'createJitteredBackoff',
      'setCondition',
      'markReady',
      'markReconciling',
      'markStalled',
      'statusEqual',
      'mergeResults',
      'requestKey',
      'parseRequestKey',
      'TerminalError',
      'realClock',
    ]) {
      expect(values, name).to.include(name);
    }
    // TerminalError is the one class: callers throw it.
    const classes = values.filter((k) => {
      const v: unknown = (runtime as Record<string, unknown>)[k];
      return typeof v === 'function' && /^class\b/.test(Function.prototype.toString.call(v));
    });
    expect(classes).to.deep.equal(['TerminalError']);
  });
});
