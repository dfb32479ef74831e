// FakeHypervisor: an in-memory Hypervisor for controller unit tests, with the real one's
// ownership and conflict rules (the same contract suite runs against both). It records every
// verb call and, under the C names the real implementation reports to its metrics, every
// mutation it performed, so a test can assert "0 mutating calls". `unreachable` makes every
// verb throw HypervisorUnreachableError; failNext() injects one error into one verb; the
// `external` helpers act like an admin with virsh (foreign objects, `virsh destroy`), raising
// the same lifecycle events libvirt would. `hostBridges` stands for the host's bridges: while
// it is a set, a bridge-mode network naming a bridge outside it gets BridgeNotFoundError.
import { createHash } from 'node:crypto';
import {
  BridgeNotFoundError,
  DomainEventDefinedDetailType,
  DomainEventStartedDetailType,
  DomainEventStoppedDetailType,
  DomainEventType,
  DomainEventUndefinedDetailType,
  ErrorDomain,
  ErrorLevel,
  ErrorNumber,
  HypervisorUnreachableError,
  LibvirtError,
  NameConflictError,
  NetworkEventLifecycleType,
  PoolNotFoundError,
  type Change,
  type DomainEvent,
  type DomainStateName,
  type HostInfo,
  type Hypervisor,
  type NetworkChange,
  type EnsureNetworkOptions,
  type EnsureVolumesOptions,
  type NetworkChangeResult,
  type NetworkEvent,
  type ObservedDomain,
  type ObservedNetwork,
  type OwnedNetworkDescription,
  type PoolSpec,
  type RebootMode,
  type ReplugResult,
  type Unsubscribe,
  type VolumeRef,
  type VolumeSpec,
  type VolumeUpload,
  type JobOptions,
  ChecksumMismatchError,
  UploadSizeMismatchError,
} from '../../src/libvirt/index.js';
import {
  buildDomainXml,
  buildNetworkXml,
  isOwnedBy,
  parseDomainXml,
  parseNetworkXml,
  type NetworkDescription,
  type OwnerRef,
  type ParsedDomain,
} from '../../src/libvirt/xml/index.js';

/** One verb call, as the controller made it. */
export interface FakeCall {
  /** The Hypervisor method. */
  readonly verb: keyof Hypervisor;
  /** Its arguments. */
  readonly args: readonly unknown[];
}

interface FakeNetwork {
  desc: NetworkDescription;
  uuid: string;
  active: boolean;
  autostart: boolean;
  bridge: string;
}

interface FakeDomain {
  inactive: ParsedDomain;
  uuid: string;
  state: DomainStateName;
  reason: number;
  id: number;
  hasManagedSave: boolean;
  /** Saved while paused: libvirt restores such a domain paused. */
  savedPaused?: boolean;
}

const ACTIVE: ReadonlySet<DomainStateName> = new Set([
  'running',
  'blocked',
  'paused',
  'shutdown',
  'crashed',
  'pmsuspended',
]);

/** Options of {@link createFakeHypervisor}. */
export interface FakeHypervisorOptions {
  /** URI named in HypervisorUnreachableError. */
  readonly uri?: string;
  /** Pools that exist from the start (name → path). Default: `default`. */
  readonly pools?: Readonly<Record<string, string>>;
  /** hostInfo's host facts. */
  readonly host?: Partial<Omit<HostInfo, 'domains'>>;
  /** The host bridges that exist. Default: any bridge exists. */
  readonly hostBridges?: Iterable<string>;
}

/** The fake, with its recording, failure injection and admin helpers. */
export interface FakeHypervisor extends Hypervisor {
  /** Every verb call, in order. */
  readonly calls: FakeCall[];
  /** Every mutation, as the libvirt C function the real implementation would call. */
  readonly mutations: string[];
  /** While true, every verb throws HypervisorUnreachableError. */
  unreachable: boolean;
  /**
   * The host bridges that exist (`ip link add … type bridge` adds one); undefined means any
   * bridge exists, like a host without an interface driver, where nothing is checked.
   */
  hostBridges: Set<string> | undefined;
  /** The next call of `verb` throws `error` (once). */
  failNext(verb: keyof Hypervisor, error: Error): void;
  /** Clears `calls` and `mutations`. */
  resetRecording(): void;
  /** Volumes that exist, as `pool/name`. */
  volumes(): string[];
  /** Acting as an admin with virsh, outside the operator. */
  readonly external: {
    /** `virsh define`: any XML, no ownership check. */
    defineDomain(xml: string): void;
    /** `virsh net-define` + `net-start`. */
    defineNetwork(desc: NetworkDescription): void;
    /** `virsh destroy`. */
    destroy(name: string): void;
    /** `virsh start`. */
    start(name: string): void;
    /** The guest powered itself off. */
    guestPowerOff(name: string): void;
    /**
     * A volume written outside the operator (`virsh vol-create` + `vol-upload`), e.g. a base
     * image whose upload stopped part-way: `bytes` are what it holds.
     */
    writeVolume(pool: string, name: string, bytes: Uint8Array, capacityBytes?: number): void;
  };
}

let uuidCounter = 0;
const newUuid = (): string =>
  `00000000-0000-4000-8000-${(++uuidCounter).toString(16).padStart(12, '0')}`;

/** Creates a FakeHypervisor. */
export function createFakeHypervisor(opts: FakeHypervisorOptions = {}): FakeHypervisor {
  const uri = opts.uri ?? 'fake:///system';
  const pools = new Map<string, { path?: string; active: boolean }>(
    Object.entries(opts.pools ?? { default: '/var/lib/libvirt/images' }).map(([n, path]) => [
      n,
      { path, active: true },
    ]),
  );
  const volumes = new Map<string, VolumeSpec>();
  /** The SHA-256 of each volume's bytes (pool/name); absent: an empty volume. */
  const contents = new Map<string, string>();
  const EMPTY_SHA256 = createHash('sha256').digest('hex');
  const networks = new Map<string, FakeNetwork>();
  const domains = new Map<string, FakeDomain>();
  const domainListeners = new Set<(e: DomainEvent) => void>();
  const networkListeners = new Set<(e: NetworkEvent) => void>();
  const failures = new Map<keyof Hypervisor, Error>();
  const calls: FakeCall[] = [];
  const mutations: string[] = [];
  let nextId = 1;
  let bridgeCounter = 0;

  const enter = (verb: keyof Hypervisor, args: unknown[]): void => {
    calls.push({ verb, args });
    const injected = failures.get(verb);
    if (injected) {
      failures.delete(verb);
      throw injected;
    }
    if (fake.unreachable) {
      throw new HypervisorUnreachableError(uri, {
        cause: new LibvirtError(
          ErrorNumber.SystemError,
          ErrorDomain.Rpc,
          ErrorLevel.Error,
          'Cannot recv data: Connection reset by peer',
        ),
      });
    }
  };
  const mutate = (op: string): void => void mutations.push(op);
  // The real one's virInterfaceLookupByName check before virNetworkCreate.
  const checkBridge = (desc: NetworkDescription): void => {
    const bridge = desc.mode === 'bridge' ? desc.bridge?.name : undefined;
    if (bridge === undefined || !fake.hostBridges || fake.hostBridges.has(bridge)) return;
    throw new BridgeNotFoundError(bridge, {
      cause: new LibvirtError(
        ErrorNumber.NoInterface,
        ErrorDomain.Interface,
        ErrorLevel.Error,
        `Interface not found: couldn't find interface named '${bridge}'`,
      ),
    });
  };
  const noDomain = (name: string): LibvirtError =>
    new LibvirtError(
      ErrorNumber.NoDomain,
      ErrorDomain.Domain,
      ErrorLevel.Error,
      `Domain not found: no domain with matching name '${name}'`,
    );
  const domainEvent = (name: string, event: DomainEventType, detail: number): void => {
    const d = domains.get(name);
    const e: DomainEvent = { name, uuid: d?.uuid ?? '', event, detail };
    for (const l of domainListeners) l(e);
  };
  const networkEvent = (name: string, event: NetworkEventLifecycleType): void => {
    const e: NetworkEvent = { name, uuid: networks.get(name)?.uuid ?? '', event, detail: 0 };
    for (const l of networkListeners) l(e);
  };
  const ownedDomain = (name: string, owner: OwnerRef): FakeDomain | undefined => {
    const d = domains.get(name);
    if (d && !isOwnedBy(d.inactive.owner, owner)) {
      throw new NameConflictError('domain', name, d.inactive.owner);
    }
    return d;
  };
  const ownedNetwork = (name: string, owner: OwnerRef): FakeNetwork | undefined => {
    const n = networks.get(name);
    if (n && !isOwnedBy(n.desc.owner, owner)) {
      throw new NameConflictError('network', name, n.desc.owner);
    }
    return n;
  };
  const setState = (d: FakeDomain, state: DomainStateName): void => {
    d.state = state;
    d.id = ACTIVE.has(state) ? nextId++ : -1;
  };
  const startDomain = (d: FakeDomain): void => {
    const restored = d.hasManagedSave;
    d.hasManagedSave = false;
    setState(d, 'running');
    domainEvent(
      d.inactive.name,
      DomainEventType.Started,
      restored ? DomainEventStartedDetailType.Restored : DomainEventStartedDetailType.Booted,
    );
  };
  const stopDomain = (d: FakeDomain, detail: number): void => {
    setState(d, 'shutoff');
    domainEvent(d.inactive.name, DomainEventType.Stopped, detail);
  };
  /** NICs of running domains on `network`: what the real one re-plugs. */
  const nicsOn = (network: string): ReplugResult[] =>
    [...domains.values()]
      .filter((d) => ACTIVE.has(d.state))
      .flatMap((d) =>
        d.inactive.interfaces
          .filter((i) => i.type === 'network' && i.network === network && i.mac)
          .map((i) => ({ domain: d.inactive.name, mac: i.mac ?? '' })),
      );
  const startNetwork = (n: FakeNetwork): ReplugResult[] => {
    n.active = true;
    mutate('virNetworkCreate');
    networkEvent(n.desc.name, NetworkEventLifecycleType.Started);
    const replugged = nicsOn(n.desc.name);
    for (let i = 0; i < replugged.length * 2; i++) mutate('virDomainUpdateDeviceFlags');
    return replugged;
  };
  const defineNetwork = (desc: NetworkDescription, uuid = newUuid()): FakeNetwork => {
    // Round-trip through the XML layer, as libvirt would store it.
    const parsed = parseNetworkXml(buildNetworkXml(desc));
    const n: FakeNetwork = {
      desc,
      uuid,
      active: false,
      autostart: false,
      bridge: desc.bridge?.name ?? parsed.bridge?.name ?? `virbr${++bridgeCounter}`,
    };
    networks.set(desc.name, n);
    networkEvent(desc.name, NetworkEventLifecycleType.Defined);
    return n;
  };
  const observeNet = (n: FakeNetwork): ObservedNetwork => {
    const parsed = parseNetworkXml(
      buildNetworkXml({ ...n.desc, uuid: n.uuid, bridge: { name: n.bridge, ...n.desc.bridge } }),
    );
    return {
      name: n.desc.name,
      uuid: n.uuid,
      active: n.active,
      autostart: n.autostart,
      ...(n.desc.owner && { owner: n.desc.owner }),
      bridge: n.bridge,
      parsed,
      ...(n.active && { live: parsed }),
    };
  };

  const fake: FakeHypervisor = {
    calls,
    mutations,
    unreachable: false,
    hostBridges: opts.hostBridges === undefined ? undefined : new Set(opts.hostBridges),
    failNext: (verb, error) => void failures.set(verb, error),
    resetRecording() {
      calls.length = 0;
      mutations.length = 0;
    },
    volumes: () => [...volumes.keys()],

    async hostInfo() {
      enter('hostInfo', []);
      return {
        hostname: 'fake-host',
        libvirtVersion: 9_000_000,
        hypervisorType: 'QEMU',
        hypervisorVersion: 7_002_000,
        cpus: 8,
        memoryBytes: 16 * 1024 ** 3,
        kvm: false,
        ...opts.host,
        domains: [...domains.values()].map((d) => ({
          name: d.inactive.name,
          ...(d.inactive.owner && { owner: d.inactive.owner }),
          vcpus: d.inactive.vcpus,
          memoryBytes: d.inactive.memoryBytes,
          state: d.state,
        })),
      };
    },

    async ensurePool(spec: PoolSpec): Promise<Change> {
      enter('ensurePool', [spec]);
      const p = pools.get(spec.name);
      if (p) {
        if (p.active) return { changed: false };
        p.active = true;
        mutate('virStoragePoolCreate');
        return { changed: true };
      }
      if (spec.path === undefined) throw new PoolNotFoundError(spec.name);
      pools.set(spec.name, { path: spec.path, active: true });
      for (const op of [
        'virStoragePoolDefineXML',
        'virStoragePoolBuild',
        'virStoragePoolCreate',
        'virStoragePoolSetAutostart',
      ]) {
        mutate(op);
      }
      return { changed: true };
    },

    async observeNetwork(name) {
      enter('observeNetwork', [name]);
      const n = networks.get(name);
      return n && observeNet(n);
    },

    async ensureNetwork(
      desc: OwnedNetworkDescription,
      opts?: EnsureNetworkOptions,
    ): Promise<NetworkChangeResult> {
      enter('ensureNetwork', opts ? [desc, opts] : [desc]);
      let n = ownedNetwork(desc.name, desc.owner);
      let changed = false;
      let replugged: ReplugResult[] = [];
      if (!n) {
        n = defineNetwork(desc);
        mutate('virNetworkDefineXML');
        changed = true;
      }
      const autostart = desc.autostart ?? true;
      if (n.autostart !== autostart) {
        n.autostart = autostart;
        mutate('virNetworkSetAutostart');
        changed = true;
      }
      if (!n.active) {
        checkBridge(desc);
        replugged = startNetwork(n);
        changed = true;
      }
      return { changed, replugged };
    },

    async applyNetworkChange(
      desc: OwnedNetworkDescription,
      change: NetworkChange,
    ): Promise<NetworkChangeResult> {
      enter('applyNetworkChange', [desc, change]);
      if (change.kind === 'none') return { changed: false, replugged: [] };
      const n = ownedNetwork(desc.name, desc.owner);
      if (!n) {
        calls.pop();
        return fake.ensureNetwork(desc);
      }
      if (change.kind === 'dhcpHostsLive') {
        const hosts = [...(n.desc.ipv4?.dhcp?.hosts ?? [])];
        let changed = false;
        for (const h of [...change.remove]) {
          const i = hosts.findIndex((x) => x.mac.toLowerCase() === h.mac.toLowerCase());
          if (i < 0) continue;
          hosts.splice(i, 1);
          mutate('virNetworkUpdate');
          changed = true;
        }
        for (const h of [...change.modify, ...change.add]) {
          const i = hosts.findIndex((x) => x.mac.toLowerCase() === h.mac.toLowerCase());
          const cur = hosts[i];
          if (cur && cur.ip === h.ip && cur.name === h.name) continue;
          if (i < 0) hosts.push(h);
          else hosts[i] = h;
          mutate('virNetworkUpdate');
          changed = true;
        }
        const ipv4 = n.desc.ipv4;
        if (ipv4)
          n.desc = {
            ...n.desc,
            ipv4: { ...ipv4, dhcp: { ranges: ipv4.dhcp?.ranges ?? [], hosts } },
          };
        return { changed, replugged: [] };
      }
      // A desc without a bridge keeps the one picked before; one naming a bridge moves it.
      const same =
        JSON.stringify({ ...n.desc, bridge: undefined }) ===
          JSON.stringify({ ...desc, bridge: undefined }) &&
        (desc.bridge === undefined || desc.bridge.name === n.bridge);
      if (same && n.active) return { changed: false, replugged: [] };
      // Checked before anything is torn down, as in the real one.
      checkBridge(desc);
      // Same order as the real one: net-destroy, net-define, net-start.
      if (n.active) {
        n.active = false;
        mutate('virNetworkDestroy');
        networkEvent(desc.name, NetworkEventLifecycleType.Stopped);
      }
      if (!same) {
        n.desc = desc;
        if (desc.bridge) n.bridge = desc.bridge.name;
        mutate('virNetworkDefineXML');
        networkEvent(desc.name, NetworkEventLifecycleType.Defined);
      }
      return { changed: true, replugged: startNetwork(n) };
    },

    async deleteNetwork(name, owner) {
      enter('deleteNetwork', [name, owner]);
      const n = ownedNetwork(name, owner);
      if (!n) return { changed: false };
      if (n.active) {
        mutate('virNetworkDestroy');
        networkEvent(name, NetworkEventLifecycleType.Stopped);
      }
      networks.delete(name);
      mutate('virNetworkUndefine');
      networkEvent(name, NetworkEventLifecycleType.Undefined);
      return { changed: true };
    },

    async observeDomain(name, _lookups, since): Promise<ObservedDomain | undefined> {
      // `since` is recorded (what the pass knew before its own start); the look is whole.
      enter('observeDomain', since === undefined ? [name] : [name, since]);
      const d = domains.get(name);
      if (!d) return undefined;
      return {
        name,
        uuid: d.uuid,
        id: d.id,
        ...(d.inactive.owner && { owner: d.inactive.owner }),
        state: d.state,
        reason: d.reason,
        hasManagedSave: d.hasManagedSave,
        persistent: true,
        inactive: d.inactive,
        ...(ACTIVE.has(d.state) && { live: { ...d.inactive, id: d.id } }),
      };
    },

    async observeDomainState(name) {
      enter('observeDomainState', [name]);
      const d = domains.get(name);
      return d && { state: d.state, reason: d.reason };
    },

    async uploadVolume(u: VolumeUpload, source: AsyncIterable<Uint8Array>, opts: JobOptions = {}) {
      enter('uploadVolume', [u]);
      if (!pools.has(u.pool)) throw new PoolNotFoundError(u.pool);
      const key = `${u.pool}/${u.name}`;
      mutate('virStorageVolCreateXML');
      volumes.set(key, { name: u.name, pool: u.pool, capacityBytes: u.sizeBytes, format: 'raw' });
      try {
        const hash = createHash('sha256');
        let done = 0;
        for await (const chunk of source) {
          opts.signal?.throwIfAborted();
          hash.update(chunk);
          done += chunk.byteLength;
          opts.onProgress?.({ done, total: u.sizeBytes });
        }
        if (done !== u.sizeBytes) throw new UploadSizeMismatchError(u.name, u.sizeBytes, done);
        const actual = hash.digest('hex');
        if (u.sha256 !== undefined && actual !== u.sha256) {
          throw new ChecksumMismatchError(u.name, u.sha256, actual);
        }
        contents.set(key, actual);
      } catch (err) {
        volumes.delete(key);
        mutate('virStorageVolDelete');
        throw err;
      }
      const path = `${pools.get(u.pool)?.path ?? `/fake/${u.pool}`}/${u.name}`;
      return { name: u.name, path, capacityBytes: u.sizeBytes };
    },
    async hashVolume(pool: string, name: string, opts: JobOptions = {}) {
      enter('hashVolume', [pool, name]);
      const key = `${pool}/${name}`;
      const volume = volumes.get(key);
      if (volume === undefined) return undefined;
      opts.signal?.throwIfAborted();
      opts.onProgress?.({ done: volume.capacityBytes, total: volume.capacityBytes });
      return contents.get(key) ?? EMPTY_SHA256;
    },
    async ensureVolumes(specs: readonly VolumeSpec[], opts?: EnsureVolumesOptions) {
      // expectAbsent changes only which calls the real verb makes, not what it does.
      enter('ensureVolumes', opts === undefined ? [specs] : [specs, opts]);
      const created: string[] = [];
      for (const v of specs) {
        if (!pools.has(v.pool)) throw new PoolNotFoundError(v.pool);
        const key = `${v.pool}/${v.name}`;
        if (volumes.has(key)) continue;
        if (v.cloneFrom) {
          if (!pools.has(v.cloneFrom.pool)) throw new PoolNotFoundError(v.cloneFrom.pool);
          if (!volumes.has(`${v.cloneFrom.pool}/${v.cloneFrom.volume}`)) {
            throw new LibvirtError(
              ErrorNumber.NoStorageVol,
              ErrorDomain.Storage,
              ErrorLevel.Error,
              `Storage volume not found: no storage vol with matching name '${v.cloneFrom.volume}'`,
            );
          }
          mutate('virStorageVolCreateXMLFrom');
          // As libvirt: a copy is at least as large as its source (capacity 0: the source's).
          const source = volumes.get(`${v.cloneFrom.pool}/${v.cloneFrom.volume}`)!;
          volumes.set(key, {
            ...v,
            capacityBytes: Math.max(v.capacityBytes, source.capacityBytes),
          });
        } else {
          mutate('virStorageVolCreateXML');
          volumes.set(key, v);
        }
        created.push(v.name);
      }
      const seen = specs.map((v) => {
        const stored = volumes.get(`${v.pool}/${v.name}`) ?? v;
        const path = `${pools.get(v.pool)?.path ?? `/fake/${v.pool}`}/${v.name}`;
        return { name: v.name, path, capacityBytes: stored.capacityBytes };
      });
      return { changed: created.length > 0, created, volumes: seen };
    },

    async observeVolumes(pool: string, names: readonly string[]) {
      enter('observeVolumes', [pool, names]);
      const p = pools.get(pool);
      if (!p) return [];
      return names.flatMap((name) => {
        const v = volumes.get(`${pool}/${name}`);
        if (!v) return [];
        // A dir pool without a path (the fake's own) still gives a stable, unique path.
        return [
          { name, path: `${p.path ?? `/fake/${pool}`}/${name}`, capacityBytes: v.capacityBytes },
        ];
      });
    },

    async defineDomain(desc) {
      enter('defineDomain', [desc]);
      // What libvirt would store: the description through the one XML layer, read back.
      // NVRAM is named by path: its pool's directory, as the real one resolves it.
      let nvramPath: string | undefined;
      if (desc.nvram) {
        const p = pools.get(desc.nvram.pool);
        if (!p) throw new PoolNotFoundError(desc.nvram.pool);
        nvramPath = `${p.path ?? `/fake/${desc.nvram.pool}`}/${desc.nvram.volume}`;
      }
      const wanted = {
        ...parseDomainXml(buildDomainXml(desc, { nvramPath })),
        owner: desc.owner,
      };
      const d = ownedDomain(wanted.name, wanted.owner);
      if (d) {
        if (
          wanted.owner.specHash !== undefined &&
          d.inactive.owner?.specHash === wanted.owner.specHash
        ) {
          return { changed: false };
        }
        d.inactive = { ...wanted, uuid: d.uuid };
      } else {
        const uuid = wanted.uuid ?? newUuid();
        domains.set(wanted.name, {
          inactive: { ...wanted, uuid },
          uuid,
          state: 'shutoff',
          reason: 0,
          id: -1,
          hasManagedSave: false,
        });
      }
      mutate('virDomainDefineXMLFlags');
      domainEvent(
        wanted.name,
        DomainEventType.Defined,
        d ? DomainEventDefinedDetailType.Updated : DomainEventDefinedDetailType.Added,
      );
      return { changed: true };
    },

    async start(name, owner) {
      enter('start', [name, owner]);
      const d = ownedDomain(name, owner);
      if (!d) throw noDomain(name);
      if (ACTIVE.has(d.state)) return { changed: false };
      mutate('virDomainCreateWithFlags');
      startDomain(d);
      return { changed: true };
    },

    async startFromManagedSave(name, owner) {
      enter('startFromManagedSave', [name, owner]);
      const d = ownedDomain(name, owner);
      if (!d) throw noDomain(name);
      if (ACTIVE.has(d.state)) return { changed: false, restored: false };
      const restored = d.hasManagedSave;
      const paused = restored && d.savedPaused === true;
      mutate('virDomainCreateWithFlags');
      startDomain(d);
      if (paused) d.state = 'paused';
      d.savedPaused = false;
      return { changed: true, restored };
    },

    async shutdown(name, owner) {
      enter('shutdown', [name, owner]);
      const d = ownedDomain(name, owner);
      if (!d) throw noDomain(name);
      if (d.state !== 'running' && d.state !== 'blocked') return { changed: false };
      // The fake guest has no OS: ACPI is ignored, as with a PXE-booting node.
      mutate('virDomainShutdownFlags');
      return { changed: true };
    },

    async destroy(name, owner) {
      enter('destroy', [name, owner]);
      const d = ownedDomain(name, owner);
      if (!d || !ACTIVE.has(d.state)) return { changed: false };
      mutate('virDomainDestroyFlags');
      stopDomain(d, DomainEventStoppedDetailType.Destroyed);
      return { changed: true };
    },

    async reboot(name, owner, mode: RebootMode = 'powerCycle') {
      enter('reboot', [name, owner, mode]);
      const d = ownedDomain(name, owner);
      if (!d) throw noDomain(name);
      if (!ACTIVE.has(d.state)) return { changed: false };
      if (mode === 'reset') {
        mutate('virDomainReset');
      } else if (mode === 'acpi') {
        mutate('virDomainReboot');
      } else {
        mutate('virDomainDestroyFlags');
        stopDomain(d, DomainEventStoppedDetailType.Destroyed);
        mutate('virDomainCreateWithFlags');
        startDomain(d);
      }
      return { changed: true };
    },

    async suspend(name, owner) {
      enter('suspend', [name, owner]);
      const d = ownedDomain(name, owner);
      if (!d) throw noDomain(name);
      if (d.state !== 'running' && d.state !== 'blocked') return { changed: false };
      mutate('virDomainSuspend');
      d.state = 'paused';
      return { changed: true };
    },

    async resume(name, owner) {
      enter('resume', [name, owner]);
      const d = ownedDomain(name, owner);
      if (!d) throw noDomain(name);
      if (d.state !== 'paused') return { changed: false };
      mutate('virDomainResume');
      d.state = 'running';
      return { changed: true };
    },

    async managedSave(name, owner, opts = {}) {
      enter('managedSave', [name, owner]);
      opts.signal?.throwIfAborted();
      const d = ownedDomain(name, owner);
      if (!d) throw noDomain(name);
      if (d.state !== 'running' && d.state !== 'blocked' && d.state !== 'paused') {
        return { changed: false };
      }
      mutate('virDomainManagedSave');
      d.savedPaused = d.state === 'paused';
      d.hasManagedSave = true;
      stopDomain(d, DomainEventStoppedDetailType.Saved);
      return { changed: true };
    },

    async deleteDomain(name, owner) {
      enter('deleteDomain', [name, owner]);
      const d = ownedDomain(name, owner);
      if (!d) return { changed: false };
      if (ACTIVE.has(d.state)) {
        mutate('virDomainDestroyFlags');
        stopDomain(d, DomainEventStoppedDetailType.Destroyed);
      }
      mutate('virDomainUndefineFlags');
      domainEvent(name, DomainEventType.Undefined, DomainEventUndefinedDetailType.Removed);
      domains.delete(name);
      return { changed: true };
    },

    async deleteVolumes(refs: readonly VolumeRef[]) {
      enter('deleteVolumes', [refs]);
      const deleted: string[] = [];
      for (const v of refs) {
        contents.delete(`${v.pool}/${v.name}`);
        if (!volumes.delete(`${v.pool}/${v.name}`)) continue;
        mutate('virStorageVolDelete');
        deleted.push(v.name);
      }
      return { changed: deleted.length > 0, deleted };
    },

    onDomainEvent(listener): Unsubscribe {
      domainListeners.add(listener);
      return () => void domainListeners.delete(listener);
    },
    onNetworkEvent(listener): Unsubscribe {
      networkListeners.add(listener);
      return () => void networkListeners.delete(listener);
    },

    external: {
      defineDomain(xml) {
        const parsed = parseDomainXml(xml);
        const uuid = parsed.uuid ?? newUuid();
        domains.set(parsed.name, {
          inactive: { ...parsed, uuid },
          uuid,
          state: 'shutoff',
          reason: 0,
          id: -1,
          hasManagedSave: false,
        });
        domainEvent(parsed.name, DomainEventType.Defined, DomainEventDefinedDetailType.Added);
      },
      defineNetwork(desc) {
        const n = defineNetwork(desc);
        n.active = true;
        n.autostart = true;
      },
      destroy(name) {
        const d = domains.get(name);
        if (d && ACTIVE.has(d.state)) stopDomain(d, DomainEventStoppedDetailType.Destroyed);
      },
      start(name) {
        const d = domains.get(name);
        if (d && !ACTIVE.has(d.state)) startDomain(d);
      },
      guestPowerOff(name) {
        const d = domains.get(name);
        if (d && ACTIVE.has(d.state)) stopDomain(d, DomainEventStoppedDetailType.Shutdown);
      },
      writeVolume(pool, name, bytes, capacityBytes = bytes.byteLength) {
        const key = `${pool}/${name}`;
        volumes.set(key, { name, pool, capacityBytes, format: 'raw' });
        contents.set(key, createHash('sha256').update(bytes).digest('hex'));
      },
    },
  };
  return fake;
}
