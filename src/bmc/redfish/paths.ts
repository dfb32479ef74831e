// Which resource a request path names. Paths come from the network, so anything odd (encoded
// slashes, dot segments, empty segments, control characters, bad percent-encoding) names
// nothing: the caller answers 404. One trailing slash is ignored, as real BMCs do, because
// MAAS retries with a trailing slash after a 404 and sushy follows @odata.id as given.

/** A resource this BMC serves. System and session ids are opaque here: the router checks them. */
export type Route =
  | { readonly kind: 'versions' }
  | { readonly kind: 'root' }
  | { readonly kind: 'systems' }
  | { readonly kind: 'system'; readonly id: string }
  | { readonly kind: 'reset'; readonly id: string }
  | { readonly kind: 'sessionService' }
  | { readonly kind: 'sessions' }
  | { readonly kind: 'session'; readonly id: string };

/** Longest path considered. */
const MaxPathLength = 512;

/** The decoded segments of a path, or undefined when any is suspicious. */
function segmentsOf(rawPath: string): string[] | undefined {
  const path = rawPath.split(/[?#]/, 1)[0] ?? '';
  if (!path.startsWith('/') || path.length > MaxPathLength) return undefined;
  const trimmed = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
  const raw = trimmed.split('/').slice(1);
  const decoded: string[] = [];
  for (const segment of raw) {
    let text: string;
    try {
      text = decodeURIComponent(segment);
    } catch {
      return undefined;
    }
    // eslint-disable-next-line no-control-regex
    if (text === '' || text === '.' || text === '..' || /[/\\\u0000-\u001f\u007f]/.test(text)) {
      return undefined;
    }
    decoded.push(text);
  }
  return decoded;
}

/** The resource `rawPath` (the request target, query ignored) names, or undefined. */
export function routeOf(rawPath: string): Route | undefined {
  const s = segmentsOf(rawPath);
  if (!s || s[0] !== 'redfish') return undefined;
  if (s.length === 1) return { kind: 'versions' };
  if (s[1] !== 'v1') return undefined;
  const rest = s.slice(2);
  const [a, b, c, d] = rest;
  switch (rest.length) {
    case 0:
      return { kind: 'root' };
    case 1:
      if (a === 'Systems') return { kind: 'systems' };
      if (a === 'SessionService') return { kind: 'sessionService' };
      return undefined;
    case 2:
      if (a === 'Systems' && b !== undefined) return { kind: 'system', id: b };
      if (a === 'SessionService' && b === 'Sessions') return { kind: 'sessions' };
      return undefined;
    case 3:
      if (a === 'SessionService' && b === 'Sessions' && c !== undefined) {
        return { kind: 'session', id: c };
      }
      return undefined;
    case 4:
      if (a === 'Systems' && b !== undefined && c === 'Actions' && d === 'ComputerSystem.Reset') {
        return { kind: 'reset', id: b };
      }
      return undefined;
    default:
      return undefined;
  }
}

/** Methods each resource allows (HEAD wherever GET is). */
export const AllowedMethods: Record<Route['kind'], readonly string[]> = {
  versions: ['GET', 'HEAD'],
  root: ['GET', 'HEAD'],
  systems: ['GET', 'HEAD'],
  system: ['GET', 'HEAD', 'PATCH'],
  reset: ['POST'],
  sessionService: ['GET', 'HEAD'],
  sessions: ['GET', 'HEAD', 'POST'],
  session: ['GET', 'HEAD', 'DELETE'],
};

/** Resources readable without credentials: the service root and versions (DSP0266 §13.3). */
export const isAnonymous = (route: Route): boolean =>
  route.kind === 'versions' || route.kind === 'root';
