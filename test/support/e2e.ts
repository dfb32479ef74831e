// Helpers shared by the e2e tests (test/integration/e2e/): typed reads of our kinds as the
// admin user, condition checks, kstatus's verdict, and filtering virsh listings to one
// test namespace.
import { join } from 'node:path';
import type { RestClient } from '../../src/runtime/rest.js';
import { repoRoot } from './controlplane.js';
import { run } from './libvirtd.js';

/** apiVersion of every maaslab kind. */
export const GROUP_VERSION = 'maaslab.dev/v1alpha1';

/** The shape every maaslab object shares, enough to read its conditions. */
export interface Conditioned {
  readonly metadata?: { readonly name?: string; readonly generation?: number };
  readonly status?: {
    readonly observedGeneration?: number;
    readonly conditions?: ReadonlyArray<{
      readonly type: string;
      readonly status: string;
      readonly reason?: string;
    }>;
  };
}

/** Typed GET and LIST of maaslab kinds through one client. */
export interface MaaslabReader {
  get<T>(kind: string, name: string, namespace?: string): Promise<T>;
  list<T>(kind: string, namespace: string): Promise<T[]>;
}

/** A {@link MaaslabReader} over `client` (the admin user in the e2e tests). */
export function maaslabReader(client: RestClient): MaaslabReader {
  return {
    get: async <T>(kind: string, name: string, namespace?: string): Promise<T> =>
      client.request<T>({
        method: 'GET',
        ref: { apiVersion: GROUP_VERSION, kind, name, ...(namespace && { namespace }) },
      }),
    list: async <T>(kind: string, namespace: string): Promise<T[]> =>
      (
        await client.request<{ items: T[] }>({
          method: 'GET',
          ref: { apiVersion: GROUP_VERSION, kind, namespace },
        })
      ).items,
  };
}

/** The condition `type` of `obj`, if reported. */
export const conditionOf = (
  obj: Conditioned,
  type: string,
): { readonly status: string; readonly reason?: string } | undefined =>
  obj.status?.conditions?.find((c) => c.type === type);

/** Ready=True, reported for the object's current generation. */
export const isReadyNow = (obj: Conditioned): boolean =>
  obj.status?.observedGeneration === obj.metadata?.generation &&
  conditionOf(obj, 'Ready')?.status === 'True';

/** The trimmed lines of a virsh listing that mention `namespace` (our domains, volumes, networks). */
export const linesOf = (out: string, namespace: string): string[] =>
  out
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.includes(namespace));

/** kstatus's verdicts, as `kube-testenv kstatus` prints them. */
export type KstatusVerdict =
  'Current' | 'InProgress' | 'Failed' | 'Terminating' | 'NotFound' | 'Unknown';

/**
 * kstatus's verdict on one object (sigs.k8s.io/cli-utils/pkg/kstatus, through
 * `bin/kube-testenv kstatus`): `kind` as `Kind`, `ref` as `name` or `namespace/name`.
 */
export async function kstatus(
  kubeconfig: string,
  kind: string,
  ref: string,
): Promise<{ status: KstatusVerdict; message: string }> {
  const { stdout } = await run(join(repoRoot, 'bin', 'kube-testenv'), [
    'kstatus',
    '--kubeconfig',
    kubeconfig,
    `${GROUP_VERSION}/${kind}`,
    ref,
  ]);
  return JSON.parse(stdout) as { status: KstatusVerdict; message: string };
}
