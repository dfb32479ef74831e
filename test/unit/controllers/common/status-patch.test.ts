// The one status patch that ends a pass: its error is the pass's unless the pass already failed
// with an error the queue retries; then it is logged and counted, and the pass's error stands.
import { expect } from 'chai';
import {
  patchStatusOnce,
  reportBase,
  StatusStep,
} from '../../../../src/controllers/common/status-patch.js';
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

  describe('reportBase: the copy a report is computed against and locked to', () => {
    interface Obj {
      metadata: {
        uid?: string;
        name: string;
        namespace?: string;
        resourceVersion?: string;
        generation?: number;
        labels?: Record<string, string>;
        annotations?: Record<string, string>;
        finalizers?: string[];
        deletionTimestamp?: string;
        ownerReferences?: Array<{
          apiVersion: string;
          kind: string;
          name: string;
          uid: string;
        }>;
        managedFields?: unknown[];
      };
      status?: { phase?: string };
    }
    const worked: Obj = {
      metadata: {
        uid: 'u1',
        name: 'n1',
        namespace: 'lab',
        resourceVersion: '10',
        generation: 3,
        labels: { a: '1', b: '2' },
        annotations: { note: 'x' },
        finalizers: ['maaslab.dev/cleanup'],
        ownerReferences: [
          { apiVersion: 'maaslab.dev/v1alpha1', kind: 'MaasLab', name: 'l', uid: 'o' },
        ],
      },
      status: { phase: 'Starting' },
    };
    /** `worked` moved on to resourceVersion 11, with `change` applied to its metadata. */
    const newer = (change: Partial<Obj['metadata']> = {}, status = { phase: 'Running' }): Obj => ({
      metadata: { ...worked.metadata, resourceVersion: '11', ...change },
      status,
    });

    it('keeps the pass copy when the cache has none, has it, or has the same version', () => {
      expect(reportBase(worked, undefined)).to.equal(worked);
      expect(reportBase(worked, worked)).to.equal(worked);
      const sameVersion = newer({ resourceVersion: '10' });
      expect(reportBase(worked, sameVersion)).to.equal(worked);
    });

    it('takes a newer copy that changed only in status and bookkeeping', () => {
      const statusOnly = newer({ managedFields: [{ manager: 'maaslab' }] });
      expect(reportBase(worked, statusOnly)).to.equal(statusOnly);
      // Maps compare by content, not by key order (a watch event and a write response).
      const reordered = newer({ labels: { b: '2', a: '1' } });
      expect(reportBase(worked, reordered)).to.equal(reordered);
    });

    it('keeps the pass copy when anything the pass acted on changed', () => {
      const changes: Array<Partial<Obj['metadata']>> = [
        { generation: 4 },
        { generation: undefined },
        { uid: 'u2' },
        { labels: { a: '1' } },
        { annotations: { note: 'y' } },
        { annotations: { note: 'x', [`maaslab.dev/hold`]: 'MaasLabSnapshot/golden' } },
        { finalizers: [] },
        { deletionTimestamp: '2026-12-07T00:00:00Z' },
        { ownerReferences: [] },
      ];
      for (const change of changes) {
        expect(reportBase(worked, newer(change)), JSON.stringify(change)).to.equal(worked);
      }
    });
  });
});
