import { expect } from 'chai';
import { ShardLostError } from '../../../../src/controllers/common/hypervisor-registry.js';
import { shardGuardedClient, shardOf } from '../../../../src/controllers/common/shard-guard.js';
import type { Client, StatusObject } from '../../../../src/runtime/index.js';

const GV = 'maaslab.dev/v1alpha1';

describe('controllers/common/shard-guard', () => {
  it('shardOf: a Hypervisor is its own shard, the others name it in spec.hypervisor', () => {
    expect(shardOf({ apiVersion: GV, kind: 'Hypervisor', metadata: { name: 'hv1' } })).to.equal(
      'hv1',
    );
    const node = { apiVersion: GV, kind: 'MaasNode', metadata: { name: 'n' } };
    expect(shardOf({ ...node, spec: { hypervisor: 'hv2' } } as StatusObject)).to.equal('hv2');
    // Hostile or missing shapes belong to no shard.
    for (const spec of [undefined, null, 'hv', { hypervisor: 7 }, { hypervisor: '' }, []]) {
      expect(shardOf({ ...node, spec } as StatusObject), JSON.stringify(spec)).to.equal(undefined);
    }
  });

  it('refuses status writes for a shard no longer served, before any request', async () => {
    const written: string[] = [];
    const inner: Pick<Client, 'patchStatus'> & { other(): string } = {
      patchStatus: (obj) => {
        written.push(obj.metadata?.name ?? '');
        return Promise.resolve({ changed: true, object: obj });
      },
      other: () => 'passed through',
    };
    let leading = true;
    const client = shardGuardedClient(inner, (hv) => hv === 'hv1' && leading);
    const node = (name: string, hypervisor: string) =>
      ({
        apiVersion: GV,
        kind: 'MaasNode',
        metadata: { name },
        spec: { hypervisor },
      }) as StatusObject;
    await client.patchStatus(node('a', 'hv1'), {});
    let caught: unknown;
    await client.patchStatus(node('b', 'hv2'), {}).catch((e: unknown) => (caught = e));
    expect(caught).to.be.instanceOf(ShardLostError);
    expect((caught as ShardLostError).hypervisor).to.equal('hv2');
    leading = false;
    caught = undefined;
    await client
      .patchStatus({ apiVersion: GV, kind: 'Hypervisor', metadata: { name: 'hv1' } }, {})
      .catch((e: unknown) => (caught = e));
    expect(caught).to.be.instanceOf(ShardLostError);
    // No shard: not ours to fence.
    await client.patchStatus({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } }, {});
    expect(written).to.deep.equal(['a', 'c']);
    expect(client.other()).to.equal('passed through');
  });
});
