import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import {
  SshUriError,
  VncUnavailableError,
  createLibvirtConsoleAttacher,
} from '../../../src/console/index.js';

const LIVE_XML = `<domain type='qemu'><name>maas.n1</name><memory unit='KiB'>131072</memory><vcpu>1</vcpu>
  <devices><graphics type='vnc' port='5907' autoport='yes' listen='0.0.0.0'>
  <listen type='address' address='0.0.0.0'/></graphics></devices></domain>`;

describe('console/attach: VNC over an ssh URI', () => {
  let dir = '';
  let fakeSsh = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'maaslab-attach-'));
    // Speaks first like a VNC server, then says which argv it was given, one per line.
    fakeSsh = join(dir, 'ssh');
    await writeFile(fakeSsh, '#!/bin/sh\nprintf "RFB 003.008\\n"\nprintf "%s\\n" "$@"\n');
    await chmod(fakeSsh, 0o755);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const read = (d: NodeJS.ReadableStream): Promise<string> =>
    new Promise((resolve, reject) => {
      let got = '';
      d.on('data', (c: Buffer) => (got += c.toString()));
      d.on('end', () => resolve(got));
      d.on('error', reject);
    });

  it('runs ssh -W to the loopback port of the live XML, the destination after --', async () => {
    const asked: string[] = [];
    const attach = createLibvirtConsoleAttacher(async (uri, domain) => {
      asked.push(`${uri} ${domain}`);
      return LIVE_XML;
    });
    const uri = `qemu+ssh://root@kvm-1:2222/system?command=${fakeSsh}`;
    const d = await attach('vnc', { uri, domain: 'maas.n1', hypervisor: 'hv' });
    const lines = (await read(d)).split('\n');
    expect(lines[0]).to.equal('RFB 003.008');
    expect(lines.slice(1, -1)).to.deep.equal([
      ...['-p', '2222', '-l', 'root', '-T', '-e', 'none'],
      ...['-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10'],
      ...['-o', 'ClearAllForwardings=yes', '-o', 'ControlMaster=no'],
      ...['-W', '127.0.0.1:5907', '--', 'kvm-1'],
    ]);
    expect(asked).to.deep.equal([`${uri} maas.n1`]);
  });

  it('a hostile URI is refused before libvirt or ssh is asked anything', async () => {
    let asked = false;
    const attach = createLibvirtConsoleAttacher(async () => {
      asked = true;
      return LIVE_XML;
    });
    const err = await attach('vnc', {
      uri: `qemu+ssh://-oProxyCommand=${fakeSsh}/system`,
      domain: 'maas.n1',
      hypervisor: 'hv',
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(SshUriError);
    expect(asked).to.equal(false);
  });

  it('a domain whose live XML has no VNC graphics: VncUnavailableError, no ssh', async () => {
    const attach = createLibvirtConsoleAttacher(
      async () =>
        "<domain type='qemu'><name>maas.n1</name><memory unit='KiB'>131072</memory><vcpu>1</vcpu><devices/></domain>",
    );
    const err = await attach('vnc', {
      uri: 'qemu+ssh://root@h/system?command=/nonexistent/ssh',
      domain: 'maas.n1',
      hypervisor: 'hv',
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(VncUnavailableError);
  });
});
