// A BMC's boot source override as the node's reconciler honours it: pure.
import type { BootOverride } from './backend.js';

/** What the override does to a domain's boot order (libvirt's per-device boot order). */
export type BootDeviceName = 'network' | 'disk' | 'cdrom';

/** No override: the spec's boot order. */
export const NoBootOverride: BootOverride = { target: 'None', enabled: 'Disabled', mode: 'Legacy' };

/**
 * The boot order with `override` applied: Pxe puts network first, Hdd disk first, Cd the
 * CD-ROM drive first (before the spec's own devices, which never list it); None,
 * Disabled or no override leave `order` as it is. Devices the node lacks are the caller's to
 * drop, as for the spec's own order.
 */
export function bootOrderWith(
  order: readonly BootDeviceName[],
  override: BootOverride | undefined,
): BootDeviceName[] {
  if (!override || override.enabled === 'Disabled') return [...order];
  const first = OVERRIDE_FIRST[override.target];
  if (first === undefined) return [...order];
  return [first, ...order.filter((d) => d !== first)];
}

const OVERRIDE_FIRST: Readonly<Record<BootOverride['target'], BootDeviceName | undefined>> = {
  Pxe: 'network',
  Hdd: 'disk',
  Cd: 'cdrom',
  None: undefined,
};

/** Whether an override changes anything (a Disabled or None override does not). */
export function isActiveOverride(override: BootOverride | undefined): boolean {
  return override !== undefined && override.enabled !== 'Disabled' && override.target !== 'None';
}
