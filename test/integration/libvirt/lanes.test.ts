// Lanes (src/libvirt/native/lane.cc): every libvirt call runs on the worker threads of its own
// connection, so a host that stops answering holds up only its own calls. Proven with a real
// daemon that is SIGSTOPped mid-run: its calls hang, while calls to another connection, a
// connection attempt of its own, Node's file system and DNS (libuv's four-thread pool, where
// the binding's calls used to run) all go on.
import { expect } from 'chai';
import { lookup } from 'node:dns/promises';
import { readFile } from 'node:fs/promises';
import { raw } from '../../../src/libvirt/binding.js';
import { Connection } from '../../../src/libvirt/index.js';
import { type PrivateLibvirtd, startPrivateLibvirtd } from '../../support/libvirtd.js';
import { waitFor } from '../../support/wait.js';

/** More hung calls than libuv's pool has threads: before lanes, these stopped everything. */
const HUNG_CALLS = 8;

describe('libvirt lanes: a hung host holds up only its own calls', function () {
  this.timeout(120_000);
  let lv: PrivateLibvirtd;
  let stuck: Connection;
  let other: Connection;
  let pid = 0;
  let stopped = false;

  const signal = (sig: NodeJS.Signals): void => {
    process.kill(pid, sig);
    stopped = sig === 'SIGSTOP';
  };

  before(async () => {
    lv = await startPrivateLibvirtd();
    pid = Number((await readFile(`${lv.dir}/libvirtd.pid`, 'utf8')).trim());
    expect(pid).to.be.greaterThan(1);
    stuck = await Connection.open(lv.uri);
    other = await Connection.open('test:///default');
  });

  after(async () => {
    if (stopped) signal('SIGCONT');
    await stuck?.close().catch(() => undefined);
    await other?.close().catch(() => undefined);
    await lv?.stop();
  });

  it('serves other connections, files and DNS while one daemon answers nothing', async () => {
    const threadsBefore = raw.laneThreads();
    signal('SIGSTOP');
    const settled = new Set<number>();
    const hung = Array.from({ length: HUNG_CALLS }, (_, i) =>
      stuck.getHostname().finally(() => settled.add(i)),
    );
    // A connection attempt to the same dead daemon runs on a lane of its own, too.
    const attempt = Connection.open(lv.uri).then(
      (c) => c,
      () => undefined,
    );
    // The stuck lane grows to its limit of four threads, and no further.
    await waitFor(() => raw.laneThreads() >= threadsBefore + 4, {
      timeoutMs: 10_000,
      description: 'the stuck lane to start its threads',
    });

    const t0 = performance.now();
    const [hostname, file, local] = await Promise.all([
      other.getHostname(),
      readFile(new URL(import.meta.url), 'utf8'),
      lookup('localhost'),
    ]);
    const ms = performance.now() - t0;
    expect(hostname).to.be.a('string').and.not.equal('');
    expect(file).to.include('HUNG_CALLS');
    expect(local.address).to.match(/^(127\.|::1)/);
    expect(ms, 'nothing waited on the stopped daemon').to.be.lessThan(2_000);
    expect(settled.size, 'the stopped daemon answered nothing').to.equal(0);
    // Four threads for the stuck calls, one for the attempt, one for `other`: a lane never
    // takes more than four, whatever is queued on it.
    expect(raw.laneThreads() - threadsBefore).to.be.at.most(4 + 1 + 1);

    signal('SIGCONT');
    const names = await Promise.all(hung);
    expect(new Set(names).size, 'every queued call ran once the daemon woke').to.equal(1);
    const late = await attempt;
    expect(late, 'the connection attempt completed once the daemon woke').to.be.instanceOf(
      Connection,
    );
    await late?.close();
  });
});
