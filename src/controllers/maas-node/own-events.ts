// The domain lifecycle events a MaasNode pass causes itself: the Defined of its definition,
// the Started of its start, the Stopped of its destroy. The pass reads the domain after each
// of its changes, so the event of that change has nothing to tell it; without this, each
// woke one more pass (a creation pass two), which read libvirt again to find nothing to do.
//
// A pass announces the events of a call before making it (an event may reach us before the
// call's own reply does), and withdraws them when the call changed nothing or failed. Each
// announced event excuses exactly one event of that type on that domain, within `ttlMs`; any
// other event (someone's `virsh destroy`, a guest that powers off, a crash) still wakes the
// node. Pure bookkeeping, with the clock handed in.
import type { DomainEventType } from '../../libvirt/index.js';

/** How long an announced event is waited for (the test driver and libvirtd send at once). */
export const OWN_EVENT_TTL_MS = 30_000;

/** Options of {@link OwnDomainEvents}. */
export interface OwnDomainEventsOptions {
  /** Monotonic milliseconds. */
  readonly now: () => number;
  /** How long an announced event is expected (default {@link OWN_EVENT_TTL_MS}). */
  readonly ttlMs?: number;
}

interface Announced {
  readonly event: DomainEventType;
  readonly until: number;
}

/** Events announced by this process's passes, per hypervisor and domain name. */
export class OwnDomainEvents {
  readonly #now: () => number;
  readonly #ttlMs: number;
  readonly #byDomain = new Map<string, Announced[]>();

  /** None announced. */
  constructor(opts: OwnDomainEventsOptions) {
    this.#now = opts.now;
    this.#ttlMs = opts.ttlMs ?? OWN_EVENT_TTL_MS;
  }

  /**
   * A call that will cause `events` on `domain` of `hypervisor` is about to be made; returns
   * the withdrawal, for a call that changed nothing or failed (idempotent).
   */
  announce(hypervisor: string, domain: string, events: readonly DomainEventType[]): () => void {
    const key = keyOf(hypervisor, domain);
    const until = this.#now() + this.#ttlMs;
    const mine = events.map((event) => ({ event, until }));
    const list = this.#live(key);
    list.push(...mine);
    this.#byDomain.set(key, list);
    return () => {
      const now = this.#byDomain.get(key);
      if (!now) return;
      const left = now.filter((a) => !mine.includes(a));
      if (left.length > 0) this.#byDomain.set(key, left);
      else this.#byDomain.delete(key);
    };
  }

  /**
   * Whether `event` on `domain` is one a pass announced (then it is used up) rather than news.
   */
  consume(hypervisor: string, domain: string, event: DomainEventType): boolean {
    const key = keyOf(hypervisor, domain);
    const list = this.#live(key);
    const i = list.findIndex((a) => a.event === event);
    if (i >= 0) list.splice(i, 1);
    if (list.length > 0) this.#byDomain.set(key, list);
    else this.#byDomain.delete(key);
    return i >= 0;
  }

  /** Domains with announced events (for tests). */
  get size(): number {
    return this.#byDomain.size;
  }

  /** The announced events of `key` that have not expired. */
  #live(key: string): Announced[] {
    const now = this.#now();
    return (this.#byDomain.get(key) ?? []).filter((a) => a.until > now);
  }
}

const keyOf = (hypervisor: string, domain: string): string => `${hypervisor}\u0000${domain}`;

/**
 * Runs `call`, which causes `events` on `domain` when it changes something, with them
 * announced: withdrawn when it reports no change or throws.
 */
export async function withOwnEvents<T extends { readonly changed: boolean }>(
  own: OwnDomainEvents,
  hypervisor: string,
  domain: string,
  events: readonly DomainEventType[],
  call: () => Promise<T>,
): Promise<T> {
  const withdraw = own.announce(hypervisor, domain, events);
  try {
    const result = await call();
    if (!result.changed) withdraw();
    return result;
  } catch (err) {
    withdraw();
    throw err;
  }
}
