// The delete phases of a MaasLab: a lab with a MAAS controller VM deletes its nodes and waits
// for them (their finalizers delete their machines from that MAAS) before the controller goes.
import { expect } from 'chai';
import type { MaasLab, MaasNode } from '../../../../src/api/v1alpha1/index.js';
import { runPhases } from '../../../../src/controllers/common/phases.js';
import {
  deletePhases,
  NODES_GONE_RECHECK_MS,
} from '../../../../src/controllers/maas-lab/delete.js';
import type { LabPass } from '../../../../src/controllers/maas-lab/pass.js';
import type { LabScope } from '../../../../src/controllers/maas-lab/scope.js';
import {
  CONTROLLER_FINALIZER,
  type ControllerDeps,
} from '../../../../src/controllers/maas/controller-vm.js';
import type { Logger, ResourceRef } from '../../../../src/runtime/index.js';
import { recipeLab } from '../fixtures.js';

interface World {
  readonly pass: LabPass;
  readonly deleted: string[];
  readonly finalizersDropped: string[];
  readonly events: string[];
}

function world(opts: {
  controller: boolean;
  finalizer: boolean;
  nodes: Record<string, { deleting: boolean }>;
}): World {
  const base = recipeLab();
  const lab: MaasLab = {
    ...base,
    metadata: {
      ...base.metadata,
      deletionTimestamp: new Date('2026-12-05T00:00:00Z'),
      ...(opts.finalizer && { finalizers: [CONTROLLER_FINALIZER] }),
    },
  };
  const nodes = new Map<string, MaasNode>(
    Object.entries(opts.nodes).map(([name, { deleting }]) => [
      name,
      {
        apiVersion: 'maaslab.dev/v1alpha1',
        kind: 'MaasNode',
        metadata: {
          name,
          namespace: lab.metadata?.namespace,
          ...(deleting && { deletionTimestamp: new Date('2026-12-05T00:00:00Z') }),
        },
        spec: { hypervisor: 'hv' },
      } as MaasNode,
    ]),
  );
  const deleted: string[] = [];
  const finalizersDropped: string[] = [];
  const events: string[] = [];
  const controller: ControllerDeps = {
    hypervisorFor: () => {
      throw new Error('no libvirt in this test: the lab has no Hypervisor object');
    },
    secrets: {
      read: () => Promise.resolve(undefined),
      write: () => Promise.resolve(),
    },
    downloads: {} as ControllerDeps['downloads'],
    finalizers: {
      ensureFinalizer: () => Promise.reject(new Error('not expected')),
      dropFinalizer: (obj: { metadata?: { name?: string } }, finalizer: string) => {
        finalizersDropped.push(`${obj.metadata?.name}/${finalizer}`);
        return Promise.resolve({ object: obj, changed: true });
      },
    } as unknown as ControllerDeps['finalizers'],
  };
  const scope = {
    lab,
    hypervisor: undefined,
    networks: new Map(),
    nodes,
    foreignNetworks: new Set(),
    foreignNodes: new Set(),
    peers: [lab],
    standaloneNodes: [],
  } satisfies LabScope;
  const silent = {} as Logger;
  const pass: LabPass = {
    scope,
    desired: { networks: [], nodes: [] },
    signal: new AbortController().signal,
    log: silent,
    deps: {
      client: {
        apply: () => Promise.reject(new Error('a lab being deleted applies nothing')),
        delete: (ref: ResourceRef) => {
          deleted.push(`${ref.kind}/${ref.name}`);
          return Promise.resolve(true);
        },
      } as unknown as LabPass['deps']['client'],
      ...(opts.controller && { controller }),
    },
    found: {},
    record: (_type, reason, _action, note) => events.push(`${reason}: ${note}`),
    blocking: [],
    conflicts: [],
  };
  return { pass, deleted, finalizersDropped, events };
}

describe('controllers/maas-lab/delete', () => {
  it('a lab with a controller deletes its nodes first and waits for them, keeping its finalizer', async () => {
    const w = world({
      controller: true,
      finalizer: true,
      nodes: { 'recipe-node1': { deleting: false }, 'recipe-node2': { deleting: true } },
    });
    const result = await runPhases(deletePhases, w.pass);
    // node2 is already going: deleting it again would only repeat the event.
    expect(w.deleted).to.deep.equal(['MaasNode/recipe-node1']);
    expect(w.events).to.deep.equal([
      'NodesDeleted: deleted MaasNodes recipe-node1 before the MAAS controller',
    ]);
    expect(result.requeueAfterMs).to.equal(NODES_GONE_RECHECK_MS);
    expect(w.finalizersDropped).to.deep.equal([]);
  });

  it('once its nodes are gone, the controller goes and the finalizer with it', async () => {
    const w = world({ controller: true, finalizer: true, nodes: {} });
    const result = await runPhases(deletePhases, w.pass);
    expect(w.deleted).to.deep.equal([]);
    expect(result.requeueAfterMs ?? 0).to.equal(0);
    expect(w.finalizersDropped).to.deep.equal([
      `${w.pass.scope.lab.metadata?.name}/${CONTROLLER_FINALIZER}`,
    ]);
  });

  it('a lab without the controller finalizer leaves its nodes to garbage collection', async () => {
    for (const controller of [true, false]) {
      const w = world({
        controller,
        finalizer: false,
        nodes: { 'recipe-node1': { deleting: false } },
      });
      await runPhases(deletePhases, w.pass);
      expect(w.deleted, `controller deps: ${controller}`).to.deep.equal([]);
      expect(w.finalizersDropped).to.deep.equal([]);
    }
  });
});
