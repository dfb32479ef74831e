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
  HypervisorUnreachableError,
  sshHostKeyRejection,
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

describe('sshHostKeyRejection', () => {
  const rpc = (
    message: string,
    code: ErrorNumber = ErrorNumber.SystemError,
    domain: ErrorDomain = ErrorDomain.Rpc,
  ) => new LibvirtError(code, domain, ErrorLevel.Error, message);
  /** What libvirt 9.0 reported with a real sshd whose key known_hosts did not hold. */
  const changed =
    'Cannot recv data: @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\r\n' +
    '@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\r\n' +
    'The fingerprint for the ED25519 key sent by the remote host is\n' +
    'SHA256:vxAsNbEieFszuKMCFP95L70p2fCr/LFVN+cJrS+uRiY.\r\n' +
    'Offending ED25519 key in /home/maaslab/.ssh/known_hosts:1\r\n' +
    'Host key for 10.253.7.2 has changed and you have requested strict checking.\r\n' +
    'Host key verification failed.: Connection reset by peer';

  it('names a changed key by ssh’s own explanation line', () => {
    expect(sshHostKeyRejection(rpc(changed))).to.equal(
      'Host key for 10.253.7.2 has changed and you have requested strict checking.',
    );
  });

  it('an unknown host, ssh’s bare final line; Remote domain too; through causes', () => {
    const bare = 'Cannot recv data: Host key verification failed.: Connection reset by peer';
    expect(sshHostKeyRejection(rpc(bare))).to.equal('Host key verification failed.');
    const unknown =
      'Cannot recv data: No ED25519 host key is known for h1 and you have requested strict ' +
      'checking.\r\nHost key verification failed.: Connection reset by peer';
    expect(sshHostKeyRejection(rpc(unknown, ErrorNumber.SystemError, ErrorDomain.Remote))).to.match(
      /^No ED25519 host key is known for h1/,
    );
    const wrapped = new HypervisorUnreachableError('qemu+ssh://h1/system', { cause: rpc(bare) });
    expect(sshHostKeyRejection(new Error('pass failed', { cause: wrapped }))).to.equal(
      'Host key verification failed.',
    );
  });

  it('other failures, and look-alike text, are not a host key rejection', () => {
    const notIt = [
      // A dropped connection, a refused port, a failed login.
      rpc('Cannot recv data: Connection reset by peer'),
      rpc('Cannot recv data: ssh: connect to host h1 port 22: Connection refused: EOF'),
      rpc('Cannot recv data: root@h1: Permission denied (publickey).: Connection reset by peer'),
      // The phrase inside another line: a host name, a banner, a remote command's output.
      rpc('Cannot recv data: ssh: Could not resolve hostname Host key verification failed.: x'),
      rpc('Cannot recv data: Host key verification failed.\r\nbanner after it: EOF'),
      rpc('Cannot recv data: Host key verification failed. (not really): EOF'),
      // Not libvirt's RPC wording, not its RPC/remote layers, not a SYSTEM_ERROR.
      rpc('Host key verification failed.'),
      rpc(
        'Cannot recv data: Host key verification failed.: x',
        ErrorNumber.SystemError,
        ErrorDomain.Qemu,
      ),
      rpc('Cannot recv data: Host key verification failed.: x', ErrorNumber.Rpc),
      new Error('Cannot recv data: Host key verification failed.: Connection reset by peer'),
      'Host key verification failed.',
      undefined,
      rpc(''),
    ];
    for (const e of notIt) expect(sshHostKeyRejection(e), String(e)).to.equal(undefined);
  });

  it('stays bounded on a hostile stderr: a huge line, a cause cycle', () => {
    const huge = `Cannot recv data: Host key for ${'h'.repeat(10_000)} has changed and so on\r\nHost key verification failed.: x`;
    expect(sshHostKeyRejection(rpc(huge))?.length).to.equal(200);
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    (a as { cause?: unknown }).cause = b;
    expect(sshHostKeyRejection(a)).to.equal(undefined);
  });
});
