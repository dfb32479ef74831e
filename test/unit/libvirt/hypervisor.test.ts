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
  ErrorDomain,
  ErrorLevel,
  ErrorNumber,
  HypervisorUnreachableError,
  isUnreachableError,
  LibvirtError,
  OBSERVE_DOMAIN_OP,
  type LibvirtHypervisor,
  type LibvirtMetrics,
  type ConnectionPool,
} from '../../../src/libvirt/index.js';
import { buildNetworkXml } from '../../../src/libvirt/xml/index.js';
import {
  hypervisorContract,
  isMutatingOp,
  type ContractSubject,
} from '../../support/hypervisor-contract.js';
import { TEST_URI } from './fixtures.js';

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
