// One pass's domain lookups: what a MaasNode pass learnt about its domain by name (the handle,
// or that there is none, and the owner stamp it read), so the verbs it calls next (define,
// start, the look after the start) do not ask libvirt again. A creation pass looked the same
// name up four times and read the stamp once more; with this, once.
//
// Pure bookkeeping: no libvirt calls. It holds the handles it was given and frees them when
// replaced, forgotten or disposed (the pass disposes it when it ends). Handles belong to one
// connection: a lookup made on another (after a reconnect) finds nothing here.
import type { OwnerMetadata } from '../xml/index.js';

/** A handle the lookups own once given: freed exactly once. */
export interface FreeableHandle {
  free(): void;
}

/** What one pass knows about one domain name. */
export type KnownDomain<H> =
  /** Looked up and absent. */
  | { readonly handle: undefined }
  /**
   * Looked up (or just defined): its handle, and its stamp once read (`ownerKnown`; `owner`
   * undefined then means it carries none).
   */
  | {
      readonly handle: H;
      readonly ownerKnown: boolean;
      readonly owner?: OwnerMetadata | undefined;
      /**
       * Defined by this pass where no domain of the name was: off, never run, and nothing of
       * ours has changed its state since.
       */
      readonly newlyDefined?: boolean;
      /**
       * Read by this pass as shut off, and nothing of ours has changed its state since: its
       * start need not ask again (a start by someone else meanwhile fails that call).
       */
      readonly seenOff?: boolean;
    };

/** Per-name lookups of one pass on one connection; dispose it to free the handles. */
export class DomainLookups<
  H extends FreeableHandle = FreeableHandle,
  C extends object = object,
> implements Disposable {
  #conn: C | undefined;
  readonly #byName = new Map<string, KnownDomain<H>>();

  /** What is known about `name` on connection `conn`; undefined when not looked up yet. */
  get(conn: C, name: string): KnownDomain<H> | undefined {
    if (this.#conn !== conn) return undefined;
    return this.#byName.get(name);
  }

  /** `name` was looked up on `conn` and is absent. */
  absent(conn: C, name: string): void {
    this.#set(conn, name, { handle: undefined });
  }

  /**
   * `name` was looked up (or defined) on `conn`: its handle, now owned by the lookups, and
   * its stamp when it was read along with it.
   */
  found(
    conn: C,
    name: string,
    handle: H,
    owner?: { owner: OwnerMetadata | undefined; newlyDefined?: boolean },
  ): void {
    this.#set(
      conn,
      name,
      owner === undefined
        ? { handle, ownerKnown: false }
        : owner.newlyDefined === true
          ? { handle, ownerKnown: true, owner: owner.owner, newlyDefined: true }
          : { handle, ownerKnown: true, owner: owner.owner },
    );
  }

  /**
   * A verb changed the power state of `name`: it is no longer as its definition left it, nor
   * as the pass last read it.
   */
  stateChanged(conn: C, name: string): void {
    const known = this.get(conn, name);
    if (known === undefined || !('ownerKnown' in known)) return;
    if (known.newlyDefined !== true && known.seenOff !== true) return;
    this.#byName.set(name, {
      handle: known.handle,
      ownerKnown: known.ownerKnown,
      owner: known.owner,
    });
  }

  /** The pass read `name` as shut off (until stateChanged, or the next read, says otherwise). */
  stateRead(conn: C, name: string, off: boolean): void {
    const known = this.get(conn, name);
    if (known?.handle === undefined || !('ownerKnown' in known)) return;
    if ((known.seenOff === true) === off) return;
    const { handle, ownerKnown, owner, newlyDefined } = known;
    this.#byName.set(name, {
      handle,
      ownerKnown,
      owner,
      ...(newlyDefined === true ? { newlyDefined } : {}),
      ...(off ? { seenOff: true } : {}),
    });
  }

  /** The stamp of `name`, read through its handle. */
  ownerRead(conn: C, name: string, owner: OwnerMetadata | undefined): void {
    const known = this.get(conn, name);
    if (known?.handle === undefined) return;
    this.#byName.set(name, { handle: known.handle, ownerKnown: true, owner });
  }

  /** Forgets `name` (it went away, or changed under us): the next verb looks again. */
  forget(name: string): void {
    const known = this.#byName.get(name);
    this.#byName.delete(name);
    known?.handle?.free();
  }

  /** How many names are known (for tests). */
  get size(): number {
    return this.#byName.size;
  }

  /** Frees every handle; the lookups are empty afterwards. */
  [Symbol.dispose](): void {
    for (const name of [...this.#byName.keys()]) this.forget(name);
    this.#conn = undefined;
  }

  #set(conn: C, name: string, known: KnownDomain<H>): void {
    // Handles of an older connection are worthless on the new one.
    if (this.#conn !== conn) {
      this[Symbol.dispose]();
      this.#conn = conn;
    }
    const before = this.#byName.get(name);
    this.#byName.set(name, known);
    if (before?.handle !== undefined && before.handle !== known.handle) before.handle.free();
  }
}
