// console: the operator's endpoint for `kubectl maaslab console` and `vnc` (issue 15).
// request.ts reads and checks a request, access.ts asks the API server who the caller is and
// whether RBAC lets them in, target.ts finds the node's domain in the caches, attach.ts opens
// the libvirt side (ssh.ts and tunnel.ts: VNC over qemu+ssh), server.ts ties them together behind HTTPS and an HTTP upgrade.
export * from './access.js';
export * from './attach.js';
export * from './request.js';
export * from './server.js';
export * from './ssh.js';
export * from './target.js';
export * from './tunnel.js';
