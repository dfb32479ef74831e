// `get LAB`: a lab as a tree, lab → networks → nodes, with what libvirt and MAAS report. A node hangs under the network of its
// first NIC (the PXE NIC, the one MAAS boots from); a node with no NIC on a lab network hangs
// under the lab itself. The tree is built from objects already read and rendered as a table
// whose NAME column draws the branches, as kubectl-tree does. Pure.

import {
  type Condition,
  type MaasLab,
  type MaasNode,
  ReadyCondition,
  type VirtNetwork,
} from '../api/v1alpha1/index.js';
import { renderTable } from './table.js';
import { definedProps } from '../util/defined-props.js';

/** A node in the tree. */
export interface TreeNode {
  readonly kind: 'MaasNode';
  readonly name: string;
  readonly status?: string;
  readonly ready?: string;
  readonly mac?: string;
  readonly vnc?: string;
  readonly powerType?: string;
  /** MAAS's status name of the node's machine (status.maas.statusName). */
  readonly maas?: string;
  /** The machine's MAAS system_id. */
  readonly maasSystemId?: string;
  // -o wide
  readonly hypervisor?: string;
  readonly domainName?: string;
  readonly state?: string;
  readonly runStrategy?: string;
  readonly powerAddress?: string;
  /** Every NIC's network, in guest order. */
  readonly networks: readonly string[];
}

/** A network in the tree, with the nodes whose first NIC is on it. */
export interface TreeNetwork {
  readonly kind: 'VirtNetwork';
  readonly name: string;
  /** Active or Inactive, as libvirt reported. */
  readonly status?: string;
  readonly ready?: string;
  readonly bridge?: string;
  readonly mode?: string;
  readonly nodes: readonly TreeNode[];
}

/** The whole tree. */
export interface LabTree {
  readonly kind: 'MaasLab';
  readonly name: string;
  readonly namespace?: string;
  readonly status?: string;
  readonly ready?: string;
  /** The version of the lab's MAAS (status.maas.version), once it answered. */
  readonly maas?: string;
  readonly hypervisor: string;
  /** Ready/total nodes, as the lab reports them. */
  readonly nodesReady?: string;
  readonly networks: readonly TreeNetwork[];
  /** Nodes on no lab network. */
  readonly nodes: readonly TreeNode[];
}

/** The Ready condition's status, if reported. */
const readyOf = (conditions: readonly Condition[] | undefined): string | undefined =>
  conditions?.find((c) => c.type === ReadyCondition)?.status;

const byName = <T extends { readonly name: string }>(a: T, b: T): number =>
  a.name.localeCompare(b.name, 'en', { numeric: true });

function treeNode(n: MaasNode): TreeNode {
  const s = n.status;
  return definedProps({
    kind: 'MaasNode' as const,
    name: n.metadata?.name ?? '',
    status: s?.printableStatus,
    ready: readyOf(s?.conditions),
    mac: s?.interfaces?.[0]?.mac ?? n.spec.interfaces?.[0]?.mac,
    vnc: s?.vnc?.display,
    powerType: s?.power?.type,
    maas: s?.maas?.statusName,
    maasSystemId: s?.maas?.systemId,
    hypervisor: n.spec.hypervisor,
    domainName: s?.domainName,
    state: s?.state,
    runStrategy: n.spec.runStrategy,
    powerAddress: s?.power?.address,
    networks: (n.spec.interfaces ?? []).map((i) => i.network),
  });
}

/** The tree of `lab`, from its VirtNetworks and MaasNodes (the objects labelled with it). */
export function buildLabTree(
  lab: MaasLab,
  networks: readonly VirtNetwork[],
  nodes: readonly MaasNode[],
): LabTree {
  const netNames = new Set(networks.map((n) => n.metadata?.name ?? ''));
  const treeNodes = nodes.map(treeNode).sort(byName);
  const under = (net: string): TreeNode[] => treeNodes.filter((n) => n.networks[0] === net);
  return definedProps({
    kind: 'MaasLab' as const,
    name: lab.metadata?.name ?? '',
    namespace: lab.metadata?.namespace,
    status: lab.status?.printableStatus,
    ready: readyOf(lab.status?.conditions),
    maas: lab.status?.maas?.version,
    hypervisor: lab.spec.hypervisor,
    nodesReady: lab.status?.nodes?.summary,
    networks: networks
      .map((v) =>
        definedProps({
          kind: 'VirtNetwork' as const,
          name: v.metadata?.name ?? '',
          status:
            v.status?.active === undefined ? undefined : v.status.active ? 'Active' : 'Inactive',
          ready: readyOf(v.status?.conditions),
          bridge: v.status?.bridge,
          mode: v.spec.mode,
          nodes: under(v.metadata?.name ?? ''),
        }),
      )
      .sort(byName),
    nodes: treeNodes.filter((n) => n.networks[0] === undefined || !netNames.has(n.networks[0])),
  });
}

/** Column headers of the tree; `-o wide` adds the second list. */
/** The MAAS column: the lab's MAAS version, each node's MAAS status (as kubectl get shows them). */
export const TreeHeaders = ['NAME', 'STATUS', 'READY', 'MAC', 'VNC', 'POWER', 'MAAS'] as const;
export const TreeWideHeaders = [
  'HYPERVISOR',
  'RUN-STRATEGY',
  'DOMAIN',
  'STATE',
  'BRIDGE',
  'NETWORKS',
  'POWER-ADDRESS',
] as const;

type Row = Array<string | undefined>;

/** The tree as a table: `maaslab/x`, then `├─ virtnetwork/y`, `│  └─ maasnode/z`, ... */
export function renderLabTree(tree: LabTree, wide = false): string {
  const rows: Row[] = [];
  const add = (prefix: string, ref: string, cells: Row, wideCells: Row): void => {
    rows.push([`${prefix}${ref}`, ...cells, ...(wide ? wideCells : [])]);
  };
  const nodeRow = (prefix: string, n: TreeNode): void =>
    add(
      prefix,
      `maasnode/${n.name}`,
      [n.status, n.ready, n.mac, n.vnc, n.powerType, n.maas],
      [
        n.hypervisor,
        n.runStrategy,
        n.domainName,
        n.state,
        undefined,
        n.networks.join(','),
        n.powerAddress,
      ],
    );
  add(
    '',
    `maaslab/${tree.name}`,
    [tree.status, tree.ready, undefined, undefined, undefined, tree.maas],
    [tree.hypervisor, undefined, undefined, undefined, undefined, undefined, undefined],
  );
  const children: Array<TreeNetwork | TreeNode> = [...tree.networks, ...tree.nodes];
  children.forEach((child, i) => {
    const last = i === children.length - 1;
    const branch = last ? '└─ ' : '├─ ';
    if (child.kind === 'MaasNode') return nodeRow(branch, child);
    add(
      branch,
      `virtnetwork/${child.name}`,
      [child.status, child.ready, undefined, undefined, undefined, undefined],
      [undefined, undefined, undefined, undefined, child.bridge, undefined, undefined],
    );
    const indent = last ? '   ' : '│  ';
    child.nodes.forEach((n, j) =>
      nodeRow(indent + (j === child.nodes.length - 1 ? '└─ ' : '├─ '), n),
    );
  });
  return renderTable(wide ? [...TreeHeaders, ...TreeWideHeaders] : TreeHeaders, rows);
}
