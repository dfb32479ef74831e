// `power-params`: the MAAS power parameters a node's status.power reports, under MAAS's own
// names (power_type, power_address, power_id, ...) so a script can hand them to
// `maas $PROFILE machine update ... power_parameters_<name>=...`. Pure.

import { type MaasNode } from '../api/v1alpha1/index.js';
import { renderTable } from './table.js';

/** One node's parameters; absent keys are left out. */
export interface PowerParams {
  readonly name: string;
  readonly namespace?: string;
  readonly power_type?: string;
  readonly power_address?: string;
  readonly power_id?: string;
  readonly node_id?: string;
  readonly power_user?: string;
  readonly power_driver?: string;
  readonly cipher_suite_id?: string;
  readonly privilege_level?: string;
}

/** status.power's field → MAAS's parameter name, in the order they are printed. */
export const MaasPowerParameterNames = {
  type: 'power_type',
  address: 'power_address',
  id: 'power_id',
  nodeId: 'node_id',
  user: 'power_user',
  driver: 'power_driver',
  cipherSuiteId: 'cipher_suite_id',
  privilegeLevel: 'privilege_level',
} as const;

/** The power parameters `node` reports (only its name when it reports none yet). */
export function powerParamsOf(node: MaasNode): PowerParams {
  const out: Record<string, string> = { name: node.metadata?.name ?? '' };
  if (node.metadata?.namespace) out.namespace = node.metadata.namespace;
  const power = node.status?.power ?? {};
  for (const [field, key] of Object.entries(MaasPowerParameterNames)) {
    const v = power[field as keyof typeof power];
    if (v !== undefined && v !== '') out[key] = v;
  }
  return out as unknown as PowerParams;
}

/** The table headers. */
export const PowerParamsHeaders = ['NAME', 'POWER-TYPE', 'ADDRESS', 'ID/NODE-ID', 'USER'] as const;

/** The table: one row per node, in the order given. */
export function renderPowerParamsTable(rows: readonly PowerParams[]): string {
  return renderTable(
    PowerParamsHeaders,
    rows.map((p) => [p.name, p.power_type, p.power_address, p.power_id ?? p.node_id, p.power_user]),
  );
}
