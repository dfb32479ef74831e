// The Hypervisor contract: one table of cases that the real implementation (on libvirt's test
// driver) and the in-memory fake must both pass, so controller unit tests written against the
// fake mean the same thing on a real host. Each case checks idempotency ("calling twice = one
// mutation") and ownership (foreign objects raise NameConflictError and stay untouched).
import { expect } from 'chai';
import {
  BridgeNotFoundError,
  DomainEventType,
  type Hypervisor,
  NameConflictError,
  PoolNotFoundError,
  type DomainEvent,
  type OwnedDomainDescription,
  type OwnedNetworkDescription,
} from '../../src/libvirt/index.js';
import type { OwnerMetadata, OwnerRef, ParsedVolume } from '../../src/libvirt/xml/index.js';

/** One implementation under test, with the admin-side helpers the cases need. */
export interface ContractSubject {
  /** The Hypervisor under test. */
  readonly hv: Hypervisor;
  /** Mutating libvirt calls (C names) made since the last reset. */
  mutations(): readonly string[];
  /** Forgets recorded mutations. */
  resetMutations(): void;
  /** A storage pool that exists. */
  readonly pool: string;
  /** A host interface that exists (test:///default has `eth1`); no `mlnobr*` one does. */
  readonly hostBridge: string;
  /** Defines a domain from XML as an admin would (no ownership check). */
  defineForeignDomain(xml: string): Promise<void>;
  /** Defines and starts an unowned network as an admin would. */
  defineForeignNetwork(name: string): Promise<void>;
  /** `virsh destroy` by hand. */
  externalDestroy(name: string): Promise<void>;
}

/**
 * Read-only C calls; everything else counts as a mutation. An op of several calls in one
 * native hop (`virStorageVolCreateXML+virStorageVolGetPath+…`) mutates if any of them does.
 */
export function isMutatingOp(op: string): boolean {
  return op
    .split('+')
    .some((c) => !/(LookupBy|Get[A-Z]|Is[A-Z]|ListAll|HasManagedSave|EventRegister)/.test(c));
}

let counter = 0;
const unique = (prefix: string): string => `${prefix}-${process.pid}-${++counter}`;

const ownerOf = (name: string, specHash?: string): OwnerMetadata => ({
  kind: 'MaasNode',
  namespace: 'lab',
  name,
  uid: `uid-${name}`,
  ...(specHash !== undefined && { specHash }),
});

/** Domain XML the test driver accepts (type 'test'), stamped with `owner` if given. */
/** A minimal domain of ours: what defineDomain takes. */
export function contractDomain(
  name: string,
  owner: OwnerMetadata,
  memoryMiB = 128,
): OwnedDomainDescription {
  return {
    name,
    type: 'qemu',
    memoryBytes: memoryMiB * 1024 * 1024,
    vcpus: 1,
    arch: 'x86_64',
    firmware: 'bios',
    bootOrder: [],
    disks: [],
    interfaces: [],
    owner,
  };
}

/** A minimal domain's XML, as an admin's `virsh define` would give it (the owner is optional). */
export function contractDomainXml(name: string, owner?: OwnerMetadata, memoryMiB = 128): string {
  const stamp = owner
    ? `<metadata><maaslab:owner xmlns:maaslab='https://maaslab.dev/xmlns/v1alpha1' kind='${owner.kind}' namespace='${owner.namespace ?? ''}' name='${owner.name}' uid='${owner.uid}'${owner.specHash ? ` specHash='${owner.specHash}'` : ''}/></metadata>`
    : '';
  return `<domain type='test'><name>${name}</name>${stamp}<memory unit='MiB'>${memoryMiB}</memory><vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os></domain>`;
}

function networkDesc(name: string, octet: number, owner: OwnerRef): OwnedNetworkDescription {
  return {
    name,
    mode: 'isolated',
    bridge: { name: `mlc${octet}` },
    ipv4: { address: `10.88.${octet}.1`, prefix: 24 },
    owner: { ...owner },
  };
}

async function expectConflict(p: Promise<unknown>): Promise<NameConflictError> {
  try {
    await p;
  } catch (err) {
    expect(err).to.be.instanceOf(NameConflictError);
    return err as NameConflictError;
  }
  throw new Error('expected NameConflictError');
}

/** A 4 MiB raw volume spec of `pool`. */
function rawDisk(pool: string, name: string) {
  return { pool, name, capacityBytes: 4 << 20, format: 'raw' } as const;
}

/** Registers the contract cases for `subject()` (resolved in a before hook of the caller). */
export function hypervisorContract(subject: () => ContractSubject): void {
  let s: ContractSubject;
  let octet = 10;
  beforeEach(() => {
    s = subject();
    s.resetMutations();
  });

  describe('networks', () => {
    it('ensureNetwork follows desc.autostart: off at define, then flipped only when it differs', async () => {
      const name = unique('net');
      const desc = { ...networkDesc(name, octet++, ownerOf(name)), autostart: false };
      expect((await s.hv.ensureNetwork(desc)).changed).to.equal(true);
      expect(s.mutations()).to.include.members(['virNetworkDefineXML', 'virNetworkCreate']);
      expect(s.mutations()).to.not.include('virNetworkSetAutostart');
      expect((await s.hv.observeNetwork(name))?.autostart).to.equal(false);
      s.resetMutations();
      expect((await s.hv.ensureNetwork(desc)).changed).to.equal(false);
      expect(s.mutations()).to.deep.equal([]);
      // On: one call; again: none.
      expect((await s.hv.ensureNetwork({ ...desc, autostart: true })).changed).to.equal(true);
      expect(s.mutations()).to.deep.equal(['virNetworkSetAutostart']);
      expect((await s.hv.observeNetwork(name))?.autostart).to.equal(true);
      s.resetMutations();
      expect((await s.hv.ensureNetwork({ ...desc, autostart: true })).changed).to.equal(false);
      expect(s.mutations()).to.deep.equal([]);
      // Off again.
      expect((await s.hv.ensureNetwork(desc)).changed).to.equal(true);
      expect(s.mutations()).to.deep.equal(['virNetworkSetAutostart']);
      const seen = await s.hv.observeNetwork(name);
      expect(seen?.autostart).to.equal(false);
      expect(seen?.active).to.equal(true);
      await s.hv.deleteNetwork(name, desc.owner);
    });

    it('ensureNetwork defines, starts and autostarts once; the second call changes nothing', async () => {
      const name = unique('net');
      const desc = networkDesc(name, octet++, ownerOf(name));
      const first = await s.hv.ensureNetwork(desc);
      expect(first.changed).to.equal(true);
      expect(s.mutations()).to.include.members([
        'virNetworkDefineXML',
        'virNetworkCreate',
        'virNetworkSetAutostart',
      ]);
      s.resetMutations();
      const second = await s.hv.ensureNetwork(desc);
      expect(second.changed).to.equal(false);
      expect(s.mutations()).to.deep.equal([]);
      const seen = await s.hv.observeNetwork(name);
      expect(seen?.active).to.equal(true);
      expect(seen?.autostart).to.equal(true);
      expect(seen?.owner?.uid).to.equal(desc.owner.uid);
      expect(seen?.bridge).to.equal(desc.bridge?.name);
      expect(seen?.parsed.ipv4?.address).to.equal(desc.ipv4?.address);
      await s.hv.deleteNetwork(name, desc.owner);
    });

    it('refuses a foreign network of the same name and leaves it untouched', async () => {
      const name = unique('fnet');
      await s.defineForeignNetwork(name);
      const before = await s.hv.observeNetwork(name);
      s.resetMutations();
      const err = await expectConflict(
        s.hv.ensureNetwork(networkDesc(name, octet++, ownerOf(name))),
      );
      expect(err.objectKind).to.equal('network');
      await expectConflict(s.hv.deleteNetwork(name, ownerOf(name)));
      await expectConflict(
        s.hv.applyNetworkChange(networkDesc(name, octet++, ownerOf(name)), {
          kind: 'redefineAndRestart',
          reasons: ['test'],
        }),
      );
      expect(s.mutations()).to.deep.equal([]);
      const after = await s.hv.observeNetwork(name);
      expect(after?.uuid).to.equal(before?.uuid);
      expect(after?.active).to.equal(true);
      expect(after?.owner).to.equal(undefined);
    });

    it('ensureNetwork seenAbsent: defines and starts; a network of the name found since is not overwritten', async () => {
      const name = unique('snet');
      const desc = networkDesc(name, octet++, ownerOf(name));
      expect((await s.hv.ensureNetwork(desc, { seenAbsent: true })).changed).to.equal(true);
      expect(s.mutations()).to.include.members([
        'virNetworkDefineXML',
        'virNetworkCreate',
        'virNetworkSetAutostart',
      ]);
      const ours = await s.hv.observeNetwork(name);
      expect(ours?.active).to.equal(true);
      expect(ours?.owner?.uid).to.equal(desc.owner.uid);
      // The caller's look is stale: its own network is there. Nothing to do, nothing redefined.
      s.resetMutations();
      expect((await s.hv.ensureNetwork(desc, { seenAbsent: true })).changed).to.equal(false);
      expect(s.mutations()).to.deep.equal([]);
      expect((await s.hv.observeNetwork(name))?.uuid).to.equal(ours?.uuid);
      await s.hv.deleteNetwork(name, desc.owner);
      // Someone else's network of the name appeared after the caller's look: refused, untouched.
      const foreign = unique('sfnet');
      await s.defineForeignNetwork(foreign);
      const before = await s.hv.observeNetwork(foreign);
      s.resetMutations();
      await expectConflict(
        s.hv.ensureNetwork(networkDesc(foreign, octet++, ownerOf(foreign)), { seenAbsent: true }),
      );
      expect(s.mutations()).to.deep.equal([]);
      const after = await s.hv.observeNetwork(foreign);
      expect(after?.uuid).to.equal(before?.uuid);
      expect(after?.owner).to.equal(undefined);
      expect(after?.parsed.ipv4?.address).to.equal(before?.parsed.ipv4?.address);
    });

    it('treats a stamp with another UID (an earlier incarnation) as foreign', async () => {
      const name = unique('unet');
      const old = networkDesc(name, octet++, ownerOf(name));
      await s.hv.ensureNetwork(old);
      s.resetMutations();
      await expectConflict(s.hv.ensureNetwork({ ...old, owner: { ...old.owner, uid: 'other' } }));
      expect(s.mutations()).to.deep.equal([]);
      await s.hv.deleteNetwork(name, old.owner);
    });

    it('redefines and restarts on an address change, keeping the UUID; again is a no-op', async () => {
      const name = unique('rnet');
      const desc = networkDesc(name, octet++, ownerOf(name));
      await s.hv.ensureNetwork(desc);
      const before = await s.hv.observeNetwork(name);
      const moved = { ...desc, ipv4: { address: `10.89.${octet++}.1`, prefix: 24 } };
      s.resetMutations();
      const change = { kind: 'redefineAndRestart', reasons: ['ipv4.address'] } as const;
      const first = await s.hv.applyNetworkChange(moved, change);
      expect(first.changed).to.equal(true);
      expect(s.mutations()).to.include.members([
        'virNetworkDefineXML',
        'virNetworkDestroy',
        'virNetworkCreate',
      ]);
      const after = await s.hv.observeNetwork(name);
      expect(after?.uuid).to.equal(before?.uuid);
      expect(after?.active).to.equal(true);
      expect(after?.parsed.ipv4?.address).to.equal(moved.ipv4.address);
      expect(after?.live?.ipv4?.address).to.equal(moved.ipv4.address);
      s.resetMutations();
      expect((await s.hv.applyNetworkChange(moved, change)).changed).to.equal(false);
      expect((await s.hv.applyNetworkChange(moved, { kind: 'none' })).changed).to.equal(false);
      expect(s.mutations()).to.deep.equal([]);
      await s.hv.deleteNetwork(name, desc.owner);
    });

    it('a bridge-mode network needs its host bridge: BridgeNotFoundError, nothing started or torn down', async () => {
      const name = unique('bnet');
      const owner = ownerOf(name);
      const missing = `mlnobr${octet++}`;
      const desc: OwnedNetworkDescription = {
        name,
        mode: 'bridge',
        bridge: { name: missing },
        owner,
      };
      const err = await s.hv.ensureNetwork(desc).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).to.be.instanceOf(BridgeNotFoundError);
      expect((err as BridgeNotFoundError).bridge).to.equal(missing);
      expect(s.mutations()).to.not.include('virNetworkCreate');
      expect((await s.hv.observeNetwork(name))?.active).to.equal(false);
      // The bridge exists: it starts.
      const present = { ...desc, bridge: { name: s.hostBridge } };
      s.resetMutations();
      const change = { kind: 'redefineAndRestart', reasons: ['bridge.name'] } as const;
      expect((await s.hv.applyNetworkChange(present, change)).changed).to.equal(true);
      expect(s.mutations()).to.include('virNetworkCreate');
      expect((await s.hv.observeNetwork(name))?.active).to.equal(true);
      // A restart onto a missing bridge is refused before the running network is destroyed.
      s.resetMutations();
      const again = await s.hv.applyNetworkChange(desc, change).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(again).to.be.instanceOf(BridgeNotFoundError);
      expect(s.mutations()).to.deep.equal([]);
      expect((await s.hv.observeNetwork(name))?.active).to.equal(true);
      await s.hv.deleteNetwork(name, owner);
    });

    it('deleteNetwork destroys and undefines once; the second call is a no-op', async () => {
      const name = unique('dnet');
      const desc = networkDesc(name, octet++, ownerOf(name));
      await s.hv.ensureNetwork(desc);
      s.resetMutations();
      expect((await s.hv.deleteNetwork(name, desc.owner)).changed).to.equal(true);
      expect(s.mutations()).to.include.members(['virNetworkDestroy', 'virNetworkUndefine']);
      s.resetMutations();
      expect((await s.hv.deleteNetwork(name, desc.owner)).changed).to.equal(false);
      expect(s.mutations()).to.deep.equal([]);
      expect(await s.hv.observeNetwork(name)).to.equal(undefined);
    });
  });

  describe('domains', () => {
    it('defineDomain is a no-op for the same spec hash and keeps the UUID on redefinition', async () => {
      const name = unique('dom');
      const owner = ownerOf(name, 'h1');
      expect((await s.hv.defineDomain(contractDomain(name, owner))).changed).to.equal(true);
      const uuid = (await s.hv.observeDomain(name))?.uuid;
      s.resetMutations();
      expect((await s.hv.defineDomain(contractDomain(name, owner))).changed).to.equal(false);
      expect(s.mutations()).to.deep.equal([]);
      const bigger = contractDomain(name, { ...owner, specHash: 'h2' }, 256);
      expect((await s.hv.defineDomain(bigger)).changed).to.equal(true);
      const seen = await s.hv.observeDomain(name);
      expect(seen?.uuid).to.equal(uuid);
      expect(seen?.inactive.memoryBytes).to.equal(256 * 1024 * 1024);
      expect(seen?.owner?.specHash).to.equal('h2');
      await s.hv.deleteDomain(name, owner);
    });

    it('observeDomainState tells the state and reason alone, read-only, and undefined when absent', async () => {
      const name = unique('sdom');
      const owner = ownerOf(name);
      expect(await s.hv.observeDomainState(name)).to.equal(undefined);
      await s.hv.defineDomain(contractDomain(name, owner));
      s.resetMutations();
      const off = await s.hv.observeDomainState(name);
      const seen = await s.hv.observeDomain(name);
      expect(off).to.deep.equal({ state: 'shutoff', reason: seen?.reason });
      await s.hv.start(name, owner);
      expect((await s.hv.observeDomainState(name))?.state).to.equal('running');
      await s.externalDestroy(name);
      const destroyed = await s.hv.observeDomainState(name);
      const after = await s.hv.observeDomain(name);
      expect(destroyed).to.deep.equal({ state: 'shutoff', reason: after?.reason });
      expect(s.mutations()).to.deep.equal(['virDomainCreateWithFlags']);
      await s.hv.deleteDomain(name, owner);
    });

    it('refuses to define, power or delete a foreign domain, and leaves it untouched', async () => {
      const name = unique('fdom');
      await s.defineForeignDomain(contractDomainXml(name));
      const owner = ownerOf(name);
      s.resetMutations();
      await expectConflict(s.hv.defineDomain(contractDomain(name, owner)));
      await expectConflict(s.hv.start(name, owner));
      await expectConflict(s.hv.destroy(name, owner));
      await expectConflict(s.hv.shutdown(name, owner));
      await expectConflict(s.hv.reboot(name, owner));
      await expectConflict(s.hv.managedSave(name, owner));
      await expectConflict(s.hv.deleteDomain(name, owner));
      expect(s.mutations()).to.deep.equal([]);
      const seen = await s.hv.observeDomain(name);
      expect(seen?.owner).to.equal(undefined);
      expect(seen?.state).to.equal('shutoff');
    });

    it('start, destroy and managedSave each mutate once when called twice', async () => {
      const name = unique('pdom');
      const owner = ownerOf(name);
      await s.hv.defineDomain(contractDomain(name, owner));
      s.resetMutations();
      expect((await s.hv.start(name, owner)).changed).to.equal(true);
      expect((await s.hv.start(name, owner)).changed).to.equal(false);
      expect(s.mutations()).to.deep.equal(['virDomainCreateWithFlags']);
      const running = await s.hv.observeDomain(name);
      expect(running?.state).to.equal('running');
      expect(running?.id).to.be.greaterThan(0);
      expect(running?.live?.name).to.equal(name);

      s.resetMutations();
      expect((await s.hv.managedSave(name, owner)).changed).to.equal(true);
      expect((await s.hv.managedSave(name, owner)).changed).to.equal(false);
      expect(s.mutations()).to.deep.equal(['virDomainManagedSave']);
      const saved = await s.hv.observeDomain(name);
      expect(saved?.state).to.equal('shutoff');
      expect(saved?.hasManagedSave).to.equal(true);
      const restored = await s.hv.startFromManagedSave(name, owner);
      expect(restored).to.deep.equal({ changed: true, restored: true });
      expect((await s.hv.observeDomain(name))?.hasManagedSave).to.equal(false);

      s.resetMutations();
      expect((await s.hv.destroy(name, owner)).changed).to.equal(true);
      expect((await s.hv.destroy(name, owner)).changed).to.equal(false);
      expect((await s.hv.shutdown(name, owner)).changed).to.equal(false);
      expect((await s.hv.reboot(name, owner)).changed).to.equal(false);
      expect(s.mutations()).to.deep.equal(['virDomainDestroyFlags']);
      expect((await s.hv.observeDomain(name))?.state).to.equal('shutoff');
      await s.hv.deleteDomain(name, owner);
    });

    it('reboots by power cycle: a new domain ID', async () => {
      const name = unique('rdom');
      const owner = ownerOf(name);
      await s.hv.defineDomain(contractDomain(name, owner));
      await s.hv.start(name, owner);
      const before = (await s.hv.observeDomain(name))?.id;
      expect((await s.hv.reboot(name, owner)).changed).to.equal(true);
      const after = await s.hv.observeDomain(name);
      expect(after?.state).to.equal('running');
      expect(after?.id).to.not.equal(before);
      await s.hv.deleteDomain(name, owner);
    });

    it('deleteDomain destroys and undefines a running domain once', async () => {
      const name = unique('xdom');
      const owner = ownerOf(name);
      await s.hv.defineDomain(contractDomain(name, owner));
      await s.hv.start(name, owner);
      await s.hv.managedSave(name, owner);
      await s.hv.start(name, owner);
      s.resetMutations();
      expect((await s.hv.deleteDomain(name, owner)).changed).to.equal(true);
      expect(s.mutations()).to.deep.equal(['virDomainDestroyFlags', 'virDomainUndefineFlags']);
      s.resetMutations();
      expect((await s.hv.deleteDomain(name, owner)).changed).to.equal(false);
      expect((await s.hv.destroy(name, owner)).changed).to.equal(false);
      expect(s.mutations()).to.deep.equal([]);
      expect(await s.hv.observeDomain(name)).to.equal(undefined);
    });

    it('reports our domains in hostInfo with their stamps', async () => {
      const name = unique('hdom');
      const owner = ownerOf(name);
      await s.hv.defineDomain(contractDomain(name, owner, 256));
      const info = await s.hv.hostInfo();
      expect(info.cpus).to.be.greaterThan(0);
      expect(info.memoryBytes).to.be.greaterThan(0);
      const mine = info.domains.find((d) => d.name === name);
      expect(mine?.owner?.uid).to.equal(owner.uid);
      expect(mine?.memoryBytes).to.equal(256 * 1024 * 1024);
      expect(mine?.vcpus).to.equal(1);
      expect(mine?.state).to.equal('shutoff');
      await s.hv.deleteDomain(name, owner);
    });

    it('fans out lifecycle events, e.g. a virsh destroy by hand', async () => {
      const name = unique('edom');
      const owner = ownerOf(name);
      const events: DomainEvent[] = [];
      const off = s.hv.onDomainEvent((e) => {
        if (e.name === name) events.push(e);
      });
      try {
        await s.hv.defineDomain(contractDomain(name, owner));
        await s.hv.start(name, owner);
        await s.externalDestroy(name);
        const deadline = Date.now() + 5000;
        while (!events.some((e) => e.event === DomainEventType.Stopped)) {
          if (Date.now() > deadline) throw new Error(`no Stopped event: ${JSON.stringify(events)}`);
          await new Promise((r) => setTimeout(r, 10));
        }
        expect(events.map((e) => e.event)).to.include.members([
          DomainEventType.Defined,
          DomainEventType.Started,
          DomainEventType.Stopped,
        ]);
      } finally {
        off();
        await s.hv.deleteDomain(name, owner);
      }
    });
  });

  describe('storage', () => {
    it('ensurePool is a no-op for an existing pool and needs a path for a missing one', async () => {
      expect((await s.hv.ensurePool({ name: s.pool })).changed).to.equal(false);
      const missing = unique('pool');
      try {
        await s.hv.ensurePool({ name: missing });
        throw new Error('expected PoolNotFoundError');
      } catch (err) {
        expect(err).to.be.instanceOf(PoolNotFoundError);
      }
      expect(s.mutations()).to.deep.equal([]);
      const path = `/maaslab-test/${missing}`;
      expect((await s.hv.ensurePool({ name: missing, path })).changed).to.equal(true);
      s.resetMutations();
      expect((await s.hv.ensurePool({ name: missing, path })).changed).to.equal(false);
      expect(s.mutations()).to.deep.equal([]);
    });

    it('ensureVolumes creates missing volumes once, clones, and deleteVolumes skips missing ones', async () => {
      const base = unique('vol');
      const disk = rawDisk(s.pool, `${base}-root.raw`);
      const first = await s.hv.ensureVolumes([disk]);
      expect(first.created).to.deep.equal([disk.name]);
      // What it made, as the pool reports it: no second lookup needed.
      expect(first.volumes.map((v) => [v.name, v.capacityBytes])).to.deep.equal([
        [disk.name, disk.capacityBytes],
      ]);
      expect(first.volumes[0]?.path?.endsWith(`/${disk.name}`)).to.equal(true);
      s.resetMutations();
      const again = await s.hv.ensureVolumes([disk]);
      expect(again.changed).to.equal(false);
      const facts = (vs: readonly ParsedVolume[]) =>
        vs.map(({ name, path, capacityBytes }) => ({ name, path, capacityBytes }));
      expect(facts(again.volumes)).to.deep.equal(facts(first.volumes));
      expect(s.mutations()).to.deep.equal([]);
      const clone = {
        ...disk,
        name: `${base}-clone.raw`,
        cloneFrom: { pool: s.pool, volume: disk.name },
      };
      expect((await s.hv.ensureVolumes([clone])).created).to.deep.equal([clone.name]);
      expect(s.mutations()).to.deep.equal(['virStorageVolCreateXMLFrom']);
      // observeVolumes: existing ones in the order asked, each with its path and capacity.
      const seen = await s.hv.observeVolumes(s.pool, [clone.name, `${base}-never`, disk.name]);
      expect(seen.map((v) => [v.name, v.capacityBytes])).to.deep.equal([
        [clone.name, disk.capacityBytes],
        [disk.name, disk.capacityBytes],
      ]);
      expect(seen.map((v) => v.path?.endsWith(`/${v.name}`))).to.deep.equal([true, true]);
      expect(await s.hv.observeVolumes(unique('nopool'), [disk.name])).to.deep.equal([]);
      expect(s.mutations()).to.deep.equal(['virStorageVolCreateXMLFrom']);
      const refs = [
        disk,
        clone,
        { pool: s.pool, name: `${base}-never` },
        { pool: 'no-such-pool', name: 'x' },
      ];
      expect((await s.hv.deleteVolumes(refs)).deleted).to.deep.equal([disk.name, clone.name]);
      s.resetMutations();
      expect((await s.hv.deleteVolumes(refs)).changed).to.equal(false);
      expect(s.mutations()).to.deep.equal([]);
    });

    it('ensureVolumes expectAbsent creates what is missing and keeps what exists as it is', async () => {
      const base = unique('vol');
      const disk = rawDisk(s.pool, `${base}-root.raw`);
      const first = await s.hv.ensureVolumes([disk], { expectAbsent: true });
      expect(first.created).to.deep.equal([disk.name]);
      expect(first.volumes.map((v) => [v.name, v.capacityBytes])).to.deep.equal([
        [disk.name, disk.capacityBytes],
      ]);
      expect(s.mutations()).to.have.length(1);
      expect(s.mutations()[0]).to.match(/^virStorageVolCreateXML\b(?!From)/);
      // Expected absent but there, and asked larger: neither overwritten nor resized.
      s.resetMutations();
      const again = await s.hv.ensureVolumes([{ ...disk, capacityBytes: 8 << 20 }], {
        expectAbsent: true,
      });
      expect(again.changed).to.equal(false);
      expect(again.created).to.deep.equal([]);
      expect(again.volumes.map((v) => [v.name, v.capacityBytes, v.path])).to.deep.equal([
        [disk.name, disk.capacityBytes, first.volumes[0]?.path],
      ]);
      expect(s.mutations()).to.deep.equal([]);
      await s.hv.deleteVolumes([disk]);
    });

    it('ensureVolumes reports a missing pool as PoolNotFoundError', async () => {
      try {
        await s.hv.ensureVolumes([
          { pool: unique('nopool'), name: 'v.raw', capacityBytes: 1 << 20, format: 'raw' },
        ]);
        throw new Error('expected PoolNotFoundError');
      } catch (err) {
        expect(err).to.be.instanceOf(PoolNotFoundError);
      }
    });
  });
}
