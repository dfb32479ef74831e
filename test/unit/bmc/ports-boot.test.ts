// The pure parts of the BMC service: IPMI port choice and the boot order under an override.
import { expect } from 'chai';
import { bootOrderWith, isActiveOverride, NoBootOverride } from '../../../src/bmc/boot.js';
import { parsePortRange, pickIpmiPort } from '../../../src/bmc/ports.js';
import { redfishRootUrl } from '../../../src/bmc/service.js';

describe('bmc/ports', () => {
  it('parses first-last and refuses anything else', () => {
    expect(parsePortRange('6230-6329')).to.deep.equal({ first: 6230, last: 6329 });
    expect(parsePortRange('623-623')).to.deep.equal({ first: 623, last: 623 });
    for (const bad of [
      '',
      '6230',
      '6330-6230',
      '0-10',
      '1-65536',
      ' 1-2',
      '1-2-3',
      'a-b',
      '-1-2',
    ]) {
      expect(() => parsePortRange(bad), bad).to.throw(RangeError);
    }
  });

  it('keeps the previous port while it is in range and free, else takes the lowest free one', () => {
    const range = { first: 6230, last: 6233 };
    expect(pickIpmiPort(range, new Set(), 6232)).to.equal(6232);
    expect(pickIpmiPort(range, new Set([6232]), 6232)).to.equal(6230);
    expect(pickIpmiPort(range, new Set([6230, 6231]))).to.equal(6232);
    expect(pickIpmiPort(range, new Set(), 7000)).to.equal(6230);
    expect(pickIpmiPort(range, new Set([6230, 6231, 6232, 6233]))).to.equal(undefined);
  });
});

describe('bmc/boot', () => {
  const order = ['disk', 'network'] as const;

  it('puts the override target first, whether Once or Continuous', () => {
    for (const enabled of ['Once', 'Continuous'] as const) {
      expect(bootOrderWith(order, { target: 'Pxe', enabled, mode: 'Legacy' })).to.deep.equal([
        'network',
        'disk',
      ]);
      expect(
        bootOrderWith(['network', 'disk'], { target: 'Hdd', enabled, mode: 'UEFI' }),
      ).to.deep.equal(['disk', 'network']);
    }
  });

  it('leaves the order alone when disabled, None or absent', () => {
    expect(bootOrderWith(order, undefined)).to.deep.equal(['disk', 'network']);
    expect(bootOrderWith(order, NoBootOverride)).to.deep.equal(['disk', 'network']);
    expect(
      bootOrderWith(order, { target: 'Pxe', enabled: 'Disabled', mode: 'Legacy' }),
    ).to.deep.equal(['disk', 'network']);
  });

  it("puts the CD-ROM drive first for Cd, before the spec's devices", () => {
    for (const enabled of ['Once', 'Continuous'] as const) {
      expect(bootOrderWith(order, { target: 'Cd', enabled, mode: 'Legacy' })).to.deep.equal([
        'cdrom',
        'disk',
        'network',
      ]);
    }
    expect(bootOrderWith(order, { target: 'Cd', enabled: 'Disabled', mode: 'UEFI' })).to.deep.equal(
      ['disk', 'network'],
    );
  });

  it('adds the target when the spec order lacks it (the caller drops devices the node has not)', () => {
    expect(
      bootOrderWith(['disk'], { target: 'Pxe', enabled: 'Once', mode: 'Legacy' }),
    ).to.deep.equal(['network', 'disk']);
  });

  it('an override is active only when enabled and aimed somewhere', () => {
    expect(isActiveOverride(undefined)).to.equal(false);
    expect(isActiveOverride(NoBootOverride)).to.equal(false);
    expect(isActiveOverride({ target: 'None', enabled: 'Continuous', mode: 'Legacy' })).to.equal(
      false,
    );
    expect(isActiveOverride({ target: 'Hdd', enabled: 'Once', mode: 'Legacy' })).to.equal(true);
  });
});

describe('bmc/service redfishRootUrl', () => {
  it('brackets IPv6 and names scheme and port', () => {
    const listen = { redfishPort: 8443, redfishScheme: 'https', ipmiPortRange: '1-2' } as const;
    expect(redfishRootUrl({ ...listen, address: '10.0.0.1' })).to.equal(
      'https://10.0.0.1:8443/redfish/v1/',
    );
    expect(redfishRootUrl({ ...listen, address: 'fd00::1', redfishScheme: 'http' })).to.equal(
      'http://[fd00::1]:8443/redfish/v1/',
    );
  });
});
