// The per-pass logger reaches the reconciler through its signal (controller-runtime's
// log.FromContext), tagged with the controller loop's keys.
import { expect } from 'chai';
import { createController } from '../../../../src/runtime/controller/controller.js';
import { type LogMeta, type Logger, noopLogger } from '../../../../src/runtime/log.js';
import { loggerFrom, type Request } from '../../../../src/runtime/controller/reconcile.js';
import { createFakeClock } from '../../../fakes/clock.js';

function recordingLogger(lines: LogMeta[], base: LogMeta = {}): Logger {
  const at = (message: string, meta: LogMeta = {}): void =>
    void lines.push({ message, ...base, ...meta });
  return {
    error: at,
    warn: at,
    info: at,
    debug: at,
    child: (m) => recordingLogger(lines, { ...base, ...m }),
  };
}

describe('runtime/controller pass logger (loggerFrom)', () => {
  it('hands the reconciler a logger tagged controller, kind, namespace, name and reconcileID', async () => {
    const lines: LogMeta[] = [];
    let done: () => void = () => undefined;
    const passed = new Promise<void>((resolve) => (done = resolve));
    const controller = createController({
      name: 'maasnode',
      kind: 'MaasNode',
      clock: createFakeClock(),
      logger: recordingLogger(lines),
      newReconcileID: () => 'id-1',
      reconciler: {
        async reconcile(_req: Request, signal: AbortSignal) {
          loggerFrom(signal).info('from the reconciler', { step: 'status' });
          done();
          return {};
        },
      },
    });
    controller.start();
    controller.enqueue({ namespace: 'maas', name: 'n1' });
    await passed;
    await controller.stop();
    expect(lines.find((l) => l['message'] === 'from the reconciler')).to.deep.equal({
      message: 'from the reconciler',
      controller: 'maasnode',
      kind: 'MaasNode',
      namespace: 'maas',
      name: 'n1',
      reconcileID: 'id-1',
      step: 'status',
    });
  });

  it('gives a signal no controller handed out a logger that drops everything', () => {
    expect(loggerFrom(new AbortController().signal)).to.equal(noopLogger);
  });
});
