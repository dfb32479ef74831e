// The cases of deploy/argocd/health.lua: each branch, in its order, with an object of every
// kind that takes it and the verdict. The unit test runs them under lua5.1; the integration
// test test/integration/deploy/argocd-health.test.ts under Argo CD's own Go Lua machinery.
import { GroupVersion } from '../../src/api/v1alpha1/index.js';
import type { ArgoHealth } from './monitoring.js';

export type Condition = { type: string; status: string; reason?: string; message?: string };

/** An object of `kind` at generation 3, with the given status (none when undefined). */
export const object = (
  kind: string,
  status?: { observedGeneration?: number; conditions?: Condition[] } | null,
): Record<string, unknown> => ({
  apiVersion: GroupVersion,
  kind,
  metadata: { name: 'x', generation: 3 },
  ...(status !== undefined && { status }),
});

export const ready = (status: string, reason = 'Reconciled', message = ''): Condition => ({
  type: 'Ready',
  status,
  reason,
  message,
});

/** Each branch of health.lua, in its order, with an object that takes it and the verdict. */
export const branches: ReadonlyArray<{
  name: string;
  status: Parameters<typeof object>[1];
  expect: ArgoHealth;
}> = [
  {
    name: '1: observedGeneration behind generation (even with Ready=True)',
    status: { observedGeneration: 2, conditions: [ready('True')] },
    expect: {
      status: 'Progressing',
      message: 'Waiting for the controller to observe generation 3',
    },
  },
  {
    name: '1: no status at all',
    status: undefined,
    expect: {
      status: 'Progressing',
      message: 'Waiting for the controller to observe generation 3',
    },
  },
  {
    name: '1: status null',
    status: null,
    expect: {
      status: 'Progressing',
      message: 'Waiting for the controller to observe generation 3',
    },
  },
  {
    name: '2: Stalled=True',
    status: {
      observedGeneration: 3,
      conditions: [
        ready('False', 'NameConflict', 'a domain of that name exists'),
        {
          type: 'Stalled',
          status: 'True',
          reason: 'NameConflict',
          message: 'a domain of that name exists',
        },
      ],
    },
    expect: { status: 'Degraded', message: 'a domain of that name exists' },
  },
  {
    name: '2: Stalled=True wins over Reconciling=True',
    status: {
      observedGeneration: 3,
      conditions: [
        { type: 'Reconciling', status: 'True', reason: 'Progressing', message: 'creating' },
        { type: 'Stalled', status: 'True', reason: 'MacCollision', message: '' },
      ],
    },
    expect: { status: 'Degraded', message: 'MacCollision' },
  },
  {
    name: '3: Reconciling=True',
    status: {
      observedGeneration: 3,
      conditions: [
        ready('Unknown', 'HypervisorUnreachable', 'libvirt cannot be reached'),
        {
          type: 'Reconciling',
          status: 'True',
          reason: 'HypervisorUnreachable',
          message: 'libvirt cannot be reached',
        },
      ],
    },
    expect: { status: 'Progressing', message: 'libvirt cannot be reached' },
  },
  {
    name: '4: Ready=True (Stalled and Reconciling False)',
    status: {
      observedGeneration: 3,
      conditions: [
        ready('True', 'Reconciled', 'nodes 3/3 ready'),
        { type: 'Reconciling', status: 'False', reason: 'Done' },
        { type: 'Stalled', status: 'False', reason: 'Fine' },
      ],
    },
    expect: { status: 'Healthy', message: 'nodes 3/3 ready' },
  },
  {
    name: '4: Ready=True, reason Halted (a node off as declared is healthy)',
    status: {
      observedGeneration: 3,
      conditions: [ready('True', 'Halted', 'the domain is saved')],
    },
    expect: { status: 'Healthy', message: 'the domain is saved' },
  },
  {
    name: '5: Ready=False for any other reason, nothing in progress',
    status: {
      observedGeneration: 3,
      conditions: [ready('False', 'NodesNotReady', 'nodes 2/3 ready')],
    },
    expect: { status: 'Progressing', message: 'Waiting for the Ready condition' },
  },
  {
    name: '5: no Ready condition yet',
    status: { observedGeneration: 3, conditions: [] },
    expect: { status: 'Progressing', message: 'Waiting for the Ready condition' },
  },
  {
    name: '5: Ready=Unknown without Reconciling',
    status: { observedGeneration: 3, conditions: [ready('Unknown', 'Unknown')] },
    expect: { status: 'Progressing', message: 'Waiting for the Ready condition' },
  },
];
