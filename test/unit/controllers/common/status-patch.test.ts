// The one status patch that ends a pass: its error is the pass's unless the pass already failed
// with an error the queue retries; then it is logged and counted, and the pass's error stands.
import { expect } from 'chai';
import { patchStatusOnce, StatusStep } from '../../../../src/controllers/common/status-patch.js';
import type { SwallowedErrorMetrics } from '../../../../src/controllers/metrics.js';
import { type LogMeta, noopLogger, type Logger } from '../../../../src/runtime/index.js';

describe('controllers/common status-patch', () => {
  function recorder(): {
    log: Logger;
    errors: Array<{ message: string; meta?: LogMeta }>;
    swallowed: SwallowedErrorMetrics;
    counted: Array<[string, string]>;
  } {
    const errors: Array<{ message: string; meta?: LogMeta }> = [];
    const counted: Array<[string, string]> = [];
    return {
      errors,
      counted,
      log: { ...noopLogger, error: (message, meta) => errors.push({ message, meta }) },
      swallowed: { swallowed: (controller, step) => counted.push([controller, step]) },
    };
  }

  it('returns what the patch returned, logging and counting nothing', async () => {
    const r = recorder();
    const value = await patchStatusOnce(async () => ({ changed: true }), {
      rethrow: false,
      controller: 'maasnode',
      ...r,
    });
    expect(value).to.deep.equal({ changed: true });
    expect(r.errors).to.deep.equal([]);
    expect(r.counted).to.deep.equal([]);
  });

  it("makes a failing patch the pass's error when the pass did not fail", async () => {
    const r = recorder();
    const boom = new Error('409 Conflict');
    let thrown: unknown;
    try {
      await patchStatusOnce(() => Promise.reject(boom), {
        rethrow: true,
        controller: 'maasnode',
        ...r,
      });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).to.equal(boom);
    expect(r.errors).to.deep.equal([]);
    expect(r.counted).to.deep.equal([]);
  });

  it('logs and counts a failing patch after a failed pass, and returns undefined', async () => {
    const r = recorder();
    const value = await patchStatusOnce(() => Promise.reject(new Error('etcd timeout')), {
      rethrow: false,
      controller: 'virtnetwork',
      ...r,
    });
    expect(value).to.equal(undefined);
    expect(r.counted).to.deep.equal([['virtnetwork', StatusStep]]);
    expect(r.errors).to.have.length(1);
    expect(r.errors[0]?.meta?.['step']).to.equal(StatusStep);
    expect(r.errors[0]?.meta?.['error']).to.deep.include({ message: 'etcd timeout' });
  });
});
