import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  type Connection,
  type DomainLifecycleEvent,
  type NetworkLifecycleEvent,
  DomainEventStartedDetailType,
  DomainEventStoppedDetailType,
  DomainEventType,
  DomainUndefineFlags,
  NetworkEventLifecycleType,
} from '../../../src/libvirt/index.js';
import { domainXML, networkXML, openTest, uniqueName } from './fixtures.js';

/** Resolves once `pred` holds, polling the event list the listener fills. */
async function until(pred: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for events');
    await new Promise((r) => setTimeout(r, 10));
  }
}

interface ChildResult {
  code: number | null;
  stdout: string;
  stderr: string;
  exitedWithinMs: boolean;
}

/** Runs exit-child.ts in `mode`; kills it after `ms` if it has not exited. */
/**
 * Runs the exit child and kills it when it has not exited `ms` after it started or, with
 * `after`, `ms` after its output first matched `after` (so that a loaded machine's slow start
 * of node and tsx does not count against the child; 60 s at most to get there).
 */
function runChild(mode: string, ms: number, after?: RegExp): Promise<ChildResult> {
  const script = fileURLToPath(new URL('./exit-child.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script, mode], {
    cwd: fileURLToPath(new URL('../../../', import.meta.url)),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  return new Promise((resolve) => {
    let timedOut = false;
    const kill = (): void => {
      timedOut = true;
      child.kill('SIGKILL');
    };
    let timer = setTimeout(kill, after ? 60_000 : ms);
    child.stdout.on('data', (d: Buffer) => {
      const matchedBefore = after?.test(stdout) ?? true;
      stdout += d.toString();
      if (!matchedBefore && after!.test(stdout)) {
        clearTimeout(timer);
        timer = setTimeout(kill, ms);
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, exitedWithinMs: !timedOut });
    });
  });
}

describe('libvirt events (test:///default)', () => {
  let conn: Connection;
  beforeEach(async () => {
    conn = await openTest();
  });
  afterEach(async () => {
    await conn.close();
  });

  it('delivers typed domain lifecycle events for define, start, stop and undefine', async () => {
    const name = uniqueName('evdom');
    const seen: DomainLifecycleEvent[] = [];
    const sub = await conn.domainEventRegisterLifecycle((e) => {
      if (e.domain.getName() === name) seen.push(e);
    });
    expect(sub.callbackID).to.be.at.least(0);
    const d = await conn.domainDefineXMLFlags(domainXML(name));
    await d.createWithFlags();
    await d.destroyFlags();
    await d.undefineFlags(DomainUndefineFlags.ManagedSave);
    await until(() => seen.length >= 4);
    expect(seen.map((e) => e.event)).to.deep.equal([
      DomainEventType.Defined,
      DomainEventType.Started,
      DomainEventType.Stopped,
      DomainEventType.Undefined,
    ]);
    expect(seen[1]?.detail).to.equal(DomainEventStartedDetailType.Booted);
    expect(seen[2]?.detail).to.equal(DomainEventStoppedDetailType.Destroyed);
    expect(seen[0]?.domain.getUUIDString()).to.equal(d.getUUIDString());
    await sub.deregister();
    // Nothing arrives after deregistration.
    const before = seen.length;
    const d2 = await conn.domainDefineXMLFlags(domainXML(name));
    await d2.undefineFlags();
    await new Promise((r) => setTimeout(r, 100));
    expect(seen.length).to.equal(before);
  });

  it('filters domain events to one domain', async () => {
    const mine = await conn.domainDefineXMLFlags(domainXML(uniqueName('evmine')));
    const other = await conn.domainDefineXMLFlags(domainXML(uniqueName('evother')));
    const seen: string[] = [];
    await using _sub = await conn.domainEventRegisterLifecycle(
      (e) => seen.push(e.domain.getName()),
      mine,
    );
    await other.createWithFlags();
    await mine.createWithFlags();
    await until(() => seen.length >= 1);
    await new Promise((r) => setTimeout(r, 50));
    expect(seen).to.deep.equal([mine.getName()]);
    for (const d of [mine, other]) {
      await d.destroyFlags();
      await d.undefineFlags();
    }
  });

  it('delivers typed network lifecycle events', async () => {
    const name = uniqueName('evnet');
    const seen: NetworkLifecycleEvent[] = [];
    await using _sub = await conn.networkEventRegisterLifecycle((e) => {
      if (e.network.getName() === name) seen.push(e);
    });
    const n = await conn.networkDefineXMLFlags(networkXML(name, 'mlbrev', 99));
    await n.create();
    await n.destroy();
    await n.undefine();
    await until(() => seen.length >= 4);
    expect(seen.map((e) => e.event)).to.deep.equal([
      NetworkEventLifecycleType.Defined,
      NetworkEventLifecycleType.Started,
      NetworkEventLifecycleType.Stopped,
      NetworkEventLifecycleType.Undefined,
    ]);
  });

  describe('process exit', function () {
    this.timeout(30000);

    it('exits on its own after close() with subscriptions registered', async () => {
      const r = await runChild('close', 10000);
      expect(r.exitedWithinMs, r.stderr).to.equal(true);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.match(/events=[1-9]/);
    });

    it('exits on its own when subscriptions are unref()ed', async () => {
      const r = await runChild('unref', 10000);
      expect(r.exitedWithinMs, r.stderr).to.equal(true);
      expect(r.code, r.stderr).to.equal(0);
    });

    it('exits with the normal code on process.exit() and uncaught errors, never aborting', async () => {
      const exited = await runChild('exit', 10000);
      expect(exited.code, exited.stderr).to.equal(7);
      const thrown = await runChild('throw', 10000);
      expect(thrown.code, thrown.stderr).to.equal(1);
      expect(thrown.stderr).to.contain('uncaught on purpose');
      expect(thrown.stderr).not.to.contain('terminate called');
    });

    it('stays alive while event subscriptions are registered (like a listening socket)', async () => {
      const r = await runChild('leak', 2500, /events=[1-9]/);
      expect(r.stdout).to.match(/events=[1-9]/);
      expect(r.exitedWithinMs).to.equal(false);
    });
  });
});
