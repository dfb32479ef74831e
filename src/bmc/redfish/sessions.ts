// Redfish sessions (DSP0266 "Session login"): a login with a user name and password yields a
// random token (X-Auth-Token) and a session resource to DELETE on logout. Sessions expire after
// an idle timeout and their number is bounded. A session keeps the credentials it logged in
// with, so every request re-checks them against the systems' current credentials: a changed
// Secret revokes the session's access at once.
import { createHash, randomBytes } from 'node:crypto';
import { constantTimeEqual } from '../auth.js';
import type { PresentedCredentials } from './auth.js';

/** One logged-in session. */
export interface RedfishSession {
  /** The id in /redfish/v1/SessionService/Sessions/{id}; public, unlike the token. */
  readonly id: string;
  readonly credentials: PresentedCredentials;
  readonly createdAt: number;
  lastUsedAt: number;
}

export interface SessionStoreOptions {
  /** Idle time after which a session ends. Default 30 min (Redfish's SessionTimeout). */
  readonly idleTimeoutMs?: number;
  /** Sessions kept at most; logins beyond it are refused. Default 64. */
  readonly maxSessions?: number;
  readonly now?: () => number;
  /** Source of randomness; tests may inject a deterministic one. */
  readonly randomBytes?: (size: number) => Buffer;
}

/** Why a session could not be created. */
export type CreateSessionResult =
  | { readonly ok: true; readonly token: string; readonly session: RedfishSession }
  | { readonly ok: false; readonly reason: 'limit' };

/** The token's key in the map: its hash, so a lookup's timing says nothing about the token. */
const tokenKey = (token: string): string => createHash('sha256').update(token).digest('hex');

/** Whether two sets of credentials are the same principal (both compared in constant time). */
export function samePrincipal(a: PresentedCredentials, b: PresentedCredentials): boolean {
  const user = constantTimeEqual(a.username, b.username);
  const pass = constantTimeEqual(a.password, b.password);
  return user && pass;
}

/** In-memory sessions of one Redfish server. */
export class SessionStore {
  readonly idleTimeoutMs: number;
  readonly maxSessions: number;
  private readonly now: () => number;
  private readonly random: (size: number) => Buffer;
  /** Keyed by the token's hash. */
  private readonly byToken = new Map<string, RedfishSession>();

  constructor(opts: SessionStoreOptions = {}) {
    this.idleTimeoutMs = opts.idleTimeoutMs ?? 30 * 60_000;
    this.maxSessions = opts.maxSessions ?? 64;
    this.now = opts.now ?? Date.now;
    this.random = opts.randomBytes ?? randomBytes;
  }

  /** Starts a session for credentials the caller has already checked. */
  create(credentials: PresentedCredentials): CreateSessionResult {
    this.sweep();
    if (this.byToken.size >= this.maxSessions) return { ok: false, reason: 'limit' };
    const token = this.random(32).toString('base64url');
    const now = this.now();
    const session: RedfishSession = {
      id: this.random(16).toString('hex'),
      credentials: { username: credentials.username, password: credentials.password },
      createdAt: now,
      lastUsedAt: now,
    };
    this.byToken.set(tokenKey(token), session);
    return { ok: true, token, session };
  }

  /** The live session a token names, touched (its idle clock restarts); undefined otherwise. */
  use(token: string): RedfishSession | undefined {
    const key = tokenKey(token);
    const session = this.byToken.get(key);
    if (!session) return undefined;
    const now = this.now();
    if (this.expired(session, now)) {
      this.byToken.delete(key);
      return undefined;
    }
    session.lastUsedAt = now;
    return session;
  }

  /** The live sessions `credentials` own (a user sees and may end only its own). */
  ownedBy(credentials: PresentedCredentials): RedfishSession[] {
    this.sweep();
    return [...this.byToken.values()].filter((s) => samePrincipal(s.credentials, credentials));
  }

  /** Ends the session with this id; whether there was one. */
  remove(id: string): boolean {
    for (const [key, session] of this.byToken) {
      if (session.id === id) return this.byToken.delete(key);
    }
    return false;
  }

  /** Live sessions. */
  get size(): number {
    this.sweep();
    return this.byToken.size;
  }

  private expired(session: RedfishSession, now: number): boolean {
    return now - session.lastUsedAt >= this.idleTimeoutMs;
  }

  private sweep(): void {
    const now = this.now();
    for (const [key, session] of this.byToken) {
      if (this.expired(session, now)) this.byToken.delete(key);
    }
  }
}
