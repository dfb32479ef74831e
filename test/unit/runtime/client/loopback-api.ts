// A loopback HTTP "API server" for the REST client's socket-level tests: it answers discovery
// of coordination.k8s.io/v1 (Leases) and hands every other request to the test.
import { type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export const LEASE = {
  apiVersion: 'coordination.k8s.io/v1',
  kind: 'Lease',
  namespace: 'ns',
} as const;

export const DISCOVERY = JSON.stringify({
  kind: 'APIResourceList',
  groupVersion: 'coordination.k8s.io/v1',
  resources: [{ name: 'leases', namespaced: true, kind: 'Lease', verbs: [] }],
});

/** A running loopback API server. */
export interface LoopbackApi {
  readonly server: Server;
  readonly url: string;
  /** Connections accepted so far. */
  readonly counts: { readonly connections: number };
  /** Responses `handle` keeps open; close() ends them. */
  readonly held: Set<ServerResponse>;
  close(): Promise<void>;
}

/**
 * Answers discovery and hands every other request to `handle`, which may keep a response
 * open by adding it to `held`.
 */
export async function loopbackApi(
  handle: (url: URL, res: ServerResponse, held: Set<ServerResponse>) => void,
): Promise<LoopbackApi> {
  const counts = { connections: 0 };
  const held = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    req.resume();
    if (req.url === '/apis/coordination.k8s.io/v1') {
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(DISCOVERY);
      return;
    }
    handle(new URL(req.url ?? '/', 'http://x'), res, held);
  });
  server.on('connection', () => counts.connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    server,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    counts,
    held,
    async close() {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
