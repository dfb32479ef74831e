// Typed libvirt events. Callbacks are registered with libvirt's event loop, which
// the addon runs on its own native thread; deliveries reach JS through
// thread-safe functions. Each Subscription owns one such function: while it is
// registered it keeps the process alive (like a socket with a listener), and
// deregister() (or connection.close()) releases it. A listener that throws
// raises an uncaught exception, as an EventEmitter listener would.
import { raw, type ConnectHandle, type EventRegistration } from './binding.js';
import {
  type ConnectCloseReason,
  type DomainEventType,
  type NetworkEventLifecycleType,
} from './constants.js';
import type { Domain } from './domain.js';
import type { Network } from './network.js';

/**
 * VIR_DOMAIN_EVENT_ID_LIFECYCLE. `detail` belongs to the per-event detail enum,
 * e.g. DomainEventStoppedDetailType for DomainEventType.Stopped.
 * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virConnectDomainEventCallback
 */
export interface DomainLifecycleEvent {
  domain: Domain;
  event: DomainEventType;
  detail: number;
}

/**
 * VIR_NETWORK_EVENT_ID_LIFECYCLE.
 * @see https://libvirt.org/html/libvirt-libvirt-network.html#virConnectNetworkEventLifecycleCallback
 */
export interface NetworkLifecycleEvent {
  network: Network;
  event: NetworkEventLifecycleType;
  detail: number;
}

/**
 * The connection close callback: the daemon went away or keepalive timed out.
 * @see https://libvirt.org/html/libvirt-libvirt-host.html#virConnectCloseFunc
 */
export interface CloseEvent {
  reason: ConnectCloseReason;
}

/** How a Subscription is torn down natively. */
type Deregister = (c: ConnectHandle, reg: EventRegistration) => Promise<void>;

/** One registered libvirt callback. Dispose or deregister to stop deliveries. */
export class Subscription implements AsyncDisposable {
  #active = true;

  /** Created by Connection's register methods. */
  constructor(
    private readonly conn: ConnectHandle,
    private readonly registration: EventRegistration,
    private readonly deregisterFn: Deregister,
    private readonly onDone: (s: Subscription) => void,
  ) {}

  /** libvirt's callback ID. */
  get callbackID(): number {
    return this.registration.id;
  }

  /** False after deregister(). */
  get active(): boolean {
    return this.#active;
  }

  /** Stops deliveries at once and deregisters from libvirt. Idempotent. */
  async deregister(): Promise<void> {
    if (!this.#active) return;
    this.#active = false;
    this.onDone(this);
    await this.deregisterFn(this.conn, this.registration);
  }

  /** Lets the process exit even while this subscription is registered. */
  unref(): this {
    if (this.#active) raw.eventRegistrationSetRef(this.registration, false);
    return this;
  }

  /** Undoes unref(). */
  ref(): this {
    if (this.#active) raw.eventRegistrationSetRef(this.registration, true);
    return this;
  }

  /** Same as deregister(), for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.deregister();
  }
}
