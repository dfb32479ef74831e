import { expect } from 'chai';
import { buildLabTree, renderLabTree } from '../../../src/plugin/lab-tree.js';
import { ipmiStatus, labNode, pxeNetwork, recipeLab, virshStatus } from './fixtures.js';

// node3's first NIC is on no lab network: it hangs under the lab itself.
const nodes = [labNode(2, ipmiStatus(2)), labNode(1, virshStatus(1)), labNode(3, {}, 'elsewhere')];
const tree = buildLabTree(recipeLab, [pxeNetwork], nodes);

describe('plugin/lab-tree', () => {
  it('renders lab → networks → nodes (by first NIC), sorted, with state, Ready, MAC, VNC, power type, MAAS status', () => {
    expect(renderLabTree(tree)).to.equal(
      [
        'NAME                          STATUS     READY   MAC                 VNC              POWER   MAAS',
        'maaslab/recipe                Degraded   False   -                   -                -       3.5.4',
        '├─ virtnetwork/recipe-pxe     Active     True    -                   -                -       -',
        '│  ├─ maasnode/recipe-node1   Running    True    52:54:00:7f:04:01   127.0.0.1:5901   virsh   -',
        '│  └─ maasnode/recipe-node2   Running    True    52:54:00:7f:04:02   127.0.0.1:5902   ipmi    Commissioning',
        '└─ maasnode/recipe-node3      -          -       -                   -                -       -',
        '',
      ].join('\n'),
    );
  });

  it('-o wide adds hypervisor, run strategy, domain, libvirt state, bridge, networks, power address', () => {
    const lines = renderLabTree(tree, true).split('\n');
    expect(lines[0]).to.equal(
      'NAME                          STATUS     READY   MAC                 VNC              POWER   MAAS            HYPERVISOR   RUN-STRATEGY   DOMAIN                STATE     BRIDGE   NETWORKS     POWER-ADDRESS',
    );
    expect(lines[2]).to.equal(
      '├─ virtnetwork/recipe-pxe     Active     True    -                   -                -       -               -            -              -                     -         virbr7   -            -',
    );
    expect(lines[3]).to.equal(
      '│  ├─ maasnode/recipe-node1   Running    True    52:54:00:7f:04:01   127.0.0.1:5901   virsh   -               hv1          Always         lab-ns.recipe-node1   running   -        recipe-pxe   qemu+ssh://maas@hv1/system',
    );
  });

  it('is a structured tree for -o json|yaml, leaving out what is not reported', () => {
    expect(tree).to.deep.include({
      kind: 'MaasLab',
      name: 'recipe',
      namespace: 'lab-ns',
      status: 'Degraded',
      ready: 'False',
      hypervisor: 'hv1',
      nodesReady: '2/3',
      maas: '3.5.4',
    });
    expect(tree.networks[0]?.nodes[1]).to.include({
      maas: 'Commissioning',
      maasSystemId: 'abc123',
    });
    expect(tree.networks.map((n) => [n.name, n.bridge, n.nodes.map((x) => x.name)])).to.deep.equal([
      ['recipe-pxe', 'virbr7', ['recipe-node1', 'recipe-node2']],
    ]);
    expect(tree.nodes).to.deep.equal([
      {
        kind: 'MaasNode',
        name: 'recipe-node3',
        hypervisor: 'hv1',
        runStrategy: 'Always',
        networks: ['elsewhere'],
      },
    ]);
  });
});
