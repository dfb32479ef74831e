// Consoles through the binding, against a private libvirtd with QEMU TCG: a domain with no
// disk and no NIC and SeaBIOS on its serial port (`<bios useserial='yes'/>`), whose console
// (virDomainOpenConsole on a non-blocking stream pumped by libvirt's event loop) shows the
// BIOS banner; a second session with --force takes it over, and the first one fails with
// ConsoleTakenOverError and closes, also while the BIOS is printing (libvirtd alone does not
// tell it then: src/libvirt/console-holders.ts) and through the console endpoint, where the
// first user's session ends; closing aborts without hanging, and closes after a bounded wait
// when the daemon does not answer the abort;
// the domain stopping ends the stream; and virDomainOpenGraphicsFD hands over a socket to the
// VNC server that answers with the RFB greeting. Through the console endpoint (the real
// server and the plugin's client, authorization faked), Ctrl-B opens iPXE's shell and a
// typed `echo ${platform}` gets iPXE's answer. None of it ties up a lane thread while idle.
import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  Connection,
  ConsoleTakenOverError,
  type Domain,
  DomainCreateFlags,
  ErrorNumber,
  isLibvirtError,
  openDomainConsole,
  openDomainGraphicsFD,
  PUMP_ABORT_WAIT_MS,
  type StreamPump,
} from '../../../src/libvirt/index.js';
import { raw } from '../../../src/libvirt/binding.js';
import { PassThrough } from 'node:stream';
import type { Hypervisor, MaasNode } from '../../../src/api/v1alpha1/index.js';
import { libvirtConsoleAttacher, startConsoleServer } from '../../../src/console/index.js';
import { openNodeStream } from '../../../src/plugin/stream-client.js';
import { attachTerminal } from '../../../src/plugin/terminal.js';
import { generateSelfSignedCertificate } from '../../../src/runtime/index.js';
import { buildDomainXml } from '../../../src/libvirt/xml/index.js';
import { type PrivateLibvirtd, startPrivateLibvirtd } from '../../support/libvirtd.js';
import { waitFor } from '../../support/wait.js';
import { tinyDomain } from '../../support/tiny-domain.js';

const NAME = 'console-stream';

/** Collects what `pump` reads until `pattern` shows up (or the timeout). */
async function readUntil(pump: StreamPump, pattern: RegExp, timeoutMs = 120_000): Promise<string> {
  let text = '';
  const onData = (d: Buffer): void => void (text += d.toString('latin1'));
  pump.on('data', onData);
  try {
    await waitFor(() => pattern.test(text) || undefined, {
      timeoutMs,
      intervalMs: 100,
      description: `console output matching ${pattern} (got ${JSON.stringify(text.slice(-400))})`,
    });
    return text;
  } finally {
    pump.off('data', onData);
  }
}

/** The real console endpoint (authorization faked) for domain `domainName` on `uri`. */
async function consoleServer(
  uri: string,
  domainName: string,
): ReturnType<typeof startConsoleServer> {
  const pair = await generateSelfSignedCertificate({
    commonName: 't',
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1'],
    validDays: 1,
  });
  return startConsoleServer({
    bindAddress: '127.0.0.1:0',
    certificate: { current: () => pair, watch: () => () => undefined },
    authorize: async () => ({ allowed: true, user: 'test' }),
    lookup: () => ({
      node: {
        metadata: { name: 'n', namespace: 'ns' },
        spec: { hypervisor: 'h', domainName },
        status: { printableStatus: 'Running' },
      } as MaasNode,
      hypervisor: { metadata: { name: 'h' }, spec: { uri } } as Hypervisor,
      serves: true,
    }),
    attach: libvirtConsoleAttacher,
  });
}

/** A `kubectl maaslab console` session of node ns/n through `server`, its output collected. */
async function terminalSession(port: number): Promise<{
  readonly input: PassThrough;
  readonly output: () => string;
  readonly ended: Promise<string>;
}> {
  const socket = await openNodeStream(
    { host: '127.0.0.1', port, insecureSkipTlsVerify: true },
    { namespace: 'ns', name: 'n', kind: 'console', authorization: 'Bearer x' },
  );
  const input = new PassThrough();
  const output = new PassThrough();
  let out = '';
  output.on('data', (d: Buffer) => (out += d.toString('latin1')));
  const ended = attachTerminal(socket, input, output).then(
    (how) => how,
    (e: unknown) => `error: ${String(e)}`,
  );
  return { input, output: () => out, ended };
}

/**
 * A forced takeover on `uri`'s console of `domainName`: opens a session, then a second one
 * with force; resolves with what the first one got, in ms from the second open.
 */
async function takeover(
  uri: string,
  domainName: string,
): Promise<{ readonly errors: Error[]; readonly closedMs: number | undefined }> {
  const first = await openDomainConsole({ uri, domain: domainName, force: true });
  first.resume();
  const errors: Error[] = [];
  first.on('error', (e) => errors.push(e));
  const closed = new Promise<void>((resolve) => first.once('close', () => resolve()));
  const t0 = performance.now();
  const second = await openDomainConsole({ uri, domain: domainName, force: true });
  const how = await Promise.race([closed.then(() => 'closed'), sleep(10_000).then(() => 'open')]);
  const closedMs = how === 'closed' ? performance.now() - t0 : undefined;
  expect(second.destroyed).to.equal(false);
  const secondClosed = new Promise<void>((resolve) => second.once('close', () => resolve()));
  second.destroy();
  await secondClosed;
  if (closedMs === undefined) first.destroy();
  return { errors, closedMs };
}

describe('libvirt: console streams and graphics descriptors (private libvirtd, TCG)', function () {
  this.timeout(300_000);
  let lv: PrivateLibvirtd;
  let conn: Connection;
  let domain: Domain;

  before(async function () {
    this.timeout(120_000);
    lv = await startPrivateLibvirtd();
    conn = await Connection.open(lv.uri);
    domain = await conn.domainDefineXMLFlags(
      buildDomainXml(tinyDomain(NAME, { vnc: { listen: '127.0.0.1' }, serialBios: true })),
    );
  });

  after(async function () {
    this.timeout(60_000);
    await domain?.destroyFlags().catch(() => undefined);
    await domain?.undefineFlags().catch(() => undefined);
    await conn?.close().catch(() => undefined);
    await lv?.stop();
  });

  it('a console of a domain that is not running is refused with OPERATION_INVALID', async () => {
    const err: unknown = await openDomainConsole({ uri: lv.uri, domain: NAME }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isLibvirtError(err, ErrorNumber.OperationInvalid), String(err)).to.equal(true);
  });

  it('an unknown domain is NO_DOMAIN', async () => {
    const err: unknown = await openDomainConsole({ uri: lv.uri, domain: 'nope' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isLibvirtError(err, ErrorNumber.NoDomain), String(err)).to.equal(true);
  });

  it('shows SeaBIOS on the serial console from power-on; input is accepted; close aborts', async () => {
    // Paused start, console attached, then resume: the BIOS banner cannot be missed.
    await domain.createWithFlags(DomainCreateFlags.StartPaused);
    const pump = await openDomainConsole({ uri: lv.uri, domain: NAME, force: true });
    const lanes = raw.laneThreads();
    await domain.resume();
    const text = await readUntil(pump, /SeaBIOS|No bootable device/);
    expect(text).to.match(/SeaBIOS/);
    // Writes reach the stream (the BIOS ignores them): no error, the pump drains.
    await new Promise<void>((resolve, reject) =>
      pump.write(Buffer.from('\r\n'), (err) => (err ? reject(err) : resolve())),
    );
    // Idle reading holds no lane thread beyond what the calls above started.
    expect(raw.laneThreads()).to.be.at.most(lanes + 1);
    const closed = new Promise<void>((resolve) => pump.once('close', () => resolve()));
    pump.destroy();
    await closed;
  });

  it('a second session with force takes the console over: the first one fails and closes', async () => {
    const { errors, closedMs } = await takeover(lv.uri, NAME);
    expect(closedMs, 'the first session closed within 10 s').to.be.a('number');
    expect(errors).to.have.length(1);
    expect(errors[0]).to.be.instanceOf(ConsoleTakenOverError);
    expect(errors[0]?.message).to.match(/taken over/);
  });

  it('takeovers while the BIOS prints: every first session fails and closes (30 in a row)', async () => {
    // Output on its way to the first session is what libvirtd's own notice misses (the CI
    // failure: the first session was never told): restart the domain, take over at once.
    await domain.destroyFlags();
    await domain.createWithFlags();
    const slowest: number[] = [];
    for (let i = 0; i < 30; i++) {
      const { errors, closedMs } = await takeover(lv.uri, NAME);
      expect(closedMs, `takeover ${i}: the first session closed within 10 s`).to.be.a('number');
      expect(
        errors.map((e) => e.name),
        `takeover ${i}`,
      ).to.deep.equal(['ConsoleTakenOverError']);
      slowest.push(closedMs ?? 0);
    }
    expect(Math.max(...slowest)).to.be.below(10_000);
  });

  it("through the console endpoint: a second session takes over, the first user's session ends", async () => {
    const server = await consoleServer(lv.uri, NAME);
    try {
      const first = await terminalSession(server.port);
      const second = await terminalSession(server.port);
      const how = await Promise.race([first.ended, sleep(10_000).then(() => 'still attached')]);
      expect(how).to.equal('remote-closed');
      // The second session still holds the console: it ends when its user leaves.
      const secondHow = await Promise.race([second.ended, sleep(500).then(() => 'attached')]);
      expect(secondHow).to.equal('attached');
      second.input.end();
      expect(await second.ended).to.equal('input-ended');
    } finally {
      await server.close();
    }
  });

  it('a session whose abort libvirtd does not answer still closes, after PUMP_ABORT_WAIT_MS', async () => {
    // As a session another program took over while output was in flight gets no answer (see
    // console-holders.ts), so here the daemon is SIGSTOPped: the abort is sent, nothing comes.
    const pump = await openDomainConsole({ uri: lv.uri, domain: NAME, force: true });
    const pid = Number((await readFile(`${lv.dir}/libvirtd.pid`, 'utf8')).trim());
    expect(pid).to.be.greaterThan(1);
    process.kill(pid, 'SIGSTOP');
    try {
      const closed = new Promise<void>((resolve) => pump.once('close', () => resolve()));
      const t0 = performance.now();
      pump.destroy();
      const how = await Promise.race([
        closed.then(() => 'closed'),
        sleep(PUMP_ABORT_WAIT_MS + 10_000).then(() => 'open'),
      ]);
      expect(how).to.equal('closed');
      // It was the wait that closed it, not an answer.
      expect(performance.now() - t0).to.be.at.least(PUMP_ABORT_WAIT_MS * 0.9);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
  });

  it('the domain stopping ends the console stream', async () => {
    const pump = await openDomainConsole({ uri: lv.uri, domain: NAME, force: true });
    pump.resume();
    const ended = new Promise<string>((resolve) => {
      pump.once('end', () => resolve('end'));
      pump.once('error', (e) => resolve(`error: ${e.message}`));
      pump.once('close', () => resolve('close'));
    });
    await domain.destroyFlags();
    const how = await Promise.race([ended, sleep(30_000).then(() => 'timeout')]);
    expect(how).to.not.equal('timeout');
    pump.destroy();
  });

  it('through the console endpoint: Ctrl-B opens the iPXE shell, `echo ${platform}` answers pcbios', async () => {
    // A second domain with a NIC (QEMU's user networking, inside the daemon's namespace; iPXE
    // never gets as far as configuring it), behind the real server and the plugin's client.
    const IPXE = 'console-ipxe';
    const ipxe = await conn.domainDefineXMLFlags(
      `<domain type='qemu'><name>${IPXE}</name><memory unit='MiB'>128</memory><vcpu>1</vcpu>` +
        `<os><type arch='x86_64' machine='pc'>hvm</type><bios useserial='yes'/></os>` +
        `<devices><interface type='user'><model type='virtio'/><boot order='1'/></interface>` +
        `<serial type='pty'><target port='0'/></serial>` +
        `<console type='pty'><target type='serial' port='0'/></console></devices></domain>`,
    );
    const server = await consoleServer(lv.uri, IPXE);
    try {
      await ipxe.createWithFlags(DomainCreateFlags.StartPaused);
      const { input, output: out, ended: session } = await terminalSession(server.port);
      await ipxe.resume();
      const ctrlB = setInterval(() => input.write(Buffer.from([0x02])), 300);
      try {
        await waitFor(() => /iPXE>/.test(out()) || undefined, {
          timeoutMs: 180_000,
          intervalMs: 200,
          description: 'the iPXE shell',
        });
      } finally {
        clearInterval(ctrlB);
      }
      expect(out()).to.match(/SeaBIOS/);
      await sleep(2000);
      const typed = out().length;
      for (const ch of 'echo ${platform}\r') {
        input.write(ch);
        await sleep(200);
      }
      await waitFor(() => /pcbios/.test(out().slice(typed)) || undefined, {
        timeoutMs: 60_000,
        intervalMs: 200,
        description: "iPXE's answer",
      });
      input.end();
      expect(await session).to.equal('input-ended');
    } finally {
      await server.close();
      await ipxe.destroyFlags().catch(() => undefined);
      await ipxe.undefineFlags().catch(() => undefined);
    }
  });

  it('virDomainOpenGraphicsFD: a socket to the VNC server, which greets with RFB 003.008', async () => {
    if (!(await domain.isActive())) await domain.createWithFlags();
    const fd = await openDomainGraphicsFD(lv.uri, NAME, 0);
    expect(fd).to.be.a('number').and.to.be.at.least(0);
    const socket = new Socket({ fd, readable: true, writable: true });
    const greeting = await new Promise<string>((resolve, reject) => {
      socket.once('data', (d: Buffer) => resolve(d.toString('latin1')));
      socket.once('error', reject);
    });
    expect(greeting).to.equal('RFB 003.008\n');
    socket.destroy();
    await domain.destroyFlags();
  });
});
