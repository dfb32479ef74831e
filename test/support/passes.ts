// Proving that something does NOT happen, without sleeping "long enough": make the controller
// run a pass (any change it watches wakes it; a level-based reconciler acts on what it
// observes, whatever woke it), then wait until that pass is done — the reconcile counter has
// moved and the controller is idle, with nothing queued — and only then assert.
import type { Registry } from 'prom-client';
import { MetricName } from '../../src/runtime/index.js';
import { waitFor } from './wait.js';

/** The sum of `metric`'s samples whose `controller` label is `controller`. */
async function sampleSum(registry: Registry, metric: string, controller: string): Promise<number> {
  const m = registry.getSingleMetric(metric);
  if (!m) throw new Error(`metric ${metric} is not registered`);
  const { values } = await m.get();
  return values
    .filter((v) => v.labels.controller === controller)
    .reduce((sum, v) => sum + v.value, 0);
}

/** How many passes `controller` has finished, whatever their result. */
export const reconcileCount = (registry: Registry, controller: string): Promise<number> =>
  sampleSum(registry, MetricName.ReconcileTotal, controller);

/** `controller` runs no pass and has nothing queued. */
const idle = async (registry: Registry, controller: string): Promise<boolean> =>
  (await sampleSum(registry, MetricName.ActiveWorkers, controller)) === 0 &&
  (await sampleSum(registry, MetricName.WorkqueueDepth, controller)) === 0;

/**
 * Waits until `controller` is idle, runs `poke` (a change that wakes it), then waits until a
 * pass that started after the wait has finished and `controller` is idle again. Reconcilers are
 * level-based: such a pass saw the state the test set up, whatever woke it.
 */
export async function afterPass(
  registry: Registry,
  controller: string,
  poke: () => Promise<unknown>,
  timeoutMs = 30_000,
): Promise<void> {
  await waitFor(() => idle(registry, controller), {
    timeoutMs,
    intervalMs: 50,
    description: `${controller} idle before the poke`,
  });
  const before = await reconcileCount(registry, controller);
  await poke();
  await waitFor(
    async () =>
      (await reconcileCount(registry, controller)) > before && (await idle(registry, controller)),
    { timeoutMs, intervalMs: 50, description: `a ${controller} pass after the poke` },
  );
}
