// The raw N-API surface of build/Release/maaslab_libvirt.node, typed. This is the
// one module allowed to touch `any`: everything above it is typed wrappers.
//
// Function names are libvirt's C names without `vir` and with a lower-case first
// letter; arguments follow the C order. Handles are opaque branded externals.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ErrorDomain, ErrorLevel, ErrorNumber } from './constants.js';
import { LibvirtError } from './errors.js';

declare const brand: unique symbol;
/** An opaque native handle to a libvirt object of kind K. */
export type Handle<K extends string> = { readonly [brand]: K };
/** virConnectPtr */
export type ConnectHandle = Handle<'connect'>;
/** virDomainPtr */
export type DomainHandle = Handle<'domain'>;
/** virDomainSnapshotPtr */
export type SnapshotHandle = Handle<'snapshot'>;
/** virNetworkPtr */
export type NetworkHandle = Handle<'network'>;
/** virInterfacePtr */
export type InterfaceHandle = Handle<'interface'>;
/** virStoragePoolPtr */
export type PoolHandle = Handle<'pool'>;
/** virStorageVolPtr */
export type VolumeHandle = Handle<'volume'>;
/** virStreamPtr */
export type StreamHandle = Handle<'stream'>;
/** A stream registered with libvirt's event loop (native/stream-pump.cc). */
export type PumpHandle = Handle<'pump'>;
/** A libvirt callback registration (domain/network events or the close callback). */
export interface EventRegistration {
  readonly id: number;
  readonly handle: Handle<'registration'>;
}

/** virNodeInfo */
export interface RawNodeInfo {
  model: string;
  memory: number;
  cpus: number;
  mhz: number;
  nodes: number;
  sockets: number;
  cores: number;
  threads: number;
}
/** domainObserve: one look at a domain (see native/domain.cc DomainObserve). */
export interface RawDomainObservation {
  state: number;
  reason: number;
  persistent: boolean;
  hasManagedSave: boolean;
  inactiveXml: string;
  /** null while the domain is shut off or has no state. */
  liveXml: string | null;
}
/** domainObserveLive: the state and live definition only (see native/domain.cc). */
export interface RawDomainLiveObservation {
  state: number;
  reason: number;
  /** null while the domain is shut off or has no state. */
  liveXml: string | null;
}
/** virDomainInfo */
export interface RawDomainInfo {
  state: number;
  maxMem: number;
  memory: number;
  nrVirtCpu: number;
  cpuTime: bigint;
}
/** virDomainJobInfo: times in ms, the rest in bytes (files as their own counts). */
export interface RawDomainJobInfo {
  type: number;
  timeElapsed: number;
  timeRemaining: number;
  dataTotal: number;
  dataProcessed: number;
  dataRemaining: number;
  memTotal: number;
  memProcessed: number;
  memRemaining: number;
  fileTotal: number;
  fileProcessed: number;
  fileRemaining: number;
}
/** virNetworkDHCPLease */
export interface RawDHCPLease {
  iface: string;
  expirytime: number;
  type: number;
  mac: string;
  iaid: string | null;
  ipaddr: string;
  prefix: number;
  hostname: string | null;
  clientid: string | null;
}
/** virStoragePoolInfo */
export interface RawPoolInfo {
  state: number;
  capacity: number;
  allocation: number;
  available: number;
}
/** virStorageVolInfo */
export interface RawVolumeInfo {
  type: number;
  capacity: number;
  allocation: number;
}

/** storageVolFacts: a volume's path and virStorageVolInfo. */
export interface RawVolumeFacts extends RawVolumeInfo {
  path: string;
}

type P<T> = Promise<T>;
type C = ConnectHandle;
type D = DomainHandle;
type S = SnapshotHandle;
type N = NetworkHandle;
type I = InterfaceHandle;
type Pl = PoolHandle;
type V = VolumeHandle;
type St = StreamHandle;

/** The functions the addon exports. Every Promise-returning one runs off the JS thread. */
export interface RawBinding {
  setErrorFactory(f: (code: number, domain: number, level: number, message: string) => Error): void;
  free(h: Handle<string>): boolean;
  isFreed(h: Handle<string>): boolean;
  getVersion(): number;
  /**
   * Worker threads alive now across every connection's lane (native/lane.cc): calls run on
   * the lane of their connection, up to 4 at once per lane, so one hung host holds up only
   * its own calls.
   */
  laneThreads(): number;
  /**
   * How long a lane thread waits for work before it goes (20 s unless set; 1 ms to 1 h, else
   * a RangeError). For tests, which watch threads go and come back.
   */
  setLaneIdleMs(ms: number): void;

  connectOpen(uri: string | null, flags: number): P<C>;
  connectClose(c: C): P<void>;
  connectGetHostname(c: C): P<string>;
  connectGetURI(c: C): P<string>;
  connectGetCapabilities(c: C): P<string>;
  connectGetSysinfo(c: C, flags: number): P<string>;
  connectGetLibVersion(c: C): P<number>;
  /** connectGetLibVersion on a worker thread of its own, outside the connection's lane. */
  connectGetLibVersionAside(c: C): P<number>;
  connectGetVersion(c: C): P<number>;
  connectGetType(c: C): P<string>;
  connectIsAlive(c: C): P<boolean>;
  connectSetKeepAlive(c: C, interval: number, count: number): P<boolean>;
  nodeGetInfo(c: C): P<RawNodeInfo>;
  nodeGetFreeMemory(c: C): P<number>;
  connectListAllDomains(c: C, flags: number): P<D[]>;
  domainLookupByName(c: C, name: string): P<D>;
  domainLookupByUUIDString(c: C, uuid: string): P<D>;
  domainDefineXMLFlags(c: C, xml: string, flags: number): P<D>;
  domainCreateXML(c: C, xml: string, flags: number): P<D>;
  domainRestoreFlags(c: C, from: string, dxml: string | null, flags: number): P<void>;
  connectListAllNetworks(c: C, flags: number): P<N[]>;
  networkLookupByName(c: C, name: string): P<N>;
  networkLookupByUUIDString(c: C, uuid: string): P<N>;
  networkDefineXMLFlags(c: C, xml: string, flags: number): P<N>;
  networkCreateXMLFlags(c: C, xml: string, flags: number): P<N>;
  interfaceLookupByName(c: C, name: string): P<I>;
  connectListAllStoragePools(c: C, flags: number): P<Pl[]>;
  storagePoolLookupByName(c: C, name: string): P<Pl>;
  storagePoolLookupByUUIDString(c: C, uuid: string): P<Pl>;
  storagePoolDefineXML(c: C, xml: string, flags: number): P<Pl>;
  storagePoolCreateXML(c: C, xml: string, flags: number): P<Pl>;
  storageVolLookupByPath(c: C, path: string): P<V>;
  storageVolLookupByKey(c: C, key: string): P<V>;
  streamNew(c: C, flags: number): St;

  domainGetName(d: D): string;
  domainGetUUIDString(d: D): string;
  domainGetID(d: D): number;
  domainCreateWithFlags(d: D, flags: number): P<void>;
  domainShutdownFlags(d: D, flags: number): P<void>;
  domainDestroyFlags(d: D, flags: number): P<void>;
  domainReboot(d: D, flags: number): P<void>;
  domainReset(d: D, flags: number): P<void>;
  domainSuspend(d: D): P<void>;
  domainResume(d: D): P<void>;
  domainManagedSave(d: D, flags: number): P<void>;
  domainHasManagedSaveImage(d: D, flags: number): P<boolean>;
  domainManagedSaveRemove(d: D, flags: number): P<void>;
  domainSaveFlags(d: D, to: string, dxml: string | null, flags: number): P<void>;
  domainUndefineFlags(d: D, flags: number): P<void>;
  domainGetXMLDesc(d: D, flags: number): P<string>;
  domainGetState(d: D, flags: number): P<{ state: number; reason: number }>;
  domainGetInfo(d: D): P<RawDomainInfo>;
  domainGetJobInfo(d: D): P<RawDomainJobInfo>;
  domainAbortJobFlags(d: D, flags: number): P<void>;
  domainObserve(d: D, xmlFlags: number): P<RawDomainObservation>;
  domainObserveLive(d: D, xmlFlags: number): P<RawDomainLiveObservation>;
  domainIsActive(d: D): P<boolean>;
  domainIsPersistent(d: D): P<boolean>;
  domainSetAutostart(d: D, autostart: boolean): P<void>;
  domainGetAutostart(d: D): P<boolean>;
  domainAttachDeviceFlags(d: D, xml: string, flags: number): P<void>;
  domainDetachDeviceFlags(d: D, xml: string, flags: number): P<void>;
  domainUpdateDeviceFlags(d: D, xml: string, flags: number): P<void>;
  domainGetMetadata(d: D, type: number, uri: string | null, flags: number): P<string>;
  domainSetMetadata(
    d: D,
    type: number,
    metadata: string | null,
    key: string | null,
    uri: string | null,
    flags: number,
  ): P<void>;
  domainSnapshotCreateXML(d: D, xml: string, flags: number): P<S>;
  domainListAllSnapshots(d: D, flags: number): P<S[]>;
  domainSnapshotLookupByName(d: D, name: string, flags: number): P<S>;
  domainSnapshotCurrent(d: D, flags: number): P<S>;
  domainHasCurrentSnapshot(d: D, flags: number): P<boolean>;
  domainSnapshotGetName(s: S): string;
  domainSnapshotGetXMLDesc(s: S, flags: number): P<string>;
  domainSnapshotGetParent(s: S, flags: number): P<S>;
  domainSnapshotIsCurrent(s: S, flags: number): P<boolean>;
  domainSnapshotListAllChildren(s: S, flags: number): P<S[]>;
  domainRevertToSnapshot(s: S, flags: number): P<void>;
  domainSnapshotDelete(s: S, flags: number): P<void>;

  networkGetName(n: N): string;
  networkGetUUIDString(n: N): string;
  networkCreate(n: N): P<void>;
  networkDestroy(n: N): P<void>;
  networkUndefine(n: N): P<void>;
  networkSetAutostart(n: N, autostart: boolean): P<void>;
  networkGetAutostart(n: N): P<boolean>;
  networkIsActive(n: N): P<boolean>;
  networkIsPersistent(n: N): P<boolean>;
  networkGetXMLDesc(n: N, flags: number): P<string>;
  networkGetBridgeName(n: N): P<string>;
  networkGetDHCPLeases(n: N, mac: string | null, flags: number): P<RawDHCPLease[]>;
  networkUpdate(
    n: N,
    command: number,
    section: number,
    parentIndex: number,
    xml: string,
    flags: number,
  ): P<void>;

  interfaceGetName(i: I): string;
  interfaceGetMACString(i: I): string;
  interfaceIsActive(i: I): P<boolean>;

  storagePoolGetName(p: Pl): string;
  storagePoolGetUUIDString(p: Pl): string;
  storagePoolBuild(p: Pl, flags: number): P<void>;
  storagePoolCreate(p: Pl, flags: number): P<void>;
  storagePoolDestroy(p: Pl): P<void>;
  storagePoolDelete(p: Pl, flags: number): P<void>;
  storagePoolUndefine(p: Pl): P<void>;
  storagePoolRefresh(p: Pl, flags: number): P<void>;
  storagePoolSetAutostart(p: Pl, autostart: boolean): P<void>;
  storagePoolGetAutostart(p: Pl): P<boolean>;
  storagePoolIsActive(p: Pl): P<boolean>;
  storagePoolIsPersistent(p: Pl): P<boolean>;
  storagePoolGetInfo(p: Pl): P<RawPoolInfo>;
  storagePoolGetXMLDesc(p: Pl, flags: number): P<string>;
  storagePoolListAllVolumes(p: Pl, flags: number): P<V[]>;
  storageVolLookupByName(p: Pl, name: string): P<V>;
  storageVolCreateXML(p: Pl, xml: string, flags: number): P<V>;
  storageVolCreateXMLFrom(p: Pl, xml: string, clone: V, flags: number): P<V>;

  storageVolGetName(v: V): string;
  storageVolGetKey(v: V): string;
  storageVolGetPath(v: V): P<string>;
  storageVolGetInfo(v: V): P<RawVolumeInfo>;
  /** virStorageVolGetPath and virStorageVolGetInfo in one hop. */
  storageVolFacts(v: V): P<RawVolumeFacts>;
  /** virStorageVolLookupByName, then storageVolFacts, in one hop; NO_STORAGE_VOL when absent. */
  storageVolLookupFacts(p: Pl, name: string): P<RawVolumeFacts & { volume: V }>;
  /** virStorageVolCreateXML, then storageVolFacts of the new volume, in one hop. */
  storageVolCreateXMLFacts(p: Pl, xml: string, flags: number): P<RawVolumeFacts & { volume: V }>;
  storageVolGetXMLDesc(v: V, flags: number): P<string>;
  storageVolDelete(v: V, flags: number): P<void>;
  storageVolWipe(v: V, flags: number): P<void>;
  storageVolResize(v: V, capacity: number | bigint, flags: number): P<void>;
  storageVolUpload(
    v: V,
    s: St,
    offset: number | bigint,
    length: number | bigint,
    flags: number,
  ): P<void>;
  storageVolDownload(
    v: V,
    s: St,
    offset: number | bigint,
    length: number | bigint,
    flags: number,
  ): P<void>;
  streamSend(s: St, data: Uint8Array): P<void>;
  streamRecv(s: St, size: number): P<Buffer | null>;
  streamFinish(s: St): P<void>;
  streamAbort(s: St): P<void>;
  /** Non-blocking streams pumped by libvirt's event loop (native/stream-pump.cc). */
  streamPumpStart(s: St, cb: (event: number, payload?: Buffer | Error) => void): PumpHandle;
  /** Queues a copy of `data`; returns the bytes queued and not yet sent. */
  streamPumpWrite(p: PumpHandle, data: Uint8Array): number;
  streamPumpSetPaused(p: PumpHandle, paused: boolean): void;
  streamPumpClose(p: PumpHandle): P<void>;
  domainOpenConsole(d: D, devName: string | null, s: St, flags: number): P<void>;
  domainOpenGraphicsFD(d: D, idx: number, flags: number): P<number>;

  domainEventRegisterLifecycle(
    c: C,
    d: D | null,
    cb: (d: D, event: number, detail: number) => void,
  ): P<EventRegistration>;
  domainEventDeregisterAny(c: C, reg: EventRegistration): P<void>;
  networkEventRegisterLifecycle(
    c: C,
    n: N | null,
    cb: (n: N, event: number, detail: number) => void,
  ): P<EventRegistration>;
  networkEventDeregisterAny(c: C, reg: EventRegistration): P<void>;
  connectRegisterCloseCallback(c: C, cb: (reason: number) => void): P<EventRegistration>;
  connectUnregisterCloseCallback(c: C, reg: EventRegistration): P<void>;
  eventRegistrationSetRef(reg: EventRegistration, ref: boolean): void;
}

/** Finds build/Release/maaslab_libvirt.node from src/ (tsx) or dist/src/ (compiled). */
function addonPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, 'build', 'Release', 'maaslab_libvirt.node');
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new Error('build/Release/maaslab_libvirt.node not found: run `make native`');
}

/**
 * Errors are created when the worker finishes, where no JS frames exist, so their stacks
 * would be empty. Each async function's promise is therefore settled inside a small async
 * function, and a LibvirtError gets its stack there, when it rejects, plus the C function's
 * name: V8's async stack traces then list every caller that awaits the call (`at async
 * Connection.domainLookupByName`, `at async ...#call`, ...). A success costs nothing more
 * than that await (~0.1 µs); capturing the call site up front on every call, as this did
 * before, cost ~2.6 µs, a tenth of a whole test-driver call (bench/binding-overhead.ts).
 * A caller that returns the promise without awaiting it is not in the stack: await it.
 * The stack is formatted on first read (see below).
 * Functions that return no promise are handed back unwrapped after their first call: their
 * errors are thrown on the JS stack already.
 */
export function withCallSites(native: any): any {
  const out: any = {};
  for (const [name, fn] of Object.entries<any>(native)) {
    if (typeof fn !== 'function') continue;
    const cName = `vir${name.charAt(0).toUpperCase()}${name.slice(1)}`;
    const settled = async (pending: Promise<unknown>): Promise<unknown> => {
      try {
        return await pending;
      } catch (err) {
        if (err instanceof LibvirtError) {
          const site: { stack?: string } = {};
          Error.captureStackTrace(site, settled);
          // The frames are taken now but formatted only when someone reads the stack: most
          // of these errors are answers (a lookup of a domain not defined yet), caught and
          // never printed, and formatting was 1.3 % of the operator's main thread at 1000
          // nodes (perf, scale bench).
          const head = `${err.name}: ${err.message} (${cName})`;
          let stack: string | undefined;
          Object.defineProperty(err, 'stack', {
            configurable: true,
            enumerable: false,
            get: () => (stack ??= head + (site.stack?.slice(site.stack.indexOf('\n')) ?? '')),
            set: (value: string) => {
              stack = value;
            },
          });
        }
        throw err;
      }
    };
    out[name] = (...args: any[]): any => {
      const result = fn(...args);
      if (result instanceof Promise) return settled(result);
      out[name] = fn;
      return result;
    };
  }
  return out;
}

function load(): RawBinding {
  const require = createRequire(import.meta.url);
  const native: any = require(addonPath());
  // Native code reports error fields; the class lives in TypeScript.
  native.setErrorFactory(
    (code: number, domain: number, level: number, message: string) =>
      new LibvirtError(code as ErrorNumber, domain as ErrorDomain, level as ErrorLevel, message),
  );
  return withCallSites(native) as RawBinding;
}

/** The loaded addon. Loading registers libvirt's default event loop and starts its thread. */
export const raw: RawBinding = load();
