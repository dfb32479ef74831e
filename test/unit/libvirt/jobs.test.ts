// followJob: the progress reports and the cancellation of a long domain job (a managed save),
// against scripted virDomainGetJobInfo / virDomainAbortJobFlags answers. The real calls on a
// QEMU domain are in test/integration/libvirt/hypervisor.test.ts.
import { expect } from 'chai';
import {
  DomainJobType,
  ErrorDomain,
  ErrorLevel,
  ErrorNumber,
} from '../../../src/libvirt/constants.js';
import type { DomainJobInfo } from '../../../src/libvirt/domain.js';
import { LibvirtError } from '../../../src/libvirt/errors.js';
import { followJob } from '../../../src/libvirt/hypervisor/jobs.js';
import type { JobProgress } from '../../../src/libvirt/hypervisor/index.js';

const POLL_MS = 5;

function jobInfo(type: DomainJobType, processed: number, total: number): DomainJobInfo {
  return {
    type,
    timeElapsed: 0,
    timeRemaining: 0,
    dataTotal: total,
    dataProcessed: processed,
    dataRemaining: total - processed,
    memTotal: total,
    memProcessed: processed,
    memRemaining: total - processed,
    fileTotal: 0,
    fileProcessed: 0,
    fileRemaining: 0,
  };
}

const aborted = () =>
  new LibvirtError(
    ErrorNumber.OperationAborted,
    ErrorDomain.Qemu,
    ErrorLevel.Error,
    'operation aborted: canceled by client',
  );

/** A job that runs until finish() or fail(), like the blocking virDomainManagedSave call. */
function pendingJob(): { job: Promise<void>; finish: () => void; fail: (e: Error) => void } {
  let finish!: () => void;
  let fail!: (e: Error) => void;
  const job = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  return { job, finish, fail };
}

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('libvirt/hypervisor followJob', () => {
  it('reports the bytes while the job runs, and resolves with it', async () => {
    const { job, finish } = pendingJob();
    let processed = 0;
    const seen: JobProgress[] = [];
    const following = followJob(
      job,
      {
        info: async () => jobInfo(DomainJobType.Unbounded, (processed += 10), 100),
        abort: () => expect.fail('no abort without a signal'),
      },
      { onProgress: (p) => seen.push(p), signal: new AbortController().signal },
      POLL_MS,
    );
    await settle(POLL_MS * 6);
    finish();
    await following;
    expect(seen.length).to.be.at.least(2);
    expect(seen[0]).to.deep.equal({ done: 10, total: 100 });
    expect(seen.map((p) => p.done)).to.deep.equal(
      [...seen.map((p) => p.done)].sort((a, b) => a - b),
    );
  });

  it('reports nothing while libvirt has no job yet, and skips a failed read', async () => {
    const { job, finish } = pendingJob();
    const answers: Array<DomainJobInfo | Error> = [
      jobInfo(DomainJobType.None, 0, 0),
      new Error('the domain went away'),
      jobInfo(DomainJobType.Unbounded, 5, 50),
    ];
    const seen: JobProgress[] = [];
    const following = followJob(
      job,
      {
        info: async () => {
          const next = answers.shift() ?? jobInfo(DomainJobType.Unbounded, 50, 50);
          if (next instanceof Error) throw next;
          return next;
        },
        abort: () => expect.fail('no abort without a signal'),
      },
      { onProgress: (p) => seen.push(p) },
      POLL_MS,
    );
    await settle(POLL_MS * 8);
    finish();
    await following;
    expect(seen[0]).to.deep.equal({ done: 5, total: 50 });
  });

  it('on abort sends one virDomainAbortJobFlags and rejects with the signal reason once libvirt reports the job aborted', async () => {
    const { job, fail } = pendingJob();
    const controller = new AbortController();
    let aborts = 0;
    const following = followJob(
      job,
      {
        info: async () => jobInfo(DomainJobType.Unbounded, 1, 100),
        abort: async () => {
          aborts++;
          // libvirt cancels the migration to the file; the blocking call then fails.
          setTimeout(() => fail(aborted()), POLL_MS * 3);
        },
      },
      { signal: controller.signal },
      POLL_MS,
    );
    const reason = new Error('reconcile timed out');
    controller.abort(reason);
    let err: unknown;
    await following.catch((e: unknown) => (err = e));
    expect(err).to.equal(reason);
    expect(aborts).to.equal(1);
  });

  it('a job that finished before the abort reached it stands: the abort is not an error', async () => {
    const { job, finish } = pendingJob();
    const controller = new AbortController();
    const following = followJob(
      job,
      {
        info: async () => jobInfo(DomainJobType.None, 0, 0),
        abort: async () => {
          finish();
          throw new LibvirtError(
            ErrorNumber.OperationInvalid,
            ErrorDomain.Qemu,
            ErrorLevel.Error,
            'no job is active on the domain',
          );
        },
      },
      { signal: controller.signal },
      POLL_MS,
    );
    controller.abort(new Error('late'));
    await following;
  });

  it("a job's own failure is its own, abort or not", async () => {
    const { job, fail } = pendingJob();
    const boom = new LibvirtError(
      ErrorNumber.OperationFailed,
      ErrorDomain.Qemu,
      ErrorLevel.Error,
      'disk full',
    );
    const following = followJob(
      job,
      { info: async () => jobInfo(DomainJobType.None, 0, 0), abort: async () => undefined },
      {},
      POLL_MS,
    );
    fail(boom);
    let err: unknown;
    await following.catch((e: unknown) => (err = e));
    expect(err).to.equal(boom);
  });
});
