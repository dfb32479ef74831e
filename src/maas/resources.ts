// The MAAS objects this client reads, as MAAS sends them (snake_case wire schemas, checked
// with TypeBox) and as the operator uses them (camelCase result types). Only the fields we
// use are checked; MAAS sends many more, which are ignored. Pure: no I/O.
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

/** `GET version/`. */
export const VersionWire = Type.Object({
  version: Type.String(),
  subversion: Type.Optional(Type.String()),
  capabilities: Type.Array(Type.String()),
});

const InterfaceWire = Type.Object({ mac_address: Type.String() });

/** A machine as `machines/` and `machines/{system_id}/` return it. */
export const MachineWire = Type.Object({
  system_id: Type.String(),
  hostname: Type.String(),
  status_name: Type.String(),
  status_message: Nullable(Type.String()),
  power_state: Type.String(),
  power_type: Type.String(),
  boot_interface: Nullable(InterfaceWire),
  interface_set: Type.Array(InterfaceWire),
  tag_names: Type.Array(Type.String()),
  description: Type.String(),
});

/** A rack controller as `rackcontrollers/` returns it. */
export const RackControllerWire = Type.Object({
  system_id: Type.String(),
  hostname: Type.String(),
});

/** A VLAN as `fabrics/{fabric_id}/vlans/{vid}/` returns it (and as nested in a subnet). */
export const VlanWire = Type.Object({
  id: Type.Integer(),
  vid: Type.Integer(),
  fabric_id: Type.Integer(),
  dhcp_on: Type.Boolean(),
  primary_rack: Nullable(Type.String()),
});

/** A subnet as `subnets/` returns it. */
export const SubnetWire = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  cidr: Type.String(),
  gateway_ip: Nullable(Type.String()),
  vlan: VlanWire,
});

/** An IP range as `ipranges/` returns it. */
export const IpRangeWire = Type.Object({
  id: Type.Integer(),
  type: Type.String(),
  start_ip: Type.String(),
  end_ip: Type.String(),
  subnet: Type.Object({ id: Type.Integer() }),
});

/** What `GET version/` says. */
export interface MaasVersion {
  readonly version: string;
  readonly capabilities: readonly string[];
}

/** A MAAS machine, as much of it as the operator needs. */
export interface Machine {
  readonly systemId: string;
  readonly hostname: string;
  /** MAAS's status name: New, Commissioning, Ready, Failed commissioning, ... */
  readonly statusName: string;
  readonly statusMessage: string;
  /** on, off, unknown or error. */
  readonly powerState: string;
  readonly powerType: string;
  /** Boot interface's MAC first, then every other interface's, lower case, no duplicates. */
  readonly macAddresses: readonly string[];
  readonly tagNames: readonly string[];
  readonly description: string;
}

/** A rack controller. */
export interface RackController {
  readonly systemId: string;
  readonly hostname: string;
}

/** A VLAN on a fabric. */
export interface Vlan {
  readonly id: number;
  readonly vid: number;
  readonly fabricId: number;
  readonly dhcpOn: boolean;
  /** The primary rack controller's system_id, if any. */
  readonly primaryRack: string | null;
}

/** A subnet and the VLAN it is on. */
export interface Subnet {
  readonly id: number;
  readonly name: string;
  readonly cidr: string;
  readonly gatewayIp: string | null;
  readonly vlan: Vlan;
}

/** A reserved or dynamic IP range. */
export interface IpRange {
  readonly id: number;
  readonly type: string;
  readonly startIp: string;
  readonly endIp: string;
  readonly subnetId: number;
}

/** Why a payload did not match its schema: the first mismatch, as `path: message`. */
export function shapeProblem(schema: TSchema, value: unknown): string | undefined {
  const first = Value.Errors(schema, value).First();
  return first ? `${first.path || '/'}: ${first.message}` : undefined;
}

/** Validate `value` against `schema`; throws a plain Error naming the mismatch. */
export function checkShape<T extends TSchema>(schema: T, value: unknown): Static<T> {
  const problem = shapeProblem(schema, value);
  if (problem !== undefined) throw new Error(`unexpected response shape at ${problem}`);
  return value as Static<T>;
}

export const toVersion = (w: Static<typeof VersionWire>): MaasVersion => ({
  version: w.version,
  capabilities: w.capabilities,
});

export const toMachine = (w: Static<typeof MachineWire>): Machine => ({
  systemId: w.system_id,
  hostname: w.hostname,
  statusName: w.status_name,
  statusMessage: w.status_message ?? '',
  powerState: w.power_state,
  powerType: w.power_type,
  macAddresses: [
    ...new Set(
      [w.boot_interface, ...w.interface_set]
        .filter((iface) => iface !== null)
        .map((iface) => iface.mac_address.toLowerCase()),
    ),
  ],
  tagNames: w.tag_names,
  description: w.description,
});

export const toRackController = (w: Static<typeof RackControllerWire>): RackController => ({
  systemId: w.system_id,
  hostname: w.hostname,
});

export const toVlan = (w: Static<typeof VlanWire>): Vlan => ({
  id: w.id,
  vid: w.vid,
  fabricId: w.fabric_id,
  dhcpOn: w.dhcp_on,
  primaryRack: w.primary_rack,
});

export const toSubnet = (w: Static<typeof SubnetWire>): Subnet => ({
  id: w.id,
  name: w.name,
  cidr: w.cidr,
  gatewayIp: w.gateway_ip,
  vlan: toVlan(w.vlan),
});

export const toIpRange = (w: Static<typeof IpRangeWire>): IpRange => ({
  id: w.id,
  type: w.type,
  startIp: w.start_ip,
  endIp: w.end_ip,
  subnetId: w.subnet.id,
});
