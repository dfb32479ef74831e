// The libvirt lifecycle events a controller's pass causes itself: a MaasNode's Defined,
// Started and Stopped (maas-node/own-events.ts), a VirtNetwork's Defined and Started of a
// network it creates. The pass reads the object after each of its changes, so the event of that
// change has nothing to tell it; without this, each woke one more pass, which read libvirt
// again to find nothing to do (and, for a network, held lane threads while the lab's domains
// were starting).
//
// A pass announces the events of a call before making it (an event may reach us before the
// call's own reply does), and withdraws them when the call changed nothing or failed. Each
// announced event excuses exactly one event of that type on that object, within `ttlMs`; any
// other event (someone's `virsh destroy`, a guest that powers off, a crash) still wakes the
// pass. Pure bookkeeping, with the clock handed in. An in-memory expectation in the sense of
// expectations.ts: lost on restart, the events wake one pass more each, as before.

/** How long an announced event is waited for (the test driver and libvirtd send at once). */
export const OWN_EVENT_TTL_MS = 30_000;

/** Options of {@link OwnEvents}. */
export interface OwnEventsOptions {
  /** Monotonic milliseconds. */
  readonly now: () => number;
  /** How long an announced event is expected (default {@link OWN_EVENT_TTL_MS}). */
  readonly ttlMs?: number;
}

interface Announced<E extends number> {
  readonly event: E;
  readonly until: number;
  /** The announcement it belongs to, and its place in it. */
  readonly call: object;
  readonly order: number;
}

/** Events announced by this process's passes, per hypervisor and object name. */
export class OwnEvents<E extends number> {
  readonly #now: () => number;
  readonly #ttlMs: number;
  readonly #byDomain = new Map<string, Announced<E>[]>();

  /** None announced. */
  constructor(opts: OwnEventsOptions) {
    this.#now = opts.now;
    this.#ttlMs = opts.ttlMs ?? OWN_EVENT_TTL_MS;
  }

  /**
   * A call that will cause `events` on `domain` of `hypervisor` is about to be made; returns
   * the withdrawal, for a call that changed nothing or failed (idempotent).
   */
  announce(hypervisor: string, domain: string, events: readonly E[]): () => void {
    const key = keyOf(hypervisor, domain);
    const until = this.#now() + this.#ttlMs;
    const call = {};
    const mine = events.map((event, order) => ({ event, until, call, order }));
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
   * The events of one call are announced in the order libvirt sends them: the ones before it
   * still expected will not come any more (e.g. the Resumed QEMU sends before Started, which
   * the test driver never sends), so they are dropped too and excuse nothing later.
   */
  consume(hypervisor: string, domain: string, event: E): boolean {
    const key = keyOf(hypervisor, domain);
    let list = this.#live(key);
    const hit = list.find((a) => a.event === event);
    if (hit) list = list.filter((a) => a !== hit && (a.call !== hit.call || a.order > hit.order));
    if (list.length > 0) this.#byDomain.set(key, list);
    else this.#byDomain.delete(key);
    return hit !== undefined;
  }

  /** Domains with announced events (for tests). */
  get size(): number {
    return this.#byDomain.size;
  }

  /** The announced events of `key` that have not expired. */
  #live(key: string): Announced<E>[] {
    const now = this.#now();
    return (this.#byDomain.get(key) ?? []).filter((a) => a.until > now);
  }
}

const keyOf = (hypervisor: string, domain: string): string => `${hypervisor}\u0000${domain}`;

/**
 * Runs `call`, which causes `events` on `domain` when it changes something, with them
 * announced: withdrawn when it reports no change or throws.
 */
export async function withOwnEvents<E extends number, T extends { readonly changed: boolean }>(
  own: OwnEvents<E>,
  hypervisor: string,
  domain: string,
  events: readonly E[],
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
