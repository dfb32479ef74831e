// From an authorized request to the libvirt domain it attaches to, read from the operator's
// caches: the MaasNode (its domain name and Hypervisor), the Hypervisor (its libvirt URI) and
// whether this replica serves that Hypervisor's shard now. Each reason not to attach is its own
// HTTP status and message: no such node (404), a node this replica does not serve or that is
// not running (409), a node with no Hypervisor object or URI yet (503). Pure.

import type { Hypervisor, MaasNode } from '../api/v1alpha1/index.js';
import { domainNameFor } from '../controllers/maas-node/desired.js';
import type { ConsoleTargetRef, Refusal } from './request.js';

/** Where to attach: the host's libvirt URI and the domain's name. */
export interface ConsoleDomain {
  readonly uri: string;
  readonly domain: string;
  readonly hypervisor: string;
}

/** What resolution reads. */
export interface ConsoleLookup {
  readonly node: MaasNode | undefined;
  readonly hypervisor: Hypervisor | undefined;
  /** Whether this replica serves the node's Hypervisor shard (its Lease, `--hypervisors`). */
  readonly serves: boolean;
}

/** The domain to attach to, or the refusal. */
export type ResolvedConsole =
  | { readonly ok: true; readonly domain: ConsoleDomain }
  | { readonly ok: false; readonly refusal: Refusal };

const no = (status: Refusal['status'], message: string): ResolvedConsole => ({
  ok: false,
  refusal: { status, message },
});

/** Resolves `ref` against what the caches hold. */
export function resolveConsole(ref: ConsoleTargetRef, seen: ConsoleLookup): ResolvedConsole {
  const what = `maasnodes.maaslab.dev "${ref.name}"`;
  const node = seen.node;
  if (!node) return no(404, `${what} not found in namespace "${ref.namespace}"`);
  const hv = node.spec.hypervisor;
  if (!seen.serves) {
    return no(409, `${what} is on hypervisor "${hv}", which this operator replica does not serve`);
  }
  if (node.metadata?.deletionTimestamp) return no(409, `${what} is being deleted`);
  const uri = seen.hypervisor?.spec.uri;
  if (!uri) return no(503, `hypervisor "${hv}" of ${what} is not known yet`);
  const status = node.status?.printableStatus;
  if (status !== 'Running' && status !== 'Starting') {
    return no(409, `${what} is not running (status: ${status ?? 'not reported yet'})`);
  }
  if (ref.kind === 'vnc' && node.spec.vnc?.enabled === false) {
    return no(409, `${what} has no VNC display (spec.vnc.enabled: false)`);
  }
  return { ok: true, domain: { uri, domain: domainNameFor(node), hypervisor: hv } };
}
