// The test cluster's NetworkPolicy enforcer (test/support/cluster.ts starts it in the node's
// network namespace). Debian's bridge CNI enforces no NetworkPolicy, so the node runs
// sigs.k8s.io/kube-network-policies (bin/kube-network-policies, test/netpol): the
// implementation kind uses on its nodes. It watches NetworkPolicies, Namespaces and this
// node's Pods, reads the first packet of every connection from a netfilter queue, evaluates
// the policies for both ends (egress of the source pod, ingress of the destination pod) and
// accepts or drops it; the rest of an accepted connection is conntrack's.
//
// Which packets reach the queue is the kernel's side. Upstream installs nftables rules whose
// verdict is nftables' `queue` expression; this machine's kernel is built without it
// (CONFIG_NFT_QUEUE unset, and without loadable modules: `modprobe nft_queue` cannot help),
// so that nftables transaction fails and the enforcer logs it. The kernel does have the
// netfilter queue itself (CONFIG_NETFILTER_NETLINK_QUEUE) and iptables' NFQUEUE target
// (CONFIG_NETFILTER_XT_TARGET_NFQUEUE), so {@link queueRules} sends the same packets with
// iptables, as upstream's rules do with nftables: every packet from or to the pod network that
// is not part of a connection conntrack already accepted, except what root in the node sends
// (kubelet's probes; upstream exempts it for the same reason), before SNAT. Upstream narrows
// the queue to pods some policy selects; here all pod traffic is queued, which changes only
// the cost (pods no policy selects are allowed by the enforcer instead of by the kernel).
// Bridged traffic between two pods on cni0 passes these hooks because cluster.ts sets
// net.bridge.bridge-nf-call-iptables=1 in the node's namespace.
//
// Fail closed: the rules go in once the enforcer has bound its queue, and without --queue-bypass,
// so a queued packet with no enforcer listening is dropped rather than let through.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/** The netfilter queue the enforcer reads (upstream's default). */
export const NFQUEUE_ID = 100;
/** The iptables chain of {@link queueRules}, in the mangle table's POSTROUTING. */
export const QUEUE_CHAIN = 'MAASLAB-NETPOL';

/** The enforcer's arguments: the node it enforces for and how it reaches the apiserver. */
export function enforcerArgs(kubeconfig: string, nodeName: string, queue = NFQUEUE_ID): string[] {
  return [
    `--kubeconfig=${kubeconfig}`,
    `--hostname-override=${nodeName}`,
    `--nfqueue-id=${queue}`,
    // Every verdict in its log: which connection was dropped is what a failing test needs.
    '--v=2',
  ];
}

/**
 * The iptables-restore input (mangle table, --noflush) that queues the pod network's new
 * connections to the enforcer. mangle POSTROUTING runs before kube-proxy's SNAT (nat
 * POSTROUTING) and after its DNAT, so the enforcer sees pod addresses, as upstream's
 * postrouting chain at srcnat-5 does.
 */
export function queueRules(podCidr: string, queue = NFQUEUE_ID): string {
  const q = `-j NFQUEUE --queue-num ${queue}`;
  return [
    '*mangle',
    `:${QUEUE_CHAIN} - [0:0]`,
    `-A POSTROUTING -j ${QUEUE_CHAIN}`,
    `-A ${QUEUE_CHAIN} -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN`,
    `-A ${QUEUE_CHAIN} -m owner --uid-owner 0 -j RETURN`,
    `-A ${QUEUE_CHAIN} -s ${podCidr} ${q}`,
    `-A ${QUEUE_CHAIN} -d ${podCidr} ${q}`,
    'COMMIT',
    '',
  ].join('\n');
}

/**
 * Whether a process in the network namespace has bound netfilter queue `queue`: the first
 * column of /proc/net/netfilter/nfnetlink_queue, which is per network namespace.
 */
export async function queueBound(netns: string, queue = NFQUEUE_ID): Promise<boolean> {
  const { stdout } = await exec('ip', [
    'netns',
    'exec',
    netns,
    'cat',
    '/proc/net/netfilter/nfnetlink_queue',
  ]);
  return stdout.split('\n').some((line) => line.trim().split(/\s+/)[0] === String(queue));
}

/** Installs {@link queueRules} in the network namespace. */
export async function divertToQueue(
  netns: string,
  podCidr: string,
  queue = NFQUEUE_ID,
): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = execFile(
      'ip',
      ['netns', 'exec', netns, 'iptables-restore', '--noflush'],
      (err, _stdout, stderr) =>
        err ? reject(new Error(`iptables-restore: ${stderr}`, { cause: err })) : resolve(),
    );
    child.stdin!.end(queueRules(podCidr, queue));
  });
}

/** Packets the enforcer's queue rules sent to userspace so far (iptables' counters). */
export async function queuedPackets(netns: string): Promise<number> {
  const { stdout } = await exec('ip', [
    'netns',
    'exec',
    netns,
    'iptables',
    '-t',
    'mangle',
    '-L',
    QUEUE_CHAIN,
    '-n',
    '-v',
    '-x',
  ]);
  return stdout
    .split('\n')
    .filter((l) => l.includes('NFQUEUE'))
    .reduce((sum, l) => sum + Number(l.trim().split(/\s+/)[0] ?? 0), 0);
}
