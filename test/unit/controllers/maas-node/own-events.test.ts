// The domain events a MaasNode pass causes itself: each announced event excuses exactly one
// event of its type on its domain, until it expires or is withdrawn; anything else is news.
import { expect } from 'chai';
import { DomainEventType } from '../../../../src/libvirt/index.js';
import {
  OwnDomainEvents,
  withOwnEvents,
} from '../../../../src/controllers/maas-node/own-events.js';

describe('maas-node own domain events', () => {
  let now: number;
  let own: OwnDomainEvents;
  beforeEach(() => {
    now = 1_000;
    own = new OwnDomainEvents({ now: () => now, ttlMs: 30_000 });
  });

  it('excuses one announced event per announcement, on that host and domain only', () => {
    own.announce('hv-0', 'ns.a', [DomainEventType.Defined, DomainEventType.Started]);
    expect(own.consume('hv-1', 'ns.a', DomainEventType.Started)).to.equal(false);
    expect(own.consume('hv-0', 'ns.b', DomainEventType.Started)).to.equal(false);
    expect(own.consume('hv-0', 'ns.a', DomainEventType.Stopped)).to.equal(false);
    expect(own.consume('hv-0', 'ns.a', DomainEventType.Defined)).to.equal(true);
    expect(own.consume('hv-0', 'ns.a', DomainEventType.Started)).to.equal(true);
    // A second Started (someone started it again after a stop) is news.
    expect(own.consume('hv-0', 'ns.a', DomainEventType.Started)).to.equal(false);
    expect(own.size).to.equal(0);
  });

  it("drops a call's earlier events that did not come once a later one has: they will not", () => {
    // QEMU: Resumed, then Started.
    own.announce('hv-0', 'ns.a', [DomainEventType.Resumed, DomainEventType.Started]);
    expect(own.consume('hv-0', 'ns.a', DomainEventType.Resumed)).to.equal(true);
    expect(own.consume('hv-0', 'ns.a', DomainEventType.Started)).to.equal(true);
    expect(own.size).to.equal(0);
    // The test driver: Started alone. A Resumed after it (a `virsh resume`) is news.
    own.announce('hv-0', 'ns.a', [DomainEventType.Resumed, DomainEventType.Started]);
    expect(own.consume('hv-0', 'ns.a', DomainEventType.Started)).to.equal(true);
    expect(own.consume('hv-0', 'ns.a', DomainEventType.Resumed)).to.equal(false);
    expect(own.size).to.equal(0);
    // Only that call's: another call's announcement stands.
    own.announce('hv-0', 'ns.a', [DomainEventType.Resumed]);
    own.announce('hv-0', 'ns.a', [DomainEventType.Resumed, DomainEventType.Started]);
    expect(own.consume('hv-0', 'ns.a', DomainEventType.Started)).to.equal(true);
    expect(own.consume('hv-0', 'ns.a', DomainEventType.Resumed)).to.equal(true);
    expect(own.consume('hv-0', 'ns.a', DomainEventType.Resumed)).to.equal(false);
  });

  it('forgets an announcement that was withdrawn or that expired', () => {
    const withdraw = own.announce('hv-0', 'ns.a', [DomainEventType.Started]);
    withdraw();
    withdraw();
    expect(own.consume('hv-0', 'ns.a', DomainEventType.Started)).to.equal(false);
    own.announce('hv-0', 'ns.a', [DomainEventType.Stopped]);
    now += 30_000;
    expect(own.consume('hv-0', 'ns.a', DomainEventType.Stopped)).to.equal(false);
    expect(own.size).to.equal(0);
  });

  it('withdraws only its own announcement', () => {
    own.announce('hv-0', 'ns.a', [DomainEventType.Started]);
    own.announce('hv-0', 'ns.a', [DomainEventType.Started])();
    expect(own.consume('hv-0', 'ns.a', DomainEventType.Started)).to.equal(true);
    expect(own.consume('hv-0', 'ns.a', DomainEventType.Started)).to.equal(false);
  });

  it('keeps the announcement of a call that changed something, not of one that did not or failed', async () => {
    await withOwnEvents(own, 'hv-0', 'ns.a', [DomainEventType.Started], async () => ({
      changed: false,
    }));
    expect(own.size).to.equal(0);
    const failing = withOwnEvents(own, 'hv-0', 'ns.a', [DomainEventType.Started], async () => {
      // The event of a call may arrive before its reply: the announcement is already there.
      expect(own.size).to.equal(1);
      throw new Error('libvirt said no');
    });
    await failing.then(
      () => expect.fail('expected the call to fail'),
      (err: unknown) => expect((err as Error).message).to.equal('libvirt said no'),
    );
    expect(own.size).to.equal(0);
    const done = await withOwnEvents(own, 'hv-0', 'ns.a', [DomainEventType.Started], async () => ({
      changed: true,
    }));
    expect(done.changed).to.equal(true);
    expect(own.consume('hv-0', 'ns.a', DomainEventType.Started)).to.equal(true);
  });
});
