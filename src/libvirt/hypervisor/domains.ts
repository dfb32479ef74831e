// The domain verbs: observe, define, the power verbs and delete. Each looks first, changes only
// what differs and checks our owner stamp before it touches a domain (NameConflictError).
import type { Connection } from '../connection.js';
import {
  DomainMetadataType,
  DomainUndefineFlags,
  DomainXMLFlags,
  ErrorDomain,
  ErrorLevel,
  ErrorNumber,
} from '../constants.js';
import type { Domain } from '../domain.js';
import { isLibvirtError, isNotFound, LibvirtError } from '../errors.js';
import {
  buildDomainXml,
  isOwnedBy,
  MAASLAB_XMLNS,
  parseDomainXml,
  parseOwnerMetadata,
  parsePoolXml,
  type DomainNvram,
  type OwnerMetadata,
  type OwnerRef,
} from '../xml/index.js';
import type { LibvirtCalls } from './calls.js';
import { DomainLookups } from './domain-lookups.js';
import {
  OBSERVE_DOMAIN_LIVE_OP,
  OBSERVE_DOMAIN_OP,
  observedAfterStart,
  observedDomain,
} from './domain-observation.js';
import { ACTIVE_STATES, isRunning, STATE_NAMES } from './domain-states.js';
import { NameConflictError, PoolNotFoundError } from './errors.js';
import { followJob } from './jobs.js';
import type {
  Change,
  DomainPowerState,
  DomainStateName,
  JobOptions,
  ObservedDomain,
  OwnedDomainDescription,
  RebootMode,
} from './types.js';

/** Pool types whose volumes are files in the pool's directory. */
const FILE_POOLS: ReadonlySet<string> = new Set(['dir', 'fs', 'netfs']);

/**
 * virDomainUndefineFlags for deletion: managed save image, snapshot metadata and NVRAM go with
 * the domain. QEMU accepts (and ignores) NVRAM for BIOS domains.
 */
const UNDEFINE_FLAGS = [
  DomainUndefineFlags.ManagedSave,
  DomainUndefineFlags.SnapshotsMetadata,
  DomainUndefineFlags.Nvram,
] as const;

/**
 * One pass's domain lookups on the real Hypervisor (domain-lookups.ts): the verbs given the
 * same lookups share one look per name, one stamp read, and the handle a definition returns.
 */
export type PassLookups = DomainLookups<Domain, Connection>;

/** Empty lookups for one pass; the pass disposes them when it ends. */
export const createPassLookups = (): PassLookups => new DomainLookups<Domain, Connection>();

/**
 * Told before observeDomain reads a definition; the function it returns (if any) is called
 * with the domain's UUID and the stamp read, or with nothing when the read failed.
 */
export type StampRead = (
  conn: Connection,
) => ((seen?: { uuid: string; owner: OwnerMetadata | undefined }) => void) | undefined;

/** A domain handle for one verb: the pass's (left to it), or the verb's own (freed). */
interface Held extends Disposable {
  readonly dom: Domain;
}

const borrowed = (dom: Domain): Held => ({ dom, [Symbol.dispose]: () => undefined });
const own = (dom: Domain): Held => ({ dom, [Symbol.dispose]: () => dom.free() });

/** The domain verbs of one Hypervisor, on its instrumented calls. */
export class DomainVerbs {
  readonly #calls: LibvirtCalls;
  readonly #stampRead: StampRead;

  /**
   * Domain verbs over `calls`; `stampRead` is told each stamp observeDomain reads (the
   * inventory keeps it, so it need not ask virDomainGetMetadata for it).
   */
  constructor(calls: LibvirtCalls, stampRead: StampRead = () => undefined) {
    this.#calls = calls;
    this.#stampRead = stampRead;
  }

  async observeDomain(
    name: string,
    lookups?: PassLookups,
    since?: ObservedDomain,
  ): Promise<ObservedDomain | undefined> {
    const c = await this.#calls.conn();
    const found = await this.#find(c, name, lookups);
    if (!found) return undefined;
    using held = found;
    const { dom } = held;
    // Every look tells the inventory the stamp it read. After our own start that is the live
    // definition's, which is the one virDomainGetMetadata gives for a running domain; it
    // matters for a domain the pass defined itself, which no look before the start has read.
    const stampSeen = this.#stampRead(c);
    try {
      // One worker hop for the reads (see Domain.observe); its metric is named after them.
      const observed =
        since === undefined
          ? observedDomain(dom, await this.#calls.call(c, OBSERVE_DOMAIN_OP, () => dom.observe()))
          : observedAfterStart(
              dom,
              await this.#calls.call(c, OBSERVE_DOMAIN_LIVE_OP, () => dom.observeLive()),
              since,
            );
      const stamp = since === undefined ? observed : observed.live;
      if (stamp) stampSeen?.({ uuid: observed.uuid, owner: stamp.owner });
      // The stamp the inactive definition carries is the one virDomainGetMetadata returns.
      lookups?.ownerRead(c, name, observed.owner);
      lookups?.stateRead(c, name, observed.state === 'shutoff');
      return observed;
    } catch (err) {
      if (isNotFound(err)) {
        lookups?.forget(name);
        return undefined;
      }
      throw err;
    } finally {
      stampSeen?.();
    }
  }

  async observeDomainState(name: string): Promise<DomainPowerState | undefined> {
    const c = await this.#calls.conn();
    const found = await this.#calls.lookup(c, 'virDomainLookupByName', () =>
      c.domainLookupByName(name),
    );
    if (!found) return undefined;
    using dom = found;
    const seen = await this.#calls.lookup(c, 'virDomainGetState', () => dom.getState());
    return seen && { state: STATE_NAMES[seen.state], reason: seen.reason };
  }

  /** The stamp virDomainGetMetadata returns for our namespace; undefined when none. */
  async domainOwner(c: Connection, dom: Domain): Promise<OwnerMetadata | undefined> {
    try {
      const xml = await this.#calls.call(c, 'virDomainGetMetadata', () =>
        dom.getMetadata(DomainMetadataType.Element, MAASLAB_XMLNS),
      );
      return parseOwnerMetadata(xml);
    } catch (err) {
      if (isLibvirtError(err, ErrorNumber.NoDomainMetadata)) return undefined;
      throw err;
    }
  }

  /**
   * The handle of domain `name`: from the pass's lookups when they know it (absent or found),
   * else looked up, and remembered there.
   */
  async #find(c: Connection, name: string, lookups?: PassLookups): Promise<Held | undefined> {
    const known = lookups?.get(c, name);
    if (known) return known.handle && borrowed(known.handle);
    const dom = await this.#calls.lookup(c, 'virDomainLookupByName', () =>
      c.domainLookupByName(name),
    );
    if (!lookups) return dom && own(dom);
    if (!dom) {
      lookups.absent(c, name);
      return undefined;
    }
    lookups.found(c, name, dom);
    return borrowed(dom);
  }

  /**
   * Looks the domain up and checks it is ours; undefined when absent. A stamp the pass has
   * read already (its look at the domain, or its own definition) is not read again.
   */
  async #ownedDomain(
    c: Connection,
    name: string,
    owner: OwnerRef,
    lookups?: PassLookups,
  ): Promise<Held | undefined> {
    const held = await this.#find(c, name, lookups);
    if (!held) return undefined;
    try {
      const known = lookups?.get(c, name);
      let found: OwnerMetadata | undefined;
      if (known?.handle === held.dom && known.ownerKnown) {
        found = known.owner;
      } else {
        found = await this.domainOwner(c, held.dom);
        lookups?.ownerRead(c, name, found);
      }
      if (!isOwnedBy(found, owner)) throw new NameConflictError('domain', name, found);
      return held;
    } catch (err) {
      held[Symbol.dispose]();
      throw err;
    }
  }

  /**
   * Where a volume's file is, existing or not: its pool's directory (`<target><path>`) and
   * its name. Only a pool of files in a directory (dir, fs, netfs) can hold an NVRAM file.
   */
  async #volumePath(c: Connection, ref: DomainNvram): Promise<string> {
    const found = await this.#calls.lookup(c, 'virStoragePoolLookupByName', () =>
      c.storagePoolLookupByName(ref.pool),
    );
    if (!found) throw new PoolNotFoundError(ref.pool);
    using pool = found;
    const xml = await this.#calls.call(c, 'virStoragePoolGetXMLDesc', () => pool.getXMLDesc());
    const { type, path } = parsePoolXml(xml);
    if (!FILE_POOLS.has(type) || path === undefined || !path.startsWith('/')) {
      throw new RangeError(`storage pool ${ref.pool} has no directory to keep NVRAM in`);
    }
    return `${path.replace(/\/+$/, '')}/${ref.volume}`;
  }

  async #stateOf(c: Connection, dom: Domain): Promise<DomainStateName> {
    const { state } = await this.#calls.call(c, 'virDomainGetState', () => dom.getState());
    return STATE_NAMES[state];
  }

  async defineDomain(desc: OwnedDomainDescription, lookups?: PassLookups): Promise<Change> {
    const c = await this.#calls.conn();
    // Seen absent this pass, and defined without a UUID: no second look. libvirt refuses a
    // definition whose name a domain of another UUID holds ("already exists with uuid", for
    // every driver: virDomainObjListAdd), so one defined by someone else since is not replaced.
    const known = lookups?.get(c, desc.name);
    const seenAbsent = known !== undefined && known.handle === undefined && desc.uuid === undefined;
    const existing = seenAbsent
      ? undefined
      : await this.#ownedDomain(c, desc.name, desc.owner, lookups);
    let uuid = desc.uuid;
    if (existing) {
      using held = existing;
      const { dom } = held;
      const current = parseDomainXml(
        await this.#calls.call(c, 'virDomainGetXMLDesc', () =>
          dom.getXMLDesc(DomainXMLFlags.Inactive),
        ),
      );
      // The spec hash in the stamp says what the definition was built from.
      if (desc.owner.specHash !== undefined && current.owner?.specHash === desc.owner.specHash) {
        return { changed: false };
      }
      // libvirt refuses a definition of the same name with another UUID, and a document
      // without <uuid> gets a fresh one: carry the existing UUID over.
      uuid ??= dom.getUUIDString();
    }
    const nvramPath = desc.nvram && (await this.#volumePath(c, desc.nvram));
    const xml = buildDomainXml(uuid === undefined ? desc : { ...desc, uuid }, { nvramPath });
    const dom = await this.#calls.call(c, 'virDomainDefineXMLFlags', () =>
      c.domainDefineXMLFlags(xml),
    );
    // The pass's next verbs (its start, its look after) use this handle and this stamp.
    // Where no domain of the name was, the new one is off: its start need not ask.
    if (lookups) lookups.found(c, desc.name, dom, { owner: desc.owner, newlyDefined: !existing });
    else dom.free();
    return { changed: true };
  }

  async start(name: string, owner: OwnerRef, lookups?: PassLookups): Promise<Change> {
    const c = await this.#calls.conn();
    const found = await this.#ownedDomain(c, name, owner, lookups);
    if (!found) throw this.#missing(name);
    using held = found;
    const { dom } = held;
    // Defined, or read shut off, by this pass a moment ago: no second look at its state (a
    // start by someone else meanwhile fails the call, handled below).
    const known = lookups?.get(c, name);
    const fresh = known?.handle === dom && (known.newlyDefined === true || known.seenOff === true);
    lookups?.stateChanged(c, name);
    if (!fresh && ACTIVE_STATES.has(await this.#stateOf(c, dom))) return { changed: false };
    try {
      await this.#calls.call(c, 'virDomainCreateWithFlags', () => dom.createWithFlags());
    } catch (err) {
      // Started by someone else between the look and the call. QEMU says so with
      // OPERATION_INVALID, the test driver with INTERNAL_ERROR: the state decides. When
      // even the state cannot be read, the start's own error is the one to report.
      if (!isLibvirtError(err)) throw err;
      const state = await this.#stateOf(c, dom).catch(() => undefined);
      if (state !== undefined && ACTIVE_STATES.has(state)) return { changed: false };
      throw err;
    }
    return { changed: true };
  }

  async startFromManagedSave(
    name: string,
    owner: OwnerRef,
    lookups?: PassLookups,
  ): Promise<Change & { readonly restored: boolean }> {
    const c = await this.#calls.conn();
    const found = await this.#ownedDomain(c, name, owner, lookups);
    lookups?.stateChanged(c, name);
    if (!found) throw this.#missing(name);
    using held = found;
    const { dom } = held;
    if (ACTIVE_STATES.has(await this.#stateOf(c, dom))) return { changed: false, restored: false };
    const restored = await this.#calls.call(c, 'virDomainHasManagedSaveImage', () =>
      dom.hasManagedSaveImage(),
    );
    // virDomainCreate restores the managed save image when there is one (and removes it).
    await this.#calls.call(c, 'virDomainCreateWithFlags', () => dom.createWithFlags());
    return { changed: true, restored };
  }

  shutdown(name: string, owner: OwnerRef, lookups?: PassLookups): Promise<Change> {
    // `shutdown` is a guest already on its way down; asking again changes nothing.
    return this.#callWhen(
      name,
      owner,
      isRunning,
      'virDomainShutdownFlags',
      (d) => d.shutdownFlags(),
      lookups,
    );
  }

  /**
   * One call on our domain `name` when its state allows it (`when`), else no change; an
   * absent domain is NO_DOMAIN.
   */
  async #callWhen(
    name: string,
    owner: OwnerRef,
    when: (state: DomainStateName) => boolean,
    op: string,
    act: (dom: Domain) => Promise<void>,
    lookups?: PassLookups,
  ): Promise<Change> {
    const c = await this.#calls.conn();
    const found = await this.#ownedDomain(c, name, owner, lookups);
    lookups?.stateChanged(c, name);
    if (!found) throw this.#missing(name);
    using held = found;
    const { dom } = held;
    if (!when(await this.#stateOf(c, dom))) return { changed: false };
    await this.#calls.call(c, op, () => act(dom));
    return { changed: true };
  }

  async destroy(name: string, owner: OwnerRef, lookups?: PassLookups): Promise<Change> {
    const c = await this.#calls.conn();
    const found = await this.#ownedDomain(c, name, owner, lookups);
    lookups?.stateChanged(c, name);
    if (!found) return { changed: false };
    using held = found;
    const { dom } = held;
    return { changed: await this.#destroyIfActive(c, dom) };
  }

  async #destroyIfActive(c: Connection, dom: Domain): Promise<boolean> {
    if (!ACTIVE_STATES.has(await this.#stateOf(c, dom))) return false;
    try {
      await this.#calls.call(c, 'virDomainDestroyFlags', () => dom.destroyFlags());
    } catch (err) {
      // Stopped meanwhile (the guest powered off, or someone ran virsh destroy).
      if (
        isLibvirtError(err, ErrorNumber.OperationInvalid) &&
        !ACTIVE_STATES.has(await this.#stateOf(c, dom))
      ) {
        return false;
      }
      throw err;
    }
    return true;
  }

  async reboot(
    name: string,
    owner: OwnerRef,
    mode: RebootMode = 'powerCycle',
    lookups?: PassLookups,
  ): Promise<Change> {
    const c = await this.#calls.conn();
    const found = await this.#ownedDomain(c, name, owner, lookups);
    lookups?.stateChanged(c, name);
    if (!found) throw this.#missing(name);
    using held = found;
    const { dom } = held;
    if (!ACTIVE_STATES.has(await this.#stateOf(c, dom))) return { changed: false };
    if (mode === 'reset') {
      await this.#calls.call(c, 'virDomainReset', () => dom.reset());
    } else if (mode === 'acpi') {
      await this.#calls.call(c, 'virDomainReboot', () => dom.reboot());
    } else {
      await this.#calls.call(c, 'virDomainDestroyFlags', () => dom.destroyFlags());
      await this.#calls.call(c, 'virDomainCreateWithFlags', () => dom.createWithFlags());
    }
    return { changed: true };
  }

  suspend(name: string, owner: OwnerRef, lookups?: PassLookups): Promise<Change> {
    return this.#callWhen(name, owner, isRunning, 'virDomainSuspend', (d) => d.suspend(), lookups);
  }

  resume(name: string, owner: OwnerRef, lookups?: PassLookups): Promise<Change> {
    return this.#callWhen(
      name,
      owner,
      (s) => s === 'paused',
      'virDomainResume',
      (d) => d.resume(),
      lookups,
    );
  }

  async managedSave(name: string, owner: OwnerRef, opts: JobOptions = {}): Promise<Change> {
    opts.signal?.throwIfAborted();
    const c = await this.#calls.conn();
    const found = await this.#ownedDomain(c, name, owner);
    if (!found) throw this.#missing(name);
    using held = found;
    const { dom } = held;
    const state = await this.#stateOf(c, dom);
    if (state !== 'running' && state !== 'blocked' && state !== 'paused') {
      return { changed: false };
    }
    const saving = this.#calls.call(c, 'virDomainManagedSave', () => dom.managedSave());
    if (opts.signal === undefined && opts.onProgress === undefined) {
      await saving;
      return { changed: true };
    }
    await followJob(
      saving,
      {
        info: () => this.#calls.call(c, 'virDomainGetJobInfo', () => dom.getJobInfo()),
        abort: () => this.#calls.call(c, 'virDomainAbortJobFlags', () => dom.abortJob()),
      },
      opts,
    );
    return { changed: true };
  }

  async deleteDomain(name: string, owner: OwnerRef): Promise<Change> {
    const c = await this.#calls.conn();
    const found = await this.#ownedDomain(c, name, owner);
    if (!found) return { changed: false };
    using held = found;
    const { dom } = held;
    await this.#destroyIfActive(c, dom);
    // A transient domain is gone once destroyed.
    if (!(await this.#calls.lookup(c, 'virDomainIsPersistent', () => dom.isPersistent()))) {
      return { changed: true };
    }
    try {
      await this.#calls.call(c, 'virDomainUndefineFlags', () =>
        dom.undefineFlags([...UNDEFINE_FLAGS]),
      );
    } catch (err) {
      // Drivers without NVRAM support (the test driver) reject the flag as INVALID_ARG; QEMU
      // accepts it for BIOS domains too, where there is no NVRAM file to remove.
      if (!isLibvirtError(err, ErrorNumber.InvalidArg)) throw err;
      await this.#calls.call(c, 'virDomainUndefineFlags', () =>
        dom.undefineFlags(UNDEFINE_FLAGS.filter((f) => f !== DomainUndefineFlags.Nvram)),
      );
    }
    return { changed: true };
  }

  #missing(name: string): LibvirtError {
    return new LibvirtError(
      ErrorNumber.NoDomain,
      ErrorDomain.Domain,
      ErrorLevel.Error,
      `Domain not found: no domain with matching name '${name}'`,
    );
  }
}
