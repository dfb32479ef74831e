// Expectations: what a controller remembers between passes, in this process only (KubeVirt's
// ControllerExpectations play the same part). A reconciler is level-based and should read the
// world afresh every pass, but a few facts cannot be read back, or not yet:
//   - what this process asked for and is waiting to see (an ACPI shutdown it requested, and
//     when: libvirt does not say), and
//   - what it wrote and its informer has not shown it yet (a status field a racing pass would
//     read stale), and
//   - facts that do not change and cost a call to learn (a host's KVM support).
// The rules, for every controller that keeps such memory:
//   1. It lives in one Expectations value per controller, made by createExpectations, never
//      in loose maps: every slot is named and typed, and `forget` drops them all at once.
//   2. Keys are object UIDs (a deleted and recreated object starts clean), or the name of a
//      host for host facts.
//   3. It is a hint, never the truth: losing it (an operator restart) must be safe, and each
//      slot says what happens then.
//   4. The object's deletion forgets it (`forget`), so the memory is bounded by live objects.
// Slots are values, not events: the pass that reads one decides what it means.

/** The memory of one controller: per key, one optional value per named slot. */
export interface Expectations<S extends object> {
  /** The value of `slot` for `key`, or undefined when nothing is remembered. */
  get<K extends keyof S>(key: string, slot: K): S[K] | undefined;
  /** Remembers `value` in `slot` for `key`. */
  set<K extends keyof S>(key: string, slot: K, value: S[K]): void;
  /** Forgets `slot` for `key` (the expectation was met, or no longer holds). */
  clear(key: string, slot: keyof S): void;
  /** Forgets every slot of `key`: the object is gone. */
  forget(key: string): void;
  /** Keys with at least one slot remembered (for tests and debugging). */
  size(): number;
}

/** A controller's memory between passes; see the rules at the top of this file. */
export function createExpectations<S extends object>(): Expectations<S> {
  const byKey = new Map<string, Partial<S>>();
  return {
    get: (key, slot) => byKey.get(key)?.[slot],
    set(key, slot, value) {
      const slots: Partial<S> = byKey.get(key) ?? {};
      slots[slot] = value;
      byKey.set(key, slots);
    },
    clear(key, slot) {
      const slots = byKey.get(key);
      if (!slots) return;
      delete slots[slot];
      if (Object.keys(slots).length === 0) byKey.delete(key);
    },
    forget: (key) => void byKey.delete(key),
    size: () => byKey.size,
  };
}
