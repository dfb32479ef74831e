import { expect } from 'chai';
import {
  type Connection,
  ErrorNumber,
  Interface,
  isLibvirtError,
} from '../../../src/libvirt/index.js';
import { openTest, rejection } from './fixtures.js';

describe('libvirt Interface (test:///default)', () => {
  let conn: Connection;

  beforeEach(async () => {
    conn = await openTest();
  });
  afterEach(async () => {
    await conn.close();
  });

  it("looks up the test driver's eth1 and reports name, MAC and state", async () => {
    using iface = await conn.interfaceLookupByName('eth1');
    expect(iface).to.be.instanceOf(Interface);
    expect(iface.getName()).to.equal('eth1');
    expect(iface.getMACString()).to.equal('aa:bb:cc:dd:ee:ff');
    expect(await iface.isActive()).to.equal(true);
  });

  it('rejects a missing interface with NO_INTERFACE', async () => {
    const err = await rejection(() => conn.interfaceLookupByName('mlnobr0'));
    expect(isLibvirtError(err, ErrorNumber.NoInterface)).to.equal(true);
  });

  it('frees explicitly and refuses calls on a freed handle', async () => {
    const iface = await conn.interfaceLookupByName('eth1');
    expect(iface.freed).to.equal(false);
    iface.free();
    expect(iface.freed).to.equal(true);
    expect(() => iface.getName()).to.throw(/interface handle already freed/);
    iface.free();
  });
});
