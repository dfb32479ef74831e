// A small admin client for the API tests: raw HTTPS requests (any verb, content type and
// Accept header, e.g. server-side Tables) and kubectl, both against the test control plane.
import { spawn } from 'node:child_process';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { type KubeConfig } from '@kubernetes/client-node';
import { controlPlane } from '../../support/controlplane.js';
import { kubectlPath } from '../../support/kubectl.js';
import { createTestNamespace } from '../../support/namespace.js';

/** A decoded HTTP response. */
export interface Response {
  readonly status: number;
  readonly body: unknown;
  readonly text: string;
}

/** How a kubectl run ended. */
export interface KubectlResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Options of one raw request. */
export interface RequestOpts {
  readonly body?: unknown;
  readonly contentType?: string;
  readonly accept?: string;
}

/** The admin's view of the test control plane. */
export interface Kube {
  /** The admin kubeconfig file. */
  readonly kubeconfig: string;
  /** One raw request; never throws on HTTP errors. */
  request(method: string, path: string, opts?: RequestOpts): Promise<Response>;
  /** Runs the pinned kubectl (support/kubectl.ts) with the admin kubeconfig; `input` goes to stdin. */
  kubectl(args: readonly string[], input?: string): Promise<KubectlResult>;
  /** The KubeConfig, for client-node helpers such as Watch. */
  readonly config: KubeConfig;
  /** Creates a fresh namespace `<prefix>-<random>` and returns its name. */
  namespace(prefix: string): Promise<string>;
}

/** The path of a maaslab resource collection or object. */
export const apiPath = (plural: string, namespace?: string, name?: string): string =>
  `/apis/maaslab.dev/v1alpha1/${namespace === undefined ? '' : `namespaces/${namespace}/`}${plural}${
    name === undefined ? '' : `/${name}`
  }`;

/** The admin client of the running control plane. */
export const adminKube = (): Kube => {
  const cp = controlPlane();
  const kubeconfig = cp.adminKubeconfig;
  const config = cp.kubeConfig('admin');
  const server = new URL(config.getCurrentCluster()?.server ?? 'https://127.0.0.1');

  const request = async (
    method: string,
    path: string,
    opts: RequestOpts = {},
  ): Promise<Response> => {
    const options: RequestOptions = {
      method,
      hostname: server.hostname,
      port: server.port,
      path,
      headers: { Accept: opts.accept ?? 'application/json' },
    };
    await config.applyToHTTPSOptions(options);
    const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    if (payload !== undefined)
      options.headers = {
        ...options.headers,
        'Content-Type': opts.contentType ?? 'application/json',
        'Content-Length': Buffer.byteLength(payload),
      };
    return new Promise((resolve, reject) => {
      const req = httpsRequest(options, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            // not JSON: keep the text
          }
          resolve({ status: res.statusCode ?? 0, body, text });
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  };

  const kubectl = (args: readonly string[], input?: string): Promise<KubectlResult> =>
    new Promise((resolve, reject) => {
      const child = spawn(kubectlPath(), ['--kubeconfig', kubeconfig, ...args], {
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
      child.stdin.end(input ?? '');
    });

  const namespace = async (prefix: string): Promise<string> =>
    (await createTestNamespace(config, prefix)).name;

  return { kubeconfig, request, kubectl, config, namespace };
};

/** Throws with the response text unless the status is 2xx. */
export const ok = (res: Response, what: string): Response => {
  if (res.status < 200 || res.status > 299)
    throw new Error(`${what}: HTTP ${res.status}: ${res.text}`);
  return res;
};
