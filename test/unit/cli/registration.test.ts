import { expect } from 'chai';
import type { ApplyOptions, Client } from '../../../src/runtime/client/client.js';
import type { MetaObject } from '../../../src/runtime/controller/objects.js';
import { noopLogger } from '../../../src/runtime/log.js';
import {
  REGISTRATION_FIELD_MANAGER,
  createRegistration,
  libvirtReadyCheck,
  registrationObject,
} from '../../../src/cli/registration.js';
import type { Logger } from '../../../src/runtime/log.js';
import { createFakeClock } from '../../fakes/clock.js';

/** A Client whose apply fails `failures` times, then succeeds; records every call. */
function applyingClient(failures: number): {
  client: Client;
  calls: { obj: MetaObject; opts?: ApplyOptions }[];
} {
  const calls: { obj: MetaObject; opts?: ApplyOptions }[] = [];
  const unused = (): never => {
    throw new Error('registration must only apply');
  };
  const client: Client = {
    get: unused,
    patchStatus: unused,
    ensureFinalizer: unused,
    dropFinalizer: unused,
    delete: unused,
    apply: <T extends MetaObject>(obj: T, opts?: ApplyOptions): Promise<T> => {
      calls.push({ obj, ...(opts && { opts }) });
      if (calls.length <= failures) return Promise.reject(new Error(`refused #${calls.length}`));
      return Promise.resolve(obj);
    },
  };
  return { client, calls };
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('cli/registration', () => {
  it('applies only the name and spec.uri', () => {
    expect(registrationObject('hv-1', 'qemu:///system')).to.deep.equal({
      apiVersion: 'maaslab.dev/v1alpha1',
      kind: 'Hypervisor',
      metadata: { name: 'hv-1' },
      spec: { uri: 'qemu:///system' },
    });
  });

  it('registers once, under field manager maaslab-agent, and is then registered', async () => {
    const { client, calls } = applyingClient(0);
    const reg = createRegistration({
      name: 'hv-1',
      uri: 'qemu:///system',
      client,
      logger: noopLogger,
    });
    expect(reg.registered()).to.equal(false);
    reg.start();
    await reg.done;
    expect(reg.registered()).to.equal(true);
    expect(calls).to.have.length(1);
    expect(calls[0]?.obj).to.deep.equal(registrationObject('hv-1', 'qemu:///system'));
    expect(calls[0]?.opts?.fieldManager).to.equal(REGISTRATION_FIELD_MANAGER);
  });

  it('retries failures after the backoff delay until the apply works', async () => {
    const clock = createFakeClock();
    const { client, calls } = applyingClient(2);
    const delays = [1000, 2000];
    const reg = createRegistration({
      name: 'hv-1',
      uri: 'qemu:///system',
      client,
      logger: noopLogger,
      clock,
      backoff: { next: () => delays.shift() ?? 0, reset: () => undefined, attempts: 0 },
    });
    reg.start();
    await settle();
    expect(calls).to.have.length(1);
    await clock.tickAsync(999);
    expect(calls).to.have.length(1);
    await clock.tickAsync(1);
    expect(calls).to.have.length(2);
    expect(reg.registered()).to.equal(false);
    await clock.tickAsync(2000);
    await reg.done;
    expect(calls).to.have.length(3);
    expect(reg.registered()).to.equal(true);
  });

  it('stops retrying on stop(), unregistered', async () => {
    const clock = createFakeClock();
    const { client, calls } = applyingClient(Infinity);
    const reg = createRegistration({
      name: 'hv-1',
      uri: 'qemu:///system',
      client,
      logger: noopLogger,
      clock,
    });
    reg.start();
    await settle();
    await reg.stop();
    await clock.tickAsync(60_000);
    expect(calls).to.have.length(1);
    expect(reg.registered()).to.equal(false);
  });

  it('stop() before start() resolves', async () => {
    const { client } = applyingClient(0);
    const reg = createRegistration({
      name: 'a',
      uri: 'qemu:///system',
      client,
      logger: noopLogger,
    });
    await reg.stop();
    expect(reg.registered()).to.equal(false);
  });
});

/** A logger that keeps what it is told, as `level message`. */
function recordingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const keep =
    (level: string) =>
    (message: string): void =>
      void lines.push(`${level} ${message}`);
  const logger = {
    ...noopLogger,
    info: keep('info'),
    warn: keep('warn'),
    error: keep('error'),
  } as Logger;
  return { logger, lines };
}

describe('cli/registration: libvirtReadyCheck', () => {
  /** A pool whose one URI is up or not; get() opens when `opens`, else rejects with `error`. */
  const fakePool = () => {
    const state = { up: false, opens: false, error: new Error('Permission denied'), gets: 0 };
    return {
      state,
      isUp: (uri: string) => uri === 'qemu:///system' && state.up,
      get: (): Promise<unknown> => {
        state.gets++;
        if (!state.opens) return Promise.reject(state.error);
        state.up = true;
        return Promise.resolve({});
      },
    };
  };

  it('fails at once while the connection is down, asks the pool to reconnect, passes once up', async () => {
    const pool = fakePool();
    const { logger, lines } = recordingLogger();
    const check = libvirtReadyCheck(pool, 'qemu:///system', logger);
    expect(check()).to.equal(false);
    expect(pool.state.gets).to.equal(1);
    await settle();
    expect(check()).to.equal(false);
    await settle();
    // One line per change, with libvirt's reason, not one per probe.
    expect(lines).to.deep.equal(['warn libvirt not reachable: not ready']);
    pool.state.opens = true;
    expect(check()).to.equal(false); // the open was only asked for
    await settle();
    expect(check()).to.equal(true);
    expect(pool.state.gets).to.equal(3);
    expect(lines).to.deep.equal([
      'warn libvirt not reachable: not ready',
      'info libvirt reachable: ready',
    ]);
    pool.state.up = false;
    pool.state.opens = false;
    pool.state.error = new Error('No such file or directory');
    expect(check()).to.equal(false);
    await settle();
    expect(lines).to.have.length(3);
    expect(lines[2]).to.equal('warn libvirt not reachable: not ready');
  });
});
