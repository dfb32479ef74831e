// virDomain and virDomainSnapshot. Method names are libvirt's C names without
// `vir` and without the prefix of the first argument's type (see index.ts).
import { raw, type DomainHandle, type RawDomainJobInfo, type SnapshotHandle } from './binding.js';
import type { Stream } from './stream.js';
import {
  type DomainAbortJobFlags,
  type DomainConsoleFlags,
  type DomainOpenGraphicsFlags,
  type DomainCreateFlags,
  type DomainDestroyFlags,
  type DomainDeviceModifyFlags,
  type DomainJobType,
  type DomainMetadataType,
  type DomainModificationImpact,
  type DomainRebootFlag,
  type DomainSaveRestoreFlags,
  type DomainShutdownFlag,
  type DomainSnapshotCreateFlags,
  type DomainSnapshotDeleteFlags,
  type DomainSnapshotListFlags,
  type DomainSnapshotRevertFlags,
  type DomainSnapshotXMLFlags,
  type DomainState,
  type DomainUndefineFlags,
  type DomainXMLFlags,
} from './constants.js';
import { type Flags, flagsOf, LibvirtObject } from './object.js';

/**
 * virDomainJobInfo, with `type` typed: the domain's background job (a managed save, a dump, a
 * migration). Times in milliseconds, data and memory in bytes.
 */
export interface DomainJobInfo extends Omit<RawDomainJobInfo, 'type'> {
  type: DomainJobType;
}

/** virDomainInfo, with `state` typed. Memory is in KiB, cpuTime in nanoseconds. */
export interface DomainInfo {
  state: DomainState;
  maxMem: number;
  memory: number;
  nrVirtCpu: number;
  cpuTime: bigint;
}

/** Domain.observe's result. */
export interface DomainObservation extends DomainStateReason {
  persistent: boolean;
  hasManagedSave: boolean;
  /** virDomainGetXMLDesc(INACTIVE): the persistent definition. */
  inactiveXml: string;
  /** The live definition; null while shut off or without a state. */
  liveXml: string | null;
}

/** Domain.observeLive's result. */
export interface DomainLiveObservation extends DomainStateReason {
  /** The live definition; null while shut off or without a state. */
  liveXml: string | null;
}

/** virDomainGetState's result. `reason` belongs to the per-state reason enum (e.g. DomainShutoffReason). */
export interface DomainStateReason {
  state: DomainState;
  reason: number;
}

/** A libvirt domain (virDomainPtr). */
export class Domain extends LibvirtObject<DomainHandle> {
  /**
   * virDomainGetName (local, no I/O).
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainGetName
   */
  getName(): string {
    return raw.domainGetName(this.handle);
  }

  /**
   * virDomainGetUUIDString (local, no I/O).
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainGetUUIDString
   */
  getUUIDString(): string {
    return raw.domainGetUUIDString(this.handle);
  }

  /**
   * virDomainGetID: the hypervisor ID, or -1 when the domain is not running.
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainGetID
   */
  getID(): number {
    return raw.domainGetID(this.handle);
  }

  /**
   * virDomainCreateWithFlags: start a defined domain.
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainCreateWithFlags
   */
  createWithFlags(flags?: Flags<DomainCreateFlags>): Promise<void> {
    return raw.domainCreateWithFlags(this.handle, flagsOf(flags));
  }

  /**
   * virDomainShutdownFlags: ask the guest to shut down.
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainShutdownFlags
   */
  shutdownFlags(flags?: Flags<DomainShutdownFlag>): Promise<void> {
    return raw.domainShutdownFlags(this.handle, flagsOf(flags));
  }

  /**
   * virDomainDestroyFlags: stop the domain now (DomainDestroyFlags.Graceful: no SIGKILL).
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainDestroyFlags
   */
  destroyFlags(flags?: Flags<DomainDestroyFlags>): Promise<void> {
    return raw.domainDestroyFlags(this.handle, flagsOf(flags));
  }

  /**
   * virDomainReboot
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainReboot
   */
  reboot(flags?: Flags<DomainRebootFlag>): Promise<void> {
    return raw.domainReboot(this.handle, flagsOf(flags));
  }

  /**
   * virDomainReset: hard reset, no guest cooperation. libvirt defines no flags yet.
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainReset
   */
  reset(): Promise<void> {
    return raw.domainReset(this.handle, 0);
  }

  /**
   * virDomainSuspend
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainSuspend
   */
  suspend(): Promise<void> {
    return raw.domainSuspend(this.handle);
  }

  /**
   * virDomainResume
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainResume
   */
  resume(): Promise<void> {
    return raw.domainResume(this.handle);
  }

  /**
   * virDomainManagedSave: save state to libvirt's managed image and stop.
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainManagedSave
   */
  managedSave(flags?: Flags<DomainSaveRestoreFlags>): Promise<void> {
    return raw.domainManagedSave(this.handle, flagsOf(flags));
  }

  /**
   * virDomainGetJobInfo: the background job running on the domain, if any (type None).
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainGetJobInfo
   */
  async getJobInfo(): Promise<DomainJobInfo> {
    const info = await raw.domainGetJobInfo(this.handle);
    return { ...info, type: info.type as DomainJobType };
  }

  /**
   * virDomainAbortJobFlags: cancels the domain's background job (a managed save in progress
   * fails with VIR_ERR_OPERATION_ABORTED and the domain keeps running).
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainAbortJobFlags
   */
  abortJob(flags?: Flags<DomainAbortJobFlags>): Promise<void> {
    return raw.domainAbortJobFlags(this.handle, flagsOf(flags));
  }

  /**
   * virDomainHasManagedSaveImage. libvirt defines no flags.
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainHasManagedSaveImage
   */
  hasManagedSaveImage(): Promise<boolean> {
    return raw.domainHasManagedSaveImage(this.handle, 0);
  }

  /**
   * virDomainManagedSaveRemove. libvirt defines no flags.
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainManagedSaveRemove
   */
  managedSaveRemove(): Promise<void> {
    return raw.domainManagedSaveRemove(this.handle, 0);
  }

  /**
   * virDomainOpenConsole: attaches `stream` (made with StreamFlags.Nonblock, then pumped by
   * openStreamPump) to the console `devName`, or the first console when null.
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainOpenConsole
   */
  openConsole(
    devName: string | null,
    stream: Stream,
    flags?: Flags<DomainConsoleFlags>,
  ): Promise<void> {
    return raw.domainOpenConsole(this.handle, devName, stream.handle, flagsOf(flags));
  }

  /**
   * virDomainOpenGraphicsFD: a socket connected to graphics device `idx` (VNC); the caller
   * owns the descriptor. Needs a connection that can pass descriptors (a UNIX socket).
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainOpenGraphicsFD
   */
  openGraphicsFD(idx: number, flags?: Flags<DomainOpenGraphicsFlags>): Promise<number> {
    return raw.domainOpenGraphicsFD(this.handle, idx, flagsOf(flags));
  }

  /**
   * virDomainSaveFlags: save state to a file (`virsh save`); restore with
   * Connection.domainRestoreFlags.
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainSaveFlags
   */
  saveFlags(to: string, dxml?: string, flags?: Flags<DomainSaveRestoreFlags>): Promise<void> {
    return raw.domainSaveFlags(this.handle, to, dxml ?? null, flagsOf(flags));
  }

  /**
   * virDomainUndefineFlags. A domain with snapshots fails with OPERATION_INVALID
   * unless DomainUndefineFlags.SnapshotsMetadata is given.
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainUndefineFlags
   */
  undefineFlags(flags?: Flags<DomainUndefineFlags>): Promise<void> {
    return raw.domainUndefineFlags(this.handle, flagsOf(flags));
  }

  /**
   * virDomainGetXMLDesc (DomainXMLFlags.Inactive, .Secure, ...).
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainGetXMLDesc
   */
  getXMLDesc(flags?: Flags<DomainXMLFlags>): Promise<string> {
    return raw.domainGetXMLDesc(this.handle, flagsOf(flags));
  }

  /**
   * virDomainGetState
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainGetState
   */
  async getState(): Promise<DomainStateReason> {
    const s = await raw.domainGetState(this.handle, 0);
    return { state: s.state as DomainState, reason: s.reason };
  }

  /**
   * virDomainGetInfo
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainGetInfo
   */
  async getInfo(): Promise<DomainInfo> {
    const i = await raw.domainGetInfo(this.handle);
    return { ...i, state: i.state as DomainState };
  }

  /**
   * One look at the domain in one worker hop: virDomainGetState, virDomainIsPersistent,
   * virDomainHasManagedSaveImage, virDomainGetXMLDesc(INACTIVE) and, unless it is shut off
   * or without a state, virDomainGetXMLDesc of the live definition. `flags` are
   * added to both XML reads (e.g. DomainXMLFlags.Secure).
   */
  async observe(flags?: Flags<DomainXMLFlags>): Promise<DomainObservation> {
    const o = await raw.domainObserve(this.handle, flagsOf(flags));
    return { ...o, state: o.state as DomainState };
  }

  /**
   * observe's state and live definition alone, in one worker hop: virDomainGetState and, unless
   * the domain is shut off or without a state, virDomainGetXMLDesc of the live definition. For
   * a caller that knows the rest unchanged (its own start a moment ago).
   */
  async observeLive(flags?: Flags<DomainXMLFlags>): Promise<DomainLiveObservation> {
    const o = await raw.domainObserveLive(this.handle, flagsOf(flags));
    return { ...o, state: o.state as DomainState };
  }

  /**
   * virDomainIsActive
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainIsActive
   */
  isActive(): Promise<boolean> {
    return raw.domainIsActive(this.handle);
  }

  /**
   * virDomainIsPersistent
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainIsPersistent
   */
  isPersistent(): Promise<boolean> {
    return raw.domainIsPersistent(this.handle);
  }

  /**
   * virDomainSetAutostart
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainSetAutostart
   */
  setAutostart(autostart: boolean): Promise<void> {
    return raw.domainSetAutostart(this.handle, autostart);
  }

  /**
   * virDomainGetAutostart
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainGetAutostart
   */
  getAutostart(): Promise<boolean> {
    return raw.domainGetAutostart(this.handle);
  }

  /**
   * virDomainAttachDeviceFlags (DomainDeviceModifyFlags.Live / .Config).
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainAttachDeviceFlags
   */
  attachDeviceFlags(xml: string, flags?: Flags<DomainDeviceModifyFlags>): Promise<void> {
    return raw.domainAttachDeviceFlags(this.handle, xml, flagsOf(flags));
  }

  /**
   * virDomainDetachDeviceFlags
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainDetachDeviceFlags
   */
  detachDeviceFlags(xml: string, flags?: Flags<DomainDeviceModifyFlags>): Promise<void> {
    return raw.domainDetachDeviceFlags(this.handle, xml, flagsOf(flags));
  }

  /**
   * virDomainUpdateDeviceFlags: e.g. re-plug a NIC after its network restarted.
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainUpdateDeviceFlags
   */
  updateDeviceFlags(xml: string, flags?: Flags<DomainDeviceModifyFlags>): Promise<void> {
    return raw.domainUpdateDeviceFlags(this.handle, xml, flagsOf(flags));
  }

  /**
   * virDomainGetMetadata. For DomainMetadataType.Element pass the namespace `uri`
   * (ours: https://maaslab.dev/xmlns/v1alpha1); fails with NO_DOMAIN_METADATA when
   * absent, which is how the wrapper tells owned domains from unowned ones.
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainGetMetadata
   */
  getMetadata(
    type: DomainMetadataType,
    uri?: string,
    flags?: Flags<DomainModificationImpact>,
  ): Promise<string> {
    return raw.domainGetMetadata(this.handle, type, uri ?? null, flagsOf(flags));
  }

  /**
   * virDomainSetMetadata. `metadata` null removes it; `key` is the namespace prefix.
   * @see https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainSetMetadata
   */
  setMetadata(
    type: DomainMetadataType,
    metadata: string | null,
    key?: string,
    uri?: string,
    flags?: Flags<DomainModificationImpact>,
  ): Promise<void> {
    return raw.domainSetMetadata(
      this.handle,
      type,
      metadata,
      key ?? null,
      uri ?? null,
      flagsOf(flags),
    );
  }

  /**
   * virDomainSnapshotCreateXML
   * @see https://libvirt.org/html/libvirt-libvirt-domain-snapshot.html#virDomainSnapshotCreateXML
   */
  async snapshotCreateXML(
    xml: string,
    flags?: Flags<DomainSnapshotCreateFlags>,
  ): Promise<DomainSnapshot> {
    return new DomainSnapshot(await raw.domainSnapshotCreateXML(this.handle, xml, flagsOf(flags)));
  }

  /**
   * virDomainListAllSnapshots
   * @see https://libvirt.org/html/libvirt-libvirt-domain-snapshot.html#virDomainListAllSnapshots
   */
  async listAllSnapshots(flags?: Flags<DomainSnapshotListFlags>): Promise<DomainSnapshot[]> {
    const hs = await raw.domainListAllSnapshots(this.handle, flagsOf(flags));
    return hs.map((h) => new DomainSnapshot(h));
  }

  /**
   * virDomainSnapshotLookupByName; NO_DOMAIN_SNAPSHOT when absent.
   * @see https://libvirt.org/html/libvirt-libvirt-domain-snapshot.html#virDomainSnapshotLookupByName
   */
  async snapshotLookupByName(name: string): Promise<DomainSnapshot> {
    return new DomainSnapshot(await raw.domainSnapshotLookupByName(this.handle, name, 0));
  }

  /**
   * virDomainSnapshotCurrent; NO_DOMAIN_SNAPSHOT when there is none.
   * @see https://libvirt.org/html/libvirt-libvirt-domain-snapshot.html#virDomainSnapshotCurrent
   */
  async snapshotCurrent(): Promise<DomainSnapshot> {
    return new DomainSnapshot(await raw.domainSnapshotCurrent(this.handle, 0));
  }

  /**
   * virDomainHasCurrentSnapshot
   * @see https://libvirt.org/html/libvirt-libvirt-domain-snapshot.html#virDomainHasCurrentSnapshot
   */
  hasCurrentSnapshot(): Promise<boolean> {
    return raw.domainHasCurrentSnapshot(this.handle, 0);
  }
}

/** A domain snapshot (virDomainSnapshotPtr). */
export class DomainSnapshot extends LibvirtObject<SnapshotHandle> {
  /**
   * virDomainSnapshotGetName (local, no I/O).
   * @see https://libvirt.org/html/libvirt-libvirt-domain-snapshot.html#virDomainSnapshotGetName
   */
  getName(): string {
    return raw.domainSnapshotGetName(this.handle);
  }

  /**
   * virDomainSnapshotGetXMLDesc
   * @see https://libvirt.org/html/libvirt-libvirt-domain-snapshot.html#virDomainSnapshotGetXMLDesc
   */
  getXMLDesc(flags?: Flags<DomainSnapshotXMLFlags>): Promise<string> {
    return raw.domainSnapshotGetXMLDesc(this.handle, flagsOf(flags));
  }

  /**
   * virDomainSnapshotGetParent; NO_DOMAIN_SNAPSHOT for a root snapshot.
   * @see https://libvirt.org/html/libvirt-libvirt-domain-snapshot.html#virDomainSnapshotGetParent
   */
  async getParent(): Promise<DomainSnapshot> {
    return new DomainSnapshot(await raw.domainSnapshotGetParent(this.handle, 0));
  }

  /**
   * virDomainSnapshotIsCurrent
   * @see https://libvirt.org/html/libvirt-libvirt-domain-snapshot.html#virDomainSnapshotIsCurrent
   */
  isCurrent(): Promise<boolean> {
    return raw.domainSnapshotIsCurrent(this.handle, 0);
  }

  /**
   * virDomainSnapshotListAllChildren
   * @see https://libvirt.org/html/libvirt-libvirt-domain-snapshot.html#virDomainSnapshotListAllChildren
   */
  async listAllChildren(flags?: Flags<DomainSnapshotListFlags>): Promise<DomainSnapshot[]> {
    const hs = await raw.domainSnapshotListAllChildren(this.handle, flagsOf(flags));
    return hs.map((h) => new DomainSnapshot(h));
  }

  /**
   * virDomainRevertToSnapshot: revert the owning domain to this snapshot.
   * @see https://libvirt.org/html/libvirt-libvirt-domain-snapshot.html#virDomainRevertToSnapshot
   */
  revertToSnapshot(flags?: Flags<DomainSnapshotRevertFlags>): Promise<void> {
    return raw.domainRevertToSnapshot(this.handle, flagsOf(flags));
  }

  /**
   * virDomainSnapshotDelete
   * @see https://libvirt.org/html/libvirt-libvirt-domain-snapshot.html#virDomainSnapshotDelete
   */
  delete(flags?: Flags<DomainSnapshotDeleteFlags>): Promise<void> {
    return raw.domainSnapshotDelete(this.handle, flagsOf(flags));
  }
}
