// Helpers for the deploy/ tests: kustomize apply with kubectl, access reviews, and cleanup
// of what the overlays install beside the CRDs and RBAC the other tests share.
import { AuthorizationV1Api, type KubeConfig } from '@kubernetes/client-node';
import { join } from 'node:path';
import { repoRoot } from './controlplane.js';
import { kubectlRun } from './operator.js';

/** The namespace and service account every kustomization installs. */
export const DEPLOY_NAMESPACE = 'maaslab-system';
export const DEPLOY_SERVICE_ACCOUNT = 'maaslab-operator';
/** The user name the apiserver gives that service account's tokens. */
export const DEPLOY_SA_USER = `system:serviceaccount:${DEPLOY_NAMESPACE}:${DEPLOY_SERVICE_ACCOUNT}`;

/** `kubectl apply --server-side -k deploy/...`, as an admin would; resolves to the object names. */
export async function applyKustomization(kubeconfig: string, dir: string): Promise<string[]> {
  const out = await kubectlRun(kubeconfig, [
    'apply',
    '--server-side',
    '-o',
    'name',
    '-k',
    join(repoRoot, dir),
  ]);
  return out.split('\n').filter((l) => l !== '');
}

/**
 * Deletes what the overlays add beyond the namespace, CRDs and base RBAC (which other tests
 * use too): workloads, the metrics Service, the NetworkPolicies, the ssh ConfigMap, the agent's
 * role and the admission policy. Never `kubectl delete -k`: it would delete the CRDs under every test.
 */
export async function deleteDeployExtras(kubeconfig: string): Promise<void> {
  const ns = ['-n', DEPLOY_NAMESPACE, '--ignore-not-found', '--wait=false'];
  await kubectlRun(kubeconfig, [
    'delete',
    'deployment,daemonset,service,configmap,networkpolicy',
    '-l',
    'app.kubernetes.io/part-of=maaslab',
    ...ns,
  ]);
  await kubectlRun(kubeconfig, [
    'delete',
    '--ignore-not-found',
    '--wait=false',
    'validatingadmissionpolicybinding/maaslab-agent-own-hypervisor',
    'validatingadmissionpolicy/maaslab-agent-own-hypervisor',
    'clusterrolebinding/maaslab-agent-registration',
    'clusterrole/maaslab-agent-registration',
  ]);
  await kubectlRun(kubeconfig, ['delete', 'secret/maaslab-ssh', ...ns]);
}

/** One access question: may `user` do `verb` on `resource` (in `namespace`, named `name`)? */
export interface Access {
  readonly verb: string;
  readonly group: string;
  readonly resource: string;
  readonly subresource?: string;
  readonly namespace?: string;
  readonly name?: string;
}

/** A SubjectAccessReview (the authorizer `kubectl auth can-i --as` asks) for a service account. */
export async function allowed(kc: KubeConfig, user: string, a: Access): Promise<boolean> {
  const ns = /^system:serviceaccount:([^:]+):/.exec(user)?.[1];
  const review = await kc.makeApiClient(AuthorizationV1Api).createSubjectAccessReview({
    body: {
      spec: {
        user,
        // What the apiserver gives every token of a service account.
        groups: ns
          ? ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated']
          : ['system:authenticated'],
        resourceAttributes: {
          verb: a.verb,
          group: a.group,
          resource: a.resource,
          ...(a.subresource && { subresource: a.subresource }),
          ...(a.namespace && { namespace: a.namespace }),
          ...(a.name && { name: a.name }),
        },
      },
    },
  });
  return review.status?.allowed === true;
}
