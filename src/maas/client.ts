// The operator's MAAS API 2.0 client: one typed method per call the lab needs, over Node's
// fetch. Every request is OAuth-signed (oauth.ts), bounded by a timeout combined with the
// caller's signal, and every failure becomes a typed error (errors.ts). Responses are checked
// against the wire schemas in resources.ts, so a MAAS that answers in another shape fails loudly.
import { type Static, type TSchema } from '@sinclair/typebox';
import { Type } from '@sinclair/typebox';
import { parseMaasApiKey, type MaasApiKey } from './api-key.js';
import { buildOAuthHeader, randomNonce } from './oauth.js';
import {
  MaasApiError,
  MaasBadRequestError,
  MaasConflictError,
  MaasNotFoundError,
  MaasResponseShapeError,
  MaasUnauthorizedError,
  MaasUnavailableError,
} from './errors.js';
import {
  IpRangeWire,
  MachineWire,
  RackControllerWire,
  SubnetWire,
  VersionWire,
  VlanWire,
  shapeProblem,
  toIpRange,
  toMachine,
  toRackController,
  toSubnet,
  toVersion,
  toVlan,
  type IpRange,
  type MaasVersion,
  type Machine,
  type RackController,
  type Subnet,
  type Vlan,
} from './resources.js';

/** How to reach one MAAS region. */
export interface MaasClientOptions {
  /** MAAS URL including `/MAAS`, e.g. `http://10.0.0.2:5240/MAAS`. */
  readonly url: string;
  /** `consumer:token:secret` as `maas apikey` prints it. */
  readonly apiKey: string;
  /** Per-request timeout. Default 30 s. */
  readonly timeoutMs?: number;
  /** Injected for tests; default the global fetch. */
  readonly fetch?: typeof fetch;
  /** Injected for tests; default `Date.now`. */
  readonly now?: () => number;
  /** Injected for tests; default 128 random bits. */
  readonly nonce?: () => string;
}

/** Per-call options. */
export interface CallOptions {
  /** Aborts the call; an abort is rethrown as is, not turned into MaasUnavailableError. */
  readonly signal?: AbortSignal;
}

/** What `createMachine` sends. */
export interface CreateMachineRequest {
  /** e.g. `amd64/generic`; must be an architecture MAAS has boot images for. */
  readonly architecture: string;
  /** At least one; the first is the PXE interface. */
  readonly macAddresses: readonly string[];
  readonly hostname: string;
  readonly domain?: string;
  /** Free text; we use it to mark the machines this operator created. */
  readonly description?: string;
  /** e.g. `virsh`, `redfish`, `ipmi`. */
  readonly powerType: string;
  /** Sent as `power_parameters_<key>`. */
  readonly powerParameters: Readonly<Record<string, string>>;
  /** Start commissioning right away (MAAS's default for admins is true). */
  readonly commission: boolean;
}

/** The calls the lab makes against MAAS's API 2.0. */
export interface MaasClient {
  version(options?: CallOptions): Promise<MaasVersion>;
  /** Machines owning `mac` (normally zero or one): the lookup before an idempotent create. */
  machinesByMac(mac: string, options?: CallOptions): Promise<readonly Machine[]>;
  readMachine(systemId: string, options?: CallOptions): Promise<Machine>;
  /** Not idempotent in MAAS: look up by MAC first (`machinesByMac`). */
  createMachine(request: CreateMachineRequest, options?: CallOptions): Promise<Machine>;
  deleteMachine(systemId: string, options?: CallOptions): Promise<void>;
  listRackControllers(options?: CallOptions): Promise<readonly RackController[]>;
  listSubnets(options?: CallOptions): Promise<readonly Subnet[]>;
  readVlan(fabricId: number, vid: number, options?: CallOptions): Promise<Vlan>;
  updateVlan(
    fabricId: number,
    vid: number,
    update: { readonly dhcpOn: boolean; readonly primaryRack: string },
    options?: CallOptions,
  ): Promise<Vlan>;
  listIpRanges(options?: CallOptions): Promise<readonly IpRange[]>;
  createIpRange(
    range: {
      readonly type: 'dynamic';
      readonly startIp: string;
      readonly endIp: string;
      /** Subnet id, or its CIDR. */
      readonly subnet: number | string;
    },
    options?: CallOptions,
  ): Promise<IpRange>;
  updateSubnet(
    id: number,
    update: { readonly gatewayIp: string },
    options?: CallOptions,
  ): Promise<Subnet>;
  /** Whether MAAS is still importing boot images (`boot-resources/?op=is_importing`). */
  bootResourcesIsImporting(options?: CallOptions): Promise<boolean>;
}

const DEFAULT_TIMEOUT_MS = 30_000;

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

interface ApiRequest {
  readonly method: Method;
  /** Below `/api/2.0/`, with its trailing slash. */
  readonly path: string;
  readonly query?: URLSearchParams;
  readonly form?: URLSearchParams;
  readonly signal: AbortSignal | undefined;
}

/** Build a client; throws InvalidMaasApiKeyError for a malformed key, before any request. */
export function createMaasClient(options: MaasClientOptions): MaasClient {
  const key = parseMaasApiKey(options.apiKey);
  const apiRoot = `${options.url.replace(/\/+$/, '')}/api/2.0/`;
  const send = sender(key, apiRoot, options);
  const get = <T extends TSchema>(
    schema: T,
    path: string,
    o?: CallOptions,
    query?: URLSearchParams,
  ) =>
    send({ method: 'GET', path, query, signal: o?.signal }).then((body) =>
      expect(schema, 'GET', path, body),
    );

  return {
    version: (o) => get(VersionWire, 'version/', o).then(toVersion),
    machinesByMac: (mac, o) =>
      get(Type.Array(MachineWire), 'machines/', o, new URLSearchParams({ mac_address: mac })).then(
        (list) => list.map(toMachine),
      ),
    readMachine: (systemId, o) => get(MachineWire, machinePath(systemId), o).then(toMachine),
    createMachine: async (request, o) => {
      const body = await send({
        method: 'POST',
        path: 'machines/',
        form: createMachineForm(request),
        signal: o?.signal,
      });
      return toMachine(expect(MachineWire, 'POST', 'machines/', body));
    },
    deleteMachine: async (systemId, o) => {
      await send({ method: 'DELETE', path: machinePath(systemId), signal: o?.signal });
    },
    listRackControllers: (o) =>
      get(Type.Array(RackControllerWire), 'rackcontrollers/', o).then((list) =>
        list.map(toRackController),
      ),
    listSubnets: (o) =>
      get(Type.Array(SubnetWire), 'subnets/', o).then((list) => list.map(toSubnet)),
    readVlan: (fabricId, vid, o) => get(VlanWire, vlanPath(fabricId, vid), o).then(toVlan),
    updateVlan: async (fabricId, vid, update, o) => {
      const path = vlanPath(fabricId, vid);
      const form = new URLSearchParams({
        dhcp_on: String(update.dhcpOn),
        primary_rack: update.primaryRack,
      });
      const body = await send({ method: 'PUT', path, form, signal: o?.signal });
      return toVlan(expect(VlanWire, 'PUT', path, body));
    },
    listIpRanges: (o) =>
      get(Type.Array(IpRangeWire), 'ipranges/', o).then((list) => list.map(toIpRange)),
    createIpRange: async (range, o) => {
      const form = new URLSearchParams({
        type: range.type,
        start_ip: range.startIp,
        end_ip: range.endIp,
        subnet: String(range.subnet),
      });
      const body = await send({ method: 'POST', path: 'ipranges/', form, signal: o?.signal });
      return toIpRange(expect(IpRangeWire, 'POST', 'ipranges/', body));
    },
    updateSubnet: async (id, update, o) => {
      const path = `subnets/${integerSegment(id)}/`;
      const form = new URLSearchParams({ gateway_ip: update.gatewayIp });
      const body = await send({ method: 'PUT', path, form, signal: o?.signal });
      return toSubnet(expect(SubnetWire, 'PUT', path, body));
    },
    bootResourcesIsImporting: (o) =>
      get(Type.Boolean(), 'boot-resources/', o, new URLSearchParams({ op: 'is_importing' })),
  };
}

/** The form MAAS's machine create handler reads: repeated `mac_addresses`, `power_parameters_<key>`. */
export function createMachineForm(request: CreateMachineRequest): URLSearchParams {
  const form = new URLSearchParams();
  form.set('architecture', request.architecture);
  for (const mac of request.macAddresses) form.append('mac_addresses', mac);
  form.set('hostname', request.hostname);
  if (request.domain !== undefined) form.set('domain', request.domain);
  if (request.description !== undefined) form.set('description', request.description);
  form.set('power_type', request.powerType);
  for (const [name, value] of Object.entries(request.powerParameters)) {
    form.set(`power_parameters_${name}`, value);
  }
  form.set('commission', String(request.commission));
  return form;
}

const machinePath = (systemId: string) => `machines/${pathSegment(systemId)}/`;
const vlanPath = (fabricId: number, vid: number) =>
  `fabrics/${integerSegment(fabricId)}/vlans/${integerSegment(vid)}/`;

/** A system_id goes into the path: refuse anything that could change the path's meaning. */
function pathSegment(value: string): string {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(value)) throw new RangeError('invalid MAAS system_id');
  return value;
}

function integerSegment(value: number): string {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`invalid MAAS id ${value}`);
  return String(value);
}

function expect<T extends TSchema>(
  schema: T,
  method: string,
  path: string,
  body: unknown,
): Static<T> {
  const problem = shapeProblem(schema, body);
  if (problem !== undefined) {
    throw new MaasResponseShapeError(method, path, 200, `unexpected response shape at ${problem}`);
  }
  return body as Static<T>;
}

/** Sends one request and returns its parsed JSON body (undefined for an empty one). */
function sender(key: MaasApiKey, apiRoot: string, options: MaasClientOptions) {
  const doFetch = options.fetch ?? fetch;
  const now = options.now ?? Date.now;
  const nonce = options.nonce ?? randomNonce;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;

  return async (request: ApiRequest): Promise<unknown> => {
    const { method, path } = request;
    const url = new URL(path, apiRoot);
    if (request.query) url.search = request.query.toString();
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = request.signal ? AbortSignal.any([request.signal, timeout]) : timeout;
    const headers: Record<string, string> = {
      Authorization: buildOAuthHeader(key, { nonce: nonce(), timestampSeconds: now() / 1000 }),
      Accept: 'application/json',
    };
    let response: Response;
    let text: string;
    try {
      response = await doFetch(url, { method, headers, body: request.form, signal });
      text = await response.text();
    } catch (error) {
      if (request.signal?.aborted) throw request.signal.reason;
      const why = timeout.aborted
        ? `no answer within ${timeoutMs} ms`
        : describeNetworkError(error);
      throw new MaasUnavailableError(method, path, undefined, why, { cause: error });
    }
    if (!response.ok) throw errorForStatus(method, path, response.status, text);
    if (text === '') return undefined;
    try {
      return JSON.parse(text) as unknown;
    } catch (error) {
      throw new MaasResponseShapeError(method, path, response.status, 'response is not JSON', {
        cause: error,
      });
    }
  };
}

function describeNetworkError(error: unknown): string {
  const cause =
    error instanceof Error ? (error.cause as { code?: unknown } | undefined) : undefined;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  return code ? `connection failed (${code})` : 'connection failed';
}

/** The typed error for a non-2xx answer; MAAS's body is short text or a field→messages dict. */
export function errorForStatus(
  method: string,
  path: string,
  status: number,
  body: string,
): MaasApiError {
  const summary = summarize(body);
  if (status === 401 || status === 403)
    return new MaasUnauthorizedError(method, path, status, `${status} ${summary}`);
  if (status === 404) return new MaasNotFoundError(method, path, status, `404 ${summary}`);
  if (status === 400)
    return new MaasBadRequestError(method, path, `400 ${summary}`, fieldErrors(body));
  if (status === 409) return new MaasConflictError(method, path, status, `409 ${summary}`);
  if (status >= 500) return new MaasUnavailableError(method, path, status, `${status} ${summary}`);
  return new MaasApiError(method, path, status, `${status} ${summary}`);
}

/** MAAS's form errors: a JSON object of field → list of messages; anything else gives `{}`. */
export function fieldErrors(body: string): Record<string, string[]> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return {};
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return {};
  const fields: Record<string, string[]> = {};
  for (const [field, messages] of Object.entries(parsed)) {
    if (Array.isArray(messages)) fields[field] = messages.map(String);
    else if (typeof messages === 'string') fields[field] = [messages];
  }
  return fields;
}

/** One line of MAAS's body for an error message, bounded so a huge page cannot flood logs. */
function summarize(body: string): string {
  const oneLine = body.replace(/\s+/g, ' ').trim();
  return oneLine.length > 300 ? `${oneLine.slice(0, 300)}…` : oneLine;
}
