// Inventory gauges: how many MaasNodes (by printable status) and VirtNetworks (by active)
// each hypervisor has. They are computed from the informer caches when /metrics is scraped,
// not bumped by reconcilers, so they can never drift from what the API server holds and a
// deleted object leaves no stale series. Beside controllers/metrics.ts (the Hypervisor
// controller's gauges), registered on a Registry handed in, never the global one.
import { Gauge, type Registry } from 'prom-client';
import type { MaasNode, VirtNetwork } from '../api/v1alpha1/index.js';
import type { CacheReader } from '../runtime/index.js';

/** The metric names, fixed here so dashboards and tests agree. */
export const InventoryMetricName = {
  Nodes: 'maaslab_nodes',
  Networks: 'maaslab_networks',
} as const;

/** What the gauges count. */
export interface InventorySources {
  /** MaasNodes, every namespace. */
  readonly nodes: Pick<CacheReader<MaasNode>, 'list'>;
  /** VirtNetworks, every namespace. */
  readonly networks: Pick<CacheReader<VirtNetwork>, 'list'>;
  /** Count only hypervisors this process serves (default: all), so replicas do not double up. */
  readonly serves?: (hypervisor: string) => boolean;
}

/** Counts `items` by a two-label key. */
function countBy<T>(
  items: readonly T[],
  key: (item: T) => readonly [string, string] | undefined,
): Map<string, { labels: readonly [string, string]; count: number }> {
  const counts = new Map<string, { labels: readonly [string, string]; count: number }>();
  for (const item of items) {
    const labels = key(item);
    if (!labels) continue;
    const k = JSON.stringify(labels);
    const entry = counts.get(k) ?? { labels, count: 0 };
    entry.count++;
    counts.set(k, entry);
  }
  return counts;
}

/**
 * Registers `maaslab_nodes{hypervisor,status}` (status: printableStatus, `Pending` before the
 * first report) and `maaslab_networks{hypervisor,active}` (active: "true"/"false") on
 * `registry`, both computed from `sources` at scrape time.
 */
export function registerInventoryMetrics(registry: Registry, sources: InventorySources): void {
  const serves = sources.serves ?? (() => true);
  new Gauge({
    name: InventoryMetricName.Nodes,
    help: 'MaasNodes per hypervisor and printable status.',
    labelNames: ['hypervisor', 'status'] as const,
    registers: [registry],
    collect() {
      this.reset();
      const counts = countBy(sources.nodes.list(), (n) =>
        serves(n.spec.hypervisor)
          ? [n.spec.hypervisor, n.status?.printableStatus ?? 'Pending']
          : undefined,
      );
      for (const { labels, count } of counts.values()) {
        this.set({ hypervisor: labels[0], status: labels[1] }, count);
      }
    },
  });
  new Gauge({
    name: InventoryMetricName.Networks,
    help: 'VirtNetworks per hypervisor, by whether the libvirt network is active.',
    labelNames: ['hypervisor', 'active'] as const,
    registers: [registry],
    collect() {
      this.reset();
      const counts = countBy(sources.networks.list(), (n) =>
        serves(n.spec.hypervisor)
          ? [n.spec.hypervisor, String(n.status?.active ?? false)]
          : undefined,
      );
      for (const { labels, count } of counts.values()) {
        this.set({ hypervisor: labels[0], active: labels[1] }, count);
      }
    },
  });
}
