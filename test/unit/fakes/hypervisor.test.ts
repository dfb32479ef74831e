// The in-memory FakeHypervisor passes the same contract as the real Hypervisor on the test
// driver, so controller tests written against it hold on a real host; plus its own extras:
// call recording, failure injection and admin-side drift.
import { expect } from 'chai';
import {
  DomainEventType,
  HypervisorUnreachableError,
  isUnreachableError,
  type DomainEvent,
} from '../../../src/libvirt/index.js';
import { createFakeHypervisor, type FakeHypervisor } from '../../fakes/hypervisor.js';
import { contractDomain, hypervisorContract } from '../../support/hypervisor-contract.js';

describe('FakeHypervisor', () => {
  describe('contract', () => {
    const fake = createFakeHypervisor({
      pools: { 'default-pool': '/images' },
      hostBridges: ['eth1'],
    });
    hypervisorContract(() => ({
      hv: fake,
      mutations: () => fake.mutations,
      resetMutations: () => fake.resetRecording(),
      pool: 'default-pool',
      hostBridge: 'eth1',
      defineForeignDomain: async (xml) => fake.external.defineDomain(xml),
      defineForeignNetwork: async (name) =>
        fake.external.defineNetwork({
          name,
          mode: 'isolated',
          ipv4: { address: '10.99.0.1', prefix: 24 },
        }),
      externalDestroy: async (name) => fake.external.destroy(name),
    }));
  });

  describe('extras', () => {
    let fake: FakeHypervisor;
    const owner = { kind: 'MaasNode', namespace: 'lab', name: 'n1', uid: 'uid-n1' } as const;
    beforeEach(() => {
      fake = createFakeHypervisor();
    });

    it('records verb calls with their arguments', async () => {
      await fake.observeDomain('lab.n1');
      await fake.defineDomain(contractDomain('lab.n1', owner));
      expect(fake.calls.map((c) => c.verb)).to.deep.equal(['observeDomain', 'defineDomain']);
      expect(fake.calls[0]?.args).to.deep.equal(['lab.n1']);
      expect(fake.mutations).to.deep.equal(['virDomainDefineXMLFlags']);
    });

    it('throws HypervisorUnreachableError (with a libvirt RPC cause) while unreachable', async () => {
      fake.unreachable = true;
      try {
        await fake.hostInfo();
        throw new Error('expected HypervisorUnreachableError');
      } catch (err) {
        expect(err).to.be.instanceOf(HypervisorUnreachableError);
        expect(isUnreachableError((err as Error).cause)).to.equal(true);
      }
      expect(fake.mutations).to.deep.equal([]);
      fake.unreachable = false;
      expect((await fake.hostInfo()).hostname).to.equal('fake-host');
    });

    it('injects one failure into one verb', async () => {
      const boom = new Error('boom');
      fake.failNext('ensurePool', boom);
      try {
        await fake.ensurePool({ name: 'default' });
        throw new Error('expected the injected error');
      } catch (err) {
        expect(err).to.equal(boom);
      }
      expect((await fake.ensurePool({ name: 'default' })).changed).to.equal(false);
    });

    it('raises Stopped when an admin destroys a domain, and re-plugs NICs on restart', async () => {
      const events: DomainEvent[] = [];
      fake.onDomainEvent((e) => events.push(e));
      const net = {
        name: 'lab.net',
        mode: 'isolated',
        ipv4: { address: '10.1.0.1', prefix: 24 },
        owner: { kind: 'VirtNetwork', namespace: 'lab', name: 'net', uid: 'uid-net' },
      } as const;
      await fake.ensureNetwork(net);
      await fake.defineDomain({
        ...contractDomain('lab.n1', owner),
        interfaces: [{ mac: '52:54:00:7f:04:01', network: 'lab.net', model: 'virtio' }],
      });
      await fake.start('lab.n1', owner);
      const moved = await fake.applyNetworkChange(
        { ...net, ipv4: { address: '10.2.0.1', prefix: 24 } },
        { kind: 'redefineAndRestart', reasons: ['ipv4.address'] },
      );
      expect(moved.replugged).to.deep.equal([{ domain: 'lab.n1', mac: '52:54:00:7f:04:01' }]);
      fake.external.destroy('lab.n1');
      expect(events.at(-1)?.event).to.equal(DomainEventType.Stopped);
      expect((await fake.observeDomain('lab.n1'))?.state).to.equal('shutoff');
    });
  });
});
