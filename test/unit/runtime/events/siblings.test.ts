import { expect } from 'chai';
import { createEventRecorder } from '../../../../src/runtime/events/recorder.js';
import { EventType } from '../../../../src/runtime/events/event-record.js';
import {
  combinedNote,
  controllerOwner,
  siblingKey,
} from '../../../../src/runtime/events/siblings.js';
import type { RestClient, RestRequest } from '../../../../src/runtime/client/rest.js';
import { createFakeClock } from '../../../fakes/clock.js';

const lab = { apiVersion: 'maaslab.dev/v1alpha1', kind: 'MaasLab', name: 'lab', uid: 'lab-uid' };
const nodeOf = (name: string, owner: typeof lab | null = lab) => ({
  apiVersion: 'maaslab.dev/v1alpha1',
  kind: 'MaasNode',
  metadata: {
    name,
    namespace: 'ns',
    uid: `uid-${name}`,
    ...(owner && { ownerReferences: [{ ...owner, controller: true }] }),
  },
});

function fakeRest(): RestClient & { calls: RestRequest[] } {
  const calls: RestRequest[] = [];
  return {
    calls,
    request<T>(req: RestRequest): Promise<T> {
      calls.push(req);
      return Promise.resolve(req.body as T);
    },
    path: () => Promise.resolve(''),
    watch: () => Promise.reject(new Error('no watch')),
  };
}

describe('runtime/events/siblings', () => {
  it('finds the controller owner, and keys siblings by owner, type, reason and action', () => {
    expect(controllerOwner(nodeOf('a'))).to.deep.equal({
      apiVersion: 'maaslab.dev/v1alpha1',
      kind: 'MaasLab',
      metadata: { name: 'lab', uid: 'lab-uid', namespace: 'ns' },
    });
    expect(controllerOwner(nodeOf('a', null))).to.equal(undefined);
    const notController = nodeOf('a');
    const refs = notController.metadata.ownerReferences ?? [];
    const plain = {
      ...notController,
      metadata: {
        ...notController.metadata,
        ownerReferences: refs.map((r) => ({ ...r, controller: false })),
      },
    };
    expect(controllerOwner(plain)).to.equal(undefined);
    const k = (n: string, reason = 'Started') => siblingKey(nodeOf(n), 'Normal', reason, 'start');
    expect(k('a')).to.be.a('string');
    expect(k('a')).to.equal(k('b'));
    expect(k('a')).to.not.equal(k('a', 'Stopped'));
    expect(siblingKey(nodeOf('a', null), 'Normal', 'Started', 'start')).to.equal(undefined);
  });

  it('names every object of a combined note, or counts those that do not fit in 1 KiB', () => {
    const few = combinedNote({
      kind: 'MaasNode',
      names: ['n-1', 'n-2'],
      toldEach: 10,
      lastNote: 'started',
    });
    expect(few).to.equal(
      '2 MaasNodes (after the first 10, told on each): like n-2: started. All: n-1, n-2',
    );
    const names = Array.from({ length: 500 }, (_, i) => `node-with-a-long-name-${i}`);
    const many = combinedNote({
      kind: 'MaasNode',
      names,
      toldEach: 10,
      lastNote: 'x'.repeat(2000),
    });
    expect(Buffer.byteLength(many)).to.be.at.most(1024);
    const listed = many.slice(many.indexOf('All: ') + 5).split(' … and ');
    const shown = (listed[0] ?? '').split(', ');
    expect(shown[0]).to.equal('node-with-a-long-name-0');
    // Shown plus counted is every name.
    expect(shown.length + Number((listed[1] ?? '').replace(' more', ''))).to.equal(500);
  });

  it('tells the first siblings on each object and combines the rest on the owner', async () => {
    const clock = createFakeClock();
    const rest = fakeRest();
    const rec = createEventRecorder({
      rest,
      clock,
      reportingInstance: 'op',
      combineAfter: 2,
      batchMs: 1000,
    });
    const started = (n: string) =>
      rec.record({
        regarding: nodeOf(n),
        type: EventType.Normal,
        reason: 'Started',
        action: 'start',
        note: `started ${n}`,
      });
    for (const n of ['a', 'b', 'c', 'd']) started(n);
    // A Warning and an object without an owner are always told on their own.
    rec.record({
      regarding: nodeOf('e'),
      type: EventType.Warning,
      reason: 'Started',
      action: 'start',
    });
    rec.record({
      regarding: nodeOf('f', null),
      type: EventType.Normal,
      reason: 'Started',
      action: 'start',
    });
    const regarding = () =>
      rest.calls.map((c) => (c.body as { regarding: { name: string } }).regarding.name);
    expect(regarding()).to.deep.equal(['a', 'b', 'e', 'f']);
    clock.advance(1000);
    expect(regarding()).to.deep.equal(['a', 'b', 'e', 'f', 'lab']);
    const combined = rest.calls[4]?.body as {
      note: string;
      reason: string;
      type: string;
      regarding: unknown;
    };
    expect(combined).to.deep.include({ reason: 'Started', type: 'Normal' });
    expect(combined.regarding).to.deep.equal({
      apiVersion: 'maaslab.dev/v1alpha1',
      kind: 'MaasLab',
      name: 'lab',
      namespace: 'ns',
      uid: 'lab-uid',
    });
    expect(combined.note).to.equal(
      '2 MaasNodes (after the first 2, told on each): like d: started d. All: c, d',
    );
    // A later batch is a new Event naming its own objects, not a repeat of the first.
    started('g');
    await rec.flush();
    expect(regarding()).to.deep.equal(['a', 'b', 'e', 'f', 'lab', 'lab']);
    expect(rest.calls.map((c) => c.method)).to.deep.equal([
      'POST',
      'POST',
      'POST',
      'POST',
      'POST',
      'POST',
    ]);
    expect((rest.calls[5]?.body as { note: string }).note).to.match(/^1 MaasNode .*All: g$/);
    // After the window, siblings are told on each again.
    clock.advance(600_000);
    started('h');
    expect(regarding().at(-1)).to.equal('h');
  });

  it('never combines with combineAfter 0', () => {
    const rest = fakeRest();
    const rec = createEventRecorder({
      rest,
      clock: createFakeClock(),
      reportingInstance: 'op',
      combineAfter: 0,
    });
    for (const n of ['a', 'b', 'c'])
      rec.record({ regarding: nodeOf(n), type: EventType.Normal, reason: 'R', action: 'a' });
    expect(rest.calls).to.have.length(3);
  });
});
