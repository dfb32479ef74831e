// The agent overlay a user of this test cluster writes over deploy/overlays/agent: the image
// imported into the node's containerd, the host's libvirt socket group and folder, and the token
// volume kube-testenv's apiserver does not add; and the host it is written for, as the README
// prepares one. The agent test applies it with kubectl; the Flux test commits it into the
// repository Flux reads.
import { type Cluster, startCluster } from './cluster.js';
import { controlPlane } from './controlplane.js';
import { type PrivateLibvirtd, startPrivateLibvirtd } from './libvirtd.js';
import { importedOperatorContainer, kubeApiAccessVolume, testKustomization } from './overlay.js';

/** The socket's group: no group of this machine, so that only the patch can grant it. */
export const SOCKET_GID = 4711;
/** The agent's uid and gid, deploy/'s runAsUser and runAsGroup. */
export const AGENT_UID = 65532;

/** A hypervisor host for the agent: its libvirtd and the single-node cluster it is the node of. */
export interface AgentHost {
  readonly lv: PrivateLibvirtd;
  readonly cluster: Cluster;
}

/**
 * The host as the README prepares it: a private libvirtd that can name user and group 65532,
 * its socket in group {@link SOCKET_GID}; and a single-node cluster whose node is labelled, and
 * tainted as hypervisor hosts often are, maaslab.dev/hypervisor=true (the DaemonSet tolerates
 * it as shipped, and pods that other tests of the shared control plane leave behind stay off
 * the node). Stops the libvirtd again when the cluster does not start.
 */
export async function startAgentHost(): Promise<AgentHost> {
  const lv = await startPrivateLibvirtd({
    socketGroup: SOCKET_GID,
    hostUser: { uid: AGENT_UID, gid: AGENT_UID },
  });
  try {
    const cluster = await startCluster({
      controlPlane: controlPlane(),
      nodeLabels: { 'maaslab.dev/hypervisor': 'true' },
      nodeTaints: ['maaslab.dev/hypervisor=true:NoSchedule'],
    });
    return { lv, cluster };
  } catch (err) {
    await lv.stop().catch(() => undefined);
    throw err;
  }
}

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
          containers: [importedOperatorContainer],
          volumes: [
            { name: 'libvirt-run', hostPath: { path: socketDir, type: 'Directory' } },
            kubeApiAccessVolume,
          ],
        },
      },
    },
  };
  return testKustomization(base, image, [
    groupPatch,
    hostPatch,
    // Only for the negative case: a user the host has no record of.
    ...(runAsUser === undefined
      ? []
      : [{ ...groupPatch, spec: { template: { spec: { securityContext: { runAsUser } } } } }]),
  ]);
}
