// Where `console` and `vnc` reach the operator: `--endpoint URL`, else
// $MAASLAB_OPERATOR_ENDPOINT, else a `kubectl port-forward` to the operator pod that serves
// the node: the holder of the node's Hypervisor shard Lease (`maaslab-hv-<hypervisor>`, its
// holderIdentity is `<pod>_<uuid>`), or, with no Lease (a single replica without
// --leader-elect), a running pod labelled app.kubernetes.io/name=maaslab-operator. The
// endpoint listens on the pod's loopback (127.0.0.1:8082 in deploy/), which port-forward
// reaches. The parsing here is pure; startPortForward runs kubectl.

import { type ChildProcess, spawn } from 'node:child_process';
import { PluginError } from './errors.js';
import type { StreamEndpoint } from './stream-client.js';

/** The environment variable naming an endpoint URL. */
export const ENDPOINT_ENV = 'MAASLAB_OPERATOR_ENDPOINT';
/** The namespace deploy/ installs the operator into. */
export const DEFAULT_OPERATOR_NAMESPACE = 'maaslab-system';
/** The port of `--console-bind-address` in deploy/. */
export const DEFAULT_CONSOLE_PORT = 8082;
/** The label selecting operator pods (deploy/base/deployment.yaml). */
export const OPERATOR_POD_SELECTOR = 'app.kubernetes.io/name=maaslab-operator';
/** How long kubectl port-forward may take to say it listens. */
export const PORT_FORWARD_TIMEOUT_MS = 30_000;

/** The Lease that says which operator pod serves Hypervisor `hv` (cli/shard-leases.ts). */
export const shardLeaseName = (hv: string): string => `maaslab-hv-${hv}`;

/** The pod name in a Lease's holderIdentity (`<hostname>_<uuid>`, a pod's hostname is its name). */
export function podFromHolder(holder: string | undefined): string | undefined {
  if (!holder) return undefined;
  const i = holder.lastIndexOf('_');
  const pod = i > 0 ? holder.slice(0, i) : holder;
  return /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(pod) ? pod : undefined;
}

/** An explicit endpoint: `https://host:port`, nothing else (no path, no credentials). */
export function parseEndpointUrl(value: string): { host: string; port: number } {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new PluginError(`invalid endpoint '${value}': want https://HOST:PORT`);
  }
  if (url.protocol !== 'https:') throw new PluginError(`invalid endpoint '${value}': use https://`);
  if (url.username || url.password || (url.pathname !== '/' && url.pathname !== '') || url.search) {
    throw new PluginError(`invalid endpoint '${value}': want https://HOST:PORT only`);
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return { host, port: url.port === '' ? 443 : Number(url.port) };
}

/** The local port in kubectl port-forward's `Forwarding from 127.0.0.1:PORT -> N` line. */
export function forwardedPort(line: string): number | undefined {
  const m = /^Forwarding from 127\.0\.0\.1:(\d+) -> \d+/.exec(line.trim());
  return m ? Number(m[1]) : undefined;
}

/** A running `kubectl port-forward`. */
export interface PortForward {
  readonly endpoint: StreamEndpoint;
  close(): void;
}

/** What port-forward needs. */
export interface PortForwardOptions {
  /** The kubectl to run (`kubectl` from the PATH by default). */
  readonly kubectl: string;
  readonly kubeconfig?: string;
  readonly context?: string;
  readonly namespace: string;
  readonly pod: string;
  readonly remotePort: number;
}

/** The kubectl arguments of a port-forward to a local port of its choosing on loopback. */
export const portForwardArgs = (o: PortForwardOptions): string[] => [
  ...(o.kubeconfig ? ['--kubeconfig', o.kubeconfig] : []),
  ...(o.context ? ['--context', o.context] : []),
  '-n',
  o.namespace,
  'port-forward',
  '--address',
  '127.0.0.1',
  `pod/${o.pod}`,
  `:${o.remotePort}`,
];

/** Starts kubectl port-forward and waits until it listens. */
export function startPortForward(opts: PortForwardOptions): Promise<PortForward> {
  return new Promise((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(opts.kubectl, portForwardArgs(opts), { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      reject(new PluginError(`cannot run ${opts.kubectl} port-forward: ${String(err)}`));
      return;
    }
    let stderr = '';
    let out = '';
    const timer = setTimeout(() => {
      child.kill();
      reject(
        new PluginError(`kubectl port-forward to pod/${opts.pod} did not start: ${stderr.trim()}`),
      );
    }, PORT_FORWARD_TIMEOUT_MS);
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      for (const line of out.split('\n')) {
        const port = forwardedPort(line);
        if (port !== undefined) {
          clearTimeout(timer);
          resolve({
            endpoint: { host: '127.0.0.1', port, insecureSkipTlsVerify: true },
            close: () => void child.kill(),
          });
          return;
        }
      }
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new PluginError(`cannot run ${opts.kubectl} port-forward: ${err.message}`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(
        new PluginError(
          `kubectl port-forward to pod/${opts.pod} in namespace "${opts.namespace}" exited (${code}): ${stderr.trim()}`,
        ),
      );
    });
  });
}
