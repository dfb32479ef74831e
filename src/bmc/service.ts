// The virtual BMCs one operator process serves: for every Hypervisor of its shard with nodes
// that asked for a BMC, one Redfish service (a System per node) and one IPMI responder per
// node. The node reconciler calls ensure() and release(); the protocol servers (redfish/,
// ipmi/) call the backend here, which acts on the node's domain through the operator's own
// libvirt connection (no connection per request) and tells the operator what happened, so
// that the node's status records it and its reconciler honours a boot override.
import type { Hypervisor, OwnedDomainDescription } from '../libvirt/hypervisor/index.js';
import type { OwnerRef } from '../libvirt/xml/index.js';
import type { Logger } from '../runtime/index.js';
import { LoginThrottle } from './auth.js';
import {
  BmcActionConflictError,
  type BmcActionSource,
  type BmcBackend,
  type BmcCredentials,
  type BmcSystemEntry,
  BmcSystemNotFoundError,
  type BmcSystemView,
  type BootOverride,
  type PowerAction,
} from './backend.js';
import { type BootDeviceName, bootOrderWith, isActiveOverride, NoBootOverride } from './boot.js';
import { parsePortRange, pickIpmiPort } from './ports.js';
import { definedProps } from '../util/defined-props.js';

/** A running Redfish service. */
export interface RedfishListener {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** A running IPMI responder. */
export interface IpmiListener {
  readonly address: string;
  readonly port: number;
  close(): Promise<void>;
}

export interface StartRedfishOptions {
  readonly host: string;
  readonly port: number;
  readonly tls?: { readonly certPem: string; readonly keyPem: string };
  readonly systems: () => readonly BmcSystemEntry[];
  readonly backend: BmcBackend;
  readonly throttle: LoginThrottle;
}

export interface StartIpmiOptions {
  readonly host: string;
  readonly port: number;
  readonly systemId: string;
  readonly credentials: () => BmcCredentials | undefined;
  readonly backend: BmcBackend;
  readonly throttle: LoginThrottle;
}

/** Where one Hypervisor's BMCs listen (its spec.bmc, defaults applied). */
export interface BmcListenConfig {
  readonly address: string;
  readonly redfishPort: number;
  readonly redfishScheme: 'https' | 'http';
  readonly ipmiPortRange: string;
}

/** One node that asked for a BMC, as the node reconciler sees it in a pass. */
export interface BmcTarget {
  /** `<namespace>/<name>` of the MaasNode. */
  readonly key: string;
  /** The MaasNode's name (the Redfish System's Name). */
  readonly name: string;
  readonly type: 'redfish' | 'ipmi';
  /** The domain's UUID: the Redfish System id. */
  readonly systemId: string;
  /** The Hypervisor resource's name. */
  readonly hypervisor: string;
  readonly listen: BmcListenConfig;
  readonly credentials: BmcCredentials;
  /** The port the node's IPMI BMC had (status.bmc.ipmi.port), kept when still free. */
  readonly previousIpmiPort?: number;
  /** The boot override in force (status.bmc.bootOverride). */
  readonly boot: BootOverride;
  readonly verbs: Hypervisor;
  /** The domain's desired definition, from the pass; a boot override redefines it. */
  readonly definition: OwnedDomainDescription;
  /** spec.bootOrder, which an override reorders. */
  readonly specBootOrder: readonly BootDeviceName[];
  readonly domainName: string;
  readonly owner: OwnerRef;
  readonly vcpus: number;
  readonly memoryMiB: number;
}

/** Where a node's BMC serves. */
export interface BmcEndpoints {
  readonly redfish?: { readonly url: string; readonly systemId: string };
  readonly ipmi?: { readonly address: string; readonly port: number };
}

/** What the operator does when a BMC client acted. */
export interface BmcHooks {
  /** A power action was done: record it (status.bmc.lastAction). */
  actionTaken(key: string, action: string, source: BmcActionSource): Promise<void>;
  /**
   * The boot override changed (set by a client, or a Once override consumed by a boot):
   * record it (status.bmc.bootOverride) and apply it to the domain's definition.
   */
  bootChanged(key: string, boot: BootOverride, source: BmcActionSource): Promise<void>;
  /**
   * A Once override was consumed by the boot it applied to: record that none is in force
   * (status.bmc.bootOverride). Not an action of its own: the power action that booted stays
   * the last action.
   */
  bootSpent(key: string): Promise<void>;
}

export interface BmcServiceOptions {
  readonly startRedfish: (opts: StartRedfishOptions) => Promise<RedfishListener>;
  readonly startIpmi: (opts: StartIpmiOptions) => Promise<IpmiListener>;
  /** The Redfish certificate of a Hypervisor's BMCs (kept in a Secret by the operator). */
  readonly tlsFor: (hypervisor: string) => Promise<{ certPem: string; keyPem: string }>;
  readonly hooks: BmcHooks;
  readonly log: Logger;
}

/** Every port of the Hypervisor's ipmiPortRange is taken. */
export class BmcPortsExhaustedError extends Error {
  override readonly name = 'BmcPortsExhaustedError';
}

/** A listener could not be opened (the address is not on this host, the port is in use). */
export class BmcListenError extends Error {
  override readonly name = 'BmcListenError';
}

export interface BmcService {
  /** Serves `target`'s BMC (starting what it needs) and says where. */
  ensure(target: BmcTarget): Promise<BmcEndpoints>;
  /** Stops serving the node's BMC (deleted, type none, shard moved). */
  release(key: string): Promise<void>;
  /** Stops serving every BMC of a Hypervisor (its shard moved to another process). */
  releaseHypervisor(hypervisor: string): Promise<void>;
  /** The boot override in force for a node, as this process knows it (undefined: unknown). */
  bootOverrideOf(key: string): BootOverride | undefined;
  /** The nodes served, for tests and metrics. */
  keys(): readonly string[];
  close(): Promise<void>;
}

interface RedfishEntry {
  readonly config: string;
  readonly listener: Promise<RedfishListener>;
}

const hostPart = (address: string): string => (address.includes(':') ? `[${address}]` : address);

/** The Redfish service root of a Hypervisor's BMCs. */
export function redfishRootUrl(listen: BmcListenConfig): string {
  return `${listen.redfishScheme}://${hostPart(listen.address)}:${listen.redfishPort}/redfish/v1/`;
}

const isOn = (state: string): boolean =>
  state === 'running' || state === 'blocked' || state === 'paused' || state === 'pmsuspended';

export function createBmcService(opts: BmcServiceOptions): BmcService {
  const targets = new Map<string, BmcTarget>();
  const boots = new Map<string, BootOverride>();
  const redfish = new Map<string, RedfishEntry>();
  const ipmi = new Map<string, { listener: IpmiListener; range: string }>();
  // One throttle per protocol and process: a guessing source is slowed on every BMC.
  const redfishThrottle = new LoginThrottle();
  const ipmiThrottle = new LoginThrottle();

  const targetById = (id: string): BmcTarget | undefined => {
    const lower = id.toLowerCase();
    for (const t of targets.values()) if (t.systemId.toLowerCase() === lower) return t;
    return undefined;
  };
  const bootOf = (t: BmcTarget): BootOverride => boots.get(t.key) ?? t.boot;

  const backend: BmcBackend = {
    async describe(id): Promise<BmcSystemView | undefined> {
      const t = targetById(id);
      if (!t) return undefined;
      // The state alone (lookup + virDomainGetState): the rest of the view is the target's.
      const domain = await t.verbs.observeDomainState(t.domainName);
      if (!domain) return undefined;
      return {
        id: t.systemId,
        name: t.name,
        powerState: isOn(domain.state) ? 'On' : 'Off',
        boot: bootOf(t),
        vcpus: t.vcpus,
        memoryMiB: t.memoryMiB,
      };
    },
    async power(id, action, source) {
      const t = targetById(id);
      if (!t) throw new BmcSystemNotFoundError(id);
      const booted = await powerDomain(t, action);
      // A Once override is spent by the boot it applied to.
      const spent = booted && bootOf(t).enabled === 'Once';
      if (spent) {
        boots.set(t.key, NoBootOverride);
        await applyBoot(t, NoBootOverride);
      }
      // The client has its answer once libvirt acted, as a real BMC answers before the host
      // is up; the record in the node's status follows.
      record(t.key, () => opts.hooks.actionTaken(t.key, action, source));
      if (spent) record(t.key, () => opts.hooks.bootSpent(t.key));
    },
    async setBootOverride(id, boot, source) {
      const t = targetById(id);
      if (!t) throw new BmcSystemNotFoundError(id);
      if (boot.target === 'Cd' && boot.enabled !== 'Disabled' && !hasCdrom(t)) {
        throw new BmcActionConflictError('this node has no CD-ROM drive to boot from');
      }
      // The mode is recorded as asked; the firmware itself is spec.firmware's, as on metal
      // where the BMC asks and the firmware decides.
      boots.set(t.key, boot);
      await applyBoot(t, boot);
      record(t.key, () => opts.hooks.bootChanged(t.key, boot, source));
    },
  };

  /**
   * Runs the status records of one node in order, after the client's answer; a record that
   * fails is logged (the node's next pass still shows the domain as it is).
   */
  const records = new Map<string, Promise<void>>();
  function record(key: string, write: () => Promise<void>): void {
    const previous = records.get(key) ?? Promise.resolve();
    const next = previous
      .then(write)
      .catch((err: unknown) =>
        opts.log.warn('Recording a BMC action in the node status failed', {
          node: key,
          error: err instanceof Error ? err.message : String(err),
        }),
      )
      .finally(() => {
        if (records.get(key) === next) records.delete(key);
      });
    records.set(key, next);
  }

  /**
   * Redefines the domain with `boot`'s order at once, so that a power-on right after the
   * override (MAAS sets PXE, then cycles) boots with it; the reconciler's desired state has
   * the same order (bootOverrideOf), so it never reverts it.
   */
  async function applyBoot(t: BmcTarget, boot: BootOverride): Promise<void> {
    const present: Record<BootDeviceName, boolean> = {
      network: t.definition.interfaces.length > 0,
      disk: t.definition.disks.length > 0,
      cdrom: hasCdrom(t),
    };
    const bootOrder = bootOrderWith(t.specBootOrder, boot).filter((d) => present[d]);
    await t.verbs.defineDomain({ ...t.definition, bootOrder });
  }

  function hasCdrom(t: BmcTarget): boolean {
    return (t.definition.cdroms ?? []).length > 0;
  }

  /** Does `action` to the domain; true when the domain (re)booted. */
  async function powerDomain(t: BmcTarget, action: PowerAction): Promise<boolean> {
    const domain = await t.verbs.observeDomainState(t.domainName);
    if (!domain) throw new BmcSystemNotFoundError(t.systemId);
    const on = isOn(domain.state);
    const start = async (): Promise<boolean> => {
      await t.verbs.start(t.domainName, t.owner);
      return true;
    };
    switch (action) {
      case 'On':
        return on ? false : start();
      case 'ForceOff':
        if (on) await t.verbs.destroy(t.domainName, t.owner);
        return false;
      case 'GracefulShutdown':
        if (on) await t.verbs.shutdown(t.domainName, t.owner);
        return false;
      case 'PushPowerButton':
        if (!on) return start();
        await t.verbs.shutdown(t.domainName, t.owner);
        return false;
      case 'GracefulRestart':
        if (!on) throw new BmcActionConflictError('the system is off');
        await t.verbs.reboot(t.domainName, t.owner, 'acpi');
        return true;
      case 'ForceRestart':
        if (!on) throw new BmcActionConflictError('the system is off');
        // A reset keeps the running definition; a boot override lives in the persistent one.
        if (isActiveOverride(bootOf(t))) {
          await t.verbs.destroy(t.domainName, t.owner);
          return start();
        }
        await t.verbs.reboot(t.domainName, t.owner, 'reset');
        return true;
      case 'PowerCycle':
        if (on) await t.verbs.destroy(t.domainName, t.owner);
        return start();
    }
  }

  function redfishSystems(hypervisor: string): readonly BmcSystemEntry[] {
    const out: BmcSystemEntry[] = [];
    for (const t of targets.values()) {
      if (t.type === 'redfish' && t.hypervisor === hypervisor) {
        out.push({ id: t.systemId, credentials: t.credentials });
      }
    }
    return out;
  }

  async function listen<T>(what: string, start: () => Promise<T>): Promise<T> {
    try {
      return await start();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new BmcListenError(`${what}: ${code ?? (err as Error).message}`, { cause: err });
    }
  }

  async function ensureRedfish(t: BmcTarget): Promise<void> {
    const config = `${t.listen.redfishScheme}://${t.listen.address}:${t.listen.redfishPort}`;
    const current = redfish.get(t.hypervisor);
    if (current?.config === config) {
      try {
        await current.listener;
        return;
      } catch {
        // A failed start is retried below.
      }
    }
    if (current) {
      redfish.delete(t.hypervisor);
      await current.listener.then((l) => l.close()).catch(() => undefined);
    }
    const hypervisor = t.hypervisor;
    const listener = (async () => {
      const tls = t.listen.redfishScheme === 'https' ? await opts.tlsFor(hypervisor) : undefined;
      return listen(`redfish on ${config}`, () =>
        opts.startRedfish({
          host: t.listen.address,
          port: t.listen.redfishPort,
          ...definedProps({ tls }),
          systems: () => redfishSystems(hypervisor),
          backend,
          throttle: redfishThrottle,
        }),
      );
    })();
    redfish.set(hypervisor, { config, listener });
    try {
      await listener;
    } catch (err) {
      if (redfish.get(hypervisor)?.listener === listener) redfish.delete(hypervisor);
      throw err;
    }
  }

  async function ensureIpmi(t: BmcTarget): Promise<{ address: string; port: number }> {
    const range = parsePortRange(t.listen.ipmiPortRange);
    const mine = ipmi.get(t.key);
    if (
      mine &&
      mine.listener.address === t.listen.address &&
      mine.listener.port >= range.first &&
      mine.listener.port <= range.last
    ) {
      return { address: mine.listener.address, port: mine.listener.port };
    }
    if (mine) {
      ipmi.delete(t.key);
      await mine.listener.close();
    }
    const taken = new Set<number>();
    for (const [key, entry] of ipmi) {
      if (key !== t.key && entry.listener.address === t.listen.address) {
        taken.add(entry.listener.port);
      }
    }
    // A port another program holds is skipped, up to the whole range.
    for (;;) {
      const port = pickIpmiPort(range, taken, t.previousIpmiPort);
      if (port === undefined) {
        throw new BmcPortsExhaustedError(
          `every port of ipmiPortRange ${t.listen.ipmiPortRange} on ${t.listen.address} is taken`,
        );
      }
      try {
        const listener = await listen(`ipmi on ${t.listen.address}:${port}`, () =>
          opts.startIpmi({
            host: t.listen.address,
            port,
            systemId: t.systemId,
            credentials: () => targets.get(t.key)?.credentials,
            backend,
            throttle: ipmiThrottle,
          }),
        );
        ipmi.set(t.key, { listener, range: t.listen.ipmiPortRange });
        return { address: listener.address, port: listener.port };
      } catch (err) {
        const code = ((err as Error).cause as NodeJS.ErrnoException | undefined)?.code;
        if (code !== 'EADDRINUSE') throw err;
        taken.add(port);
      }
    }
  }

  async function releaseRedfishIfUnused(hypervisor: string): Promise<void> {
    if (redfishSystems(hypervisor).length > 0) return;
    const entry = redfish.get(hypervisor);
    if (!entry) return;
    redfish.delete(hypervisor);
    await entry.listener.then((l) => l.close()).catch(() => undefined);
  }

  return {
    async ensure(t) {
      const before = targets.get(t.key);
      targets.set(t.key, t);
      // The status is the record; this process's own newer value wins until the status has it.
      const known = boots.get(t.key);
      if (known && sameBoot(known, t.boot)) boots.delete(t.key);
      if (t.type === 'redfish') {
        const held = ipmi.get(t.key);
        if (held) {
          ipmi.delete(t.key);
          await held.listener.close();
        }
        if (before && before.hypervisor !== t.hypervisor) {
          await releaseRedfishIfUnused(before.hypervisor);
        }
        await ensureRedfish(t);
        return { redfish: { url: redfishRootUrl(t.listen), systemId: t.systemId } };
      }
      if (before?.type === 'redfish') await releaseRedfishIfUnused(before.hypervisor);
      return { ipmi: await ensureIpmi(t) };
    },
    async release(key) {
      const t = targets.get(key);
      targets.delete(key);
      boots.delete(key);
      const held = ipmi.get(key);
      if (held) {
        ipmi.delete(key);
        await held.listener.close();
      }
      if (t) await releaseRedfishIfUnused(t.hypervisor);
    },
    async releaseHypervisor(hypervisor) {
      const keys = [...targets.values()]
        .filter((t) => t.hypervisor === hypervisor)
        .map((t) => t.key);
      await Promise.all(keys.map((key) => this.release(key)));
    },
    bootOverrideOf(key) {
      const t = targets.get(key);
      return boots.get(key) ?? t?.boot;
    },
    keys: () => [...targets.keys()],
    async close() {
      await Promise.allSettled(records.values());
      const closing = [
        ...[...ipmi.values()].map((e) => e.listener.close()),
        ...[...redfish.values()].map((e) => e.listener.then((l) => l.close())),
      ];
      ipmi.clear();
      redfish.clear();
      targets.clear();
      await Promise.allSettled(closing);
      opts.log.debug('virtual BMCs closed');
    },
  };
}

function sameBoot(a: BootOverride, b: BootOverride): boolean {
  return a.target === b.target && a.enabled === b.enabled && a.mode === b.mode;
}
