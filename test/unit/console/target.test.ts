import { expect } from 'chai';
import type { Hypervisor, MaasNode } from '../../../src/api/v1alpha1/index.js';
import { resolveConsole } from '../../../src/console/index.js';
import { node } from '../controllers/fixtures.js';

const hv = { metadata: { name: 'local' }, spec: { uri: 'qemu+ssh://h/system' } } as Hypervisor;
const ref = { namespace: 'maas', name: 'n1', kind: 'console' } as const;
const withStatus = (printableStatus: string, extra: Partial<MaasNode> = {}): MaasNode =>
  ({ ...node('n1'), ...extra, status: { printableStatus } }) as MaasNode;
const statusOf = (
  n: MaasNode | undefined,
  seen: { hypervisor?: Hypervisor; serves?: boolean } = {},
) => {
  const r = resolveConsole(ref, {
    node: n,
    hypervisor: seen.hypervisor ?? hv,
    serves: seen.serves ?? true,
  });
  return r.ok ? r.domain : r.refusal.status;
};

describe('console/target', () => {
  it('a Running or Starting node resolves to its Hypervisor URI and domain name', () => {
    expect(statusOf(withStatus('Running'))).to.deep.equal({
      uri: 'qemu+ssh://h/system',
      domain: 'maas.n1',
      hypervisor: 'local',
    });
    expect(statusOf(withStatus('Starting'))).to.have.property('domain', 'maas.n1');
    const named = {
      ...node('n1', { domainName: 'custom' }),
      status: { printableStatus: 'Running' },
    } as MaasNode;
    expect(statusOf(named)).to.have.property('domain', 'custom');
  });

  it('refuses with the status that says why', () => {
    expect(statusOf(undefined)).to.equal(404);
    expect(statusOf(withStatus('Running'), { serves: false })).to.equal(409);
    for (const s of ['Stopped', 'Saved', 'Paused', 'Provisioning', 'Failed', 'Unknown']) {
      expect(statusOf(withStatus(s)), s).to.equal(409);
    }
    expect(statusOf({ ...node('n1') })).to.equal(409);
    const deleting = withStatus('Running', {
      metadata: {
        name: 'n1',
        namespace: 'maas',
        deletionTimestamp: new Date('2026-01-01T00:00:00Z'),
      },
    });
    expect(statusOf(deleting)).to.equal(409);
    const noUri = { metadata: { name: 'local' }, spec: {} } as Hypervisor;
    expect(statusOf(withStatus('Running'), { hypervisor: noUri })).to.equal(503);
  });
});
