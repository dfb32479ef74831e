// The real Hypervisor: the verbs of domains.ts, networks.ts and storage.ts, the inventory and
// the event subscriptions, each on one instrumented helper (calls.ts) over the pool's
// connection for one URI.
import type { Connection } from '../connection.js';
import type { ConnectionPool } from '../connection-pool.js';
import { noopLibvirtMetrics, type LibvirtMetrics } from '../metrics.js';
import type { OwnerRef, ParsedVolume } from '../xml/index.js';
import { LibvirtCalls } from './calls.js';
import { DomainVerbs, type PassLookups } from './domains.js';
import { HypervisorEvents } from './events.js';
import type { Hypervisor } from './interface.js';
import { DEFAULT_DOMAIN_FACTS_TTL_MS, Inventory } from './inventory.js';
import { NetworkVerbs } from './networks.js';
import { StorageVerbs } from './storage.js';
import type {
  Change,
  DomainEvent,
  DomainPowerState,
  EnsuredVolumes,
  HostInfo,
  NetworkChange,
  EnsureNetworkOptions,
  EnsureVolumesOptions,
  NetworkChangeResult,
  NetworkEvent,
  ObservedDomain,
  ObservedNetwork,
  OwnedDomainDescription,
  OwnedNetworkDescription,
  PoolSpec,
  RebootMode,
  Unsubscribe,
  VolumeRef,
  VolumeSpec,
  VolumeUpload,
  JobOptions,
} from './types.js';

/** Options of {@link createLibvirtHypervisor}. */
export interface LibvirtHypervisorOptions {
  /** The hypervisor URI. */
  readonly uri: string;
  /** The shared connections; the Hypervisor never opens its own. */
  readonly connections: Pick<ConnectionPool<Connection>, 'get' | 'on' | 'reportFailure'>;
  /** The `hypervisor` metric label (the Hypervisor resource name); defaults to the URI. */
  readonly name?: string;
  /** Call metrics; none by default. */
  readonly metrics?: LibvirtMetrics;
  /** Told about listener errors and failed event registrations nobody awaits. */
  readonly onError?: (err: unknown) => void;
  /**
   * How long hostInfo trusts what it read about a domain when no lifecycle event came
   * (default 10 min): edits without one, such as `virsh metadata`, show within this period.
   */
  readonly domainFactsTtlMs?: number;
  /** Monotonic milliseconds, for that time-to-live (default performance.now). */
  readonly now?: () => number;
}

/** The real Hypervisor, plus disposal of its event subscriptions. */
export interface LibvirtHypervisor extends Hypervisor {
  /** Deregisters event callbacks (the pool closes the connection itself). */
  close(): Promise<void>;
}

/**
 * The Hypervisor over the typed wrapper, on the pool's connection for `uri`. Event
 * subscriptions are registered on the first listener and again on every reconnect (`up`).
 */
export function createLibvirtHypervisor(opts: LibvirtHypervisorOptions): LibvirtHypervisor {
  return new LibvirtHypervisorImpl(opts);
}

class LibvirtHypervisorImpl implements LibvirtHypervisor {
  readonly #events: HypervisorEvents;
  readonly #inventory: Inventory;
  readonly #storage: StorageVerbs;
  readonly #networks: NetworkVerbs;
  readonly #domains: DomainVerbs;

  constructor(opts: LibvirtHypervisorOptions) {
    const calls = new LibvirtCalls({
      uri: opts.uri,
      label: opts.name ?? opts.uri,
      pool: opts.connections,
      metrics: opts.metrics ?? noopLibvirtMetrics,
    });
    this.#events = new HypervisorEvents({
      uri: opts.uri,
      pool: opts.connections,
      calls,
      onError: opts.onError ?? (() => undefined),
      onDomainLifecycle: (conn, uuid, event) => this.#inventory.invalidate(conn, uuid, event),
    });
    this.#domains = new DomainVerbs(calls, (conn) => this.#inventory.stampRead(conn));
    this.#networks = new NetworkVerbs(calls);
    this.#storage = new StorageVerbs(calls);
    this.#inventory = new Inventory({
      calls,
      domains: this.#domains,
      events: this.#events,
      domainFactsTtlMs: opts.domainFactsTtlMs ?? DEFAULT_DOMAIN_FACTS_TTL_MS,
      now: opts.now ?? (() => performance.now()),
    });
  }

  hostInfo(): Promise<HostInfo> {
    return this.#inventory.hostInfo();
  }

  ensurePool(spec: PoolSpec): Promise<Change> {
    return this.#storage.ensurePool(spec);
  }

  observeNetwork(name: string): Promise<ObservedNetwork | undefined> {
    return this.#networks.observeNetwork(name);
  }

  ensureNetwork(
    desc: OwnedNetworkDescription,
    opts?: EnsureNetworkOptions,
  ): Promise<NetworkChangeResult> {
    return this.#networks.ensureNetwork(desc, opts);
  }

  applyNetworkChange(
    desc: OwnedNetworkDescription,
    change: NetworkChange,
  ): Promise<NetworkChangeResult> {
    return this.#networks.applyNetworkChange(desc, change);
  }

  deleteNetwork(name: string, owner: OwnerRef): Promise<Change> {
    return this.#networks.deleteNetwork(name, owner);
  }

  observeDomain(
    name: string,
    lookups?: PassLookups,
    since?: ObservedDomain,
  ): Promise<ObservedDomain | undefined> {
    return this.#domains.observeDomain(name, lookups, since);
  }

  observeDomainState(name: string): Promise<DomainPowerState | undefined> {
    return this.#domains.observeDomainState(name);
  }

  ensureVolumes(
    volumes: readonly VolumeSpec[],
    opts?: EnsureVolumesOptions,
  ): Promise<EnsuredVolumes> {
    return this.#storage.ensureVolumes(volumes, opts);
  }

  observeVolumes(pool: string, names: readonly string[]): Promise<readonly ParsedVolume[]> {
    return this.#storage.observeVolumes(pool, names);
  }

  uploadVolume(
    upload: VolumeUpload,
    source: AsyncIterable<Uint8Array>,
    opts?: JobOptions,
  ): Promise<ParsedVolume> {
    return this.#storage.uploadVolume(upload, source, opts);
  }

  hashVolume(pool: string, name: string, opts?: JobOptions): Promise<string | undefined> {
    return this.#storage.hashVolume(pool, name, opts);
  }

  defineDomain(desc: OwnedDomainDescription, lookups?: PassLookups): Promise<Change> {
    return this.#domains.defineDomain(desc, lookups);
  }

  start(name: string, owner: OwnerRef, lookups?: PassLookups): Promise<Change> {
    return this.#domains.start(name, owner, lookups);
  }

  startFromManagedSave(
    name: string,
    owner: OwnerRef,
    lookups?: PassLookups,
  ): Promise<Change & { readonly restored: boolean }> {
    return this.#domains.startFromManagedSave(name, owner, lookups);
  }

  shutdown(name: string, owner: OwnerRef, lookups?: PassLookups): Promise<Change> {
    return this.#domains.shutdown(name, owner, lookups);
  }

  destroy(name: string, owner: OwnerRef, lookups?: PassLookups): Promise<Change> {
    return this.#domains.destroy(name, owner, lookups);
  }

  reboot(name: string, owner: OwnerRef, mode?: RebootMode, lookups?: PassLookups): Promise<Change> {
    return this.#domains.reboot(name, owner, mode, lookups);
  }

  suspend(name: string, owner: OwnerRef, lookups?: PassLookups): Promise<Change> {
    return this.#domains.suspend(name, owner, lookups);
  }

  resume(name: string, owner: OwnerRef, lookups?: PassLookups): Promise<Change> {
    return this.#domains.resume(name, owner, lookups);
  }

  managedSave(name: string, owner: OwnerRef, opts?: JobOptions): Promise<Change> {
    return this.#domains.managedSave(name, owner, opts);
  }

  deleteDomain(name: string, owner: OwnerRef): Promise<Change> {
    return this.#domains.deleteDomain(name, owner);
  }

  deleteVolumes(
    volumes: readonly VolumeRef[],
  ): Promise<Change & { readonly deleted: readonly string[] }> {
    return this.#storage.deleteVolumes(volumes);
  }

  onDomainEvent(listener: (e: DomainEvent) => void): Unsubscribe {
    return this.#events.onDomainEvent(listener);
  }

  onNetworkEvent(listener: (e: NetworkEvent) => void): Unsubscribe {
    return this.#events.onNetworkEvent(listener);
  }

  close(): Promise<void> {
    return this.#events.close();
  }
}
