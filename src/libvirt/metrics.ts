// Metrics of the libvirt side-effect layer: every libvirt call the Hypervisor makes is timed
// and counted here. The interface is what the Hypervisor takes (so tests can record calls);
// the prom-client implementation registers on a Registry handed in, never the global one.
import { Counter, Histogram, type Registry } from 'prom-client';

/** How a libvirt call ended: `not_found` is an expected lookup miss, not a failure. */
export type LibvirtCallResult = 'success' | 'not_found' | 'error';

/** The metric names, fixed here so controllers never reinvent them. */
export const LibvirtMetricName = {
  CallDuration: 'maaslab_libvirt_call_duration_seconds',
  Calls: 'maaslab_libvirt_calls_total',
} as const;

/**
 * Call latency buckets, in seconds: local lookups take well under a millisecond, while a
 * domain start, a managed save or a volume clone can take tens of seconds.
 */
export const LIBVIRT_CALL_BUCKETS: readonly number[] = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120,
];

/** What the Hypervisor reports after each libvirt call. */
export interface LibvirtMetrics {
  /**
   * One finished call. `hypervisor` is the Hypervisor resource's name, `op` the C function
   * (e.g. `virDomainCreateWithFlags`), `seconds` its wall time.
   */
  observeCall(hypervisor: string, op: string, seconds: number, result: LibvirtCallResult): void;
}

/** Records nothing; the default when no metrics are wanted. */
export const noopLibvirtMetrics: LibvirtMetrics = { observeCall: () => undefined };

/**
 * Registers `maaslab_libvirt_call_duration_seconds{hypervisor,op}` and
 * `maaslab_libvirt_calls_total{hypervisor,op,result}` on `registry`.
 */
export function createLibvirtMetrics(registry: Registry): LibvirtMetrics {
  const duration = new Histogram({
    name: LibvirtMetricName.CallDuration,
    help: 'Wall time of libvirt calls, by hypervisor and C function.',
    labelNames: ['hypervisor', 'op'] as const,
    buckets: [...LIBVIRT_CALL_BUCKETS],
    registers: [registry],
  });
  const calls = new Counter({
    name: LibvirtMetricName.Calls,
    help: 'libvirt calls, by hypervisor, C function and result (success, not_found, error).',
    labelNames: ['hypervisor', 'op', 'result'] as const,
    registers: [registry],
  });
  return {
    observeCall(hypervisor, op, seconds, result) {
      duration.observe({ hypervisor, op }, seconds);
      calls.inc({ hypervisor, op, result });
    },
  };
}
