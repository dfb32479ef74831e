import { expect } from 'chai';
import { createItemExponentialRateLimiter } from '../../../../src/runtime/backoff.js';
import {
  ControllerEvent,
  DEFAULT_CONFLICT_REQUEUE_MS,
  DEFAULT_RECONCILE_TIMEOUT_MS,
  type ControllerMetrics,
  type ControllerOptions,
  type ReconciledEvent,
  createController,
} from '../../../../src/runtime/controller/controller.js';
import type { LogMeta, Logger } from '../../../../src/runtime/log.js';
import {
  ConflictError,
  type Reconciler,
  type Request,
  type Result,
  TerminalError,
} from '../../../../src/runtime/controller/reconcile.js';
import { createWorkQueue } from '../../../../src/runtime/controller/workqueue.js';
import { type FakeClock, createFakeClock } from '../../../fakes/clock.js';

/** Lets promise chains run to completion (they never wait on real time here). */
const flush = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

interface Call {
  readonly req: Request;
  readonly signal: AbortSignal;
  resolve(r: Result): void;
  reject(e: unknown): void;
}

/** A reconciler whose passes finish only when the test says so. */
function controllable(): Reconciler & {
  calls: Call[];
  inFlight: Set<string>;
  maxInFlight: number;
  overlaps: number;
} {
  const r = {
    calls: [] as Call[],
    inFlight: new Set<string>(),
    maxInFlight: 0,
    overlaps: 0,
    reconcile(req: Request, signal: AbortSignal): Promise<Result> {
      const key = `${req.namespace}/${req.name}`;
      if (r.inFlight.has(key)) r.overlaps++;
      r.inFlight.add(key);
      r.maxInFlight = Math.max(r.maxInFlight, r.inFlight.size);
      return new Promise<Result>((resolve, reject) => {
        const end = (): void => void r.inFlight.delete(key);
        r.calls.push({
          req,
          signal,
          resolve: (v) => (end(), resolve(v)),
          reject: (e) => (end(), reject(e)),
        });
      });
    },
  };
  return r;
}

/** A reconciler that answers each pass with the next scripted outcome. */
function scripted(outcomes: Array<Result | Error>): Reconciler & { count: number } {
  const r = {
    count: 0,
    reconcile(): Promise<Result> {
      const next = outcomes[Math.min(r.count++, outcomes.length - 1)] ?? {};
      return next instanceof Error ? Promise.reject(next) : Promise.resolve(next);
    },
  };
  return r;
}

function recordingMetrics(): ControllerMetrics & { events: string[]; active: number } {
  const m = {
    events: [] as string[],
    active: 0,
    reconciled: (o: string, s: number) => void m.events.push(`${o}:${s}`),
    errored: (t: boolean) => void m.events.push(t ? 'terminal' : 'errored'),
    timedOut: () => void m.events.push('timeout'),
    activeWorkers: (d: number) => void (m.active += d),
  };
  return m;
}

interface Line {
  readonly level: string;
  readonly message: string;
  readonly meta: LogMeta;
}

function recordingLogger(lines: Line[], base: LogMeta = {}): Logger {
  const at =
    (level: string) =>
    (message: string, meta: LogMeta = {}): void =>
      void lines.push({ level, message, meta: { ...base, ...meta } });
  return {
    error: at('error'),
    warn: at('warn'),
    info: at('info'),
    debug: at('debug'),
    child: (meta) => recordingLogger(lines, { ...base, ...meta }),
  };
}

describe('runtime/controller', () => {
  let clock: FakeClock;
  const make = (o: Partial<ControllerOptions> & { reconciler: Reconciler }) =>
    createController({ name: 'maasnode', kind: 'MaasNode', clock, ...o });
  beforeEach(() => {
    clock = createFakeClock(0);
  });

  it('success forgets the key and is counted', async () => {
    const rec = scripted([{}]);
    const metrics = recordingMetrics();
    const c = make({ reconciler: rec, metrics });
    c.start();
    c.enqueue({ namespace: 'lab', name: 'n1' });
    await flush();
    expect(rec.count).to.equal(1);
    expect(metrics.events).to.deep.equal(['success:0']);
    expect(c.queue.numRequeues('lab/n1')).to.equal(0);
    await clock.tickAsync(60_000);
    expect(rec.count).to.equal(1);
    await c.stop();
  });

  it('an error retries with per-key backoff; success resets it', async () => {
    const boom = new Error('libvirt unreachable');
    const rec = scripted([boom, boom, boom, {}]);
    const metrics = recordingMetrics();
    const c = make({ reconciler: rec, metrics });
    c.start();
    c.enqueue({ namespace: 'lab', name: 'n1' });
    await flush();
    expect(rec.count).to.equal(1);
    expect(c.queue.numRequeues('lab/n1')).to.equal(1);
    await clock.tickAsync(4);
    expect(rec.count).to.equal(1);
    await clock.tickAsync(1); // 5 ms
    expect(rec.count).to.equal(2);
    await clock.tickAsync(9);
    expect(rec.count).to.equal(2);
    await clock.tickAsync(1); // 10 ms
    expect(rec.count).to.equal(3);
    await clock.tickAsync(20); // 20 ms
    expect(rec.count).to.equal(4);
    expect(c.queue.numRequeues('lab/n1')).to.equal(0);
    expect(metrics.events.filter((e) => e === 'errored')).to.have.length(3);
    expect(metrics.events.filter((e) => e.startsWith('error:'))).to.have.length(3);
    expect(metrics.events.at(-1)).to.equal('success:0');
    await c.stop();
  });

  it('a TerminalError (even wrapped) is counted and never retried', async () => {
    const terminal = new TerminalError('foreign domain', { reason: 'NameConflict' });
    const rec = scripted([new Error('wrapped', { cause: terminal })]);
    const metrics = recordingMetrics();
    const lines: Line[] = [];
    const c = make({ reconciler: rec, metrics, logger: recordingLogger(lines) });
    c.start();
    c.enqueue({ namespace: 'lab', name: 'n1' });
    await flush();
    await clock.tickAsync(3_600_000);
    expect(rec.count).to.equal(1);
    expect(metrics.events).to.deep.equal(['terminal', 'error:0']);
    expect(c.queue.numRequeues('lab/n1')).to.equal(0);
    expect(clock.pendingTimers()).to.equal(0);
    const line = lines.find((l) => l.level === 'error');
    expect(line?.meta['reason']).to.equal('NameConflict');
    await c.stop();
  });

  it('requeueAfterMs forgets the backoff and comes back after the delay', async () => {
    const rec = scripted([new Error('once'), { requeueAfterMs: 30_000 }, {}]);
    const metrics = recordingMetrics();
    const c = make({ reconciler: rec, metrics });
    c.start();
    c.enqueue({ name: 'hv1' });
    await flush();
    await clock.tickAsync(5);
    expect(rec.count).to.equal(2);
    expect(c.queue.numRequeues('hv1')).to.equal(0);
    await clock.tickAsync(29_999);
    expect(rec.count).to.equal(2);
    await clock.tickAsync(1);
    expect(rec.count).to.equal(3);
    expect(metrics.events).to.deep.equal(['errored', 'error:0', 'requeue_after:0', 'success:0']);
    await c.stop();
  });

  it('bounds concurrency and never runs one key twice at once', async () => {
    const rec = controllable();
    const metrics = recordingMetrics();
    const c = make({ reconciler: rec, metrics, maxConcurrentReconciles: 2 });
    c.start();
    for (const name of ['a', 'b', 'c', 'd']) c.enqueue({ namespace: 'ns', name });
    await flush();
    expect(rec.calls.map((x) => x.req.name)).to.deep.equal(['a', 'b']);
    expect(c.activeWorkers()).to.equal(2);
    expect(metrics.active).to.equal(2);

    c.enqueue({ namespace: 'ns', name: 'a' }); // changed while in flight: must wait
    rec.calls[0]?.resolve({});
    await flush();
    expect(rec.calls.map((x) => x.req.name)).to.deep.equal(['a', 'b', 'c']);
    rec.calls[1]?.resolve({});
    await flush();
    expect(rec.calls.map((x) => x.req.name)).to.deep.equal(['a', 'b', 'c', 'd']);
    rec.calls[2]?.resolve({});
    await flush();
    expect(rec.calls.map((x) => x.req.name)).to.deep.equal(['a', 'b', 'c', 'd', 'a']);
    for (const call of rec.calls.slice(3)) call.resolve({});
    await flush();
    expect(rec.maxInFlight).to.equal(2);
    expect(rec.overlaps).to.equal(0);
    expect(metrics.active).to.equal(0);
    await c.stop();
  });

  it('a key re-added during its own pass runs again right after, serially', async () => {
    const rec = controllable();
    const c = make({ reconciler: rec, maxConcurrentReconciles: 4 });
    c.start();
    c.enqueue({ name: 'x' });
    await flush();
    c.enqueue({ name: 'x' });
    c.enqueue({ name: 'x' });
    await flush();
    expect(rec.calls).to.have.length(1);
    rec.calls[0]?.resolve({});
    await flush();
    expect(rec.calls).to.have.length(2);
    rec.calls[1]?.resolve({});
    await flush();
    expect(rec.calls).to.have.length(2);
    expect(rec.overlaps).to.equal(0);
    await c.stop();
  });

  it('tags every pass log line with controller, kind, namespace, name and reconcileID', async () => {
    const lines: Line[] = [];
    let id = 0;
    const c = make({
      reconciler: scripted([new Error('x'), {}]),
      logger: recordingLogger(lines),
      newReconcileID: () => `rid-${++id}`,
    });
    c.start();
    c.enqueue({ namespace: 'lab', name: 'n1' });
    await flush();
    const err = lines.find((l) => l.message === 'Reconciler error');
    expect(err?.meta).to.include({
      controller: 'maasnode',
      kind: 'MaasNode',
      namespace: 'lab',
      name: 'n1',
      reconcileID: 'rid-1',
      retries: 1,
    });
    expect(err?.meta['error']).to.deep.equal({ name: 'Error', message: 'x' });
    await clock.tickAsync(5);
    expect(lines.filter((l) => l.meta['reconcileID'] === 'rid-2').length).to.be.greaterThan(0);
    await c.stop();
  });

  it('catches synchronous throws and non-Error rejections; nothing escapes', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown): void => void unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      let n = 0;
      const rec: Reconciler = {
        reconcile(): Promise<Result> {
          n++;
          if (n === 1) throw new Error('sync');
          return Promise.reject('a string');
        },
      };
      const c = make({ reconciler: rec });
      c.start();
      c.enqueue({ name: 'k' });
      await flush();
      await clock.tickAsync(5);
      expect(n).to.equal(2);
      await c.stop();
      await flush();
      expect(unhandled).to.deep.equal([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('drops an invalid key without retrying it', async () => {
    const rec = scripted([{}]);
    const c = make({ reconciler: rec });
    c.start();
    c.queue.add('a/b/c');
    await flush();
    await clock.tickAsync(1000);
    expect(rec.count).to.equal(0);
    expect(c.queue.len()).to.equal(0);
    await c.stop();
  });

  it('aborts the signal when the per-reconcile timeout fires', async () => {
    const rec = controllable();
    const metrics = recordingMetrics();
    const c = make({ reconciler: rec, metrics, reconcileTimeoutMs: 1000 });
    c.start();
    c.enqueue({ name: 'slow' });
    await flush();
    const call = rec.calls[0];
    expect(call?.signal.aborted).to.equal(false);
    await clock.tickAsync(1000);
    expect(call?.signal.aborted).to.equal(true);
    expect((call?.signal.reason as DOMException).name).to.equal('TimeoutError');
    call?.reject(call.signal.reason);
    await flush();
    expect(metrics.events).to.deep.equal(['timeout', 'errored', 'error:1']);
    await c.stop({ drain: false });
  });

  it('has a 5-minute reconcile deadline by default: aborted, counted as an error, retried with backoff', async () => {
    expect(DEFAULT_RECONCILE_TIMEOUT_MS).to.equal(300_000);
    const rec = controllable();
    const metrics = recordingMetrics();
    const lines: Line[] = [];
    const c = make({ reconciler: rec, metrics, logger: recordingLogger(lines) });
    const outcomes: ReconciledEvent[] = [];
    c.on('reconciled', (e) => void outcomes.push(e));
    c.start();
    c.enqueue({ name: 'slow' });
    await flush();
    const call = rec.calls[0];
    await clock.tickAsync(299_999);
    expect(call?.signal.aborted).to.equal(false);
    await clock.tickAsync(1);
    expect(call?.signal.aborted).to.equal(true);
    // The reconciler fails with its own abort error: the cause, the timeout is the error.
    call?.reject(new DOMException('aborted', 'AbortError'));
    await flush();
    expect(metrics.events).to.deep.equal(['timeout', 'errored', 'error:300']);
    expect(outcomes.map((e) => e.outcome)).to.deep.equal(['error']);
    expect((outcomes[0]?.error as Error).message).to.match(/timed out after 300000 ms/);
    expect(c.queue.numRequeues('slow')).to.equal(1);
    expect(lines.some((l) => l.level === 'error' && /deadline/.test(l.message))).to.equal(true);
    // Retried through the rate limiter (5 ms), not forgotten.
    await clock.tickAsync(5);
    expect(rec.calls).to.have.length(2);
    rec.calls[1]?.resolve({});
    await flush();
    expect(c.queue.numRequeues('slow')).to.equal(0);
    await c.stop({ drain: false });
  });

  it('a pass that ignores its aborted signal and returns still counts as an error', async () => {
    const rec = controllable();
    const metrics = recordingMetrics();
    const c = make({ reconciler: rec, metrics, reconcileTimeoutMs: 1000 });
    c.start();
    c.enqueue({ name: 'deaf' });
    await flush();
    await clock.tickAsync(2000);
    rec.calls[0]?.resolve({ requeueAfterMs: 60_000 });
    await flush();
    expect(metrics.events).to.deep.equal(['timeout', 'errored', 'error:2']);
    expect(c.queue.numRequeues('deaf')).to.equal(1);
    await c.stop({ drain: false });
  });

  it('reconcileTimeoutMs 0 means no deadline; a negative one is refused', async () => {
    expect(() => make({ reconciler: scripted([{}]), reconcileTimeoutMs: -1 })).to.throw(RangeError);
    const rec = controllable();
    const c = make({ reconciler: rec, reconcileTimeoutMs: 0 });
    c.start();
    c.enqueue({ name: 'long' });
    await flush();
    await clock.tickAsync(3_600_000);
    expect(rec.calls[0]?.signal.aborted).to.equal(false);
    rec.calls[0]?.resolve({});
    await c.stop();
  });

  it('uses the rateLimiter it is given for errors', async () => {
    const rec = scripted([new Error('down'), {}]);
    const c = make({
      reconciler: rec,
      rateLimiter: createItemExponentialRateLimiter({ baseMs: 800, maxMs: 30_000 }),
    });
    c.start();
    c.enqueue({ name: 'hv' });
    await flush();
    await clock.tickAsync(799);
    expect(rec.count).to.equal(1);
    await clock.tickAsync(1);
    expect(rec.count).to.equal(2);
    await c.stop();
  });

  it('a ConflictError (even wrapped) requeues shortly, counted as requeue, with no error backoff', async () => {
    const conflict = new ConflictError('status of MaasNode lab/n1 not written (409)');
    const rec = scripted([conflict, new Error('report failed', { cause: conflict }), {}]);
    const metrics = recordingMetrics();
    const c = make({ reconciler: rec, metrics });
    const outcomes: ReconciledEvent[] = [];
    c.on('reconciled', (e) => void outcomes.push(e));
    c.start();
    c.enqueue({ namespace: 'lab', name: 'n1' });
    await flush();
    expect(rec.count).to.equal(1);
    expect(c.queue.numRequeues('lab/n1')).to.equal(0);
    await clock.tickAsync(DEFAULT_CONFLICT_REQUEUE_MS - 1);
    expect(rec.count).to.equal(1);
    await clock.tickAsync(1);
    expect(rec.count).to.equal(2);
    await clock.tickAsync(DEFAULT_CONFLICT_REQUEUE_MS);
    expect(rec.count).to.equal(3);
    expect(metrics.events).to.deep.equal(['requeue:0', 'requeue:0', 'success:0']);
    expect(outcomes.map((e) => `${e.outcome}/${e.requeueAfterMs ?? ''}`)).to.deep.equal([
      'requeue/100',
      'requeue/100',
      'success/',
    ]);
    expect(c.queue.numRequeues('lab/n1')).to.equal(0);
    await c.stop();
  });

  it('stop({drain: true}) lets in-flight passes finish and skips the backlog', async () => {
    const rec = controllable();
    const c = make({ reconciler: rec });
    c.start();
    c.enqueue({ name: 'a' });
    c.enqueue({ name: 'b' });
    await flush();
    let stopped = false;
    const stopping = c.stop({ drain: true }).then(() => (stopped = true));
    await flush();
    expect(stopped).to.equal(false);
    expect(rec.calls[0]?.signal.aborted).to.equal(false);
    rec.calls[0]?.resolve({});
    await stopping;
    expect(rec.calls.map((x) => x.req.name)).to.deep.equal(['a']);
    c.enqueue({ name: 'c' });
    await flush();
    expect(rec.calls).to.have.length(1);
  });

  it('stop({drain: true, timeoutMs}) aborts passes that overrun', async () => {
    const rec = controllable();
    const c = make({ reconciler: rec });
    c.start();
    c.enqueue({ name: 'a' });
    await flush();
    const stopping = c.stop({ drain: true, timeoutMs: 5000 });
    await clock.tickAsync(5000);
    const call = rec.calls[0];
    expect(call?.signal.aborted).to.equal(true);
    call?.reject(call.signal.reason);
    await stopping;
  });

  it('stop({drain: false}) aborts in-flight signals at once', async () => {
    const rec = controllable();
    const lines: Line[] = [];
    const c = make({ reconciler: rec, logger: recordingLogger(lines) });
    c.start();
    c.enqueue({ name: 'a' });
    await flush();
    const stopping = c.stop({ drain: false });
    const call = rec.calls[0];
    expect(call?.signal.aborted).to.equal(true);
    call?.reject(call.signal.reason);
    await stopping;
    expect(lines.filter((l) => l.level === 'error')).to.deep.equal([]);
  });

  it('uses an injected queue and validates its options', async () => {
    const queue = createWorkQueue({
      name: 'custom',
      clock,
      rateLimiter: createItemExponentialRateLimiter({ baseMs: 100 }),
    });
    const rec = scripted([new Error('x'), {}]);
    const c = make({ reconciler: rec, queue });
    expect(c.queue).to.equal(queue);
    c.start();
    expect(() => c.start()).to.throw(/already started/);
    c.enqueue({ name: 'k' });
    await flush();
    await clock.tickAsync(99);
    expect(rec.count).to.equal(1);
    await clock.tickAsync(1);
    expect(rec.count).to.equal(2);
    await c.stop();
    expect(() => make({ reconciler: rec, maxConcurrentReconciles: 0 })).to.throw(RangeError);
  });

  it('emits typed reconciled events; a throwing listener is logged, not fatal', async () => {
    const lines: Line[] = [];
    const seen: ReconciledEvent[] = [];
    const terminal = new TerminalError('no', { reason: 'NameConflict' });
    const rec = scripted([{ requeueAfterMs: 10 }, terminal]);
    const c = make({ reconciler: rec, logger: recordingLogger(lines) });
    const bad = (): void => {
      throw new Error('listener bug');
    };
    c.on(ControllerEvent.Reconciled, bad);
    c.on(ControllerEvent.Reconciled, (e) => void seen.push(e));
    c.start();
    c.enqueue({ namespace: 'lab', name: 'n1' });
    await flush();
    c.off(ControllerEvent.Reconciled, bad);
    await clock.tickAsync(10);
    expect(seen).to.deep.equal([
      { key: 'lab/n1', outcome: 'requeue_after', terminal: false, requeueAfterMs: 10 },
      { key: 'lab/n1', outcome: 'error', terminal: true, error: terminal },
    ]);
    expect(lines.filter((l) => l.message === 'Event listener threw')).to.have.length(1);
    await c.stop();
  });
});
