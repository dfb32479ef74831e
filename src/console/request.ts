// What a console request asks for, read strictly from the request line and headers before
// anything else happens: the only accepted shape is
//   GET /apis/maaslab.dev/v1alpha1/namespaces/{ns}/maasnodes/{name}/{console|vnc}
//   Connection: Upgrade          (one token of a comma list, any case)
//   Upgrade: maaslab-stream      (exactly, any case)
// with names as the API server validates them (a namespace is a DNS label, a MaasNode name a
// DNS subdomain), no query, no percent-escapes, no dot segments. Anything else gets a status
// and a short message that quotes nothing the caller sent. Pure.

/** The protocol token of `Upgrade:`; the plugin speaks raw bytes once it is switched. */
export const CONSOLE_UPGRADE_PROTOCOL = 'maaslab-stream';

/** What can be attached to. */
export const ConsoleKinds = ['console', 'vnc'] as const;
/** `console` (the serial console) or `vnc` (the VNC server's RFB stream). */
export type ConsoleKind = (typeof ConsoleKinds)[number];

/** The subresource SubjectAccessReview asks about, per kind (`maasnodes/console`, ...). */
export const consoleSubresource = (kind: ConsoleKind): ConsoleKind => kind;

/** The path of a node's console or VNC endpoint. */
export const consolePath = (namespace: string, name: string, kind: ConsoleKind): string =>
  `/apis/maaslab.dev/v1alpha1/namespaces/${namespace}/maasnodes/${name}/${kind}`;

/** A console request, as far as routing goes. */
export interface ConsoleRequestLine {
  readonly method: string | undefined;
  readonly url: string | undefined;
  /** Node's `req.headersDistinct`: every value of every header, lower-case names. */
  readonly headers: Readonly<Record<string, readonly string[] | undefined>>;
}

/** Where a valid request goes. */
export interface ConsoleTargetRef {
  readonly namespace: string;
  readonly name: string;
  readonly kind: ConsoleKind;
}

/** A request refused before authentication: the HTTP status and the body. */
export interface Refusal {
  readonly status: 400 | 401 | 403 | 404 | 405 | 409 | 414 | 426 | 429 | 500 | 502 | 503;
  readonly message: string;
}

/** The parse: a target, or why not. */
export type ParsedConsoleRequest =
  | { readonly ok: true; readonly target: ConsoleTargetRef }
  | { readonly ok: false; readonly refusal: Refusal };

/** Longest request target accepted (a 63-character namespace and a 253-character name fit). */
export const MAX_CONSOLE_URL_LENGTH = 512;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const ROUTE = /^\/apis\/maaslab\.dev\/v1alpha1\/namespaces\/([^/]+)\/maasnodes\/([^/]+)\/([^/]+)$/;

/** Whether `v` is a namespace name (RFC 1123 label). */
export const isNamespaceName = (v: string): boolean => v.length <= 63 && DNS_LABEL.test(v);
/** Whether `v` is a MaasNode name (RFC 1123 subdomain). */
export const isObjectName = (v: string): boolean => v.length <= 253 && DNS_SUBDOMAIN.test(v);

const refuse = (status: Refusal['status'], message: string): ParsedConsoleRequest => ({
  ok: false,
  refusal: { status, message },
});

/** The comma-separated tokens of every value of a header, trimmed and lower-cased. */
const tokens = (values: readonly string[] | undefined): string[] =>
  (values ?? []).flatMap((v) => v.split(',')).map((t) => t.trim().toLowerCase());

/** Routes and checks a request; see the file comment for the one accepted shape. */
export function parseConsoleRequest(req: ConsoleRequestLine): ParsedConsoleRequest {
  const url = req.url ?? '';
  if (url.length > MAX_CONSOLE_URL_LENGTH) return refuse(414, 'request target too long');
  if (!url.startsWith('/')) return refuse(400, 'request target must be a path');
  if (url.includes('?') || url.includes('#')) return refuse(400, 'no query or fragment allowed');
  if (url.includes('%')) return refuse(400, 'no percent-escapes allowed');
  const m = ROUTE.exec(url);
  if (!m)
    return refuse(
      404,
      'not found: want /apis/maaslab.dev/v1alpha1/namespaces/NS/maasnodes/NAME/console or .../vnc',
    );
  const [, namespace = '', name = '', sub = ''] = m;
  if (!(ConsoleKinds as readonly string[]).includes(sub)) {
    return refuse(404, 'not found: the subresources are console and vnc');
  }
  if (!isNamespaceName(namespace)) return refuse(400, 'invalid namespace name');
  if (!isObjectName(name)) return refuse(400, 'invalid maasnode name');
  if (req.method !== 'GET') return refuse(405, 'method not allowed: use GET');
  const upgrade = req.headers.upgrade ?? [];
  if (!tokens(req.headers.connection).includes('upgrade') || upgrade.length === 0) {
    return refuse(
      426,
      `upgrade required: Connection: Upgrade, Upgrade: ${CONSOLE_UPGRADE_PROTOCOL}`,
    );
  }
  if (upgrade.length !== 1 || upgrade[0]?.trim().toLowerCase() !== CONSOLE_UPGRADE_PROTOCOL) {
    return refuse(400, `unsupported upgrade: only ${CONSOLE_UPGRADE_PROTOCOL}`);
  }
  return { ok: true, target: { namespace, name, kind: sub as ConsoleKind } };
}

/** The reason phrase of each status we answer with. */
export const STATUS_TEXT: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  414: 'URI Too Long',
  426: 'Upgrade Required',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
};

/** A whole HTTP/1.1 error response for a raw socket: short text body, then close. */
export function errorResponse(status: number, message: string): string {
  const body = `${message}\n`;
  const extra = status === 426 ? `Upgrade: ${CONSOLE_UPGRADE_PROTOCOL}\r\n` : '';
  return (
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\n` +
    `Content-Type: text/plain; charset=utf-8\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    extra +
    `Connection: close\r\n\r\n${body}`
  );
}

/** The response that switches the connection to raw bytes. */
export const SWITCHING_PROTOCOLS =
  'HTTP/1.1 101 Switching Protocols\r\n' +
  `Connection: Upgrade\r\nUpgrade: ${CONSOLE_UPGRADE_PROTOCOL}\r\n\r\n`;
