// The MAAS status tables: the lab's three conditions from what its MAAS phase found, what the
// lab waits for, a node's Enlisted condition and its status.maas, which keeps MAAS's last view
// while MAAS cannot be asked.
import { expect } from 'chai';
import {
  DhcpConfiguredCondition,
  EnlistedCondition,
  ImagesImportingReason,
  ImagesSyncedCondition,
  MaasApiKeyInvalidReason,
  MaasNotReadyReason,
  MaasReachableCondition,
  MaasReadyReason,
  MaasUnauthorizedReason,
  MaasUnreachableReason,
  MaasWaitingReason,
  MacInUseReason,
  NodesNotEnlistedReason,
  type MaasNode,
} from '../../../../src/api/v1alpha1/index.js';
import {
  LabMaasConditionTypes,
  enlistedCondition,
  isEnlisted,
  labMaasConditions,
  labMaasPlan,
  labMaasWaiting,
  nodeMaasStatus,
  nodesNotEnlisted,
} from '../../../../src/controllers/maas/status.js';
import type { Machine } from '../../../../src/maas/resources.js';
import { node } from '../fixtures.js';

const brief = (cs: readonly { type: string; status: string; reason?: string }[]) =>
  cs.map((c) => `${c.type}=${c.status}/${c.reason ?? ''}`);

const machine: Machine = {
  systemId: 'xy7abc',
  hostname: 'recipe-node1',
  statusName: 'Commissioning',
  statusMessage: 'Commissioning',
  powerState: 'on',
  powerType: 'virsh',
  macAddresses: ['52:54:00:7f:04:01'],
  tagNames: [],
  description: 'maaslab: maas/recipe-node1 uid u',
};

const endpoint = {
  url: 'http://10.77.0.2:5240/MAAS',
  apiKeySecretRef: { name: 'k', key: 'api-key' },
};

function withEnlisted(name: string, status: 'True' | 'False'): MaasNode {
  return {
    ...node(name),
    status: {
      conditions: [
        {
          type: EnlistedCondition,
          status,
          reason: 'x',
          message: '',
          lastTransitionTime: '2026-01-01T00:00:00Z',
        },
      ],
    },
  };
}

describe('controllers/maas status', () => {
  it('reports the three lab conditions in order, each waiting on the one before', () => {
    expect(LabMaasConditionTypes).to.deep.equal([
      MaasReachableCondition,
      DhcpConfiguredCondition,
      ImagesSyncedCondition,
    ]);
    const notAsked = labMaasConditions({
      kind: 'notAsked',
      why: { reason: MaasApiKeyInvalidReason, message: 'Secret k not found' },
    });
    expect(brief(notAsked)).to.deep.equal([
      `MaasReachable=Unknown/${MaasApiKeyInvalidReason}`,
      `DhcpConfigured=False/${MaasWaitingReason}`,
      `ImagesSynced=False/${MaasWaitingReason}`,
    ]);
    expect(notAsked[0]?.message).to.equal('Secret k not found');
  });

  it('tells unreachable from unauthorized', () => {
    expect(brief(labMaasConditions({ kind: 'unreachable', message: 'ECONNREFUSED' }))[0]).to.equal(
      `MaasReachable=False/${MaasUnreachableReason}`,
    );
    expect(brief(labMaasConditions({ kind: 'unauthorized', message: '401' }))[0]).to.equal(
      `MaasReachable=False/${MaasUnauthorizedReason}`,
    );
  });

  it('reports the version, DHCP and image import once MAAS answers', () => {
    const ready = labMaasConditions({
      kind: 'reached',
      version: '3.7.1',
      dhcp: 'configured',
      importing: false,
    });
    expect(brief(ready)).to.deep.equal([
      `MaasReachable=True/${MaasReadyReason}`,
      `DhcpConfigured=True/${MaasReadyReason}`,
      `ImagesSynced=True/${MaasReadyReason}`,
    ]);
    expect(ready[0]?.message).to.equal('MAAS 3.7.1');

    const importing = labMaasConditions({
      kind: 'reached',
      version: '3.7.1',
      dhcp: 'configured',
      importing: true,
    });
    expect(brief(importing)[2]).to.equal(`ImagesSynced=False/${ImagesImportingReason}`);

    const dhcpRefused = labMaasConditions({
      kind: 'reached',
      version: '3.7.1',
      dhcp: { reason: 'NoRackController', message: 'no rack on the VLAN' },
    });
    expect(brief(dhcpRefused).slice(1)).to.deep.equal([
      'DhcpConfigured=False/NoRackController',
      `ImagesSynced=False/${MaasWaitingReason}`,
    ]);
  });

  it('plans the conditions away on a lab without MAAS, and keeps them when MAAS was not reached', () => {
    expect(labMaasPlan(false, undefined)).to.deep.equal({
      set: [],
      remove: [...LabMaasConditionTypes],
    });
    expect(labMaasPlan(true, undefined)).to.deep.equal({ set: [], remove: [] });
    expect(labMaasPlan(true, { kind: 'unreachable', message: 'm' }).set).to.have.length(3);
  });

  it('waits on the first MAAS condition that is not True', () => {
    const conds = [
      {
        type: MaasReachableCondition,
        status: 'True' as const,
        reason: MaasReadyReason,
        message: '',
      },
      { type: DhcpConfiguredCondition, status: 'False' as const, reason: 'X', message: 'no rack' },
    ];
    expect(labMaasWaiting(conds)).to.deep.equal({
      reason: MaasNotReadyReason,
      message: 'DhcpConfigured is False (X: no rack)',
    });
    expect(labMaasWaiting(conds.slice(0, 1))?.message).to.equal(
      'DhcpConfigured is not reported yet',
    );
    const all = LabMaasConditionTypes.map((type) => ({
      type,
      status: 'True' as const,
      reason: MaasReadyReason,
    }));
    expect(labMaasWaiting(all)).to.equal(undefined);
  });

  it('names the nodes MAAS does not know yet, five at most', () => {
    expect(isEnlisted(withEnlisted('a', 'True'))).to.equal(true);
    expect(isEnlisted(withEnlisted('a', 'False'))).to.equal(false);
    expect(isEnlisted(node('a'))).to.equal(false);
    expect(nodesNotEnlisted([withEnlisted('a', 'True')])).to.equal(undefined);
    const seven = Array.from({ length: 7 }, (_, i) => withEnlisted(`n${i + 1}`, 'False'));
    expect(nodesNotEnlisted(seven)).to.deep.equal({
      reason: NodesNotEnlistedReason,
      message: 'waiting for MAAS to know n1, n2, n3, n4, n5 and 2 more',
    });
  });

  it("gives Enlisted per outcome, naming MAAS's machine", () => {
    expect(enlistedCondition({ kind: 'enlisted', machine, created: true })).to.deep.equal({
      type: EnlistedCondition,
      status: 'True',
      reason: MaasReadyReason,
      message: 'MAAS machine xy7abc (Commissioning)',
    });
    expect(
      brief([
        enlistedCondition({ kind: 'notEnlisted', why: { reason: MacInUseReason, message: 'm' } }),
        enlistedCondition({ kind: 'unreachable', message: 'm' }),
        enlistedCondition({ kind: 'unauthorized', message: 'm' }),
      ]),
    ).to.deep.equal([
      `Enlisted=False/${MacInUseReason}`,
      `Enlisted=False/${MaasUnreachableReason}`,
      `Enlisted=False/${MaasUnauthorizedReason}`,
    ]);
  });

  it("keeps MAAS's last view of the machine while MAAS cannot be asked, and drops it when there is none", () => {
    const seen = nodeMaasStatus(undefined, { kind: 'enlisted', machine, created: false }, endpoint);
    expect(seen).to.deep.equal({
      systemId: 'xy7abc',
      statusName: 'Commissioning',
      statusMessage: 'Commissioning',
      powerState: 'on',
      ...endpoint,
    });
    expect(nodeMaasStatus(seen, { kind: 'unreachable', message: 'x' }, endpoint)).to.deep.equal(
      seen,
    );
    expect(nodeMaasStatus(seen, { kind: 'unauthorized', message: 'x' }, endpoint)).to.deep.equal(
      seen,
    );
    expect(
      nodeMaasStatus(
        seen,
        { kind: 'notEnlisted', why: { reason: MacInUseReason, message: '' } },
        endpoint,
      ),
    ).to.deep.equal(endpoint);
  });

  it("caps MAAS's status message at 1 KiB", () => {
    const long = { ...machine, statusMessage: 'x'.repeat(5000) };
    const s = nodeMaasStatus(
      undefined,
      { kind: 'enlisted', machine: long, created: false },
      endpoint,
    );
    expect(s.statusMessage).to.have.length(1024);
  });
});
