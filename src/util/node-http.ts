// node:http, loaded with require rather than `import`. An ESM import of a builtin builds its
// namespace from every export, and in Node 24 that reads node:http's lazily defined ones
// (WebSocket, CloseEvent, MessageEvent), which loads undici's bundle: its 691 KB source and
// what it compiles stay in the heap for good, for nothing this operator uses. Measured in a
// bare node (full collections before and after): `import('node:http')` +2.72 MB of heap and
// +14.8 MB of RSS, `require('node:http')` +0.46 MB and +3.1 MB. Types still come from
// `import type ... from 'node:http'`, which emits nothing.
import { createRequire } from 'node:module';
import type * as NodeHttp from 'node:http';

/** The node:http module, without undici. */
export const http = createRequire(import.meta.url)('node:http') as typeof NodeHttp;
