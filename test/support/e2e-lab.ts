// One lab of an e2e environment as the lifecycle and outage tests look at it: its objects
// through the admin reader, its domains through the private libvirtd's virsh, and the waits
// on its nodes' printable status. The environment is a thunk: the suites start it in before().
import type { MaasLab, MaasNode } from '../../src/api/v1alpha1/index.js';
import { controlPlane } from './controlplane.js';
import { type E2eEnvironment, conditionOf, isReadyNow, kstatus, linesOf } from './e2e.js';
import { kubectlRun } from './operator.js';
import { waitFor } from './wait.js';

export interface LabView {
  /** The libvirt domain of MaasNode `node` (`<namespace>.<node>`). */
  domainOf(node: string): string;
  /** The name of the lab's i-th node (`<lab>-node<i>`). */
  labNode(i: number): string;
  lab(): Promise<MaasLab>;
  node(name: string): Promise<MaasNode>;
  /** kstatus's verdict on `kind` `ref` (`namespace/name` or `name`). */
  verdict(kind: string, ref: string): Promise<string>;
  /** `kubectl patch --type merge` of `resource` (in the lab's namespace unless told). */
  patch(resource: string, body: unknown, namespaced?: boolean): Promise<void>;
  /** Waits until the lab is Ready for its current generation. */
  labReady(description: string): Promise<MaasLab>;
  /** Waits until node `name` reports `printable` for its current generation. */
  nodeStatus(name: string, printable: string): Promise<MaasNode>;
  /** What the operator and libvirt say of each node, with libvirtd's last log lines. */
  explainNodes(names: readonly string[]): Promise<string>;
  /** The lab's domains, in every state, sorted. */
  labDomains(): Promise<string[]>;
  domId(node: string): Promise<string>;
  domState(node: string): Promise<string>;
}

export function labView(
  env: () => E2eEnvironment,
  labName: string,
  wait: { readonly timeoutMs: number; readonly intervalMs: number },
): LabView {
  const kubeconfig = (): string => controlPlane().adminKubeconfig;
  const ns = (): string => env().labNs.name;
  const virsh = (args: string[]): Promise<string> => env().lv.virsh(args);
  const view: LabView = {
    domainOf: (node) => `${ns()}.${node}`,
    labNode: (i) => `${labName}-node${i}`,
    lab: () => env().read.get<MaasLab>('MaasLab', labName, ns()),
    node: (name) => env().read.get<MaasNode>('MaasNode', name, ns()),
    verdict: async (kind, ref) => (await kstatus(kubeconfig(), kind, ref)).status,
    async patch(resource, body, namespaced = true) {
      await kubectlRun(kubeconfig(), [
        'patch',
        ...(namespaced ? ['-n', ns()] : []),
        resource,
        ...['--type', 'merge', '-p', JSON.stringify(body)],
      ]);
    },
    labReady: (description) =>
      waitFor(async () => ((x) => isReadyNow(x) && x)(await view.lab()), {
        ...wait,
        description: `${description} (log: ${env().logFile})`,
      }),
    nodeStatus: (name, printable) =>
      waitFor(
        async () => {
          const n = await view.node(name);
          return (
            n.status?.observedGeneration === n.metadata?.generation &&
            n.status?.printableStatus === printable &&
            n
          );
        },
        {
          ...wait,
          description: `${name} ${printable} (log: ${env().logFile})`,
          explain: async () => view.explainNodes([name]),
        },
      ),
    // A wait that times out on a machine nobody can log into explains itself.
    async explainNodes(names) {
      const lines: string[] = [];
      for (const name of names) {
        const n = await view.node(name).catch(() => undefined);
        const ready = n && conditionOf(n, 'Ready');
        const libvirt = await virsh(['domstate', '--reason', view.domainOf(name)])
          .then((out) => out.trim())
          .catch((err: unknown) => `virsh failed: ${String(err)}`);
        lines.push(
          `${name}: printableStatus=${n?.status?.printableStatus ?? '?'} ` +
            `state=${n?.status?.state ?? '?'} observedGeneration=${n?.status?.observedGeneration ?? '?'}/` +
            `${n?.metadata?.generation ?? '?'} Ready=${ready?.status ?? '?'} (${ready?.reason ?? ''}: ` +
            `${ready?.message ?? ''}); libvirt: ${libvirt}`,
        );
      }
      return `${lines.join('\n')}\nlibvirtd log tail:\n${await env().lv.logTail(30)}`;
    },
    labDomains: async () =>
      linesOf(await virsh(['list', '--all', '--name']), `${ns()}.${labName}-node`).sort(),
    domId: async (node) => (await virsh(['domid', view.domainOf(node)])).trim(),
    domState: async (node) => (await virsh(['domstate', view.domainOf(node)])).trim(),
  };
  return view;
}
