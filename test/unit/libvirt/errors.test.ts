import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  DomainUndefineFlags,
  ErrorDomain,
  ErrorLevel,
  ErrorNumber,
  flagsOf,
  isLibvirtError,
  isNotFound,
  LibvirtError,
  ConnectGetAllDomainStatsFlags,
} from '../../../src/libvirt/index.js';
import { DEFAULT_HEADER_DIR, generate } from '../../../hack/gen-libvirt-constants.js';

describe('libvirt errors and constants', () => {
  it('maps codes, domains and levels to libvirt symbolic names', () => {
    const e = new LibvirtError(
      ErrorNumber.NoDomain,
      ErrorDomain.Test,
      ErrorLevel.Error,
      "Domain not found: no domain with matching name 'x'",
    );
    expect(e).to.be.instanceOf(Error);
    expect(e.code).to.equal(42);
    expect(e.name).to.equal('NO_DOMAIN');
    expect(e.domainName).to.equal('TEST');
    expect(e.levelName).to.equal('ERROR');
    expect(String(e)).to.match(/^NO_DOMAIN: Domain not found/);
    expect(new LibvirtError(ErrorNumber.OperationInvalid, 0, 2, 'm').name).to.equal(
      'OPERATION_INVALID',
    );
    expect(new LibvirtError(ErrorNumber.NoNetwork, 0, 2, 'm').name).to.equal('NO_NETWORK');
    expect(new LibvirtError(ErrorNumber.WarNoNetwork, 0, 1, 'm').name).to.equal('WAR_NO_NETWORK');
    expect(new LibvirtError(99999 as ErrorNumber, 0, 2, 'm').name).to.equal('UNKNOWN_99999');
  });

  it('branches on codes, never on text', () => {
    const e = new LibvirtError(ErrorNumber.NoStorageVol, ErrorDomain.Storage, ErrorLevel.Error, '');
    expect(isLibvirtError(e)).to.equal(true);
    expect(isLibvirtError(e, ErrorNumber.NoStorageVol)).to.equal(true);
    expect(isLibvirtError(e, ErrorNumber.NoDomain, ErrorNumber.NoNetwork)).to.equal(false);
    expect(isNotFound(e)).to.equal(true);
    expect(isNotFound(new LibvirtError(ErrorNumber.OperationInvalid, 0, 2, ''))).to.equal(false);
    expect(isLibvirtError(new Error('NO_DOMAIN'), ErrorNumber.NoDomain)).to.equal(false);
    expect(isNotFound(undefined)).to.equal(false);
  });

  it('keeps the cause when rethrown', () => {
    const cause = new Error('root');
    const e = new LibvirtError(ErrorNumber.InternalError, 0, 2, 'wrapped', { cause });
    expect(e.cause).to.equal(cause);
  });

  it('ORs typed flags, keeping bit 31 unsigned', () => {
    expect(flagsOf(undefined)).to.equal(0);
    expect(flagsOf(DomainUndefineFlags.Nvram)).to.equal(4);
    expect(
      flagsOf([DomainUndefineFlags.ManagedSave, DomainUndefineFlags.SnapshotsMetadata]),
    ).to.equal(3);
    expect(
      flagsOf([ConnectGetAllDomainStatsFlags.EnforceStats, ConnectGetAllDomainStatsFlags.Active]),
    ).to.equal(2 ** 31 + 1);
  });

  it('has generated constants that match the installed headers', async function () {
    if (!existsSync(DEFAULT_HEADER_DIR)) this.skip();
    this.timeout(20000);
    const committed = readFileSync(
      fileURLToPath(new URL('../../../src/libvirt/constants.ts', import.meta.url)),
      'utf8',
    );
    const fresh = await generate(DEFAULT_HEADER_DIR);
    // Only compare when the headers are the version the file was made from;
    // a newer libvirt-dev legitimately adds members.
    const version = /LIBVIRT_HEADERS_VERSION = (\d+)/.exec(fresh)?.[1];
    if (!committed.includes(`LIBVIRT_HEADERS_VERSION = ${version};`)) this.skip();
    expect(fresh === committed, 'run: tsx hack/gen-libvirt-constants.ts').to.equal(true);
  });
});
