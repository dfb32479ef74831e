// A TEST SERVER, NOT MAAS. A node:http server on 127.0.0.1 that answers the part of MAAS's
// API 2.0 the lab uses, following MAAS 3.8.0a1's handlers (canonical/maas@9e51f33):
// src/maasserver/urls_api.py (paths), api/support.py (op= dispatch, "Unrecognised signature"),
// api/auth.py (OAuth), api/machines.py + forms/__init__.py WithMACAddressesMixin (create),
// api/nodes.py (mac_address filter), api/vlans.py + forms/vlan.py, api/subnets.py,
// api/ipranges.py + models/iprange.py, api/boot_resources.py (is_importing),
// api/rackcontrollers.py, api/version.py. See README.md for what is checked and what is not.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { readFormBody, queryFields, UnreadableBodyError, type FormFields } from './form-body.js';
import { verifyOAuthHeader, type KnownToken } from './oauth-header.js';
import {
  hostnameProblem,
  ipRangeJson,
  ipv4CidrBounds,
  ipv4ToNumber,
  machineJson,
  normaliseMac,
  rackJson,
  subnetJson,
  vlanJson,
  type IpRangeState,
  type MachineState,
  type RackState,
  type StatusName,
  type SubnetState,
  type VlanState,
} from './model.js';

export type { MachineState, StatusName } from './model.js';

/** One request as the server saw it. */
export interface RequestRecord {
  readonly method: string;
  /** Path below `/MAAS/api/2.0/`. */
  readonly path: string;
  op: string | undefined;
  readonly contentType: string | undefined;
  /** The answer's status; undefined when the connection was dropped. */
  status: number | undefined;
}

/** Options for a test server. */
export interface MaasApiServerOptions {
  /** Architectures with boot images (the create form's choices). Default `amd64/generic`. */
  readonly architectures?: readonly string[];
  /** The server's clock for OAuth timestamps, in seconds. Default the real clock. */
  readonly nowSeconds?: () => number;
  /**
   * The rack's subnet (fabric 0, untagged VLAN), as a real rack controller discovers it from
   * its interface on the PXE network. Default `10.10.0.0/24`.
   */
  readonly subnetCidr?: string;
  /**
   * Listen on this Unix socket instead of 127.0.0.1: for a test that puts the server behind
   * an address inside a network namespace of its own (test/support/netns-endpoint.ts), so that
   * the address is the only way to it. `url` is then `http://unix/MAAS`, a placeholder.
   */
  readonly socketPath?: string;
}

/** A running test server, with hooks for tests. */
export interface MaasApiServer {
  /** e.g. `http://127.0.0.1:41234/MAAS`: what the client takes as `url`. */
  readonly url: string;
  /** The one rack controller. */
  readonly rackController: Readonly<RackState>;
  /** The subnet on fabric 0, VLAN 0 (untagged). */
  readonly subnetId: number;
  /** Create an admin's API key `consumer:token:secret`. */
  createApiKey(): string;
  /**
   * Create a user (`maas createadmin`): from then on `accounts/authenticate/` exchanges its
   * username and password for an API key (before, it answers 403, as MAAS does).
   */
  createAdmin(username: string, password: string): void;
  /** Copies of the machines, for assertions. */
  machines(): readonly MachineState[];
  /** Copies of the VLANs, subnets and IP ranges. */
  vlans(): readonly VlanState[];
  subnets(): readonly SubnetState[];
  ipRanges(): readonly IpRangeState[];
  /** Every request so far, including faulted ones. */
  requests(): readonly RequestRecord[];
  /** Move a machine to a status (e.g. Ready, Failed commissioning), as MAAS's commissioning would. */
  setMachineStatus(systemId: string, statusName: StatusName, statusMessage?: string): void;
  /** A machine created outside our client (by an admin in the UI); returns its system_id. */
  createMachineByHand(machine: {
    hostname: string;
    macAddresses: string[];
    statusName?: StatusName;
  }): string;
  /** Delete a machine behind the client's back. */
  deleteMachineByHand(systemId: string): void;
  setImporting(importing: boolean): void;
  /** Answer the next `count` requests with `status` (default 503). */
  failNext(count: number, status?: number): void;
  /** Answer every request for the next `ms` milliseconds with `status` (default 503). */
  failFor(ms: number, status?: number): void;
  /** Hold the next `count` requests for `ms` before answering. */
  delayNext(count: number, ms: number): void;
  /** Destroy the connection of the next `count` requests without answering. */
  dropNext(count: number): void;
  /**
   * Act on the next `count` requests of `method` (default POST), then destroy the connection
   * without answering: MAAS did it, the client never heard (a timeout after the commit).
   */
  loseAnswerNext(count: number, method?: string): void;
  close(): Promise<void>;
}

const API_PREFIX = '/MAAS/api/2.0/';
/** MAAS's username+password → API key view (maasserver/urls.py), outside the API. */
const AUTHENTICATE_PATH = '/MAAS/accounts/authenticate/';
const KNOWN_POWER_TYPES = ['amt', 'ipmi', 'lxd', 'manual', 'redfish', 'virsh', 'vmware', 'webhook'];
const SYSTEM_ID_ALPHABET = 'abcdefghkmnpqrstwxy346789';
const DEFAULT_DOMAIN = 'maas';

class HttpAnswer {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly contentType = 'application/json; charset=utf-8',
  ) {}
}

const json = (body: unknown, status = 200) => new HttpAnswer(status, body);
const text = (body: string, status: number) =>
  new HttpAnswer(status, body, 'text/plain; charset=utf-8');
/** MAAS's MAASAPIValidationError: 400 with the form's field → messages as JSON. */
const validationError = (errors: Record<string, string[]>) => json(errors, 400);
const notFound = (what: string) => text(`No ${what} matches the given query.`, 404);

/** StringBool as MAAS's get_optional_param reads it (formencode's StringBool). */
function stringBool(value: string | undefined, fallback: boolean): boolean | undefined {
  if (value === undefined) return fallback;
  const v = value.trim().toLowerCase();
  if (['true', 'yes', 'on', 'y', 't', '1'].includes(v)) return true;
  if (['false', 'no', 'off', 'n', 'f', '0', ''].includes(v)) return false;
  return undefined;
}

/** Start a test server on 127.0.0.1 and an ephemeral port (or on `options.socketPath`). */
export async function startMaasApiServer(
  options: MaasApiServerOptions = {},
): Promise<MaasApiServer> {
  const architectures = options.architectures ?? ['amd64/generic'];
  const subnetCidr = options.subnetCidr ?? '10.10.0.0/24';
  if (ipv4CidrBounds(subnetCidr) === undefined) {
    throw new RangeError(`test server: subnetCidr ${subnetCidr} is not an IPv4 CIDR`);
  }
  const nowSeconds = options.nowSeconds ?? (() => Math.floor(Date.now() / 1000));
  const tokens: KnownToken[] = [];
  const nonces = new Set<string>();
  const machines = new Map<string, MachineState>();
  const rack: RackState = { systemId: newSystemId(), hostname: 'maas-rack' };
  const vlans: VlanState[] = [
    {
      id: 5001,
      vid: 0,
      fabricId: 0,
      name: 'untagged',
      mtu: 1500,
      dhcpOn: false,
      primaryRack: null,
    },
  ];
  const subnets: SubnetState[] = [
    { id: 1, name: subnetCidr, cidr: subnetCidr, gatewayIp: null, vlanId: 5001 },
  ];
  const ipRanges: IpRangeState[] = [];
  const log: RequestRecord[] = [];
  let importing = false;
  let nextRangeId = 1;
  const faults = {
    failCount: 0,
    failStatus: 503,
    failUntil: 0,
    delayCount: 0,
    delayMs: 0,
    dropCount: 0,
    loseCount: 0,
    loseMethod: 'POST',
  };

  function newSystemId(): string {
    const bytes = randomBytes(6);
    return [...bytes].map((b) => SYSTEM_ID_ALPHABET[b % SYSTEM_ID_ALPHABET.length]).join('');
  }

  const macOwner = (mac: string) =>
    [...machines.values()].find((m) => m.macAddresses.includes(mac));
  const vlanOf = (s: SubnetState) => vlans.find((v) => v.id === s.vlanId)!;
  const renderSubnet = (s: SubnetState) => subnetJson(s, vlanOf(s), API_PREFIX);

  // ---- handlers: (request fields) → answer; `data` is query for GET, body otherwise ----

  function readMachines(query: FormFields): HttpAnswer {
    const wanted = (query.get('mac_address') ?? []).map(
      (mac) => normaliseMac(mac) ?? mac.toLowerCase(),
    );
    const list = [...machines.values()].filter(
      (m) => wanted.length === 0 || m.macAddresses.some((mac) => wanted.includes(mac)),
    );
    return json(list.map((m) => machineJson(m, API_PREFIX)));
  }

  function createMachine(data: FormFields): HttpAnswer {
    const one = (name: string) => data.get(name)?.[0];
    const errors: Record<string, string[]> = {};
    const commission = stringBool(one('commission'), true);
    const deployed = stringBool(one('deployed'), false);
    if (commission === undefined || deployed === undefined) {
      return text(
        `Invalid ${commission === undefined ? 'commission' : 'deployed'}: Value should be "true" or "false"`,
        400,
      );
    }
    // fix_architecture: a bare "amd64" means "amd64/generic".
    let architecture = one('architecture') ?? '';
    if (architecture !== '' && !architecture.includes('/'))
      architecture = `${architecture}/generic`;
    if (architecture === '') errors.architecture = ['This field is required.'];
    else if (!architectures.includes(architecture)) {
      errors.architecture = [
        `'${architecture}' is not a valid architecture.  It should be one of: ${architectures.map((a) => `'${a}'`).join(', ')}.`,
      ];
    }
    const givenMacs = (data.get('mac_addresses') ?? []).filter((mac) => mac !== '');
    const macs: string[] = [];
    const macErrors: string[] = [];
    if (givenMacs.length === 0) macErrors.push('This field is required.');
    for (const given of givenMacs) {
      const mac = normaliseMac(given);
      if (mac === undefined) macErrors.push(`'${given}' is not a valid MAC address.`);
      else if (macOwner(mac))
        macErrors.push(`MAC address ${mac} already in use on ${macOwner(mac)!.hostname}.`);
      else macs.push(mac);
    }
    if (macErrors.length > 0) {
      errors.mac_addresses =
        givenMacs.length > 1
          ? [`One or more MAC addresses is invalid. (${macErrors.join(' \u2014 ')})`]
          : macErrors;
    }
    const hostname = one('hostname') || `machine-${newSystemId()}`;
    const hostnameError = hostnameProblem(hostname);
    if (hostnameError) errors.hostname = [hostnameError];
    else if ([...machines.values()].some((m) => m.hostname === hostname)) {
      errors.hostname = [`Node with hostname "${hostname}" already exists.`];
    }
    const domain = one('domain') || DEFAULT_DOMAIN;
    if (domain !== DEFAULT_DOMAIN) {
      errors.domain = ['Select a valid choice. That choice is not one of the available choices.'];
    }
    const powerType = one('power_type') ?? '';
    if (powerType !== '' && !KNOWN_POWER_TYPES.includes(powerType)) {
      errors.power_type = [
        `Select a valid choice. ${powerType} is not one of the available choices.`,
      ];
    }
    if (Object.keys(errors).length > 0) return validationError(errors);

    const powerParameters: Record<string, string> = {};
    for (const [name, values] of data) {
      if (name.startsWith('power_parameters_'))
        powerParameters[name.slice('power_parameters_'.length)] = values[0] ?? '';
    }
    const commissioning = commission && !deployed;
    const machine: MachineState = {
      systemId: newSystemId(),
      hostname,
      domain,
      architecture,
      description: one('description') ?? '',
      statusName: deployed ? 'Deployed' : commissioning ? 'Commissioning' : 'New',
      statusMessage: commissioning ? 'Commissioning' : '',
      powerType,
      powerParameters,
      powerState: 'unknown',
      macAddresses: macs,
      tagNames: [],
      createdBy: 'api',
    };
    machines.set(machine.systemId, machine);
    return json(machineJson(machine, API_PREFIX));
  }

  function updateVlan(vlan: VlanState, data: FormFields): HttpAnswer {
    const one = (name: string) => data.get(name)?.[0];
    const errors: Record<string, string[]> = {};
    const dhcpOn = stringBool(one('dhcp_on'), vlan.dhcpOn);
    if (dhcpOn === undefined) errors.dhcp_on = ['Enter a valid boolean value.'];
    const rackId = one('primary_rack');
    let primaryRack = vlan.primaryRack;
    if (rackId !== undefined) {
      if (rackId === '') primaryRack = null;
      else if (rackId !== rack.systemId) {
        errors.primary_rack = [
          'Select a valid choice. That choice is not one of the available choices.',
        ];
      } else primaryRack = rackId;
    }
    if (Object.keys(errors).length === 0 && dhcpOn && !primaryRack) {
      errors.__all__ = ['dhcp can only be turned on when a primary rack controller is set.'];
    }
    if (Object.keys(errors).length > 0) return validationError(errors);
    vlan.dhcpOn = dhcpOn!;
    vlan.primaryRack = primaryRack;
    return json(vlanJson(vlan, API_PREFIX));
  }

  function updateSubnet(subnet: SubnetState, data: FormFields): HttpAnswer {
    const gateway = data.get('gateway_ip')?.[0];
    if (gateway !== undefined) {
      const bounds = ipv4CidrBounds(subnet.cidr)!;
      const address = ipv4ToNumber(gateway);
      if (gateway !== '' && address === undefined)
        return validationError({ gateway_ip: ['Enter a valid IPv4 or IPv6 address.'] });
      if (address !== undefined && (address < bounds.network || address > bounds.broadcast)) {
        return validationError({ gateway_ip: ['Gateway IP must be within CIDR range.'] });
      }
      subnet.gatewayIp = gateway === '' ? null : gateway;
    }
    return json(renderSubnet(subnet));
  }

  function createIpRange(data: FormFields): HttpAnswer {
    const one = (name: string) => data.get(name)?.[0];
    const type = one('type');
    if (type !== 'dynamic' && type !== 'reserved') {
      return validationError({
        type: [
          type === undefined
            ? 'This field is required.'
            : `Select a valid choice. ${type} is not one of the available choices.`,
        ],
      });
    }
    const subnetKey = one('subnet') ?? '';
    const subnet = subnets.find((s) => String(s.id) === subnetKey || s.cidr === subnetKey);
    if (!subnet)
      return validationError({
        subnet: ['Select a valid choice. That choice is not one of the available choices.'],
      });
    const start = ipv4ToNumber(one('start_ip') ?? '');
    const end = ipv4ToNumber(one('end_ip') ?? '');
    const both = (message: string) => validationError({ start_ip: [message], end_ip: [message] });
    if (start === undefined || end === undefined)
      return both('Start IP address and end IP address are both required.');
    if (end < start)
      return validationError({
        end_ip: ['End IP address must not be less than Start IP address.'],
      });
    const bounds = ipv4CidrBounds(subnet.cidr)!;
    const inside = (n: number) => n >= bounds.network && n <= bounds.broadcast;
    if (!inside(start) && !inside(end))
      return both(`IP addresses must be within subnet: ${subnet.cidr}.`);
    if (!inside(start))
      return validationError({
        start_ip: [`Start IP address must be within subnet: ${subnet.cidr}.`],
      });
    if (!inside(end))
      return validationError({ end_ip: [`End IP address must be within subnet: ${subnet.cidr}.`] });
    if (start === bounds.network)
      return validationError({
        start_ip: ['Reserved network address cannot be included in IP range.'],
      });
    if (end === bounds.broadcast)
      return validationError({ end_ip: ['Broadcast address cannot be included in IP range.'] });
    const overlaps = ipRanges.some(
      (r) =>
        r.subnetId === subnet.id &&
        ipv4ToNumber(r.startIp)! <= end &&
        start <= ipv4ToNumber(r.endIp)!,
    );
    if (overlaps) return both(`Requested ${type} range conflicts with an existing range.`);
    const range: IpRangeState = {
      id: nextRangeId++,
      type,
      startIp: one('start_ip')!,
      endIp: one('end_ip')!,
      subnetId: subnet.id,
      comment: one('comment') ?? '',
    };
    ipRanges.push(range);
    return json(ipRangeJson(range, renderSubnet(subnet), API_PREFIX));
  }

  /** Route one authenticated (or anonymous, for version/) request. */
  function route(
    method: string,
    path: string,
    op: string | undefined,
    query: FormFields,
    body: FormFields,
  ): HttpAnswer {
    const unrecognised = () =>
      text(`Unrecognised signature: method=${method} op=${op ?? 'None'}`, 400);
    let m: RegExpMatchArray | null;
    if (path === 'machines/') {
      if (method === 'GET' && !op) return readMachines(query);
      if (method === 'POST' && !op) return createMachine(body);
      return unrecognised();
    }
    if ((m = path.match(/^machines\/([^/]+)\/$/))) {
      const machine = machines.get(m[1]!);
      if (method === 'GET' && !op)
        return machine ? json(machineJson(machine, API_PREFIX)) : notFound('Machine');
      if (method === 'DELETE' && !op) {
        if (!machine) return notFound('Machine');
        machines.delete(machine.systemId);
        return new HttpAnswer(204, undefined);
      }
      return unrecognised();
    }
    if (path === 'rackcontrollers/') {
      return method === 'GET' && !op ? json([rackJson(rack, API_PREFIX)]) : unrecognised();
    }
    if (path === 'subnets/') {
      return method === 'GET' && !op ? json(subnets.map(renderSubnet)) : unrecognised();
    }
    if ((m = path.match(/^subnets\/([^/]+)\/$/))) {
      const subnet = subnets.find(
        (s) => String(s.id) === m![1] || s.cidr === decodeURIComponent(m![1]!),
      );
      if (!subnet) return notFound('Subnet');
      if (method === 'GET' && !op) return json(renderSubnet(subnet));
      if (method === 'PUT' && !op) return updateSubnet(subnet, body);
      return unrecognised();
    }
    if ((m = path.match(/^fabrics\/([^/]+)\/vlans\/([^/]+)\/$/))) {
      const fabricId = Number(m[1]);
      if (!vlans.some((v) => v.fabricId === fabricId)) return notFound('Fabric');
      const vlan = vlans.find((v) => v.fabricId === fabricId && String(v.vid) === m![2]);
      if (!vlan) return notFound('VLAN');
      if (method === 'GET' && !op) return json(vlanJson(vlan, API_PREFIX));
      if (method === 'PUT' && !op) return updateVlan(vlan, body);
      return unrecognised();
    }
    if (path === 'ipranges/') {
      if (method === 'GET' && !op) {
        return json(
          ipRanges.map((r) =>
            ipRangeJson(r, renderSubnet(subnets.find((s) => s.id === r.subnetId)!), API_PREFIX),
          ),
        );
      }
      if (method === 'POST' && !op) return createIpRange(body);
      return unrecognised();
    }
    if (path === 'boot-resources/') {
      if (method === 'GET' && op === 'is_importing') return json(importing);
      if (method === 'GET' && !op) return json([]);
      return unrecognised();
    }
    return text(`Unknown API endpoint: ${API_PREFIX}${path}.`, 404);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://test-server');
    const method = (req.method ?? 'GET').toUpperCase();
    const path = url.pathname.startsWith(API_PREFIX)
      ? url.pathname.slice(API_PREFIX.length)
      : url.pathname;
    const query = queryFields(url.searchParams);
    const record: RequestRecord = {
      method,
      path,
      op: query.get('op')?.[0],
      contentType: req.headers['content-type'],
      status: undefined,
    };
    log.push(record);

    if (faults.dropCount > 0) {
      faults.dropCount--;
      req.socket.destroy();
      return;
    }
    if (faults.delayCount > 0) {
      faults.delayCount--;
      await sleep(faults.delayMs);
      if (req.socket.destroyed) return;
    }
    const answer = await answerFor(req, method, path, query, record);
    if (faults.loseCount > 0 && method === faults.loseMethod) {
      faults.loseCount--;
      req.socket.destroy();
      return;
    }
    record.status = answer.status;
    if (answer.status === 204 || answer.body === undefined) {
      res.writeHead(answer.status).end();
      return;
    }
    const payload = answer.contentType.startsWith('application/json')
      ? JSON.stringify(answer.body)
      : String(answer.body);
    const headers: Record<string, string> = { 'Content-Type': answer.contentType };
    if (answer.status === 401) headers['WWW-Authenticate'] = 'OAuth realm="OAuth"';
    res.writeHead(answer.status, headers).end(payload);
  }

  async function answerFor(
    req: IncomingMessage,
    method: string,
    path: string,
    query: FormFields,
    record: RequestRecord,
  ): Promise<HttpAnswer> {
    if (faults.failCount > 0 || Date.now() < faults.failUntil) {
      if (faults.failCount > 0) faults.failCount--;
      req.resume();
      return text('Service Unavailable', faults.failStatus);
    }
    if (path === AUTHENTICATE_PATH) return authenticate(req, method);
    if (!req.url?.startsWith(API_PREFIX)) {
      req.resume();
      return text('Not Found', 404);
    }
    let body: FormFields = new Map();
    if (method !== 'GET' && method !== 'DELETE') {
      try {
        body = await readFormBody(req);
      } catch (error) {
        if (error instanceof UnreadableBodyError) return text(error.message, 400);
        throw error;
      }
    } else req.resume();
    // MAAS's dispatch: op from the query string, else from the body.
    const op = query.get('op')?.[0] ?? body.get('op')?.[0];
    record.op = op;
    // version/ is anonymous (urls_api.py: OperationsResource(VersionHandler)).
    if (path !== 'version/') {
      const verdict = verifyOAuthHeader(req.headers.authorization, {
        consumerExists: (consumerKey) => tokens.some((t) => t.consumerKey === consumerKey),
        findToken: (consumerKey, tokenKey) =>
          tokens.find((t) => t.consumerKey === consumerKey && t.tokenKey === tokenKey),
        useNonce: (consumerKey, tokenKey, nonce) => {
          const key = `${consumerKey}\0${tokenKey}\0${nonce}`;
          if (nonces.has(key)) return false;
          nonces.add(key);
          return true;
        },
        nowSeconds: nowSeconds(),
      });
      if (!verdict.ok) return text(verdict.body, verdict.status);
    } else if (method === 'GET' && !op) {
      return json({
        capabilities: ['networks-management', 'static-ipaddresses', 'authenticate-api'],
        version: '3.8.0a1 (test server)',
        subversion: '',
      });
    }
    return route(method, path, op, query, body);
  }

  /**
   * MAAS's maasserver/views/account.py `authenticate` (anonymous, outside the API): POST
   * username, password and an optional consumer; 403 for unknown credentials, 405 for other
   * methods; the consumer's existing token, else a new one, as JSON.
   */
  async function authenticate(req: IncomingMessage, method: string): Promise<HttpAnswer> {
    if (method !== 'POST') {
      req.resume();
      return text('', 405);
    }
    let body: FormFields;
    try {
      body = await readFormBody(req);
    } catch (error) {
      if (error instanceof UnreadableBodyError) return text(error.message, 400);
      throw error;
    }
    const username = body.get('username')?.[0];
    const password = body.get('password')?.[0];
    if (username === undefined || users.get(username) !== password) return text('', 403);
    const consumer = body.get('consumer')?.[0] ?? '';
    const key = `${username}\0${consumer}`;
    let token = userTokens.get(key);
    if (token === undefined) {
      const [consumerKey, tokenKey, tokenSecret] = createKey().split(':') as [
        string,
        string,
        string,
      ];
      token = { consumerKey, tokenKey, tokenSecret };
      userTokens.set(key, token);
    }
    return json({
      consumer_key: token.consumerKey,
      name: consumer,
      token_key: token.tokenKey,
      token_secret: token.tokenSecret,
    });
  }
  const users = new Map<string, string>();
  const userTokens = new Map<
    string,
    { consumerKey: string; tokenKey: string; tokenSecret: string }
  >();
  function createKey(): string {
    const part = (n: number) =>
      randomBytes(n)
        .toString('base64')
        .replace(/[^A-Za-z0-9]/g, '')
        .slice(0, n)
        .padEnd(n, 'x');
    const token = { consumerKey: part(18), tokenKey: part(18), tokenSecret: part(32) };
    tokens.push(token);
    return `${token.consumerKey}:${token.tokenKey}:${token.tokenSecret}`;
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' }).end(String(error));
    });
  });
  const socketPath = options.socketPath;
  await new Promise<void>((resolve) =>
    socketPath === undefined
      ? server.listen(0, '127.0.0.1', resolve)
      : server.listen(socketPath, resolve),
  );
  const url =
    socketPath === undefined
      ? `http://127.0.0.1:${(server.address() as AddressInfo).port}/MAAS`
      : 'http://unix/MAAS';

  const copy = <T>(value: T): T => structuredClone(value);
  const mustFind = (systemId: string) => {
    const machine = machines.get(systemId);
    if (!machine) throw new Error(`test server: no machine ${systemId}`);
    return machine;
  };

  return {
    url,
    rackController: copy(rack),
    subnetId: 1,
    createApiKey: createKey,
    createAdmin(username, password) {
      users.set(username, password);
    },
    machines: () => [...machines.values()].map(copy),
    vlans: () => vlans.map(copy),
    subnets: () => subnets.map(copy),
    ipRanges: () => ipRanges.map(copy),
    requests: () => log.map(copy),
    setMachineStatus(systemId, statusName, statusMessage = '') {
      const machine = mustFind(systemId);
      machine.statusName = statusName;
      machine.statusMessage = statusMessage;
    },
    createMachineByHand({ hostname, macAddresses, statusName = 'Ready' }) {
      const machine: MachineState = {
        systemId: newSystemId(),
        hostname,
        domain: DEFAULT_DOMAIN,
        architecture: architectures[0] ?? 'amd64/generic',
        description: '',
        statusName,
        statusMessage: '',
        powerType: 'manual',
        powerParameters: {},
        powerState: 'unknown',
        macAddresses: macAddresses.map((mac) => normaliseMac(mac) ?? mac),
        tagNames: [],
        createdBy: 'hand',
      };
      machines.set(machine.systemId, machine);
      return machine.systemId;
    },
    deleteMachineByHand(systemId) {
      mustFind(systemId);
      machines.delete(systemId);
    },
    setImporting(value) {
      importing = value;
    },
    failNext(count, status = 503) {
      faults.failCount = count;
      faults.failStatus = status;
    },
    failFor(ms, status = 503) {
      faults.failUntil = Date.now() + ms;
      faults.failStatus = status;
    },
    delayNext(count, ms) {
      faults.delayCount = count;
      faults.delayMs = ms;
    },
    loseAnswerNext(count, method = 'POST') {
      faults.loseCount = count;
      faults.loseMethod = method.toUpperCase();
    },
    dropNext(count) {
      faults.dropCount = count;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
