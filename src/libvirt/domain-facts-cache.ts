// What the Hypervisor inventory knows about each domain of one connection, kept between
// passes so a settled host costs one listing instead of two calls per domain. Lifecycle
// events (defined, undefined, started, stopped, ...) are the invalidation: every change that
// moves vCPUs, memory, state or the stamp comes with one, except edits libvirt reports
// through other event IDs (e.g. `virsh metadata`, a live vCPU hotplug). Entries therefore
// also expire after a time-to-live, so such an edit shows within that period.
//
// Pure bookkeeping: no libvirt, no clock of its own. The one subtle part is a read that races
// an event: the event may arrive while the read is in flight, and the read then returns what
// was true before it. Every event bumps a sequence number; a read remembers the number it
// started at, and its result is kept only if no event for that domain came later.

/** Options of {@link DomainFactsCache}. */
export interface DomainFactsCacheOptions {
  /** How long an entry is trusted without any event, in ms. */
  readonly ttlMs: number;
  /** Monotonic milliseconds. */
  readonly now: () => number;
}

/** Per-UUID facts of one connection's domains, invalidated by lifecycle events. */
export class DomainFactsCache<T> {
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #entries = new Map<string, { readonly value: T; readonly readAt: number }>();
  /** UUID → the sequence number of its last event, while a listing may still be reading it. */
  readonly #changedAt = new Map<string, number>();
  #seq = 0;
  #listings = 0;

  /** An empty cache. */
  constructor(opts: DomainFactsCacheOptions) {
    this.#ttlMs = opts.ttlMs;
    this.#now = opts.now;
  }

  /** A lifecycle event for `uuid`: what we knew is stale, and so is any read in flight. */
  invalidate(uuid: string): void {
    this.#entries.delete(uuid);
    // With no listing in flight no read can be racing: nothing to remember.
    if (this.#listings > 0) this.#changedAt.set(uuid, ++this.#seq);
  }

  /** The facts of `uuid`, if read since its last event and within the time-to-live. */
  get(uuid: string): T | undefined {
    const entry = this.#entries.get(uuid);
    if (entry === undefined) return undefined;
    if (this.#now() - entry.readAt >= this.#ttlMs) {
      this.#entries.delete(uuid);
      return undefined;
    }
    return entry.value;
  }

  /** Starts a listing; reads happen between this and {@link finishListing}. */
  startListing(): void {
    this.#listings++;
  }

  /**
   * Starts a read of one domain outside any listing (a look at it for another purpose that
   * learns its facts too); pair it with {@link finishRead}. Events that race it are tracked
   * as for a listing.
   */
  startRead(): void {
    this.#listings++;
  }

  /** Ends a read started with {@link startRead}; nothing is dropped. */
  finishRead(): void {
    this.#listings = Math.max(0, this.#listings - 1);
    if (this.#listings === 0) this.#changedAt.clear();
  }

  /** The token a read of one domain takes before its first call, for {@link store}. */
  readToken(): number {
    return this.#seq;
  }

  /**
   * Keeps `value`, read for `uuid` by a read that started at `token`, unless an event for
   * `uuid` came after that start. Returns whether it was kept.
   */
  store(uuid: string, value: T, token: number): boolean {
    if ((this.#changedAt.get(uuid) ?? -1) > token) return false;
    this.#entries.set(uuid, { value, readAt: this.#now() });
    return true;
  }

  /**
   * Ends a listing that saw exactly the domains in `listed`: entries of domains that are gone
   * (their undefine event may have been missed, e.g. across a reconnect) are dropped.
   */
  finishListing(listed: ReadonlySet<string>): void {
    this.#listings = Math.max(0, this.#listings - 1);
    for (const uuid of this.#entries.keys()) if (!listed.has(uuid)) this.#entries.delete(uuid);
    if (this.#listings === 0) this.#changedAt.clear();
  }

  /** Entries held now (for tests and debugging). */
  get size(): number {
    return this.#entries.size;
  }
}
