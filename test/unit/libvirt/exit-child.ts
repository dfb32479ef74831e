// Child process for events.test.ts: connects, subscribes, causes an event, then
// (depending on argv[2]) closes, unrefs, leaves subscriptions registered, calls
// process.exit, or throws.
// The parent checks whether the process exits on its own.
import { Connection, DomainUndefineFlags, type Subscription } from '../../../src/libvirt/index.js';

const mode = process.argv[2] ?? 'close';
const conn = await Connection.open('test:///default');
let events = 0;
let markEvent: () => void = () => undefined;
const got = new Promise<void>((resolve) => (markEvent = resolve));
const subs: Subscription[] = [
  await conn.domainEventRegisterLifecycle(() => {
    events += 1;
    markEvent();
  }),
  await conn.networkEventRegisterLifecycle(() => undefined),
  await conn.registerCloseCallback(() => undefined),
];
const dom = await conn.domainDefineXMLFlags(
  `<domain type='test'><name>exit-child</name><memory>65536</memory><os><type>hvm</type></os></domain>`,
);
await got;
await dom.undefineFlags(DomainUndefineFlags.ManagedSave);
dom.free();
console.log(`events=${events}`);
if (mode === 'close') await conn.close();
if (mode === 'unref') subs.forEach((s) => s.unref());
// Dying with live subscriptions must give the normal exit code, not an abort.
if (mode === 'exit') process.exit(7);
if (mode === 'throw') throw new Error('uncaught on purpose');
// 'unref' and 'leak' return without closing the connection.
