// Domain and network lifecycle events of one Hypervisor: callbacks are registered on the first
// listener (or the first hostInfo) and again on every reconnect of the pool's connection.
import type { Connection } from '../connection.js';
import type { DomainEventType } from '../constants.js';
import type { ConnectionPool } from '../connection-pool.js';
import type { Subscription } from '../events.js';
import type { LibvirtCalls } from './calls.js';
import type { DomainEvent, NetworkEvent, Unsubscribe } from './types.js';

/** Options of {@link HypervisorEvents}. */
export interface HypervisorEventsOptions {
  /** The hypervisor URI. */
  readonly uri: string;
  /** The shared connections: `up` tells of a reconnect. */
  readonly pool: Pick<ConnectionPool<Connection>, 'get' | 'on'>;
  /** The instrumented calls. */
  readonly calls: LibvirtCalls;
  /** Told about listener errors and failed registrations nobody awaits. */
  readonly onError: (err: unknown) => void;
  /** Told of every domain lifecycle event before the listeners (the inventory cache). */
  readonly onDomainLifecycle: (conn: Connection, uuid: string, event: DomainEventType) => void;
}

/** The event subscriptions of one Hypervisor and their listeners. */
export class HypervisorEvents {
  readonly #uri: string;
  readonly #pool: HypervisorEventsOptions['pool'];
  readonly #calls: LibvirtCalls;
  readonly #onError: (err: unknown) => void;
  readonly #onDomainLifecycle: HypervisorEventsOptions['onDomainLifecycle'];
  readonly #domainListeners = new Set<(e: DomainEvent) => void>();
  readonly #networkListeners = new Set<(e: NetworkEvent) => void>();
  #subscribedTo?: Connection;
  #subscriptions: Subscription[] = [];
  #offUp?: () => void;
  #closed = false;

  /** Nothing is registered until the first listener or start(). */
  constructor(opts: HypervisorEventsOptions) {
    this.#uri = opts.uri;
    this.#pool = opts.pool;
    this.#calls = opts.calls;
    this.#onError = opts.onError;
    this.#onDomainLifecycle = opts.onDomainLifecycle;
  }

  /** Whether lifecycle events of connection `c` reach us now (so a cache may be trusted). */
  liveOn(c: Connection): boolean {
    return this.#subscribedTo === c && this.#subscriptions.length > 0;
  }

  onDomainEvent(listener: (e: DomainEvent) => void): Unsubscribe {
    this.#domainListeners.add(listener);
    this.start();
    return () => void this.#domainListeners.delete(listener);
  }

  onNetworkEvent(listener: (e: NetworkEvent) => void): Unsubscribe {
    this.#networkListeners.add(listener);
    this.start();
    return () => void this.#networkListeners.delete(listener);
  }

  /** Registers callbacks now (if connected) and on every reconnect. */
  start(): void {
    if (this.#offUp || this.#closed) return;
    this.#offUp = this.#pool.on('up', (uri, conn) => {
      if (uri === this.#uri) void this.#subscribe(conn);
    });
    void this.#pool
      .get(this.#uri)
      .then((conn) => this.#subscribe(conn))
      .catch((err: unknown) => this.#onError(err));
  }

  async #subscribe(conn: Connection): Promise<void> {
    if (this.#closed || this.#subscribedTo === conn) return;
    this.#subscribedTo = conn;
    // Subscriptions of a dead connection died with it; the pool closes that connection.
    this.#subscriptions = [];
    try {
      const dom = await this.#calls.call(conn, 'virConnectDomainEventRegisterAny', () =>
        conn.domainEventRegisterLifecycle((e) => {
          const event: DomainEvent = {
            name: e.domain.getName(),
            uuid: e.domain.getUUIDString(),
            event: e.event,
            detail: e.detail,
          };
          e.domain.free();
          this.#onDomainLifecycle(conn, event.uuid, event.event);
          for (const l of this.#domainListeners) this.#deliver(l, event);
        }),
      );
      const net = await this.#calls.call(conn, 'virConnectNetworkEventRegisterAny', () =>
        conn.networkEventRegisterLifecycle((e) => {
          const event: NetworkEvent = {
            name: e.network.getName(),
            uuid: e.network.getUUIDString(),
            event: e.event,
            detail: e.detail,
          };
          e.network.free();
          for (const l of this.#networkListeners) this.#deliver(l, event);
        }),
      );
      // Event callbacks must not keep the operator alive at shutdown.
      this.#subscriptions = [dom.unref(), net.unref()];
    } catch (err) {
      this.#subscribedTo = undefined;
      this.#onError(err);
    }
  }

  /** A listener that throws must not become an uncaught exception in a native callback. */
  #deliver<E>(listener: (e: E) => void, event: E): void {
    try {
      listener(event);
    } catch (err) {
      this.#onError(err);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#offUp?.();
    const subs = this.#subscriptions;
    this.#subscriptions = [];
    this.#domainListeners.clear();
    this.#networkListeners.clear();
    await Promise.allSettled(subs.map((s) => s.deregister()));
  }
}
