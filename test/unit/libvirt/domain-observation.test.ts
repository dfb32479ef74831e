// What a look at a domain found, built from the reads (pure): a whole look, and the look after
// the caller's own start, which reads only the state and the live definition.
import { expect } from 'chai';
import { DomainState } from '../../../src/libvirt/index.js';
import {
  observedAfterStart,
  observedDomain,
} from '../../../src/libvirt/hypervisor/domain-observation.js';
import { buildDomainXml, parseDomainXml } from '../../../src/libvirt/xml/index.js';
import { tinyDomain } from '../../support/tiny-domain.js';

const owner = { kind: 'MaasNode', namespace: 'ns', name: 'n1', uid: 'uid-1' };
const xml = buildDomainXml({ ...tinyDomain('ns.n1'), owner });
const handle = (id: number) => ({
  getName: () => 'ns.n1',
  getUUIDString: () => '7a1b2c3d-0000-4000-8000-000000000001',
  getID: () => id,
});

describe('libvirt/hypervisor domain observation', () => {
  const off = observedDomain(handle(-1), {
    state: DomainState.Shutoff,
    reason: 1,
    persistent: true,
    hasManagedSave: false,
    inactiveXml: xml,
    liveXml: null,
  });

  it('builds a whole look: the stamp from the definition, no live definition while off', () => {
    expect(off).to.deep.include({
      name: 'ns.n1',
      uuid: '7a1b2c3d-0000-4000-8000-000000000001',
      id: -1,
      state: 'shutoff',
      reason: 1,
      persistent: true,
      hasManagedSave: false,
    });
    expect(off.owner).to.deep.include({ uid: 'uid-1' });
    expect(off.inactive).to.deep.equal(parseDomainXml(xml));
    expect(off).to.not.have.property('live');
  });

  it('after a start keeps what a start leaves alone and reads the state, ID and live definition', () => {
    const after = observedAfterStart(
      handle(7),
      { state: DomainState.Running, reason: 1, liveXml: xml },
      off,
    );
    expect(after).to.deep.equal({
      ...off,
      id: 7,
      state: 'running',
      reason: 1,
      live: parseDomainXml(xml),
    });
  });

  it('after the start of a domain the caller defined: the UUID from the handle, the definition left unread', () => {
    // What a definition leaves (maas-node's justDefined): no UUID yet, a lazy definition.
    let reads = 0;
    const defined = {
      ...off,
      uuid: '',
      get inactive() {
        reads++;
        return parseDomainXml(xml);
      },
    };
    reads = 0;
    const after = observedAfterStart(
      handle(4),
      { state: DomainState.Running, reason: 1, liveXml: xml },
      defined,
    );
    expect(reads).to.equal(0);
    expect(after.uuid).to.equal('7a1b2c3d-0000-4000-8000-000000000001');
    expect(after.live?.owner).to.deep.include({ uid: 'uid-1' });
    expect(after.inactive).to.deep.equal(parseDomainXml(xml));
    expect(reads).to.equal(1);
  });

  it('after a start that left the domain off (it stopped at once) has no live definition', () => {
    const after = observedAfterStart(
      handle(-1),
      { state: DomainState.Shutoff, reason: 5, liveXml: null },
      off,
    );
    expect(after.state).to.equal('shutoff');
    expect(after.reason).to.equal(5);
    expect(after).to.not.have.property('live');
  });

  it('reads a crashed domain’s live definition (QEMU may still hold it)', () => {
    const crashed = observedAfterStart(
      handle(3),
      { state: DomainState.Crashed, reason: 0, liveXml: xml },
      off,
    );
    expect(crashed.live).to.deep.equal(parseDomainXml(xml));
  });
});
