// The shared per-Hypervisor verbs registry on libvirt's test driver: one verbs object per
// resource, and the fence a lost shard lease puts on a hypervisor's mutating verbs.
import { expect } from 'chai';
import type { Hypervisor as HypervisorResource } from '../../../../src/api/v1alpha1/index.js';
import {
  createHypervisorRegistry,
  type HypervisorRegistry,
  ShardLostError,
} from '../../../../src/controllers/common/hypervisor-registry.js';
import {
  type Connection,
  type ConnectionPool,
  createConnectionPool,
} from '../../../../src/libvirt/index.js';
import type { OwnerRef } from '../../../../src/libvirt/xml/index.js';
import { contractDomain } from '../../../support/hypervisor-contract.js';
import { TEST_URI } from '../../libvirt/fixtures.js';

const resource = (name: string): HypervisorResource => ({
  apiVersion: 'maaslab.dev/v1alpha1',
  kind: 'Hypervisor',
  metadata: { name },
  spec: { uri: TEST_URI },
});

describe('controllers/common hypervisor registry (test:///default)', () => {
  let pool: ConnectionPool<Connection>;
  let registry: HypervisorRegistry;
  const owner: OwnerRef = {
    kind: 'MaasNode',
    namespace: 'fence',
    name: `n-${process.pid}`,
    uid: `uid-fence-${process.pid}`,
  };
  const domain = `fence.n-${process.pid}`;

  beforeEach(() => {
    pool = createConnectionPool();
    registry = createHypervisorRegistry({ connections: pool });
  });

  afterEach(async () => {
    registry.unfence('hv-a');
    await registry
      .hypervisorFor(resource('hv-a'))
      .deleteDomain(domain, owner)
      .catch(() => undefined);
    await registry.close();
    await pool.close();
  });

  it('hands out one verbs object per resource while its URI stays the same', () => {
    expect(registry.hypervisorFor(resource('hv-a'))).to.equal(
      registry.hypervisorFor(resource('hv-a')),
    );
  });

  it('a fenced hypervisor refuses mutating verbs, already handed-out verbs too, and nothing reaches libvirt', async () => {
    const verbs = registry.hypervisorFor(resource('hv-a'));
    expect(await verbs.observeDomain(domain)).to.equal(undefined);

    registry.fence('hv-a');
    const refused = await verbs.defineDomain(contractDomain(domain, owner)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(refused).to.be.instanceOf(ShardLostError);
    expect((refused as ShardLostError).hypervisor).to.equal('hv-a');
    for (const call of [
      () => verbs.start(domain, owner),
      () => verbs.destroy(domain, owner),
      () => verbs.deleteDomain(domain, owner),
      () => verbs.ensureVolumes([]),
    ]) {
      expect(
        await call().then(
          () => 'ran',
          (e: unknown) => e,
        ),
      ).to.be.instanceOf(ShardLostError);
    }
    // Reads go on: a fenced process still reports nothing wrong about what it can see.
    expect(await verbs.observeDomain(domain)).to.equal(undefined);
    expect((await verbs.hostInfo()).domains).to.be.an('array');
  });

  it('fences one hypervisor only, and lets the verbs through again once unfenced', async () => {
    registry.fence('hv-b');
    const verbs = registry.hypervisorFor(resource('hv-a'));
    expect((await verbs.defineDomain(contractDomain(domain, owner))).changed).to.equal(true);

    registry.fence('hv-a');
    expect(
      await verbs.start(domain, owner).then(
        () => 'ran',
        (e: unknown) => e,
      ),
    ).to.be.instanceOf(ShardLostError);
    expect((await verbs.observeDomain(domain))?.state).to.equal('shutoff');

    registry.unfence('hv-a');
    expect((await verbs.start(domain, owner)).changed).to.equal(true);
    expect((await verbs.observeDomain(domain))?.state).to.equal('running');
  });
});
