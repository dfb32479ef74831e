// What the MaasNode controller remembers between passes (see common/expectations.ts for the
// rules): the host facts it asked for once, the libvirt networks libvirt said were started,
// the ACPI shutdowns it requested, and the restart token each domain was last power-cycled
// for. Nothing else outlives a pass.
import type { MaasNode } from '../../api/v1alpha1/index.js';
import { NetworkEventLifecycleType } from '../../libvirt/index.js';
import type { ObservedNetwork } from '../../libvirt/hypervisor/index.js';
import { createExpectations } from '../common/expectations.js';

/** The MaasNode controller's memory, by node UID (host facts by Hypervisor name). */
export interface NodeMemory {
  /**
   * Whether the host offers KVM, asked with `ask` the first time only: it does not change
   * while libvirtd runs. A failed `ask` is not remembered. Lost on restart: asked again.
   */
  kvm(hypervisor: string, ask: () => Promise<boolean>): Promise<boolean>;
  /**
   * When this process asked the node's domain for an ACPI shutdown (clock ms), while the
   * guest has not powered off. Lost on restart: the grace period starts again, which errs on
   * the side of letting the guest finish.
   */
  shutdownRequestedAt(uid: string): number | undefined;
  /** This process asked the domain for an ACPI shutdown at `at`. */
  shutdownRequested(uid: string, at: number): void;
  /** The domain is off (or was powered off): no shutdown is pending. */
  shutdownEnded(uid: string): void;
  /**
   * The restart token in force for the node: the one this process last power-cycled (or
   * started) the domain for, else status.lastRestartToken. status alone is not enough: the
   * domain events of a power-cycle wake the next pass before the informer has seen the
   * status write that recorded the token, and a pass reading that stale status would
   * power-cycle the domain a second time. Lost on restart: status is read, which by then is
   * current.
   */
  restartTokenInForce(node: Readonly<MaasNode>): string | undefined;
  /** The domain now runs (or will next boot) for `token`. */
  putRestartTokenInForce(uid: string, token: string): void;
  /**
   * Whether libvirt told this process (a network lifecycle event) that network `name` on
   * `hypervisor` started, and has not told it since that the network stopped or went away. A
   * hint only, never proof: a node whose VirtNetwork is not Ready yet looks at the network in
   * libvirt when this is true, rather than on every pass. Lost on restart: nodes wait for the
   * VirtNetwork's Ready status, as they would without it.
   */
  networkStarted(hypervisor: string, name: string): boolean;
  /**
   * A network lifecycle event from `hypervisor`: Started remembers the network, Stopped and
   * Undefined forget it (so the memory is bounded by the host's running networks).
   */
  networkEvent(hypervisor: string, name: string, event: NetworkEventLifecycleType): void;
  /**
   * `look` at network `name` on `hypervisor` (a node confirming a started network), shared by
   * every node that asks while that look is under way: the nodes one Started event woke ask
   * at once, and one look serves them all instead of one each (five calls on the connection
   * their starts then wait behind). A look is shared only until the network's next lifecycle
   * event, so none is older than the event that woke its asker, and it is not kept once it
   * ends: the next asker looks anew.
   */
  sharedNetworkLook(
    hypervisor: string,
    name: string,
    look: () => Promise<ObservedNetwork | undefined>,
  ): Promise<ObservedNetwork | undefined>;
  /** The node is gone: forget all of it. */
  forget(uid: string): void;
  /** Nodes and hosts remembered (for tests). */
  size(): number;
}

/** The slots kept per node UID. */
interface NodeSlots {
  shutdownRequestedAt: number;
  restartToken: string;
}

/** An empty memory; one per reconciler. */
export function createNodeMemory(): NodeMemory {
  const nodes = createExpectations<NodeSlots>();
  const hosts = createExpectations<{ kvm: boolean }>();
  // Host facts about one network, keyed by hypervisor and libvirt network name (rule 2: the
  // name of a host, here with the network's); a NUL cannot occur in either.
  const networks = createExpectations<{ started: true }>();
  const networkKey = (hypervisor: string, name: string): string => `${hypervisor}\0${name}`;
  // Looks under way, by networkKey; each leaves when it ends or the network has news.
  const looks = new Map<string, Promise<ObservedNetwork | undefined>>();
  return {
    async kvm(hypervisor, ask) {
      const known = hosts.get(hypervisor, 'kvm');
      if (known !== undefined) return known;
      const kvm = await ask();
      hosts.set(hypervisor, 'kvm', kvm);
      return kvm;
    },
    shutdownRequestedAt: (uid) => nodes.get(uid, 'shutdownRequestedAt'),
    shutdownRequested: (uid, at) => nodes.set(uid, 'shutdownRequestedAt', at),
    shutdownEnded: (uid) => nodes.clear(uid, 'shutdownRequestedAt'),
    restartTokenInForce: (node) =>
      nodes.get(node.metadata?.uid ?? '', 'restartToken') ?? node.status?.lastRestartToken,
    putRestartTokenInForce: (uid, token) => nodes.set(uid, 'restartToken', token),
    networkStarted: (hypervisor, name) =>
      networks.get(networkKey(hypervisor, name), 'started') === true,
    networkEvent(hypervisor, name, event) {
      const key = networkKey(hypervisor, name);
      looks.delete(key);
      if (event === NetworkEventLifecycleType.Started) networks.set(key, 'started', true);
      else if (
        event === NetworkEventLifecycleType.Stopped ||
        event === NetworkEventLifecycleType.Undefined
      ) {
        networks.forget(key);
      }
    },
    sharedNetworkLook(hypervisor, name, look) {
      const key = networkKey(hypervisor, name);
      const underWay = looks.get(key);
      if (underWay) return underWay;
      const started = look();
      looks.set(key, started);
      const ended = (): void => {
        if (looks.get(key) === started) looks.delete(key);
      };
      started.then(ended, ended);
      return started;
    },
    forget: (uid) => nodes.forget(uid),
    size: () => nodes.size() + hosts.size() + networks.size() + looks.size,
  };
}
