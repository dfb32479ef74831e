// The inventory for the Hypervisor status: host facts, read once per connection, and every
// defined domain with its stamp, each read once and then kept until a lifecycle event (or a
// time-to-live) says it may have changed, so a settled host costs one virConnectListAllDomains.
import type { Connection } from '../connection.js';
import type { Domain } from '../domain.js';
import { DomainFactsCache } from '../domain-facts-cache.js';
import { isNotFound } from '../errors.js';
import { DomainEventType } from '../constants.js';
import { capabilityDomainTypes, type OwnerMetadata } from '../xml/index.js';
import type { LibvirtCalls } from './calls.js';
import type { DomainVerbs } from './domains.js';
import { STATE_NAMES } from './domain-states.js';
import type { HypervisorEvents } from './events.js';
import type { DomainSummary, HostInfo } from './types.js';
import { definedProps } from '../../util/defined-props.js';

/** What the stamp cache keeps per domain (a domain without a stamp is known too). */
interface Stamp {
  readonly owner: OwnerMetadata | undefined;
}

/** hostInfo's default trust in a domain's facts without an event. */
export const DEFAULT_DOMAIN_FACTS_TTL_MS = 10 * 60_000;

/** Options of {@link Inventory}. */
export interface InventoryOptions {
  /** The instrumented calls. */
  readonly calls: LibvirtCalls;
  /** For each domain's owner stamp. */
  readonly domains: DomainVerbs;
  /** Started by hostInfo: the cache is only trusted while their events reach us. */
  readonly events: HypervisorEvents;
  /** How long a domain's facts are trusted without an event. */
  readonly domainFactsTtlMs: number;
  /** Monotonic milliseconds, for that time-to-live. */
  readonly now: () => number;
}

/** hostInfo of one Hypervisor, with its per-connection caches. */
export class Inventory {
  readonly #calls: LibvirtCalls;
  readonly #domains: DomainVerbs;
  readonly #events: HypervisorEvents;
  readonly #domainFactsTtlMs: number;
  readonly #now: () => number;
  #hostFactsOf?: { readonly conn: Connection; readonly facts: Omit<HostInfo, 'domains'> };
  #domainFacts?: { readonly conn: Connection; readonly cache: DomainFactsCache<DomainSummary> };
  /**
   * Each domain's owner stamp, kept apart from its other facts: a start or a stop changes
   * the state, never the stamp, so only a (re)definition or an undefinition drops it. A look
   * at the domain for a MaasNode pass (observeDomain) also fills it in (stampRead).
   */
  #stamps?: { readonly conn: Connection; readonly cache: DomainFactsCache<Stamp> };

  /** An inventory with empty caches. */
  constructor(opts: InventoryOptions) {
    this.#calls = opts.calls;
    this.#domains = opts.domains;
    this.#events = opts.events;
    this.#domainFactsTtlMs = opts.domainFactsTtlMs;
    this.#now = opts.now;
  }

  async hostInfo(): Promise<HostInfo> {
    const c = await this.#calls.conn();
    // The inventory cache is only as good as the events that invalidate it.
    this.#events.start();
    const host = await this.#hostFacts(c);
    const cache = this.#domainFactsOf(c);
    const stamps = this.#stampsOf(c);
    const trusted = this.#events.liveOn(c);
    const all = await this.#calls.call(c, 'virConnectListAllDomains', () => c.listAllDomains());
    const domains: DomainSummary[] = [];
    const listed = new Set<string>();
    cache.startListing();
    stamps.startListing();
    try {
      for (const dom of all) {
        try {
          const uuid = dom.getUUIDString();
          listed.add(uuid);
          const known = trusted ? cache.get(uuid) : undefined;
          if (known) {
            domains.push(known);
            continue;
          }
          const token = cache.readToken();
          const summary = await this.#domainSummary(c, dom, uuid, trusted ? stamps : undefined);
          if (trusted) cache.store(uuid, summary, token);
          domains.push(summary);
        } catch (err) {
          // Undefined between the listing and the read: it is simply not there any more.
          if (!isNotFound(err)) throw err;
        } finally {
          dom.free();
        }
      }
    } finally {
      cache.finishListing(listed);
      stamps.finishListing(listed);
    }
    return { ...host, domains };
  }

  /**
   * The host facts, read once per connection: hostname, versions, CPUs, memory and KVM do not
   * change while a connection lives (a libvirtd upgrade or a host reboot drops it).
   */
  async #hostFacts(c: Connection): Promise<Omit<HostInfo, 'domains'>> {
    if (this.#hostFactsOf?.conn === c) return this.#hostFactsOf.facts;
    const hostname = await this.#calls.call(c, 'virConnectGetHostname', () => c.getHostname());
    const libvirtVersion = await this.#calls.call(c, 'virConnectGetLibVersion', () =>
      c.getLibVersion(),
    );
    const hypervisorType = await this.#calls.call(c, 'virConnectGetType', () => c.getType());
    const hypervisorVersion = await this.#calls.call(c, 'virConnectGetVersion', () =>
      c.getVersion(),
    );
    const node = await this.#calls.call(c, 'virNodeGetInfo', () => c.nodeGetInfo());
    const caps = await this.#calls.call(c, 'virConnectGetCapabilities', () => c.getCapabilities());
    const facts = {
      hostname,
      libvirtVersion,
      hypervisorType,
      hypervisorVersion,
      cpus: node.cpus,
      memoryBytes: node.memory * 1024,
      kvm: capabilityDomainTypes(caps).has('kvm'),
    };
    this.#hostFactsOf = { conn: c, facts };
    return facts;
  }

  /**
   * One domain for the inventory: virDomainGetInfo (state, vCPUs, maximum memory) and our
   * stamp through virDomainGetMetadata, two small calls instead of the full definition.
   */
  async #domainSummary(
    c: Connection,
    dom: Domain,
    uuid: string,
    stamps: DomainFactsCache<Stamp> | undefined,
  ): Promise<DomainSummary> {
    const info = await this.#calls.call(c, 'virDomainGetInfo', () => dom.getInfo());
    let owner: OwnerMetadata | undefined;
    const kept = stamps?.get(uuid);
    if (kept) {
      owner = kept.owner;
    } else {
      const token = stamps?.readToken() ?? 0;
      owner = await this.#domains.domainOwner(c, dom);
      stamps?.store(uuid, { owner }, token);
    }
    return definedProps({
      name: dom.getName(),
      owner,
      vcpus: info.nrVirtCpu,
      memoryBytes: info.maxMem * 1024,
      state: STATE_NAMES[info.state],
    });
  }

  /** The inventory cache of connection `c`; a new connection starts with an empty one. */
  #domainFactsOf(c: Connection): DomainFactsCache<DomainSummary> {
    if (this.#domainFacts?.conn !== c) {
      this.#domainFacts = {
        conn: c,
        cache: new DomainFactsCache({ ttlMs: this.#domainFactsTtlMs, now: this.#now }),
      };
    }
    return this.#domainFacts.cache;
  }

  /** The stamp cache of connection `c`; a new connection starts with an empty one. */
  #stampsOf(c: Connection): DomainFactsCache<Stamp> {
    if (this.#stamps?.conn !== c) {
      this.#stamps = {
        conn: c,
        cache: new DomainFactsCache({ ttlMs: this.#domainFactsTtlMs, now: this.#now }),
      };
    }
    return this.#stamps.cache;
  }

  /**
   * A lifecycle event of domain `uuid` on connection `conn`: its cached facts are stale, and
   * its stamp too when it was defined or undefined.
   */
  invalidate(conn: Connection, uuid: string, event: DomainEventType): void {
    if (this.#domainFacts?.conn === conn) this.#domainFacts.cache.invalidate(uuid);
    if (event !== DomainEventType.Defined && event !== DomainEventType.Undefined) return;
    if (this.#stamps?.conn === conn) this.#stamps.cache.invalidate(uuid);
  }

  /**
   * A look at one domain of `conn` is about to read its inactive definition: returns what to
   * call with the domain's UUID and stamp once read (or with nothing, when the look failed);
   * the stamp is kept unless a definition event for it came in between. Undefined while
   * events of `conn` do not reach us (nothing could tell a kept stamp is stale).
   */
  stampRead(
    conn: Connection,
  ): ((seen?: { uuid: string; owner: OwnerMetadata | undefined }) => void) | undefined {
    if (!this.#events.liveOn(conn)) return undefined;
    const stamps = this.#stampsOf(conn);
    stamps.startRead();
    const token = stamps.readToken();
    let done = false;
    return (seen) => {
      if (done) return;
      done = true;
      if (seen) stamps.store(seen.uuid, { owner: seen.owner }, token);
      stamps.finishRead();
    };
  }
}
