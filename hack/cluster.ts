/**
 * `make cluster`: a real single-node Kubernetes cluster on this machine (test/support/cluster.ts),
 * left running with its kubeconfig printed; Ctrl-C (or SIGTERM) tears it all down.
 *
 *   MAASLAB_CLUSTER_IMAGES=a.oci.tar,b.oci.tar   OCI archives to import into the node's containerd
 *   MAASLAB_CLUSTER_KEEP=1                       keep the state directory (logs) after teardown
 */
import { startCluster } from '../test/support/cluster.js';
import { kubectlPath } from '../test/support/kubectl.js';

const log = (message: string): void => void process.stdout.write(`cluster: ${message}\n`);
const cluster = await startCluster({ log, keepDir: process.env.MAASLAB_CLUSTER_KEEP === '1' });
for (const archive of (process.env.MAASLAB_CLUSTER_IMAGES ?? '').split(',').filter(Boolean)) {
  log(`imported ${(await cluster.importImage(archive)).join(', ')} from ${archive}`);
}
const steps = Object.entries(cluster.timings).map(
  ([step, ms]) => `${step} ${(ms / 1000).toFixed(1)} s`,
);
process.stdout.write(`
Node ${cluster.nodeName} is Ready (${steps.join(', ')}).

  export KUBECONFIG=${cluster.kubeconfig}
  ${kubectlPath()} get nodes -o wide
  ctr --address ${cluster.containerdSocket} -n k8s.io images ls
  logs: ${cluster.dir}/logs/

Images run with imagePullPolicy: Never (or IfNotPresent) once imported: there is no registry.
Ctrl-C tears the cluster down.
`);
let stopping = false;
const shutdown = (): void => {
  if (stopping) return;
  stopping = true;
  log('tearing down');
  cluster.stop().then(
    () => {
      log('stopped');
      process.exit(0);
    },
    (err: unknown) => {
      process.stderr.write(`cluster: ${String(err)}\n`);
      process.exit(1);
    },
  );
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
