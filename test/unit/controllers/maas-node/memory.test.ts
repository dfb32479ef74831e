// What the MaasNode controller remembers between passes, on its own.
import { expect } from 'chai';
import type { MaasNode } from '../../../../src/api/v1alpha1/index.js';
import { createNodeMemory } from '../../../../src/controllers/maas-node/memory.js';
import { NetworkEventLifecycleType } from '../../../../src/libvirt/constants.js';
import type { ObservedNetwork } from '../../../../src/libvirt/hypervisor/index.js';
import { node } from '../fixtures.js';

describe('controllers/maas-node memory', () => {
  const withUid = (uid: string, lastRestartToken?: string): MaasNode => {
    const n = node('n1');
    return {
      ...n,
      metadata: { ...n.metadata, uid },
      ...(lastRestartToken !== undefined && { status: { lastRestartToken } }),
    };
  };

  it('asks a host for KVM once, and again only after a failed ask', async () => {
    const memory = createNodeMemory();
    let asked = 0;
    const fail = async (): Promise<boolean> => {
      asked++;
      throw new Error('unreachable');
    };
    const ask = async (): Promise<boolean> => {
      asked++;
      return true;
    };
    expect(await memory.kvm('local', fail).catch(() => 'failed')).to.equal('failed');
    expect(await memory.kvm('local', ask)).to.equal(true);
    expect(await memory.kvm('local', ask)).to.equal(true);
    expect(await memory.kvm('other', async () => false)).to.equal(false);
    expect(asked).to.equal(2);
  });

  it('keeps a requested shutdown until it ends', () => {
    const memory = createNodeMemory();
    expect(memory.shutdownRequestedAt('uid-1')).to.equal(undefined);
    memory.shutdownRequested('uid-1', 1_000);
    expect(memory.shutdownRequestedAt('uid-1')).to.equal(1_000);
    expect(memory.shutdownRequestedAt('uid-2')).to.equal(undefined);
    memory.shutdownEnded('uid-1');
    expect(memory.shutdownRequestedAt('uid-1')).to.equal(undefined);
  });

  it('prefers the restart token it put in force over a status the informer has not updated', () => {
    const memory = createNodeMemory();
    expect(memory.restartTokenInForce(withUid('uid-1'))).to.equal(undefined);
    expect(memory.restartTokenInForce(withUid('uid-1', 'old'))).to.equal('old');
    memory.putRestartTokenInForce('uid-1', 'new');
    expect(memory.restartTokenInForce(withUid('uid-1', 'old'))).to.equal('new');
    // Keyed by UID: a recreated node of the same name starts from its own status.
    expect(memory.restartTokenInForce(withUid('uid-2', 'old'))).to.equal('old');
  });

  it('forgets a deleted node entirely, and keeps host facts', async () => {
    const memory = createNodeMemory();
    await memory.kvm('local', async () => true);
    memory.shutdownRequested('uid-1', 1_000);
    memory.putRestartTokenInForce('uid-1', 'one');
    memory.forget('uid-1');
    expect(memory.shutdownRequestedAt('uid-1')).to.equal(undefined);
    expect(memory.restartTokenInForce(withUid('uid-1'))).to.equal(undefined);
    expect(memory.size()).to.equal(1);
  });

  it('remembers a started network per host until it stops or is undefined', () => {
    const memory = createNodeMemory();
    expect(memory.networkStarted('hv1', 'maas.lan')).to.equal(false);
    memory.networkEvent('hv1', 'maas.lan', NetworkEventLifecycleType.Defined);
    expect(memory.networkStarted('hv1', 'maas.lan')).to.equal(false);
    memory.networkEvent('hv1', 'maas.lan', NetworkEventLifecycleType.Started);
    expect(memory.networkStarted('hv1', 'maas.lan')).to.equal(true);
    // Per host: the same name on another hypervisor is another network.
    expect(memory.networkStarted('hv2', 'maas.lan')).to.equal(false);
    expect(memory.size()).to.equal(1);
    memory.networkEvent('hv1', 'maas.lan', NetworkEventLifecycleType.Stopped);
    expect(memory.networkStarted('hv1', 'maas.lan')).to.equal(false);
    memory.networkEvent('hv1', 'maas.lan', NetworkEventLifecycleType.Started);
    memory.networkEvent('hv1', 'maas.lan', NetworkEventLifecycleType.Undefined);
    expect(memory.networkStarted('hv1', 'maas.lan')).to.equal(false);
    expect(memory.size()).to.equal(0);
  });

  it("keeps a started network when a node is forgotten (a host fact, not a node's)", () => {
    const memory = createNodeMemory();
    memory.networkEvent('hv1', 'maas.lan', NetworkEventLifecycleType.Started);
    memory.forget('uid-1');
    expect(memory.networkStarted('hv1', 'maas.lan')).to.equal(true);
  });

  describe('sharedNetworkLook', () => {
    const observed = (name: string): ObservedNetwork =>
      ({ name, active: true, autostart: true }) as unknown as ObservedNetwork;
    /** A look that ends when `end` is called, counting how often it was begun. */
    const pendingLook = () => {
      let begun = 0;
      const ends: Array<(v: ObservedNetwork | undefined) => void> = [];
      const fails: Array<(e: Error) => void> = [];
      const look = () => {
        begun++;
        return new Promise<ObservedNetwork | undefined>((resolve, reject) => {
          ends.push(resolve);
          fails.push(reject);
        });
      };
      return {
        look,
        begun: () => begun,
        end: (i: number, v = observed('maas.lan')) => ends[i]!(v),
        fail: (i: number, e: Error) => fails[i]!(e),
      };
    };

    it('gives the nodes that ask while a look is under way that one look', async () => {
      const memory = createNodeMemory();
      const l = pendingLook();
      const first = memory.sharedNetworkLook('hv1', 'maas.lan', l.look);
      const second = memory.sharedNetworkLook('hv1', 'maas.lan', l.look);
      expect(l.begun()).to.equal(1);
      expect(memory.size()).to.equal(1);
      l.end(0);
      expect(await first).to.deep.include({ name: 'maas.lan' });
      expect(await second).to.equal(await first);
    });

    it('looks anew once the look has ended, and per host and network', async () => {
      const memory = createNodeMemory();
      const l = pendingLook();
      const first = memory.sharedNetworkLook('hv1', 'maas.lan', l.look);
      // Another host's network of the same name, and another network: looks of their own.
      void memory.sharedNetworkLook('hv2', 'maas.lan', l.look);
      void memory.sharedNetworkLook('hv1', 'maas.pxe', l.look);
      expect(l.begun()).to.equal(3);
      l.end(0);
      await first;
      void memory.sharedNetworkLook('hv1', 'maas.lan', l.look);
      expect(l.begun()).to.equal(4);
    });

    it('shares no look begun before the network has news: a later asker looks again', async () => {
      for (const event of [
        NetworkEventLifecycleType.Started,
        NetworkEventLifecycleType.Stopped,
        NetworkEventLifecycleType.Defined,
        NetworkEventLifecycleType.Undefined,
      ]) {
        const memory = createNodeMemory();
        const l = pendingLook();
        const before = memory.sharedNetworkLook('hv1', 'maas.lan', l.look);
        memory.networkEvent('hv1', 'maas.lan', event);
        const after = memory.sharedNetworkLook('hv1', 'maas.lan', l.look);
        expect(l.begun(), `event ${event}`).to.equal(2);
        l.end(0, observed('old'));
        l.end(1, observed('new'));
        expect(await before).to.deep.include({ name: 'old' });
        expect(await after).to.deep.include({ name: 'new' });
        // The first look's end does not drop the second from the memory early, nor leak.
        expect(memory.size() - (event === NetworkEventLifecycleType.Started ? 1 : 0)).to.equal(0);
      }
    });

    it("gives every asker a failed look's error, keeps nothing, and looks anew after", async () => {
      const memory = createNodeMemory();
      const l = pendingLook();
      const first = memory.sharedNetworkLook('hv1', 'maas.lan', l.look);
      const second = memory.sharedNetworkLook('hv1', 'maas.lan', l.look);
      l.fail(0, new Error('unreachable'));
      for (const p of [first, second]) {
        let thrown: unknown;
        await p.catch((err: unknown) => (thrown = err));
        expect(thrown).to.be.instanceOf(Error).with.property('message', 'unreachable');
      }
      expect(memory.size()).to.equal(0);
      void memory.sharedNetworkLook('hv1', 'maas.lan', l.look).catch(() => undefined);
      expect(l.begun()).to.equal(2);
    });
  });
});
