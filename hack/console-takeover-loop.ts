// Forced console takeovers in a loop on a private libvirtd with a TCG domain (SeaBIOS on its
// serial port): each round opens a session, then a second one with force, and counts the
// rounds whose first session did not close within the limit. The domain is restarted every
// RESTART rounds so that console output is on its way to the first session during some
// takeovers, which is when libvirtd alone does not tell it (src/libvirt/console-holders.ts).
// The script uses only openDomainConsole, so the same file measures any commit.
//
// Usage (root): [N=400] [RESTART=20] [LIMIT_MS=3000] tsx hack/console-takeover-loop.ts
import { loadavg } from 'node:os';
import { Connection, openDomainConsole } from '../src/libvirt/index.js';
import { buildDomainXml } from '../src/libvirt/xml/index.js';
import { startPrivateLibvirtd } from '../test/support/libvirtd.js';
import { tinyDomain } from '../test/support/tiny-domain.js';

const N = Number(process.env.N ?? 400);
const RESTART = Number(process.env.RESTART ?? 20);
const LIMIT_MS = Number(process.env.LIMIT_MS ?? 3000);
const NAME = 'takeover-loop';

const lv = await startPrivateLibvirtd({ noKvm: true });
const conn = await Connection.open(lv.uri);
const domain = await conn.domainDefineXMLFlags(
  buildDomainXml(tinyDomain(NAME, { vnc: { listen: '127.0.0.1' }, serialBios: true })),
);
const closedMs: number[] = [];
let open = 0;
try {
  for (let i = 0; i < N; i++) {
    if (i % RESTART === 0) {
      if (await domain.isActive()) await domain.destroyFlags();
      await domain.createWithFlags();
    }
    const first = await openDomainConsole({ uri: lv.uri, domain: NAME, force: true });
    first.resume();
    first.on('error', () => undefined);
    const closed = new Promise<'closed'>((r) => first.once('close', () => r('closed')));
    const t0 = performance.now();
    const second = await openDomainConsole({ uri: lv.uri, domain: NAME, force: true });
    const limit = new Promise<'open'>((r) => setTimeout(() => r('open'), LIMIT_MS));
    if ((await Promise.race([closed, limit])) === 'open') {
      open++;
      console.log(`round ${i}: the first session was still open after ${LIMIT_MS} ms`);
      first.destroy();
    } else {
      closedMs.push(performance.now() - t0);
    }
    const secondClosed = new Promise((r) => second.once('close', r));
    second.destroy();
    await secondClosed;
  }
} finally {
  closedMs.sort((a, b) => a - b);
  const at = (q: number): string => (closedMs[Math.floor(closedMs.length * q)] ?? NaN).toFixed(0);
  console.log(
    `${N} takeovers: ${open} first sessions still open after ${LIMIT_MS} ms; ` +
      `the others closed in median ${at(0.5)} ms, p90 ${at(0.9)} ms, max ${(closedMs.at(-1) ?? NaN).toFixed(0)} ms ` +
      `(load ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')})`,
  );
  await domain.destroyFlags().catch(() => undefined);
  await domain.undefineFlags().catch(() => undefined);
  await conn.close().catch(() => undefined);
  await lv.stop();
}
process.exit(open > 0 ? 1 : 0);
