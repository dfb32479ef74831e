// Domain metrics of the controllers (the `maaslab_` prefix; the runtime owns
// controller-runtime's names). Registered on a Registry handed in, never the global one, so
// tests and several managers in one process never clash.
import { Counter, Gauge, type Registry } from 'prom-client';

/** The metric names, fixed here so dashboards and tests agree. */
export const HypervisorMetricName = {
  Up: 'maaslab_hypervisor_up',
  CapacityCpus: 'maaslab_hypervisor_capacity_cpus',
  CapacityMemoryBytes: 'maaslab_hypervisor_capacity_memory_bytes',
  AllocatedCpus: 'maaslab_hypervisor_allocated_cpus',
  AllocatedMemoryBytes: 'maaslab_hypervisor_allocated_memory_bytes',
} as const;

/** What one pass of the Hypervisor controller learned, in metric units. */
export interface HypervisorSample {
  /** Logical CPUs of the host. */
  readonly capacityCpus: number;
  /** Host memory, bytes. */
  readonly capacityMemoryBytes: number;
  /** vCPUs given to MaasNode domains on the host. */
  readonly allocatedCpus: number;
  /** Memory given to MaasNode domains on the host, bytes. */
  readonly allocatedMemoryBytes: number;
}

/** The Hypervisor controller's gauges, all labelled `hypervisor` (the resource name). */
export interface HypervisorMetrics {
  /** libvirt answered: up=1 and the capacity/allocation gauges set. */
  reachable(hypervisor: string, sample: HypervisorSample): void;
  /** libvirt did not answer: up=0; the last known capacity stays (it did not change). */
  unreachable(hypervisor: string): void;
  /** The Hypervisor resource is gone, or another replica serves it: drop its series. */
  forget(hypervisor: string): void;
}

/** Records nothing. */
export const noopHypervisorMetrics: HypervisorMetrics = {
  reachable: () => undefined,
  unreachable: () => undefined,
  forget: () => undefined,
};

/**
 * Registers `maaslab_hypervisor_up{hypervisor}` and the capacity and allocation gauges on
 * `registry`.
 */
export function createHypervisorMetrics(registry: Registry): HypervisorMetrics {
  const gauge = (name: string, help: string) =>
    new Gauge({ name, help, labelNames: ['hypervisor'] as const, registers: [registry] });
  const up = gauge(HypervisorMetricName.Up, '1 while libvirt on the hypervisor answers, else 0.');
  const capacityCpus = gauge(HypervisorMetricName.CapacityCpus, 'Logical CPUs of the host.');
  const capacityMemory = gauge(HypervisorMetricName.CapacityMemoryBytes, 'Host memory in bytes.');
  const allocatedCpus = gauge(
    HypervisorMetricName.AllocatedCpus,
    'vCPUs of the MaasNode domains defined on the host.',
  );
  const allocatedMemory = gauge(
    HypervisorMetricName.AllocatedMemoryBytes,
    'Memory of the MaasNode domains defined on the host, in bytes.',
  );
  const all = [up, capacityCpus, capacityMemory, allocatedCpus, allocatedMemory];
  return {
    reachable(hypervisor, s) {
      up.set({ hypervisor }, 1);
      capacityCpus.set({ hypervisor }, s.capacityCpus);
      capacityMemory.set({ hypervisor }, s.capacityMemoryBytes);
      allocatedCpus.set({ hypervisor }, s.allocatedCpus);
      allocatedMemory.set({ hypervisor }, s.allocatedMemoryBytes);
    },
    unreachable(hypervisor) {
      up.set({ hypervisor }, 0);
    },
    forget(hypervisor) {
      for (const g of all) g.remove({ hypervisor });
    },
  };
}

/** The MaasLab controller's metric names. */
export const LabMetricName = {
  NodesReady: 'maaslab_lab_nodes_ready',
  NodesTotal: 'maaslab_lab_nodes_total',
  SnapshotBytes: 'maaslab_lab_snapshot_bytes',
} as const;

/** The MaasLab controller's gauges, labelled `namespace` and `lab`. */
export interface LabMetrics {
  /** The lab's Ready and desired node counts, as its status reports them. */
  nodes(namespace: string, lab: string, ready: number, total: number): void;
  /** Bytes the lab's ready snapshots take on its hypervisor (status.snapshots.bytes). */
  snapshotBytes(namespace: string, lab: string, bytes: number): void;
  /** The lab is gone (or served elsewhere): drop its series. */
  forget(namespace: string, lab: string): void;
}

/** Records nothing. */
export const noopLabMetrics: LabMetrics = {
  nodes: () => undefined,
  snapshotBytes: () => undefined,
  forget: () => undefined,
};

/** Registers `maaslab_lab_nodes_ready{namespace,lab}` and `maaslab_lab_nodes_total` on `registry`. */
export function createLabMetrics(registry: Registry): LabMetrics {
  const labelNames = ['namespace', 'lab'] as const;
  const ready = new Gauge({
    name: LabMetricName.NodesReady,
    help: 'Nodes of the lab that are Ready at their current generation.',
    labelNames,
    registers: [registry],
  });
  const total = new Gauge({
    name: LabMetricName.NodesTotal,
    help: 'Nodes the lab asks for (spec.nodes.count).',
    labelNames,
    registers: [registry],
  });
  const snapshotBytes = new Gauge({
    name: LabMetricName.SnapshotBytes,
    help: "Bytes the lab's ready MaasLabSnapshots take on its hypervisor (their golden volumes).",
    labelNames,
    registers: [registry],
  });
  return {
    nodes(namespace, lab, r, t) {
      ready.set({ namespace, lab }, r);
      total.set({ namespace, lab }, t);
    },
    snapshotBytes(namespace, lab, bytes) {
      snapshotBytes.set({ namespace, lab }, bytes);
    },
    forget(namespace, lab) {
      ready.remove({ namespace, lab });
      total.remove({ namespace, lab });
      snapshotBytes.remove({ namespace, lab });
    },
  };
}

/** The name of the counter of errors a pass logged and did not return. */
export const SwallowedErrorsMetricName = 'maaslab_swallowed_errors_total';

/**
 * Errors a reconciler logged and did not return, because a more important error was already
 * on its way out (e.g. the status patch after a failed libvirt call): `step` names where.
 */
export interface SwallowedErrorMetrics {
  /** One more error swallowed by `controller` at `step`. */
  swallowed(controller: string, step: string): void;
}

/** Records nothing. */
export const noopSwallowedErrorMetrics: SwallowedErrorMetrics = { swallowed: () => undefined };

/**
 * Registers `maaslab_swallowed_errors_total{controller,step}` on `registry`; each of `seed`'s
 * series starts at 0, so a dashboard sees it before the first error.
 */
export function createSwallowedErrorMetrics(
  registry: Registry,
  seed: ReadonlyArray<{ readonly controller: string; readonly step: string }> = [],
): SwallowedErrorMetrics {
  const counter = new Counter({
    name: SwallowedErrorsMetricName,
    help: 'Errors a reconciler logged but did not return, because another error was returned.',
    labelNames: ['controller', 'step'] as const,
    registers: [registry],
  });
  for (const labels of seed) counter.inc(labels, 0);
  return { swallowed: (controller, step) => counter.inc({ controller, step }) };
}
