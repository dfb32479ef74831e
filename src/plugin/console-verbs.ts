// `console NODE` and `vnc NODE`: the node's serial console on this terminal, and its VNC
// display on a local port, through the operator's console endpoint (src/console/). The
// endpoint is `--endpoint`, else $MAASLAB_OPERATOR_ENDPOINT, else a `kubectl port-forward` to
// the operator pod serving the node (endpoint.ts); the caller's bearer token from the
// kubeconfig is checked there by TokenReview and SubjectAccessReview (get maasnodes/console
// or maasnodes/vnc), so RBAC decides, as it does for `kubectl exec`.

import { readFileSync } from 'node:fs';
import type { Duplex, Writable } from 'node:stream';
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { ConnectOptions, PluginApi } from './api.js';
import {
  DEFAULT_CONSOLE_PORT,
  DEFAULT_OPERATOR_NAMESPACE,
  ENDPOINT_ENV,
  OPERATOR_POD_SELECTOR,
  type PortForward,
  type PortForwardOptions,
  parseEndpointUrl,
} from './endpoint.js';
import { PluginError } from './errors.js';
import type { StreamEndpoint, StreamRequest } from './stream-client.js';
import { type TerminalInput, attachTerminal } from './terminal.js';
import { type VncListener, findViewer, listenVnc, runViewer } from './vnc.js';
import { definedProps } from '../util/defined-props.js';

/** The outside world of `console` and `vnc` (process streams, kubectl, sockets). */
export interface StreamDeps {
  readonly stdin: TerminalInput;
  readonly stdout: Writable;
  readonly env: NodeJS.ProcessEnv;
  /** Aborted by SIGINT/SIGTERM: `vnc` stops, a non-TTY `console` leaves. */
  readonly signal: AbortSignal;
  openStream(endpoint: StreamEndpoint, req: StreamRequest, signal?: AbortSignal): Promise<Duplex>;
  portForward(opts: PortForwardOptions): Promise<PortForward>;
  listenVnc: typeof listenVnc;
  findViewer(path: string | undefined): { file: string; args(port: number): string[] } | undefined;
  runViewer: typeof runViewer;
  readFile(path: string): string;
}

interface EndpointFlags {
  endpoint?: string;
  insecureSkipTlsVerify?: boolean;
  certificateAuthority?: string;
  operatorNamespace: string;
}

/** Registers `console` and `vnc` on `program`. */
export function addConsoleVerbs(
  program: Command,
  connect: (cmd: Command) => PluginApi,
  connectOptions: (cmd: Command) => ConnectOptions,
  stderr: (text: string) => void,
  streams: () => StreamDeps,
): void {
  const common = (cmd: Command): Command =>
    cmd
      .argument('<node>', 'the MaasNode')
      .option(
        '--endpoint <url>',
        `the operator's console endpoint, https://HOST:PORT (default: $${ENDPOINT_ENV}, else kubectl port-forward to the operator pod)`,
      )
      .option('--insecure-skip-tls-verify', "do not verify --endpoint's certificate")
      .option('--certificate-authority <file>', "CA bundle that --endpoint's certificate chains to")
      .addOption(
        new Option('--operator-namespace <ns>', "the operator's namespace").default(
          DEFAULT_OPERATOR_NAMESPACE,
        ),
      );

  /** Resolves the endpoint and the request; returns a closer for a port-forward. */
  const prepare = async (
    self: Command,
    nodeName: string,
    kind: StreamRequest['kind'],
    flags: EndpointFlags,
  ): Promise<{ endpoint: StreamEndpoint; req: StreamRequest; close(): void }> => {
    const io = streams();
    const api = connect(self);
    const node = await api.getNode(nodeName);
    const authorization = await api.bearerAuthorization();
    if (!authorization) {
      throw new PluginError(
        `${kind} needs a bearer token in the kubeconfig (a token, a token file or an exec plugin): the operator checks it with a TokenReview; client certificates cannot be passed on`,
      );
    }
    const req: StreamRequest = { namespace: api.namespace, name: nodeName, kind, authorization };
    const url = flags.endpoint ?? (io.env[ENDPOINT_ENV] || undefined);
    if (url !== undefined) {
      const { host, port } = parseEndpointUrl(url);
      const ca = flags.certificateAuthority ? io.readFile(flags.certificateAuthority) : undefined;
      return {
        endpoint: definedProps({
          host,
          port,
          insecureSkipTlsVerify: flags.insecureSkipTlsVerify === true,
          ca,
        }),
        req,
        close: () => undefined,
      };
    }
    const hv = node.spec.hypervisor;
    const pod = await api.operatorPod(hv, flags.operatorNamespace, OPERATOR_POD_SELECTOR);
    if (!pod) {
      throw new PluginError(
        `no operator pod serves hypervisor "${hv}" in namespace "${flags.operatorNamespace}" (no Lease maaslab-hv-${hv} holder, no running pod ${OPERATOR_POD_SELECTOR}): give --endpoint or --operator-namespace`,
      );
    }
    const o = connectOptions(self);
    const forward = await io.portForward({
      kubectl: io.env.KUBECTL || 'kubectl',
      ...(o.kubeconfig && { kubeconfig: o.kubeconfig }),
      ...(o.context && { context: o.context }),
      namespace: flags.operatorNamespace,
      pod,
      remotePort: DEFAULT_CONSOLE_PORT,
    });
    return { endpoint: forward.endpoint, req, close: forward.close };
  };

  common(
    program
      .command('console')
      .description(
        "attach to a node's serial console (Ctrl-] leaves); needs get maasnodes/console (ClusterRole maaslab-console-user)",
      ),
  ).action(async (nodeName: string, flags: EndpointFlags, self: Command) => {
    const io = streams();
    const { endpoint, req, close } = await prepare(self, nodeName, 'console', flags);
    try {
      const stream = await io.openStream(endpoint, req, io.signal);
      if (io.stdin.isTTY) stderr(`Connected to ${nodeName}; escape character is ^]\r\n`);
      const how = await attachTerminal(stream, io.stdin, io.stdout, io.signal);
      if (io.stdin.isTTY) stderr(`\r\nLeft the console of ${nodeName}\r\n`);
      else if (how === 'remote-closed')
        stderr(`the console of ${nodeName} was closed by the node's side\n`);
    } finally {
      close();
    }
  });

  common(
    program
      .command('vnc')
      .description(
        "forward a node's VNC display to 127.0.0.1 (or open it with --viewer); needs get maasnodes/vnc",
      ),
  )
    .addOption(
      new Option('--port <port>', 'the local port (default: any free one)')
        .argParser(parsePort)
        .default(0),
    )
    .option('--viewer', 'start vncviewer or remote-viewer on the local port; stop when it exits')
    .action(
      async (
        nodeName: string,
        flags: EndpointFlags & { port: number; viewer?: boolean },
        self: Command,
      ) => {
        const io = streams();
        const viewer = flags.viewer ? io.findViewer(io.env.PATH) : undefined;
        if (flags.viewer && !viewer) {
          throw new PluginError(
            'no VNC viewer found on the PATH: install vncviewer (TigerVNC) or remote-viewer (virt-viewer), or run without --viewer and point any viewer at the printed address',
          );
        }
        const { endpoint, req, close } = await prepare(self, nodeName, 'vnc', flags);
        let listener: VncListener | undefined;
        try {
          listener = await io.listenVnc(
            flags.port,
            () => io.openStream(endpoint, req, io.signal),
            (err) => stderr(`error: ${err instanceof Error ? err.message : String(err)}\n`),
          );
          io.stdout.write(
            `Forwarding the VNC display of ${nodeName} on 127.0.0.1:${listener.port} (vnc://127.0.0.1:${listener.port})\n`,
          );
          if (viewer) {
            await Promise.race([io.runViewer(viewer, listener.port), aborted(io.signal)]);
          } else {
            stderr('Ctrl-C stops\n');
            await aborted(io.signal);
          }
        } finally {
          await listener?.close();
          close();
        }
      },
    );
}

/** A TCP port, 0..65535. */
export function parsePort(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) {
    throw new InvalidArgumentError(`'${value}' is not a port (0-65535)`);
  }
  return n;
}

const aborted = (signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve();
    signal.addEventListener('abort', () => resolve(), { once: true });
  });

/** The real outside world (the plugin's main.ts). */
export function processStreamDeps(
  openStream: StreamDeps['openStream'],
  portForward: StreamDeps['portForward'],
  signal: AbortSignal,
): StreamDeps {
  return {
    stdin: process.stdin,
    stdout: process.stdout,
    env: process.env,
    signal,
    openStream,
    portForward,
    listenVnc,
    findViewer: (path) => findViewer(path),
    runViewer,
    readFile: (path) => readFileSync(path, 'utf8'),
  };
}
