import type { EventsV1Event } from '@kubernetes/client-node';
import { expect } from 'chai';
import {
  EventType,
  buildEvent,
  truncateUtf8,
} from '../../../../src/runtime/events/event-record.js';

const T = Date.UTC(2026, 10, 24, 4, 0, 0, 5);
const node = {
  apiVersion: 'maaslab.dev/v1alpha1',
  kind: 'MaasNode',
  metadata: { name: 'recipe-1', namespace: 'labs', uid: 'u-9', resourceVersion: '7' },
};

describe('runtime/event-record', () => {
  it('names two events of one object in the same millisecond apart by their sequence numbers', () => {
    const input = { regarding: node, type: EventType.Normal, reason: 'R', action: 'A' };
    const first = buildEvent(input, { nowMs: T, reportingInstance: 'i', seq: 0 });
    const second = buildEvent(input, { nowMs: T, reportingInstance: 'i', seq: 1 });
    expect(first.metadata.name).to.equal(`recipe-1.${(BigInt(T) * 1_000_000n).toString(16)}`);
    expect(second.metadata.name).to.equal(`recipe-1.${(BigInt(T) * 1_000_000n + 1n).toString(16)}`);
    // The sequence stays inside the nanosecond digits: it never reaches the next millisecond.
    const wrapped = buildEvent(input, { nowMs: T, reportingInstance: 'i', seq: 1_000_001 });
    expect(wrapped.metadata.name).to.equal(second.metadata.name);
  });

  it('builds an events.k8s.io/v1 Event the way client-go does', () => {
    const e = buildEvent(
      {
        regarding: node,
        type: EventType.Normal,
        reason: 'DomainStarted',
        action: 'Start',
        note: 'started',
      },
      { nowMs: T, reportingInstance: 'maaslab-operator-0' },
    );
    expect(e).to.deep.equal({
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name: `recipe-1.${(BigInt(T) * 1_000_000n).toString(16)}`, namespace: 'labs' },
      eventTime: '2026-11-24T04:00:00.005000Z',
      type: 'Normal',
      reason: 'DomainStarted',
      action: 'Start',
      note: 'started',
      reportingController: 'maaslab.dev/operator',
      reportingInstance: 'maaslab-operator-0',
      regarding: {
        apiVersion: 'maaslab.dev/v1alpha1',
        kind: 'MaasNode',
        name: 'recipe-1',
        namespace: 'labs',
        uid: 'u-9',
        resourceVersion: '7',
      },
    });
    // Structurally a client-node Event once eventTime is a Date, as the client serializes it.
    const asClient: EventsV1Event = { ...e, eventTime: new Date(e.eventTime) };
    expect(asClient.reason).to.equal('DomainStarted');
  });

  it('puts events about cluster-scoped objects in default', () => {
    const e = buildEvent(
      {
        regarding: { kind: 'Hypervisor', metadata: { name: 'hv1' } },
        type: EventType.Warning,
        reason: 'Unreachable',
        action: 'Connect',
      },
      { nowMs: T, reportingInstance: 'r' },
    );
    expect(e.metadata.namespace).to.equal('default');
    expect(e.regarding).to.deep.equal({ kind: 'Hypervisor', name: 'hv1' });
  });

  it('caps the note at 1 KiB without splitting characters, and rejects invalid input', () => {
    const long = buildEvent(
      { regarding: node, type: 'Warning', reason: 'R', action: 'A', note: 'é'.repeat(1000) },
      { nowMs: T, reportingInstance: 'r' },
    );
    expect(Buffer.byteLength(long.note)).to.equal(1024);
    expect(truncateUtf8('aé', 2)).to.equal('a');
    expect(() =>
      buildEvent(
        { regarding: node, type: 'Normal', reason: '', action: 'A' },
        { nowMs: T, reportingInstance: 'r' },
      ),
    ).to.throw(TypeError);
    expect(() =>
      buildEvent(
        { regarding: { metadata: {} }, type: 'Normal', reason: 'R', action: 'A' },
        { nowMs: T, reportingInstance: 'r' },
      ),
    ).to.throw(TypeError);
  });
});
