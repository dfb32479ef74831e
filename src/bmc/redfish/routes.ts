// The Redfish service as a function: request in, {status, headers, body} out. It resolves the
// route, authenticates (Basic or X-Auth-Token, throttled per source), scopes everything to the
// systems the caller's credentials unlock, and calls the backend. No sockets here (server.ts).
import type { LoginThrottle } from '../auth.js';
import { credentialsMatch } from '../auth.js';
import {
  BmcActionConflictError,
  type BmcActionSource,
  type BmcBackend,
  type BmcSystemEntry,
  BmcSystemNotFoundError,
} from '../backend.js';
import {
  isWellFormedSessionToken,
  parseBasicAuthorization,
  type PresentedCredentials,
} from './auth.js';
import { ifMatchAllows, systemEtag } from './etag.js';
import { errorBody, type RedfishProblem } from './messages.js';
import { AllowedMethods, isAnonymous, type Route, routeOf } from './paths.js';
import { parseJsonObject } from './request-body.js';
import * as render from './resources.js';
import { type RedfishSession, type SessionStore } from './sessions.js';
import { validateLogin, validateReset, validateSystemPatch } from './validation.js';

/** What the router needs of a request (server.ts fills it from node:http). */
export interface RedfishRequest {
  readonly method: string;
  /** The request target as sent (path and query). */
  readonly target: string;
  readonly authorization?: string;
  readonly authToken?: string;
  readonly ifMatch?: string;
  readonly body?: Buffer;
  /** The client's address (the throttle's key) and port. */
  readonly remoteAddress: string;
  readonly remotePort: number;
}

export interface RedfishResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  /** A JSON value, or undefined for no body (204). */
  readonly body?: unknown;
}

/** What the router works with, injected by server.ts (and by unit tests). */
export interface RedfishContext {
  /** Read on every request: systems come and go, and credentials change. */
  readonly systems: () => readonly BmcSystemEntry[];
  readonly backend: BmcBackend;
  readonly sessions: SessionStore;
  readonly throttle: LoginThrottle;
  /** The service root's UUID. */
  readonly serviceUuid: string;
  /** Shown in WWW-Authenticate. */
  readonly realm: string;
}

/** Who is asking and what they may see. */
interface Caller {
  readonly credentials: PresentedCredentials;
  readonly session?: RedfishSession;
  /** Ids of the systems these credentials unlock, now. */
  readonly systemIds: ReadonlySet<string>;
}

const json = (
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): RedfishResponse => ({ status, headers, body });
const problem = (
  status: number,
  p: RedfishProblem,
  headers: Record<string, string> = {},
): RedfishResponse => json(status, errorBody([p]), headers);

const notFound = (target: string): RedfishResponse =>
  problem(404, {
    id: 'ResourceMissingAtURI',
    message: `The resource at the URI ${target.slice(0, 128)} was not found.`,
    args: [target.slice(0, 128)],
  });

/** Formats `ip:port` (IPv6 in brackets) for BmcActionSource.remote. */
export const remoteOf = (address: string, port: number): string =>
  address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;

/** Ids of the systems `credentials` unlock. */
function unlockedIds(
  entries: readonly BmcSystemEntry[],
  credentials: PresentedCredentials,
): Set<string> {
  const ids = new Set<string>();
  for (const entry of entries) {
    if (credentialsMatch(entry.credentials, credentials.username, credentials.password))
      ids.add(entry.id);
  }
  return ids;
}

type Authenticated = { ok: true; caller: Caller } | { ok: false; response: RedfishResponse };

/** A 401 that asks for Basic credentials. */
function unauthorized(ctx: RedfishContext, message: string): RedfishResponse {
  return problem(
    401,
    { id: 'NoValidSession', message },
    { 'WWW-Authenticate': `Basic realm="${ctx.realm}", charset="UTF-8"` },
  );
}

/** A 429 for a source locked out by the throttle. */
function throttled(retryAfterMs: number): RedfishResponse {
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return problem(
    429,
    {
      id: 'GeneralError',
      message: `Too many failed logins from this address; retry in ${seconds} s.`,
    },
    { 'Retry-After': String(seconds) },
  );
}

/**
 * Checks presented credentials against the systems, through the throttle: a locked-out source
 * is refused before any check (429 + Retry-After), a failure counts against its source.
 */
function login(
  ctx: RedfishContext,
  req: RedfishRequest,
  credentials: PresentedCredentials | undefined,
): { ok: true; ids: Set<string> } | { ok: false; response: RedfishResponse } {
  const gate = ctx.throttle.check(req.remoteAddress);
  if (!gate.allowed) return { ok: false, response: throttled(gate.retryAfterMs) };
  const ids = credentials ? unlockedIds(ctx.systems(), credentials) : new Set<string>();
  if (ids.size === 0) {
    ctx.throttle.failed(req.remoteAddress);
    return { ok: false, response: unauthorized(ctx, 'The credentials are not valid.') };
  }
  ctx.throttle.succeeded(req.remoteAddress);
  return { ok: true, ids };
}

/** Authenticates a request by X-Auth-Token (when sent) or Basic. */
function authenticate(ctx: RedfishContext, req: RedfishRequest): Authenticated {
  if (req.authToken !== undefined) {
    const gate = ctx.throttle.check(req.remoteAddress);
    if (!gate.allowed) return { ok: false, response: throttled(gate.retryAfterMs) };
    const session = isWellFormedSessionToken(req.authToken)
      ? ctx.sessions.use(req.authToken)
      : undefined;
    if (!session) {
      ctx.throttle.failed(req.remoteAddress);
      return {
        ok: false,
        response: unauthorized(ctx, 'The session token is not valid or has expired.'),
      };
    }
    // Re-checked on every request: a changed Secret ends the session's access at once.
    const ids = unlockedIds(ctx.systems(), session.credentials);
    if (ids.size === 0) {
      ctx.sessions.remove(session.id);
      return {
        ok: false,
        response: unauthorized(ctx, "The session's credentials are no longer valid."),
      };
    }
    return { ok: true, caller: { credentials: session.credentials, session, systemIds: ids } };
  }
  if (req.authorization === undefined)
    return { ok: false, response: unauthorized(ctx, 'Authentication is required.') };
  const credentials = parseBasicAuthorization(req.authorization);
  const result = login(ctx, req, credentials);
  if (!result.ok) return result;
  return {
    ok: true,
    caller: { credentials: credentials as PresentedCredentials, systemIds: result.ids },
  };
}

/** Answers one request. Never throws for anything a client sends; backend failures other than the typed ones propagate (server.ts answers 500). */
export async function dispatch(ctx: RedfishContext, req: RedfishRequest): Promise<RedfishResponse> {
  const route = routeOf(req.target);
  const method = req.method === 'HEAD' ? 'GET' : req.method;
  if (route && isAnonymous(route)) return methodGate(route, req.method) ?? anonymous(ctx, route);
  // A login is the one request that comes without credentials.
  if (route?.kind === 'sessions' && req.method === 'POST') return createSession(ctx, req);
  const auth = authenticate(ctx, req);
  if (!auth.ok) return auth.response;
  const { caller } = auth;
  if (!route) return notFound(req.target);
  // Another user's system or session is 404 before anything else, so ids do not leak.
  if ((route.kind === 'system' || route.kind === 'reset') && !caller.systemIds.has(route.id))
    return notFound(req.target);
  if (route.kind === 'session' && !ownSession(ctx, caller, route.id)) return notFound(req.target);
  const refused = methodGate(route, req.method);
  if (refused) return refused;
  const source: BmcActionSource = {
    protocol: 'redfish',
    remote: remoteOf(req.remoteAddress, req.remotePort),
    user: caller.credentials.username,
  };
  switch (route.kind) {
    case 'systems':
      return json(
        200,
        render.renderSystemCollection(
          ctx
            .systems()
            .map((e) => e.id)
            .filter((id) => caller.systemIds.has(id)),
        ),
      );
    case 'system':
      return method === 'GET'
        ? getSystem(ctx, route.id, req.target)
        : patchSystem(ctx, req, route.id, source);
    case 'reset':
      return reset(ctx, req, route.id, source);
    case 'sessionService':
      return json(200, render.renderSessionService(ctx.sessions.idleTimeoutMs));
    case 'sessions':
      return json(
        200,
        render.renderSessionCollection(ctx.sessions.ownedBy(caller.credentials).map((s) => s.id)),
      );
    case 'session':
      if (method === 'DELETE') {
        ctx.sessions.remove(route.id);
        return { status: 204, headers: {} };
      }
      return getSession(ctx, caller, route.id, req.target);
    default:
      return notFound(req.target);
  }
}

/** 405 with Allow when the resource does not take this method; undefined when it does. */
function methodGate(route: Route, method: string): RedfishResponse | undefined {
  const allowed = AllowedMethods[route.kind];
  if (allowed.includes(method)) return undefined;
  return problem(
    405,
    {
      id: 'OperationNotAllowed',
      message: `The method ${method.slice(0, 16)} is not allowed on this resource.`,
    },
    { Allow: allowed.join(', ') },
  );
}

function anonymous(ctx: RedfishContext, route: Route): RedfishResponse {
  return json(
    200,
    route.kind === 'versions' ? render.renderVersions() : render.renderServiceRoot(ctx.serviceUuid),
  );
}

function ownSession(ctx: RedfishContext, caller: Caller, id: string): boolean {
  return ctx.sessions.ownedBy(caller.credentials).some((s) => s.id === id);
}

function getSession(
  ctx: RedfishContext,
  caller: Caller,
  id: string,
  target: string,
): RedfishResponse {
  const session = ctx.sessions.ownedBy(caller.credentials).find((s) => s.id === id);
  if (!session) return notFound(target);
  return json(
    200,
    render.renderSession({
      id: session.id,
      username: session.credentials.username,
      createdAt: session.createdAt,
    }),
  );
}

const malformed = (reason: string): RedfishResponse =>
  problem(400, {
    id: 'MalformedJSON',
    message: `The request body submitted was malformed JSON and could not be parsed: ${reason}.`,
  });

async function createSession(ctx: RedfishContext, req: RedfishRequest): Promise<RedfishResponse> {
  const parsed = parseJsonObject(req.body);
  if (!parsed.ok) return malformed(parsed.reason);
  const login_ = validateLogin(parsed.value);
  if (!login_.ok) return json(400, errorBody(login_.problems));
  const checked = login(ctx, req, login_.value);
  if (!checked.ok) return checked.response;
  const created = ctx.sessions.create(login_.value);
  if (!created.ok)
    return problem(
      503,
      {
        id: 'SessionLimitExceeded',
        message:
          'The session establishment failed because the number of simultaneous sessions has been exceeded.',
      },
      { 'Retry-After': '60' },
    );
  const { session, token } = created;
  const body = render.renderSession({
    id: session.id,
    username: session.credentials.username,
    createdAt: session.createdAt,
  });
  return json(201, body, { 'X-Auth-Token': token, Location: render.Paths.session(session.id) });
}

async function getSystem(
  ctx: RedfishContext,
  id: string,
  target: string,
): Promise<RedfishResponse> {
  const view = await ctx.backend.describe(id);
  if (!view) return notFound(target);
  return json(200, render.renderSystem(view), { ETag: systemEtag(view) });
}

async function patchSystem(
  ctx: RedfishContext,
  req: RedfishRequest,
  id: string,
  source: BmcActionSource,
): Promise<RedfishResponse> {
  const view = await ctx.backend.describe(id);
  if (!view) return notFound(req.target);
  const etag = systemEtag(view);
  if (!ifMatchAllows(req.ifMatch, etag)) {
    return problem(
      412,
      {
        id: 'PreconditionFailed',
        message: 'The ETag supplied did not match the ETag required to change this resource.',
      },
      { ETag: etag },
    );
  }
  const parsed = parseJsonObject(req.body);
  if (!parsed.ok) return malformed(parsed.reason);
  const boot = validateSystemPatch(parsed.value, view.boot);
  if (!boot.ok) return json(400, errorBody(boot.problems));
  return backendCall(req.target, async () => {
    await ctx.backend.setBootOverride(id, boot.value, source);
    return getSystem(ctx, id, req.target);
  });
}

async function reset(
  ctx: RedfishContext,
  req: RedfishRequest,
  id: string,
  source: BmcActionSource,
): Promise<RedfishResponse> {
  const parsed = parseJsonObject(req.body);
  if (!parsed.ok) return malformed(parsed.reason);
  const action = validateReset(parsed.value);
  if (!action.ok) return json(400, errorBody(action.problems));
  return backendCall(req.target, async () => {
    await ctx.backend.power(id, action.value, source);
    return { status: 204, headers: {} };
  });
}

/** The backend's typed refusals as HTTP: gone → 404, not now → 409. */
async function backendCall(
  target: string,
  call: () => Promise<RedfishResponse>,
): Promise<RedfishResponse> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof BmcSystemNotFoundError) return notFound(target);
    if (error instanceof BmcActionConflictError) {
      return problem(409, {
        id: 'OperationNotAllowed',
        message: `The operation cannot be done now: ${error.message}.`,
      });
    }
    throw error;
  }
}
