// The MAAS controller VM's cloud-init NoCloud seed: user-data, meta-data and network-config.
// Pure: input in, three strings out. Every value is validated first; YAML is emitted by the
// `yaml` package and shell values by shellQuote, never by string concatenation.
import { stringify } from 'yaml';
import {
  ADMIN_PASSWORD_PATH,
  ADMIN_SSH_KEYS_PATH,
  BOOTSTRAP_ENV_PATH,
  BOOTSTRAP_SCRIPT,
  BOOTSTRAP_SCRIPT_PATH,
  SERIAL_CONSOLE,
} from './bootstrap-script.js';
import { type IsoFile } from './iso9660.js';
import { shellAssignment } from './shell.js';

/** What the controller VM's seed is built from. */
export interface ControllerSeedInput {
  /** cloud-init instance id; a new id makes cloud-init run again. 1-128 of A-Z a-z 0-9 . _ : - */
  readonly instanceId: string;
  /** The VM's host name: one lowercase DNS label. */
  readonly hostname: string;
  /** The MAAS snap channel, `<track>/<risk>`, e.g. `3.7/stable`. */
  readonly channel: string;
  /** The maas-test-db snap channel; default `channel`. */
  readonly testDbChannel?: string;
  /** The URL the rack and the machines reach the region at, e.g. `http://10.77.0.2:5240/MAAS`. */
  readonly maasUrl: string;
  /** The controller's static address on the PXE network, in CIDR form, e.g. `10.77.0.2/24`. */
  readonly address: string;
  /** MAC address of the NIC on the PXE network. */
  readonly pxeMac: string;
  /** Default gateway on the PXE network; used only when there is no uplink. */
  readonly gateway?: string;
  /** DNS servers for the VM, also set as MAAS's upstream DNS. */
  readonly dns?: readonly string[];
  /** MAC address of a second NIC on a NAT network; it takes DHCP and the default route. */
  readonly uplinkMac?: string;
  /** The MAAS administrator. */
  readonly admin: {
    readonly username: string;
    readonly password: string;
    /** Default `<username>@maaslab.invalid`. */
    readonly email?: string;
  };
  /** Public keys for the VM's default user, also imported into the admin's MAAS account. */
  readonly sshAuthorizedKeys: readonly string[];
  /** Absolute path in the VM where the admin's API key is written; default DEFAULT_APIKEY_FILE. */
  readonly apiKeyFile?: string;
  /** MAAS's global kernel_opts for the machines it boots; default DEFAULT_KERNEL_OPTS. */
  readonly kernelOpts?: string;
  /** Bound on `snap wait system seed.loaded`, seconds; default 600. */
  readonly snapSeedTimeoutSeconds?: number;
  /** Bound on waiting for the MAAS API after `maas init`, seconds; default 900. */
  readonly apiTimeoutSeconds?: number;
}

/** The seed's three files. */
export interface ControllerSeed {
  readonly userData: string;
  readonly metaData: string;
  readonly networkConfig: string;
}

/** Where the admin's API key lands unless the input says otherwise. */
export const DEFAULT_APIKEY_FILE = '/var/lib/maaslab/admin-apikey';
/** Serial console for every machine MAAS boots, matching the libvirt domains' `<serial>`. */
export const DEFAULT_KERNEL_OPTS = 'console=ttyS0,115200';
/** Interface names the seed gives the controller's NICs (netplan `set-name`). */
export const PXE_INTERFACE = 'pxe';
export const UPLINK_INTERFACE = 'uplink';

/** An input value that the seed cannot use; `field` names it as in ControllerSeedInput. */
export class ControllerSeedError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`controller seed: ${field}: ${message}`);
    this.name = 'ControllerSeedError';
  }
}

/**
 * Builds the NoCloud seed of a MAAS region+rack controller VM.
 * Throws ControllerSeedError for the first invalid value.
 */
export function buildControllerSeed(input: ControllerSeedInput): ControllerSeed {
  const v = validate(input);
  return {
    userData: userData(v),
    metaData: toYaml({ 'instance-id': v.instanceId, 'local-hostname': v.hostname }),
    networkConfig: networkConfig(v),
  };
}

/** The seed as the files of a NoCloud volume, named as NoCloud reads them. */
export function seedFiles(seed: ControllerSeed): IsoFile[] {
  return [
    { name: 'user-data', content: seed.userData },
    { name: 'meta-data', content: seed.metaData },
    { name: 'network-config', content: seed.networkConfig },
  ];
}

interface Valid {
  instanceId: string;
  hostname: string;
  channel: string;
  testDbChannel: string;
  maasUrl: string;
  address: string;
  pxeMac: string;
  gateway: string | undefined;
  dns: string[];
  uplinkMac: string | undefined;
  username: string;
  password: string;
  email: string;
  keys: string[];
  apiKeyFile: string;
  kernelOpts: string;
  seedTimeout: number;
  apiTimeout: number;
}

const CHANNEL = /^[a-z0-9][a-z0-9.+~_-]{0,63}\/(stable|candidate|beta|edge)$/;
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const INSTANCE_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/** Django's user name characters, which MAAS keeps. */
const USERNAME = /^[A-Za-z0-9_.@+-]{1,150}$/;
const EMAIL = /^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+$/;
const KEY =
  /^(ssh-[a-z0-9]+|ecdsa-sha2-nistp(256|384|521)|sk-[a-z0-9@.-]+) [A-Za-z0-9+/]+={0,3}( [\x20-\x7e]*)?$/;
const PATH = /^(\/[A-Za-z0-9._-]+)+$/;
// eslint-disable-next-line no-control-regex -- control characters are exactly what it finds
const CONTROL = /[\u0000-\u001f\u007f]/;

function validate(i: ControllerSeedInput): Valid {
  const fail = (field: string, message: string): never => {
    throw new ControllerSeedError(field, message);
  };
  const show = (s: unknown): string => JSON.stringify(s);

  if (!INSTANCE_ID.test(i.instanceId))
    fail('instanceId', `${show(i.instanceId)} must be 1-128 of A-Z a-z 0-9 . _ : -`);
  if (!DNS_LABEL.test(i.hostname)) {
    fail(
      'hostname',
      `${show(i.hostname)} must be one DNS label: 1-63 of a-z 0-9 -, not starting or ending with -`,
    );
  }
  const testDbChannel = i.testDbChannel ?? i.channel;
  for (const [field, c] of [
    ['channel', i.channel],
    ['testDbChannel', testDbChannel],
  ] as const) {
    if (!CHANNEL.test(c))
      fail(
        field,
        `${show(c)} must be <track>/<risk>, e.g. 3.7/stable (risk: stable, candidate, beta or edge)`,
      );
  }
  const maasUrl =
    checkUrl(i.maasUrl) ??
    fail(
      'maasUrl',
      `${show(i.maasUrl)} must be an http(s) URL without credentials, query or fragment, e.g. http://10.77.0.2:5240/MAAS`,
    );
  const address =
    checkCidr(i.address) ??
    fail(
      'address',
      `${show(i.address)} must be an IP address with a prefix length, e.g. 10.77.0.2/24`,
    );
  const pxeMac =
    checkMac(i.pxeMac) ??
    fail('pxeMac', `${show(i.pxeMac)} must be a MAC address, e.g. 52:54:00:12:34:56`);
  const uplinkMac =
    i.uplinkMac === undefined
      ? undefined
      : (checkMac(i.uplinkMac) ??
        fail('uplinkMac', `${show(i.uplinkMac)} must be a MAC address, e.g. 52:54:00:12:34:57`));
  if (uplinkMac !== undefined && uplinkMac === pxeMac) fail('uplinkMac', 'must differ from pxeMac');
  const gateway =
    i.gateway === undefined
      ? undefined
      : (checkIp(i.gateway) ?? fail('gateway', `${show(i.gateway)} must be an IP address`));
  const dns = (i.dns ?? []).map(
    (d, n) => checkIp(d) ?? fail(`dns[${n}]`, `${show(d)} must be an IP address`),
  );
  if (!USERNAME.test(i.admin.username))
    fail('admin.username', `${show(i.admin.username)} must be 1-150 of A-Z a-z 0-9 _ . @ + -`);
  // The password is never shown in an error: it may be a real one.
  if (i.admin.password.length === 0) fail('admin.password', 'must not be empty');
  if (CONTROL.test(i.admin.password))
    fail('admin.password', 'must not contain control characters (newline, tab, NUL, ...)');
  const email =
    i.admin.email ?? `${i.admin.username.replace(/[^A-Za-z0-9._%+-]/g, '_')}@maaslab.invalid`;
  if (!EMAIL.test(email)) fail('admin.email', `${show(email)} must be an e-mail address`);
  const keys = i.sshAuthorizedKeys.map((k, n) => {
    if (!KEY.test(k))
      fail(
        `sshAuthorizedKeys[${n}]`,
        'must be one OpenSSH public key line: "<type> <base64> [comment]", no newlines',
      );
    return k;
  });
  const apiKeyFile = i.apiKeyFile ?? DEFAULT_APIKEY_FILE;
  if (!PATH.test(apiKeyFile) || apiKeyFile.split('/').some((p) => p === '.' || p === '..')) {
    fail(
      'apiKeyFile',
      `${show(apiKeyFile)} must be an absolute path of A-Z a-z 0-9 . _ - without . or .. parts`,
    );
  }
  const kernelOpts = i.kernelOpts ?? DEFAULT_KERNEL_OPTS;
  if (!/^[\x20-\x7e]{1,1024}$/.test(kernelOpts))
    fail('kernelOpts', 'must be 1-1024 printable ASCII characters');
  const seconds = (field: string, s: number | undefined, dflt: number): number => {
    const n = s ?? dflt;
    if (!Number.isInteger(n) || n < 1 || n > 86_400)
      fail(field, `${show(s)} must be a whole number of seconds from 1 to 86400`);
    return n;
  };
  return {
    instanceId: i.instanceId,
    hostname: i.hostname,
    channel: i.channel,
    testDbChannel,
    maasUrl,
    address,
    pxeMac,
    gateway,
    dns,
    uplinkMac,
    username: i.admin.username,
    password: i.admin.password,
    email,
    keys,
    apiKeyFile,
    kernelOpts,
    seedTimeout: seconds('snapSeedTimeoutSeconds', i.snapSeedTimeoutSeconds, 600),
    apiTimeout: seconds('apiTimeoutSeconds', i.apiTimeoutSeconds, 900),
  };
}

/** The URL as given, if it is http(s) with a host and no credentials, query or fragment. */
function checkUrl(s: string): string | undefined {
  if (CONTROL.test(s) || /\s/.test(s)) return undefined;
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return undefined;
  }
  const ok =
    (u.protocol === 'http:' || u.protocol === 'https:') &&
    u.hostname !== '' &&
    u.username === '' &&
    u.password === '' &&
    u.search === '' &&
    u.hash === '' &&
    !s.includes('?') &&
    !s.includes('#');
  return ok ? s : undefined;
}

/** The IPv4 or IPv6 address as given, if it is one (IPv6 checked by the WHATWG URL parser). */
function checkIp(s: string): string | undefined {
  const v4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
  if (v4.test(s)) return s;
  if (!/^[0-9A-Fa-f:.]+$/.test(s) || !s.includes(':')) return undefined;
  try {
    new URL(`http://[${s}]/`);
    return s;
  } catch {
    return undefined;
  }
}

function checkCidr(s: string): string | undefined {
  const slash = s.lastIndexOf('/');
  if (slash < 0) return undefined;
  const ip = checkIp(s.slice(0, slash));
  const prefix = s.slice(slash + 1);
  if (ip === undefined || !/^\d{1,3}$/.test(prefix)) return undefined;
  const max = ip.includes(':') ? 128 : 32;
  return Number(prefix) >= 1 && Number(prefix) <= max ? s : undefined;
}

/** The MAC in lowercase, if it is one (colon-separated). */
function checkMac(s: string): string | undefined {
  const m = s.toLowerCase();
  return MAC.test(m) ? m : undefined;
}

/**
 * YAML as cloud-init reads it. cloud-init parses with PyYAML, which follows YAML 1.1: there a
 * plain 52:54:00:12:34:56 is a base-60 integer and yes/on are booleans. Emitting with the 1.1
 * schema makes `yaml` quote every such string.
 */
function toYaml(value: unknown): string {
  return stringify(value, { version: '1.1', lineWidth: 0 });
}

function networkConfig(v: Valid): string {
  const nameservers = v.dns.length > 0 ? { nameservers: { addresses: v.dns } } : {};
  const pxe: Record<string, unknown> = {
    match: { macaddress: v.pxeMac },
    'set-name': PXE_INTERFACE,
    // MAAS serves DHCP on this network: the controller must not ask for a lease there.
    dhcp4: false,
    dhcp6: false,
    addresses: [v.address],
    ...(v.uplinkMac === undefined && v.gateway !== undefined
      ? {
          // Not `to: default`: cloud-init 22.4's own v2 parser rejects it; every netplan takes this.
          routes: [{ to: v.gateway.includes(':') ? '::/0' : '0.0.0.0/0', via: v.gateway }],
        }
      : {}),
    ...nameservers,
  };
  const ethernets: Record<string, unknown> = { [PXE_INTERFACE]: pxe };
  if (v.uplinkMac !== undefined) {
    ethernets[UPLINK_INTERFACE] = {
      match: { macaddress: v.uplinkMac },
      'set-name': UPLINK_INTERFACE,
      dhcp4: true, // the NAT network's DHCP gives the address and the default route
      dhcp6: false,
    };
  }
  return toYaml({ version: 2, ethernets });
}

function userData(v: Valid): string {
  const env = [
    '# Settings of maaslab-bootstrap, written by the maaslab operator; every value shell-quoted.',
    shellAssignment('MAASLAB_CHANNEL', v.channel),
    shellAssignment('MAASLAB_TEST_DB_CHANNEL', v.testDbChannel),
    shellAssignment('MAASLAB_MAAS_URL', v.maasUrl),
    shellAssignment('MAASLAB_ADMIN_USERNAME', v.username),
    shellAssignment('MAASLAB_ADMIN_EMAIL', v.email),
    shellAssignment('MAASLAB_APIKEY_FILE', v.apiKeyFile),
    shellAssignment('MAASLAB_KERNEL_OPTS', v.kernelOpts),
    shellAssignment('MAASLAB_UPSTREAM_DNS', v.dns.join(' ')),
    shellAssignment('MAASLAB_SNAP_SEED_TIMEOUT', String(v.seedTimeout)),
    shellAssignment('MAASLAB_API_TIMEOUT', String(v.apiTimeout)),
    '',
  ].join('\n');

  const config: Record<string, unknown> = {
    // Proves on the console, at every boot, that this seed was read; then re-announces the
    // API key (the script is absent on the first boot: write_files runs after bootcmd).
    bootcmd: [
      [
        '/bin/sh',
        '-c',
        `printf 'MAASLAB-STEP boot ok\\r\\n' >>${SERIAL_CONSOLE} || true; ` +
          `if [ -x ${BOOTSTRAP_SCRIPT_PATH} ]; then ${BOOTSTRAP_SCRIPT_PATH} announce || true; fi`,
      ],
    ],
    users: ['default'],
    ...(v.keys.length > 0 ? { ssh_authorized_keys: v.keys } : {}),
    ssh_pwauth: false,
    disable_root: true,
    write_files: [
      { path: BOOTSTRAP_ENV_PATH, owner: 'root:root', permissions: '0600', content: env },
      { path: ADMIN_PASSWORD_PATH, owner: 'root:root', permissions: '0600', content: v.password },
      {
        path: ADMIN_SSH_KEYS_PATH,
        owner: 'root:root',
        permissions: '0600',
        content: v.keys.map((k) => `${k}\n`).join(''),
      },
      {
        path: BOOTSTRAP_SCRIPT_PATH,
        owner: 'root:root',
        permissions: '0755',
        content: BOOTSTRAP_SCRIPT,
      },
    ],
    // Exec form: no shell parses this line.
    runcmd: [[BOOTSTRAP_SCRIPT_PATH, 'run']],
  };
  return `#cloud-config\n${toYaml(config)}`;
}
