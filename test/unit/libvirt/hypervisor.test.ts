// The real Hypervisor on libvirt's test driver (test:///default, in-process, touches nothing
// on the host): the shared contract (idempotency, ownership), plus what only the real one has
// — metrics per C call, the unreachable mapping by error code, and keepalive tolerance.
import { expect } from 'chai';
import { Registry } from 'prom-client';
import {
  Connection,
  createConnectionPool,
  createLibvirtHypervisor,
  createLibvirtMetrics,
  DomainEventType,
  DomainMetadataType,
  DomainModificationImpact,
  ErrorDomain,
  ErrorLevel,
  ErrorNumber,
  createPassLookups,
  HypervisorUnreachableError,
  isUnreachableError,
  LibvirtError,
  NameConflictError,
  OBSERVE_DOMAIN_LIVE_OP,
  OBSERVE_DOMAIN_OP,
  PoolNotFoundError,
  type LibvirtHypervisor,
  type ObservedDomain,
  type LibvirtMetrics,
  type ConnectionPool,
} from '../../../src/libvirt/index.js';
import { buildNetworkXml, MAASLAB_XMLNS, parseDomainXml } from '../../../src/libvirt/xml/index.js';
import {
  contractDomain,
  contractDomainXml,
  hypervisorContract,
  isMutatingOp,
  type ContractSubject,
} from '../../support/hypervisor-contract.js';
import { waitFor } from '../../support/wait.js';
import { TEST_URI } from './fixtures.js';

/** Polls `check` every 10 ms for up to 5 s. */
const waitUntil = (check: () => boolean | Promise<boolean>, what: string): Promise<boolean> =>
  waitFor(check, { timeoutMs: 5000, intervalMs: 10, description: what });

/**
 * The lifecycle events of domain `name` as `hv` delivers them, from a listener of the test's
 * own (libvirt delivers each event to every listener alike, the inventory's included).
 */
function domainEventsOf(
  hv: LibvirtHypervisor,
  name: string,
): { events: string[]; off: () => void } {
  const events: string[] = [];
  const off = hv.onDomainEvent((e) => {
    if (e.name === name) events.push(String(e.event));
  });
  return { events, off };
}

/**
 * Waits until `hv`'s inventory keeps what it reads: its event subscription comes up
 * asynchronously, and until it is live a second hostInfo reads every domain again. `calls`
 * is what `hv`'s metrics recorded; it is left holding the last two listings.
 */
async function inventoryKeepsReads(hv: LibvirtHypervisor, calls: string[]): Promise<void> {
  await waitUntil(async () => {
    calls.length = 0;
    await hv.hostInfo();
    await hv.hostInfo();
    return !calls.includes('virDomainGetInfo');
  }, 'a second hostInfo served from the cache');
}

describe('Hypervisor over libvirt (test:///default)', () => {
  let pool: ConnectionPool<Connection>;
  let admin: Connection;
  let hv: LibvirtHypervisor;
  const ops: string[] = [];
  // A failed call changed nothing, so only successful calls count as mutations.
  const recording: LibvirtMetrics = {
    observeCall: (_h, op, _s, result) => void (result === 'success' && ops.push(op)),
  };
  let subject: ContractSubject;

  before(async () => {
    pool = createConnectionPool();
    admin = await Connection.open(TEST_URI);
    hv = createLibvirtHypervisor({ uri: TEST_URI, connections: pool, metrics: recording });
    subject = {
      hv,
      mutations: () => ops.filter(isMutatingOp),
      resetMutations: () => void (ops.length = 0),
      pool: 'default-pool',
      hostBridge: 'eth1',
      async defineForeignDomain(xml) {
        (await admin.domainDefineXMLFlags(xml)).free();
      },
      async defineForeignNetwork(name) {
        using net = await admin.networkDefineXMLFlags(
          buildNetworkXml({ name, mode: 'isolated', ipv4: { address: '10.99.0.1', prefix: 24 } }),
        );
        await net.create();
      },
      async externalDestroy(name) {
        using dom = await admin.domainLookupByName(name);
        await dom.destroyFlags();
      },
    };
  });

  after(async () => {
    await hv.close();
    await pool.close();
    await admin.close();
  });

  hypervisorContract(() => subject);

  it('ensureNetwork seenAbsent defines without a look of its own; a refused define goes the checked way', async () => {
    const desc = {
      name: 'seen-absent',
      mode: 'isolated' as const,
      // The test driver names no bridge itself.
      bridge: { name: 'mlsa0' },
      ipv4: { address: '10.98.7.1', prefix: 24 },
      owner: { kind: 'VirtNetwork', namespace: 'ns', name: 'seen-absent', uid: 'uid-sa' },
    };
    ops.length = 0;
    await hv.ensureNetwork(desc, { seenAbsent: true });
    expect(ops).to.not.include('virNetworkLookupByName');
    expect(ops[0]).to.equal('virNetworkDefineXML');
    // Present now: the define is refused (not counted: it failed), then the network is looked
    // up and found ours and running.
    ops.length = 0;
    const failed: string[] = [];
    const watching = createLibvirtHypervisor({
      uri: TEST_URI,
      connections: pool,
      metrics: {
        observeCall: (_h, op, _s, result) => void (result === 'success' ? ops : failed).push(op),
      },
    });
    try {
      expect((await watching.ensureNetwork(desc, { seenAbsent: true })).changed).to.equal(false);
    } finally {
      await watching.close();
    }
    // (A new instance's first look also learns that this driver has no inactive network XML.)
    expect(failed[0]).to.equal('virNetworkDefineXML');
    expect(failed.filter((op) => op === 'virNetworkDefineXML')).to.have.length(1);
    expect(ops).to.include('virNetworkLookupByName');
    expect(ops.filter(isMutatingOp)).to.deep.equal([]);
    await hv.deleteNetwork(desc.name, desc.owner);
  });

  it('ensureVolumes expectAbsent creates without a look; one that exists is refused, then looked up', async () => {
    const disk = {
      pool: 'default-pool',
      name: 'expect-absent.raw',
      capacityBytes: 2 << 20,
      format: 'raw',
    } as const;
    const succeeded: string[] = [];
    const failed: string[] = [];
    const watching = createLibvirtHypervisor({
      uri: TEST_URI,
      connections: pool,
      metrics: {
        observeCall: (_h, op, _s, result) =>
          void (result === 'success' ? succeeded : failed).push(op),
      },
    });
    try {
      await watching.ensureVolumes([disk], { expectAbsent: true });
      // The pool is looked up once per connection; the volume is not.
      expect(succeeded.filter((op) => op.startsWith('virStorageVol'))).to.deep.equal([
        'virStorageVolCreateXML+virStorageVolGetPath+virStorageVolGetInfo',
      ]);
      expect(failed).to.deep.equal([]);
      succeeded.length = 0;
      const again = await watching.ensureVolumes([disk], { expectAbsent: true });
      expect(again.changed).to.equal(false);
      expect(failed).to.deep.equal([
        'virStorageVolCreateXML+virStorageVolGetPath+virStorageVolGetInfo',
      ]);
      expect(succeeded).to.deep.equal([
        'virStorageVolLookupByName+virStorageVolGetPath+virStorageVolGetInfo',
      ]);
      // Without the option, a look first and nothing refused.
      succeeded.length = 0;
      failed.length = 0;
      await watching.ensureVolumes([disk]);
      expect(succeeded).to.deep.equal([
        'virStorageVolLookupByName+virStorageVolGetPath+virStorageVolGetInfo',
      ]);
      expect(failed).to.deep.equal([]);
    } finally {
      await watching.deleteVolumes([disk]);
      await watching.close();
    }
  });

  it('records every call under its C name, with results, on a prom-client registry', async () => {
    const registry = new Registry();
    const metered = createLibvirtHypervisor({
      uri: TEST_URI,
      name: 'hv-a',
      connections: pool,
      metrics: createLibvirtMetrics(registry),
    });
    expect(await metered.observeDomain('no-such-domain')).to.equal(undefined);
    await metered.observeDomain('test');
    const text = await registry.metrics();
    expect(text).to.include(
      'maaslab_libvirt_calls_total{hypervisor="hv-a",op="virDomainLookupByName",result="not_found"} 1',
    );
    expect(text).to.include(
      'maaslab_libvirt_calls_total{hypervisor="hv-a",op="virDomainLookupByName",result="success"} 1',
    );
    // One look at the domain is one worker hop, named after the C functions it calls.
    expect(text).to.include(
      `maaslab_libvirt_call_duration_seconds_count{hypervisor="hv-a",op="${OBSERVE_DOMAIN_OP}"} 1`,
    );
    await metered.close();
  });

  it('reports the test driver host: hostname, versions, no kvm, the stock domain', async () => {
    const info = await hv.hostInfo();
    expect(info.hypervisorType).to.equal('TEST');
    expect(info.libvirtVersion).to.be.at.least(9_000_000);
    expect(info.kvm).to.equal(false);
    expect(info.domains.find((d) => d.name === 'test')?.owner).to.equal(undefined);
  });

  it('reads host facts once per connection and each domain once until its next event', async () => {
    const calls: string[] = [];
    let now = 0;
    // Its own connection: libvirt takes one lifecycle registration of the binding per connection.
    const ownPool = createConnectionPool();
    const counted = createLibvirtHypervisor({
      uri: TEST_URI,
      connections: ownPool,
      metrics: { observeCall: (_h, op) => void calls.push(op) },
      now: () => now,
      domainFactsTtlMs: 60_000,
    });
    const count = (op: string): number => calls.filter((c) => c === op).length;
    const owner = {
      kind: 'MaasNode',
      namespace: 'ns',
      name: 'inventory',
      uid: 'uid-inventory',
      specHash: 'h1',
    };
    const name = 'maaslab-inventory-cache';
    const { events, off } = domainEventsOf(counted, name);
    const seen = (event: string): Promise<boolean> =>
      waitUntil(() => events.includes(event), `${event} event for ${name}`);
    try {
      await inventoryKeepsReads(counted, calls);
      expect(calls).to.deep.equal(['virConnectListAllDomains', 'virConnectListAllDomains']);

      calls.length = 0;
      (await admin.domainDefineXMLFlags(contractDomainXml(name, owner, 256))).free();
      await seen(String(DomainEventType.Defined));
      const first = (await counted.hostInfo()).domains.find((d) => d.name === name);
      expect(first).to.deep.include({ vcpus: 1, memoryBytes: 256 * 1024 * 1024, state: 'shutoff' });
      expect(first?.owner).to.deep.equal(owner);
      // Only the new domain was read; the host facts were not read again.
      expect(count('virDomainGetInfo')).to.equal(1);
      expect(count('virDomainGetMetadata')).to.equal(1);
      expect(count('virConnectGetCapabilities')).to.equal(0);
      expect(count('virDomainGetXMLDesc')).to.equal(0);

      // Redefined with more memory and another stamp: the Defined event drops what we knew.
      events.length = 0;
      const bigger = { ...owner, specHash: 'h2' };
      const uuid = (await counted.observeDomain(name))?.uuid ?? '';
      const redefined = contractDomainXml(name, bigger, 512).replace(
        '</name>',
        `</name><uuid>${uuid}</uuid>`,
      );
      (await admin.domainDefineXMLFlags(redefined)).free();
      await seen(String(DomainEventType.Defined));
      const second = (await counted.hostInfo()).domains.find((d) => d.name === name);
      expect(second?.memoryBytes).to.equal(512 * 1024 * 1024);
      expect(second?.owner?.specHash).to.equal('h2');

      // Started: the state follows (the Started event invalidates too).
      events.length = 0;
      using dom = await admin.domainLookupByName(name);
      await dom.createWithFlags();
      await seen(String(DomainEventType.Started));
      calls.length = 0;
      const running = (await counted.hostInfo()).domains.find((d) => d.name === name);
      expect(running?.state).to.equal('running');
      // A start changes the state, never the stamp: only virDomainGetInfo is asked again.
      expect(count('virDomainGetInfo')).to.equal(1);
      expect(count('virDomainGetMetadata')).to.equal(0);

      // An edit without a lifecycle event shows once the time-to-live is over.
      await dom.setMetadata(
        DomainMetadataType.Element,
        `<owner kind='MaasNode' namespace='ns' name='inventory' uid='uid-inventory' specHash='h3'/>`,
        'maaslab',
        MAASLAB_XMLNS,
        [DomainModificationImpact.Live, DomainModificationImpact.Config],
      );
      calls.length = 0;
      const cached = (await counted.hostInfo()).domains.find((d) => d.name === name);
      expect(cached?.owner?.specHash).to.equal('h2');
      expect(count('virDomainGetInfo')).to.equal(0);
      now += 60_000;
      const expired = (await counted.hostInfo()).domains.find((d) => d.name === name);
      expect(expired?.owner?.specHash).to.equal('h3');

      events.length = 0;
      await dom.destroyFlags();
      await seen(String(DomainEventType.Stopped));
      // Redefined while off: a look at it (a MaasNode pass's) tells the inventory its stamp.
      events.length = 0;
      const again = contractDomainXml(name, { ...owner, specHash: 'h4' }, 512).replace(
        '</name>',
        `</name><uuid>${uuid}</uuid>`,
      );
      (await admin.domainDefineXMLFlags(again)).free();
      await seen(String(DomainEventType.Defined));
      await counted.observeDomain(name);
      calls.length = 0;
      const looked = (await counted.hostInfo()).domains.find((d) => d.name === name);
      expect(looked?.owner?.specHash).to.equal('h4');
      expect(count('virDomainGetInfo')).to.equal(1);
      expect(count('virDomainGetMetadata')).to.equal(0);

      // Undefined: gone from the inventory at once.
      events.length = 0;
      await dom.undefineFlags();
      await seen(String(DomainEventType.Undefined));
      expect((await counted.hostInfo()).domains.some((d) => d.name === name)).to.equal(false);
    } finally {
      off();
      await counted.close();
      await ownPool.close();
      try {
        using left = await admin.domainLookupByName(name);
        if (await left.isActive()) await left.destroyFlags();
        await left.undefineFlags();
      } catch {
        // Already gone: the test got to its end.
      }
    }
  });

  it('after the first start of a domain it defined, reads only the live look and tells the inventory its stamp', async () => {
    const calls: string[] = [];
    // Its own connection: libvirt takes one lifecycle registration of the binding per connection.
    const ownPool = createConnectionPool();
    const counted = createLibvirtHypervisor({
      uri: TEST_URI,
      connections: ownPool,
      metrics: { observeCall: (_h, op) => void calls.push(op) },
      domainFactsTtlMs: 60_000,
    });
    const count = (op: string): number => calls.filter((c) => c === op).length;
    const name = 'maaslab-defined-started';
    const owner = { kind: 'MaasNode', namespace: 'ns', name: 'defined', uid: 'uid-d' };
    const { events, off } = domainEventsOf(counted, name);
    try {
      await inventoryKeepsReads(counted, calls);
      // What a pass knows of a domain it defined (maas-node's justDefined): no UUID, and a
      // definition that must not be read (reading it would build and parse it).
      let definitionReads = 0;
      const defined: ObservedDomain = {
        name,
        uuid: '',
        id: -1,
        owner,
        state: 'shutoff',
        reason: 0,
        hasManagedSave: false,
        persistent: true,
        get inactive(): ObservedDomain['inactive'] {
          definitionReads++;
          throw new Error('the definition of a domain the pass defined was read');
        },
      };
      let after: ObservedDomain | undefined;
      {
        using lookups = createPassLookups();
        expect(await counted.observeDomain(name, lookups)).to.equal(undefined);
        await counted.defineDomain(contractDomain(name, owner), lookups);
        expect(await counted.start(name, owner, lookups)).to.deep.equal({ changed: true });
        await waitUntil(() => events.includes(String(DomainEventType.Started)), 'Started');
        calls.length = 0;
        after = await counted.observeDomain(name, lookups, defined);
      }
      expect(calls).to.deep.equal([OBSERVE_DOMAIN_LIVE_OP]);
      expect(definitionReads).to.equal(0);
      // The inventory took the stamp from that look: it asks libvirt for the state alone.
      calls.length = 0;
      const listed = (await counted.hostInfo()).domains.find((d) => d.name === name);
      expect(listed?.owner).to.deep.equal(owner);
      expect(listed?.state).to.equal('running');
      expect(count('virDomainGetInfo')).to.equal(1);
      expect(count('virDomainGetMetadata')).to.equal(0);
      // The same domain a whole look finds.
      const whole = await counted.observeDomain(name);
      expect(after?.uuid)
        .to.equal(whole?.uuid)
        .and.to.match(/^[0-9a-f-]{36}$/);
      expect(after?.state).to.equal('running');
      expect(after?.live).to.deep.equal(whole?.live);
    } finally {
      off();
      await counted.deleteDomain(name, owner).catch(() => undefined);
      await counted.close();
      await ownPool.close();
    }
  });

  it("shares one pass's lookups: one look and one stamp read for define, start and look", async () => {
    const calls: string[] = [];
    const counted = createLibvirtHypervisor({
      uri: TEST_URI,
      connections: pool,
      metrics: { observeCall: (_h, op) => void calls.push(op) },
    });
    const name = 'maaslab-pass-lookups';
    const owner = { kind: 'MaasNode', namespace: 'ns', name: 'lookups', uid: 'uid-l' };
    try {
      {
        using lookups = createPassLookups();
        expect(await counted.observeDomain(name, lookups)).to.equal(undefined);
        expect(await counted.defineDomain(contractDomain(name, owner), lookups)).to.deep.equal({
          changed: true,
        });
        expect(await counted.start(name, owner, lookups)).to.deep.equal({ changed: true });
        expect((await counted.observeDomain(name, lookups))?.state).to.equal('running');
      }
      // A domain this pass defined where none was is off: its start does not ask.
      expect(calls).to.deep.equal([
        'virDomainLookupByName',
        'virDomainDefineXMLFlags',
        'virDomainCreateWithFlags',
        OBSERVE_DOMAIN_OP,
      ]);

      // The next pass looks afresh, and the stamp its look read is the one start checks.
      calls.length = 0;
      {
        using lookups = createPassLookups();
        await counted.observeDomain(name, lookups);
        expect(await counted.destroy(name, owner, lookups)).to.deep.equal({ changed: true });
        // Someone else's stamp seen by the look: no verb of the pass touches the domain.
        const stranger = { ...owner, uid: 'uid-other' };
        await expectNameConflict(counted.start(name, stranger, lookups));
        // Started again, by the owner: the pass did not define it, so the state is asked.
        expect(await counted.start(name, owner, lookups)).to.deep.equal({ changed: true });
      }
      expect(calls).to.deep.equal([
        'virDomainLookupByName',
        OBSERVE_DOMAIN_OP,
        'virDomainGetState',
        'virDomainDestroyFlags',
        'virDomainGetState',
        'virDomainCreateWithFlags',
      ]);

      // A pass that read the domain shut off starts it without asking its state again, and
      // its look after the start reads the state and live definition alone: the same
      // domain a full look gives.
      await counted.destroy(name, owner);
      calls.length = 0;
      let after;
      {
        using lookups = createPassLookups();
        const before = await counted.observeDomain(name, lookups);
        expect(before?.state).to.equal('shutoff');
        expect(await counted.start(name, owner, lookups)).to.deep.equal({ changed: true });
        after = await counted.observeDomain(name, lookups, before);
      }
      expect(calls).to.deep.equal([
        'virDomainLookupByName',
        OBSERVE_DOMAIN_OP,
        'virDomainCreateWithFlags',
        OBSERVE_DOMAIN_LIVE_OP,
      ]);
      expect(after?.state).to.equal('running');
      expect(after?.live).to.not.equal(undefined);
      expect(after).to.deep.equal(await counted.observeDomain(name));

      // Started by someone else after the pass read it off: the start fails, the state is
      // asked, and the pass finds nothing to do.
      await counted.destroy(name, owner);
      calls.length = 0;
      {
        using lookups = createPassLookups();
        expect((await counted.observeDomain(name, lookups))?.state).to.equal('shutoff');
        using other = await admin.domainLookupByName(name);
        await other.createWithFlags();
        expect(await counted.start(name, owner, lookups)).to.deep.equal({ changed: false });
      }
      expect(calls).to.deep.equal([
        'virDomainLookupByName',
        OBSERVE_DOMAIN_OP,
        'virDomainCreateWithFlags',
        'virDomainGetState',
      ]);
    } finally {
      await counted.deleteDomain(name, owner);
    }
  });

  it('keeps a pool handle per connection, and looks again once its pool was redefined', async () => {
    const calls: string[] = [];
    const counted = createLibvirtHypervisor({
      uri: TEST_URI,
      connections: pool,
      metrics: { observeCall: (_h, op) => void calls.push(op) },
    });
    const poolName = 'maaslab-kept-pool';
    const disk = (name: string) =>
      ({ pool: poolName, name, capacityBytes: 1 << 20, format: 'raw' }) as const;
    const count = (op: string): number => calls.filter((c) => c === op).length;
    try {
      await counted.ensurePool({ name: poolName, path: `/${poolName}` });
      calls.length = 0;
      expect((await counted.ensureVolumes([disk('a.raw')])).created).to.deep.equal(['a.raw']);
      expect((await counted.ensureVolumes([disk('a.raw')])).changed).to.equal(false);
      expect(count('virStoragePoolLookupByName')).to.equal(1);

      // Undefined and defined again (a new UUID): the kept handle names a pool that is gone.
      {
        using p = await admin.storagePoolLookupByName(poolName);
        await p.destroy();
        await p.undefine();
      }
      await counted.ensurePool({ name: poolName, path: `/${poolName}` });
      calls.length = 0;
      const after = await counted.ensureVolumes([disk('b.raw')]);
      expect(after.created).to.deep.equal(['b.raw']);
      // The test driver resolves a pool handle by name (the kept one still works); libvirtd's
      // storage driver by UUID: NO_STORAGE_POOL, then one fresh lookup.
      expect(count('virStoragePoolLookupByName')).to.be.at.most(1);
    } finally {
      await counted.deleteVolumes([
        { pool: poolName, name: 'a.raw' },
        { pool: poolName, name: 'b.raw' },
      ]);
      using p = await admin.storagePoolLookupByName(poolName);
      await p.destroy();
      await p.undefine();
    }
  });

  it('fails with HypervisorUnreachableError once the pool is closed', async () => {
    const closing = createConnectionPool();
    const h = createLibvirtHypervisor({ uri: TEST_URI, connections: closing });
    expect(await h.observeDomain('test')).to.not.equal(undefined);
    await closing.close();
    try {
      await h.observeDomain('test');
      throw new Error('expected HypervisorUnreachableError');
    } catch (err) {
      expect(err).to.be.instanceOf(HypervisorUnreachableError);
    }
    await h.close();
  });

  it('classifies connection failures by code and error domain, never by message', () => {
    const e = (code: ErrorNumber, domain: ErrorDomain): LibvirtError =>
      new LibvirtError(code, domain, ErrorLevel.Error, 'End of file while reading data');
    expect(isUnreachableError(e(ErrorNumber.SystemError, ErrorDomain.Rpc))).to.equal(true);
    expect(isUnreachableError(e(ErrorNumber.SystemError, ErrorDomain.Remote))).to.equal(true);
    expect(isUnreachableError(e(ErrorNumber.Rpc, ErrorDomain.Rpc))).to.equal(true);
    expect(isUnreachableError(e(ErrorNumber.NoConnect, ErrorDomain.Remote))).to.equal(true);
    expect(isUnreachableError(e(ErrorNumber.InvalidConn, ErrorDomain.None))).to.equal(true);
    // The QEMU driver's SYSTEM_ERROR (e.g. a missing image) is an operation failure.
    expect(isUnreachableError(e(ErrorNumber.SystemError, ErrorDomain.Qemu))).to.equal(false);
    expect(isUnreachableError(e(ErrorNumber.NoDomain, ErrorDomain.Rpc))).to.equal(false);
    expect(isUnreachableError(new Error('Cannot recv data'))).to.equal(false);
  });
});

describe('Hypervisor over libvirt (test:///default): UEFI NVRAM in a pool', () => {
  let pool: ConnectionPool<Connection>;
  let admin: Connection;
  let hv: LibvirtHypervisor;
  const owner = { kind: 'MaasNode', namespace: 'lab', name: 'uefi', uid: 'uid-uefi' };

  before(async () => {
    pool = createConnectionPool();
    admin = await Connection.open(TEST_URI);
    hv = createLibvirtHypervisor({ uri: TEST_URI, connections: pool });
  });

  after(async () => {
    await hv.close();
    await pool.close();
    await admin.close();
  });

  it("defineDomain names the NVRAM file in its pool's directory, and refuses a pool it cannot find", async () => {
    const name = `uefi-${process.pid}`;
    const desc = {
      ...contractDomain(name, owner),
      firmware: 'uefi' as const,
      nvram: { pool: 'default-pool', volume: `${name}-VARS.fd` },
    };
    expect((await hv.defineDomain(desc)).changed).to.equal(true);
    using dom = await admin.domainLookupByName(name);
    const xml = await dom.getXMLDesc();
    expect(xml).to.include(`<nvram>/default-pool/${name}-VARS.fd</nvram>`);
    expect(parseDomainXml(xml)).to.include({
      firmware: 'uefi',
      nvram: `/default-pool/${name}-VARS.fd`,
    });
    try {
      await hv.defineDomain({ ...desc, nvram: { pool: 'no-such-pool', volume: 'x-VARS.fd' } });
      throw new Error('expected PoolNotFoundError');
    } catch (err) {
      expect(err).to.be.instanceOf(PoolNotFoundError);
    }
    expect((await hv.deleteDomain(name, owner)).changed).to.equal(true);
  });
});

async function expectNameConflict(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (err) {
    expect(err).to.be.instanceOf(NameConflictError);
    return;
  }
  throw new Error('expected NameConflictError');
}
