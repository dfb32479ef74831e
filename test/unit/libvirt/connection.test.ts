import { expect } from 'chai';
import {
  Connection,
  ConnectFlags,
  ErrorNumber,
  formatLibvirtVersion,
  isLibvirtError,
  LibvirtError,
} from '../../../src/libvirt/index.js';
import { openTest, rejection, TEST_URI } from './fixtures.js';

describe('libvirt Connection (test:///default)', () => {
  let conn: Connection;
  beforeEach(async () => {
    conn = await openTest();
  });
  afterEach(async () => {
    await conn.close();
  });

  it('reports host facts', async () => {
    expect(await conn.getHostname()).to.be.a('string').that.is.not.empty;
    expect(await conn.getURI()).to.equal(TEST_URI);
    expect(await conn.getType()).to.equal('TEST');
    expect(formatLibvirtVersion(await conn.getLibVersion())).to.match(/^\d+\.\d+\.\d+$/);
    expect(await conn.getVersion()).to.be.a('number');
    expect(await conn.getCapabilities()).to.contain('<capabilities>');
    expect(await conn.isAlive()).to.equal(true);
  });

  it('reports node info and free memory', async () => {
    const info = await conn.nodeGetInfo();
    expect(info.cpus).to.be.greaterThan(0);
    expect(info.memory).to.be.greaterThan(0);
    expect(info.model).to.be.a('string');
    expect(await conn.nodeGetFreeMemory()).to.be.greaterThan(0);
  });

  it('opens read-only with typed flags', async () => {
    const ro = await Connection.open(TEST_URI, ConnectFlags.Ro);
    try {
      expect(await ro.getType()).to.equal('TEST');
    } finally {
      await ro.close();
    }
  });

  it('rejects keepalive on a driver without a daemon with NO_SUPPORT', async () => {
    // Keepalive works only over the remote protocol: covered by the integration tests.
    const err = await rejection(() => conn.setKeepAlive(5, 3));
    expect(isLibvirtError(err, ErrorNumber.NoSupport)).to.equal(true);
  });

  it('registers and deregisters a close callback', async () => {
    // The test driver accepts the callback but never fires it; the integration
    // tests kill libvirtd to see it fire.
    const sub = await conn.registerCloseCallback(() => undefined);
    expect(sub.active).to.equal(true);
    await sub.deregister();
    expect(sub.active).to.equal(false);
    await sub.deregister(); // idempotent
  });

  it('fails to open with a typed error', async () => {
    // A test-driver URI whose config file is empty fails in-process, without
    // touching any daemon socket.
    const err = await rejection(() => Connection.open('test:///dev/null'));
    expect(err).to.be.instanceOf(LibvirtError);
    const e = err as LibvirtError;
    expect(e.code).to.equal(ErrorNumber.XmlDetail);
    expect(e.name).to.match(/^[A-Z_]+$/);
    expect(e.message).to.be.a('string').that.is.not.empty;
  });

  it('gives rejections the stack of their awaiting callers and the C function name', async () => {
    // The stack is V8's async stack at the rejection: every caller that awaits is in it.
    async function lookUpMissing(): Promise<unknown> {
      return await conn.domainLookupByName('maaslab-missing');
    }
    const err = await rejection(lookUpMissing);
    expect(isLibvirtError(err, ErrorNumber.NoDomain)).to.equal(true);
    const stack = (err as LibvirtError).stack ?? '';
    expect(stack).to.match(/^NO_DOMAIN: .*\(virDomainLookupByName\)\n/);
    const frames = stack.split('\n').slice(1);
    expect(frames[0]).to.match(/at async Connection\.domainLookupByName \(.*connection\.ts:\d+/);
    expect(frames[1]).to.match(/at async lookUpMissing \(.*connection\.test\.ts:\d+/);
  });

  it('closes idempotently and refuses calls afterwards', async () => {
    const c = await openTest();
    await c.close();
    await c.close();
    expect(c.freed).to.equal(true);
    expect(() => c.getHostname()).to.throw(/already freed/);
  });

  it('supports await using', async () => {
    let inner: Connection | undefined;
    {
      await using c = await openTest();
      inner = c;
      expect(await c.isAlive()).to.equal(true);
    }
    expect(inner.freed).to.equal(true);
  });
});
