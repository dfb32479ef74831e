// What both BMC protocols share about logins: credentials compared in constant time, and
// failed logins throttled per source address so a guessing client slows to a crawl while
// everyone else is served.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { BmcCredentials } from './backend.js';

/**
 * Whether `given` equals `expected`, in time that depends on neither's content nor length:
 * both are hashed first (timingSafeEqual needs equal lengths, and comparing lengths would leak).
 */
export function constantTimeEqual(given: string | Buffer, expected: string | Buffer): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** Whether `username`/`password` unlock `credentials`; both fields always compared. */
export function credentialsMatch(
  credentials: BmcCredentials,
  username: string,
  password: string,
): boolean {
  const user = constantTimeEqual(username, credentials.username);
  const pass = constantTimeEqual(password, credentials.password);
  return user && pass;
}

/** How failed logins are throttled. */
export interface LoginThrottleOptions {
  /** Failures a source may make within `windowMs` before it is refused. Default 5. */
  readonly maxFailures?: number;
  /** The window failures are counted in. Default 60 s. */
  readonly windowMs?: number;
  /** How long a source that hit the limit is refused; doubled each time, up to 15 min. Default 30 s. */
  readonly lockoutMs?: number;
  /** How many sources are remembered at most (a flood of spoofed sources cannot grow it). Default 4096. */
  readonly maxSources?: number;
  readonly now?: () => number;
}

interface SourceRecord {
  failures: number[];
  lockedUntil: number;
  lockouts: number;
}

const MAX_LOCKOUT_MS = 15 * 60_000;

/**
 * Per-source failed-login throttle. `allowed(source)` before checking credentials;
 * `failed(source)` after a wrong one; `succeeded(source)` clears the record.
 */
export class LoginThrottle {
  private readonly maxFailures: number;
  private readonly windowMs: number;
  private readonly lockoutMs: number;
  private readonly maxSources: number;
  private readonly now: () => number;
  private readonly sources = new Map<string, SourceRecord>();

  constructor(opts: LoginThrottleOptions = {}) {
    this.maxFailures = opts.maxFailures ?? 5;
    this.windowMs = opts.windowMs ?? 60_000;
    this.lockoutMs = opts.lockoutMs ?? 30_000;
    this.maxSources = opts.maxSources ?? 4096;
    this.now = opts.now ?? Date.now;
  }

  /** Whether `source` may try a login now; when not, how long until it may (ms). */
  check(source: string): { allowed: true } | { allowed: false; retryAfterMs: number } {
    const record = this.sources.get(source);
    const now = this.now();
    if (record && record.lockedUntil > now) {
      return { allowed: false, retryAfterMs: record.lockedUntil - now };
    }
    return { allowed: true };
  }

  /** Records a failed login from `source`. */
  failed(source: string): void {
    const now = this.now();
    let record = this.sources.get(source);
    if (!record) {
      this.evictIfFull();
      record = { failures: [], lockedUntil: 0, lockouts: 0 };
      this.sources.set(source, record);
    }
    record.failures = record.failures.filter((t) => now - t < this.windowMs);
    record.failures.push(now);
    if (record.failures.length >= this.maxFailures) {
      const lockout = Math.min(this.lockoutMs * 2 ** record.lockouts, MAX_LOCKOUT_MS);
      record.lockedUntil = now + lockout;
      record.lockouts += 1;
      record.failures = [];
    }
  }

  /** A good login clears the source's failures (but not a lockout in force). */
  succeeded(source: string): void {
    const record = this.sources.get(source);
    if (record && record.lockedUntil <= this.now()) this.sources.delete(source);
  }

  /** The oldest record goes first: Map keeps insertion order. */
  private evictIfFull(): void {
    if (this.sources.size < this.maxSources) return;
    const now = this.now();
    for (const [key, record] of this.sources) {
      if (record.lockedUntil <= now) {
        this.sources.delete(key);
        return;
      }
    }
    const oldest = this.sources.keys().next();
    if (!oldest.done) this.sources.delete(oldest.value);
  }
}
