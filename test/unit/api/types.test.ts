// The static types and the schemas are one definition: a typed object passes the schema,
// and the condition constants are the strings controllers will write.
import { FormatRegistry, TypeRegistry } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { expect } from 'chai';
import {
  GroupVersion,
  MaasNodeSchema,
  NameConflictReason,
  NetworkNotReadyReason,
  ReadyCondition,
  ReconcilingCondition,
  RestartRequiredCondition,
  StalledCondition,
  quantityBytes,
  type MaasNode,
  type MaasNodePrintableStatus,
} from '../../../src/api/v1alpha1/index.js';

if (!TypeRegistry.Has('Unsafe')) TypeRegistry.Set('Unsafe', () => true);
// TypeBox checks no formats by itself; the API server checks date-time as RFC 3339.
if (!FormatRegistry.Has('date-time'))
  FormatRegistry.Set(
    'date-time',
    (v) => /^\d{4}-\d{2}-\d{2}T/.test(v) && !Number.isNaN(Date.parse(v)),
  );

describe('api/v1alpha1 types', () => {
  it('a typed MaasNode passes its schema', () => {
    const status: MaasNodePrintableStatus = 'Running';
    const node: MaasNode = {
      apiVersion: GroupVersion,
      kind: 'MaasNode',
      metadata: { name: 'node1', namespace: 'lab' },
      spec: {
        hypervisor: 'local',
        memory: '1Gi',
        bootOrder: ['network', 'disk'],
        disks: [{ name: 'root', size: '8Gi', bus: 'virtio', format: 'qcow2' }],
        interfaces: [{ network: 'maas', mac: '52:54:00:7f:04:01', model: 'virtio' }],
      },
      status: {
        printableStatus: status,
        conditions: [
          {
            type: ReadyCondition,
            status: 'True',
            reason: 'Reconciled',
            message: '',
            lastTransitionTime: '2026-01-01T00:00:00Z',
          },
        ],
        power: { type: 'virsh', address: 'qemu+ssh://maas@host/system', id: 'lab.node1' },
      },
    };
    expect([...Value.Errors(MaasNodeSchema, node)].map((e) => e.path)).to.deep.equal([]);
  });

  it('names the condition types and reasons as constants', () => {
    expect([
      ReadyCondition,
      ReconcilingCondition,
      StalledCondition,
      RestartRequiredCondition,
    ]).to.deep.equal(['Ready', 'Reconciling', 'Stalled', 'RestartRequired']);
    expect([NameConflictReason, NetworkNotReadyReason]).to.deep.equal([
      'NameConflict',
      'NetworkNotReady',
    ]);
  });

  it('quantityBytes turns the CEL bounds into bytes', () => {
    expect(quantityBytes('128Mi')).to.equal(134217728);
    expect(quantityBytes('64Ti')).to.equal(70368744177664);
    expect(() => quantityBytes('1G')).to.throw();
  });
});
