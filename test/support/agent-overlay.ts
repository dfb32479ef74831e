// The agent overlay a user of this test cluster writes over deploy/overlays/agent: the image
// imported into the node's containerd, the host's libvirt socket group and folder, and the token
// volume kube-testenv's apiserver does not add. The agent test applies it with kubectl; the Flux
// test commits it into the repository Flux reads.
import { stringify } from 'yaml';

/**
 * The test's overlay: deploy/overlays/agent, the image imported into the node's containerd
 * (never pulled), the socket's group as the README tells a user to set it, the socket folder
 * of the private libvirtd, and the token volume kube-testenv's apiserver does not add.
 */
export function agentTestKustomization(
  base: string,
  image: string,
  socketDir: string,
  gid: number,
  runAsUser?: number,
): string {
  const [name, tag] = [
    image.slice(0, image.lastIndexOf(':')),
    image.slice(image.lastIndexOf(':') + 1),
  ];
  // The README's patch, verbatim but for the number.
  const groupPatch = {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'maaslab-agent', namespace: 'maaslab-system' },
    spec: { template: { spec: { securityContext: { supplementalGroups: [gid] } } } },
  };
  const hostPatch = {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'maaslab-agent', namespace: 'maaslab-system' },
    spec: {
      template: {
        spec: {
          containers: [
            {
              name: 'operator',
              imagePullPolicy: 'Never',
              volumeMounts: [
                {
                  name: 'kube-api-access',
                  mountPath: '/var/run/secrets/kubernetes.io/serviceaccount',
                  readOnly: true,
                },
              ],
            },
          ],
          volumes: [
            { name: 'libvirt-run', hostPath: { path: socketDir, type: 'Directory' } },
            {
              name: 'kube-api-access',
              projected: {
                defaultMode: 0o444,
                sources: [
                  { serviceAccountToken: { path: 'token', expirationSeconds: 3607 } },
                  {
                    configMap: {
                      name: 'kube-root-ca.crt',
                      items: [{ key: 'ca.crt', path: 'ca.crt' }],
                    },
                  },
                  {
                    downwardAPI: {
                      items: [
                        {
                          path: 'namespace',
                          fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' },
                        },
                      ],
                    },
                  },
                ],
              },
            },
          ],
        },
      },
    },
  };
  return stringify({
    apiVersion: 'kustomize.config.k8s.io/v1beta1',
    kind: 'Kustomization',
    resources: [base],
    images: [{ name: 'ghcr.io/maaslab/maaslab-operator', newName: name, newTag: tag }],
    patches: [
      { patch: stringify(groupPatch) },
      { patch: stringify(hostPatch) },
      // Only for the negative case: a user the host has no record of.
      ...(runAsUser === undefined
        ? []
        : [
            {
              patch: stringify({
                ...groupPatch,
                spec: { template: { spec: { securityContext: { runAsUser } } } },
              }),
            },
          ]),
    ],
  });
}
