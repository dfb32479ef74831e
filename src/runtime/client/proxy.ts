// Proxy: which HTTP proxy, if any, a request to the API server goes through. Pure: the
// environment comes in as a record, so every rule is unit tested.
//
// client-go sends through `http.ProxyFromEnvironment` (wrapped by apimachinery's
// NewProxierWithNoProxyCIDR, which Go's own CIDR support now covers), that is Go's
// golang.org/x/net/http/httpproxy.FromEnvironment. We follow it rule for rule:
//   - HTTPS_PROXY (else https_proxy) for https targets, HTTP_PROXY (else http_proxy) for
//     http ones; an empty value is unset. HTTP_PROXY is refused when REQUEST_METHOD is set
//     (a CGI environment, where the variable can come from a request header);
//   - a proxy value without a scheme (`proxy:3128`) means `http://proxy:3128`; a value that
//     does not parse means no proxy, as in Go;
//   - NO_PROXY (else no_proxy) is a comma-separated list, case-insensitive: `*` bypasses
//     everything; `10.0.0.0/8` or `fd00::/8` bypass by CIDR; `1.2.3.4` or `[::1]:6443` by
//     address (and port; an IPv6 address takes brackets only with a port, `[::1]` alone is
//     read as a name and matches nothing, as in Go); `example.com` matches it and its
//     subdomains, `.example.com` and `*.example.com` only its subdomains, either with an
//     optional `:port`;
//   - `localhost` and loopback addresses (127.0.0.0/8, ::1, also IPv4-mapped) never go
//     through a proxy, whatever NO_PROXY says: Go hard-codes that (useProxy), and so does
//     every Go client of the API server, kubectl included.
// The target is compared by its literal host: names are not resolved.

import { BlockList, isIP } from 'node:net';
import { domainToASCII } from 'node:url';
import { definedProps } from '../../util/defined-props.js';

/** The environment variables the decision reads. */
export type ProxyEnvironment = Readonly<Record<string, string | undefined>>;

/** Where requests go: the proxies by target scheme, and the NO_PROXY rules. */
export interface ProxyConfig {
  readonly httpProxy?: URL;
  readonly httpsProxy?: URL;
  /** True when the target (host, port) bypasses any proxy. */
  readonly bypass: (host: string, port: string) => boolean;
  /** REQUEST_METHOD is set: HTTP_PROXY must not be used. */
  readonly cgi: boolean;
}

/** The first non-empty variable of `names`. */
const anyOf = (env: ProxyEnvironment, ...names: string[]): string => {
  for (const n of names) {
    const v = env[n];
    if (v) return v;
  }
  return '';
};

/** Go's parseProxy: the URL, `http://` + value when it has no scheme or host, else undefined. */
export function parseProxyUrl(value: string): URL | undefined {
  if (value === '') return undefined;
  const parse = (v: string): URL | undefined => {
    try {
      return new URL(v);
    } catch {
      return undefined;
    }
  };
  const direct = parse(value);
  if (direct && direct.protocol !== '' && direct.host !== '') return direct;
  // Go prepends `http://` to anything that failed; we only do it where a scheme is missing,
  // so `http://[::1` is no proxy rather than a proxy at host `http`.
  return value.includes('://') ? undefined : parse(`http://${value}`);
}

/** Go's net.SplitHostPort, enough for NO_PROXY entries: undefined when there is no port part. */
export function splitHostPort(hostport: string): { host: string; port: string } | undefined {
  if (hostport.startsWith('[')) {
    const end = hostport.indexOf(']');
    if (end < 0 || hostport[end + 1] !== ':') return undefined;
    return { host: hostport.slice(1, end), port: hostport.slice(end + 2) };
  }
  const colon = hostport.lastIndexOf(':');
  if (colon < 0 || hostport.slice(0, colon).includes(':')) return undefined;
  return { host: hostport.slice(0, colon), port: hostport.slice(colon + 1) };
}

const ipFamily = (ip: string): 'ipv4' | 'ipv6' | undefined => {
  const v = isIP(ip);
  return v === 4 ? 'ipv4' : v === 6 ? 'ipv6' : undefined;
};

/** 127.0.0.0/8 and ::1; BlockList also matches their IPv4-mapped forms, as Go's IsLoopback does. */
const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** True for a literal loopback address. */
export function isLoopbackAddress(host: string): boolean {
  const family = ipFamily(host);
  return family !== undefined && LOOPBACK.check(host, family);
}

interface IpRule {
  readonly list: BlockList;
  /** Empty: any port. */
  readonly port: string;
}

interface DomainRule {
  /** With a leading dot. */
  readonly suffix: string;
  /** Whether the bare domain (without a subdomain) matches too. */
  readonly matchHost: boolean;
  readonly port: string;
}

/** A CIDR rule, or undefined when `entry` is not `<ip>/<prefix>`. */
function cidrRule(entry: string): IpRule | undefined {
  const slash = entry.indexOf('/');
  if (slash < 0) return undefined;
  const ip = entry.slice(0, slash);
  const bits = entry.slice(slash + 1);
  const family = ipFamily(ip);
  if (!family || !/^\d{1,3}$/.test(bits)) return undefined;
  const prefix = Number(bits);
  if (prefix > (family === 'ipv4' ? 32 : 128)) return undefined;
  const list = new BlockList();
  list.addSubnet(ip, prefix, family);
  return { list, port: '' };
}

/** The bypass test of a NO_PROXY value (Go's config.init and useProxy). */
export function parseNoProxy(value: string): (host: string, port: string) => boolean {
  const ipRules: IpRule[] = [];
  const domainRules: DomainRule[] = [];
  let all = false;
  for (const raw of value.split(',')) {
    const entry = raw.trim().toLowerCase();
    if (entry === '') continue;
    if (entry === '*') {
      all = true;
      break;
    }
    const cidr = cidrRule(entry);
    if (cidr) {
      ipRules.push(cidr);
      continue;
    }
    const split = splitHostPort(entry);
    let host = split ? split.host : entry;
    const port = split ? split.port : '';
    const family = ipFamily(host);
    if (family) {
      const list = new BlockList();
      list.addAddress(host, family);
      ipRules.push({ list, port });
      continue;
    }
    if (host === '') continue; // `:80`: no host, malformed; Go ignores it too
    if (host.startsWith('*.')) host = host.slice(1);
    const matchHost = !host.startsWith('.');
    if (matchHost) host = `.${host}`;
    domainRules.push({ suffix: domainToASCII(host) || host, matchHost, port });
  }
  return (rawHost, port) => {
    if (all) return true;
    const host = rawHost
      .trim()
      .toLowerCase()
      .replace(/^\[(.*)\]$/, '$1');
    if (host === 'localhost' || isLoopbackAddress(host)) return true;
    const family = ipFamily(host);
    const portOk = (p: string): boolean => p === '' || p === port;
    if (family) return ipRules.some((r) => portOk(r.port) && r.list.check(host, family));
    const name = domainToASCII(host) || host;
    return domainRules.some(
      (r) =>
        portOk(r.port) && (name.endsWith(r.suffix) || (r.matchHost && name === r.suffix.slice(1))),
    );
  };
}

/** Go's httpproxy.FromEnvironment. */
export function proxyConfigFromEnvironment(env: ProxyEnvironment): ProxyConfig {
  const httpProxy = parseProxyUrl(anyOf(env, 'HTTP_PROXY', 'http_proxy'));
  const httpsProxy = parseProxyUrl(anyOf(env, 'HTTPS_PROXY', 'https_proxy'));
  return definedProps({
    httpProxy,
    httpsProxy,
    bypass: parseNoProxy(anyOf(env, 'NO_PROXY', 'no_proxy')),
    cgi: (env.REQUEST_METHOD ?? '') !== '',
  });
}

/** The default port of a scheme, as Go's canonicalAddr fills it in. */
const DEFAULT_PORTS: Readonly<Record<string, string>> = { 'http:': '80', 'https:': '443' };

/**
 * The proxy a request to `target` goes through, or undefined for a direct connection.
 * Throws when HTTP_PROXY would be used in a CGI environment (Go's error, too).
 */
export function proxyFor(config: ProxyConfig, target: URL): URL | undefined {
  let proxy: URL | undefined;
  if (target.protocol === 'https:') proxy = config.httpsProxy;
  else if (target.protocol === 'http:') {
    proxy = config.httpProxy;
    if (proxy && config.cgi) {
      throw new Error('refusing to use HTTP_PROXY in a CGI environment (REQUEST_METHOD is set)');
    }
  }
  if (!proxy) return undefined;
  const port = target.port || DEFAULT_PORTS[target.protocol] || '';
  return config.bypass(target.hostname, port) ? undefined : proxy;
}
