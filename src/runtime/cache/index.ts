// cache: client-go's informer machinery. list-watch.ts lists and watches one kind and scope,
// store.ts keeps the frozen objects by key, and informer.ts runs the reflector loop (resync on
// 410, watchdog, backoff) and tells its handlers about adds, updates and deletes.
export type { Informer, InformerHandlers, InformerOptions, InformerStats } from './informer.js';
export { DEFAULT_WATCHDOG_MS, InformerEvent, createInformer, deepFreeze } from './informer.js';
export type { ListResult, ListWatchOptions, ListWatchSource } from './list-watch.js';
export { createListWatch } from './list-watch.js';
