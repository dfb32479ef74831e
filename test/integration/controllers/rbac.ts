// Grants the operator user exactly a controller's exported `rbac` rules (a ClusterRole and
// its binding), so an integration test run as that user proves the rules are enough.
import type { V1PolicyRule } from '@kubernetes/client-node';
import type { RestClient } from '../../../src/runtime/client/rest.js';

/** The user of the control plane's operator kubeconfig (test/controlplane). */
export const OPERATOR_USER = 'maaslab-operator';

const ROLE = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole' } as const;
const BINDING = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding' } as const;

/** Creates ClusterRole and ClusterRoleBinding `name`; returns a function deleting both. */
export async function grantOperator(
  admin: RestClient,
  name: string,
  rules: readonly V1PolicyRule[],
): Promise<() => Promise<void>> {
  await admin.request({
    method: 'POST',
    ref: ROLE,
    body: { ...ROLE, metadata: { name }, rules },
  });
  await admin.request({
    method: 'POST',
    ref: BINDING,
    body: {
      ...BINDING,
      metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: OPERATOR_USER }],
    },
  });
  return async () => {
    await admin.request({ method: 'DELETE', ref: { ...BINDING, name } }).catch(() => undefined);
    await admin.request({ method: 'DELETE', ref: { ...ROLE, name } }).catch(() => undefined);
  };
}
