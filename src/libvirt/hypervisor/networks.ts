// The network verbs: observe, ensure (define and start), apply a diffNetwork result (DHCP
// hosts live, or redefine and restart) and delete, re-plugging the NICs of running domains
// whenever a network (re)starts.
import type { Connection } from '../connection.js';
import {
  ConnectListAllDomainsFlags,
  DomainDeviceModifyFlags,
  ErrorNumber,
  NetworkUpdateCommand,
  NetworkUpdateFlags,
  NetworkUpdateSection,
  NetworkXMLFlags,
} from '../constants.js';
import { isLibvirtError, isNotFound } from '../errors.js';
import type { Network } from '../network.js';
import {
  buildDhcpHostXml,
  buildInterfaceUpdateXml,
  buildNetworkXml,
  isOwnedBy,
  parseDomainXml,
  parseNetworkXml,
  type DhcpHost,
  type OwnerRef,
  type ParsedNetwork,
} from '../xml/index.js';
import type { LibvirtCalls } from './calls.js';
import { BridgeNotFoundError, NameConflictError } from './errors.js';
import type {
  Change,
  EnsureNetworkOptions,
  NetworkChange,
  NetworkChangeResult,
  ObservedNetwork,
  OwnedNetworkDescription,
  ReplugResult,
} from './types.js';
import { definedProps } from '../../util/defined-props.js';

/** The network fields a redefinition changes, normalised the way libvirt stores them. */
function networkShape(n: ParsedNetwork): string {
  return JSON.stringify({
    mode: n.mode,
    bridge: n.bridge?.name,
    stp: n.bridge?.stp ?? (n.mode === 'bridge' ? undefined : true),
    ip: n.ipv4 && { a: n.ipv4.address, p: n.ipv4.prefix, d: n.ipv4.dhcp !== undefined },
    ranges: n.ipv4?.dhcp?.ranges.map((r) => `${r.start}-${r.end}`),
    domain: n.domain,
    mtu: n.mtu,
    owner: n.owner && `${n.owner.uid}/${n.owner.specHash ?? ''}`,
  });
}

const sameHost = (a: { mac?: string; ip?: string; name?: string }, b: DhcpHost): boolean =>
  a.mac === b.mac.toLowerCase() && a.ip === b.ip && a.name === b.name;

/** The network verbs of one Hypervisor, on its instrumented calls. */
export class NetworkVerbs {
  readonly #calls: LibvirtCalls;
  #noInactiveNetworkXml = false;

  /** Network verbs over `calls`. */
  constructor(calls: LibvirtCalls) {
    this.#calls = calls;
  }

  async #observeNetwork(c: Connection, net: Network): Promise<ObservedNetwork> {
    // The four reads go out together (libvirt answers calls on one connection concurrently):
    // one round trip instead of four, which a node waiting to start on this network pays.
    // The current XML is the live one while active; of an inactive network it is not used.
    const [active, autostart, currentXml, inactiveXml] = await Promise.all([
      this.#calls.call(c, 'virNetworkIsActive', () => net.isActive()),
      this.#calls.call(c, 'virNetworkGetAutostart', () => net.getAutostart()),
      this.#calls.call(c, 'virNetworkGetXMLDesc', () => net.getXMLDesc()),
      this.#inactiveNetworkXml(c, net),
    ]);
    const liveXml = active ? currentXml : undefined;
    const parsed = parseNetworkXml(inactiveXml ?? currentXml);
    const live = liveXml === undefined ? undefined : parseNetworkXml(liveXml);
    return definedProps({
      name: net.getName(),
      uuid: net.getUUIDString(),
      active,
      autostart,
      owner: parsed.owner,
      bridge: live?.bridge?.name ?? parsed.bridge?.name,
      parsed,
      live,
    });
  }

  /**
   * The persistent definition. The test driver rejects VIR_NETWORK_XML_INACTIVE with
   * INVALID_ARG; there the current XML is the best there is: undefined says so (and the
   * failing call is skipped from then on).
   */
  async #inactiveNetworkXml(c: Connection, net: Network): Promise<string | undefined> {
    if (this.#noInactiveNetworkXml) return undefined;
    try {
      return await this.#calls.call(c, 'virNetworkGetXMLDesc', () =>
        net.getXMLDesc(NetworkXMLFlags.Inactive),
      );
    } catch (err) {
      if (!isLibvirtError(err, ErrorNumber.InvalidArg)) throw err;
      this.#noInactiveNetworkXml = true;
      return undefined;
    }
  }

  async observeNetwork(name: string): Promise<ObservedNetwork | undefined> {
    const c = await this.#calls.conn();
    const net = await this.#calls.lookup(c, 'virNetworkLookupByName', () =>
      c.networkLookupByName(name),
    );
    if (!net) return undefined;
    using n = net;
    try {
      return await this.#observeNetwork(c, n);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Looks the network up and checks it is ours; undefined when absent. */
  async #ownedNetwork(
    c: Connection,
    name: string,
    owner: OwnerRef,
  ): Promise<{ net: Network; observed: ObservedNetwork } | undefined> {
    const net = await this.#calls.lookup(c, 'virNetworkLookupByName', () =>
      c.networkLookupByName(name),
    );
    if (!net) return undefined;
    try {
      const observed = await this.#observeNetwork(c, net);
      if (!isOwnedBy(observed.owner, owner)) {
        throw new NameConflictError('network', name, observed.owner);
      }
      return { net, observed };
    } catch (err) {
      net.free();
      throw err;
    }
  }

  async ensureNetwork(
    desc: OwnedNetworkDescription,
    opts: EnsureNetworkOptions = {},
  ): Promise<NetworkChangeResult> {
    const c = await this.#calls.conn();
    const autostart = desc.autostart ?? true;
    const define = (): Promise<Network> =>
      this.#calls.call(c, 'virNetworkDefineXML', () =>
        c.networkDefineXMLFlags(buildNetworkXml(desc)),
      );
    if (opts.seenAbsent) {
      // The caller's look was a moment ago: a second one would only delay the network the
      // nodes wait for. A network of the name that appeared since makes the define fail
      // (OPERATION_FAILED: it exists with another UUID); the checked way below sorts it out.
      const net = await define().catch((err: unknown) => {
        if (isLibvirtError(err, ErrorNumber.OperationFailed)) return undefined;
        throw err;
      });
      if (net) {
        using defined = net;
        return await this.#startDefined(c, defined, desc, autostart);
      }
    }
    const found = await this.#ownedNetwork(c, desc.name, desc.owner);
    if (!found) {
      using net = await define();
      return await this.#startDefined(c, net, desc, autostart);
    }
    using net = found.net;
    let changed = false;
    let replugged: ReplugResult[] = [];
    if (!found.observed.active) {
      await this.#checkBridge(c, desc);
      replugged = await this.#startAndReplug(c, net, desc.name);
      changed = true;
    }
    if (found.observed.autostart !== autostart) {
      await this.#calls.call(c, 'virNetworkSetAutostart', () => net.setAutostart(autostart));
      changed = true;
    }
    return { changed, replugged };
  }

  /** Starts a network this verb has just defined, and sets its autostart flag meanwhile. */
  async #startDefined(
    c: Connection,
    net: Network,
    desc: OwnedNetworkDescription,
    autostart: boolean,
  ): Promise<NetworkChangeResult> {
    // A freshly defined network does not autostart. The flag is written while the network
    // starts, not before: nodes wait for the start, never for the flag.
    const [, replugged] = await Promise.all([
      autostart
        ? this.#calls.call(c, 'virNetworkSetAutostart', () => net.setAutostart(true))
        : undefined,
      this.#checkBridge(c, desc).then(() => this.#startAndReplug(c, net, desc.name)),
    ]);
    return { changed: true, replugged };
  }

  /**
   * A bridge-mode network's host bridge must exist before virNetworkCreate, which does not
   * check it: NO_INTERFACE gives BridgeNotFoundError. A connection without an interface driver
   * (NO_SUPPORT) cannot tell, so the network is started unchecked, as before.
   * @see https://libvirt.org/html/libvirt-libvirt-interface.html#virInterfaceLookupByName
   */
  async #checkBridge(c: Connection, desc: OwnedNetworkDescription): Promise<void> {
    const bridge = desc.mode === 'bridge' ? desc.bridge?.name : undefined;
    if (bridge === undefined) return;
    try {
      const iface = await this.#calls.call(c, 'virInterfaceLookupByName', () =>
        c.interfaceLookupByName(bridge),
      );
      iface.free();
    } catch (err) {
      if (isLibvirtError(err, ErrorNumber.NoInterface)) {
        throw new BridgeNotFoundError(bridge, { cause: err });
      }
      if (!isLibvirtError(err, ErrorNumber.NoSupport)) throw err;
    }
  }

  /**
   * virNetworkCreate, then moves the taps of running domains' NICs on this network onto its
   * (new) bridge. A destroyed network takes its bridge with it, and the taps of running
   * domains stay detached when it comes back; libvirt does not re-plug them.
   *
   * How, without a guest OS: a live detach + attach needs the guest to eject the device (ACPI
   * hot-plug), and an update with the unchanged `<source network>` is a no-op for the tap in
   * libvirt 9.0. But qemuDomainChangeNet moves the tap to a new bridge whenever the NIC's type
   * changes between `network` and `bridge` (both are taps on a host bridge): so we update the
   * NIC to `type='bridge'` on the network's bridge, which re-enslaves the tap, then back to
   * `type='network'` (so the live XML, and libvirt's port accounting, name the network
   * again). Both are host-side changes; the guest sees no unplug.
   */
  async #startAndReplug(c: Connection, net: Network, name: string): Promise<ReplugResult[]> {
    await this.#calls.call(c, 'virNetworkCreate', () => net.create());
    const bridge = await this.#calls.call(c, 'virNetworkGetBridgeName', () => net.getBridgeName());
    return this.#replug(c, name, bridge);
  }

  async #replug(c: Connection, network: string, bridge: string): Promise<ReplugResult[]> {
    const replugged: ReplugResult[] = [];
    // Only running domains have taps; defined-but-off domains pick the bridge up at start.
    const doms = await this.#calls.call(c, 'virConnectListAllDomains', () =>
      c.listAllDomains(ConnectListAllDomainsFlags.Active),
    );
    for (const dom of doms) {
      try {
        const live = parseDomainXml(
          await this.#calls.call(c, 'virDomainGetXMLDesc', () => dom.getXMLDesc()),
        );
        for (const nic of live.interfaces) {
          if (nic.type !== 'network' || nic.network !== network || !nic.mac) continue;
          const mac = nic.mac;
          // To the bridge (re-enslaves the tap), then back to the network (see above).
          for (const source of [{ bridge }, { network }]) {
            await this.#calls.call(c, 'virDomainUpdateDeviceFlags', () =>
              dom.updateDeviceFlags(
                buildInterfaceUpdateXml({ ...nic, mac }, source),
                DomainDeviceModifyFlags.Live,
              ),
            );
          }
          replugged.push({ domain: live.name, mac });
        }
      } catch (err) {
        // A domain that stopped (or vanished) meanwhile has no tap left to re-plug.
        const gone =
          isNotFound(err) ||
          (isLibvirtError(err, ErrorNumber.OperationInvalid) &&
            !(await this.#calls
              .call(c, 'virDomainIsActive', () => dom.isActive())
              .catch(() => false)));
        if (!gone) throw err;
      } finally {
        dom.free();
      }
    }
    return replugged;
  }

  async applyNetworkChange(
    desc: OwnedNetworkDescription,
    change: NetworkChange,
  ): Promise<NetworkChangeResult> {
    if (change.kind === 'none') return { changed: false, replugged: [] };
    const c = await this.#calls.conn();
    const found = await this.#ownedNetwork(c, desc.name, desc.owner);
    // Nothing to change yet: create it as desired.
    if (!found) return this.ensureNetwork(desc);
    using net = found.net;
    const observed = found.observed;
    if (change.kind === 'dhcpHostsLive') {
      return { changed: await this.#updateDhcpHosts(c, net, observed, change), replugged: [] };
    }
    // Redefine with the same UUID (libvirt refuses another UUID under the same name) and the
    // bridge libvirt picked before, unless the spec names one: a new virbrN would rename the
    // bridge MAAS and the host know.
    const keepBridge = desc.bridge ?? (observed.bridge ? { name: observed.bridge } : undefined);
    const xml = buildNetworkXml({
      ...desc,
      uuid: observed.uuid,
      ...definedProps({ bridge: keepBridge }),
    });
    const want = networkShape(parseNetworkXml(xml));
    const redefine = networkShape(observed.parsed) !== want;
    const restart =
      observed.active && (redefine || (observed.live && networkShape(observed.live) !== want));
    // Also finishes a restart that failed half-way (destroyed, not started) on an earlier pass.
    const start = restart || !observed.active;
    // Checked before anything is torn down: a missing bridge leaves the network as it is.
    if (start) await this.#checkBridge(c, desc);
    // The manual recipe's order: net-destroy, net-define, net-start. Defining first would
    // leave the change pending until the restart, and the test driver drops a pending one.
    if (restart) await this.#calls.call(c, 'virNetworkDestroy', () => net.destroy());
    if (redefine) {
      const redefined = await this.#calls.call(c, 'virNetworkDefineXML', () =>
        c.networkDefineXMLFlags(xml),
      );
      redefined.free();
    }
    const replugged = start ? await this.#startAndReplug(c, net, desc.name) : [];
    const changed = redefine || start;
    return { changed, replugged };
  }

  /** virNetworkUpdate per host, skipping what the definition already says. */
  async #updateDhcpHosts(
    c: Connection,
    net: Network,
    observed: ObservedNetwork,
    change: Extract<NetworkChange, { kind: 'dhcpHostsLive' }>,
  ): Promise<boolean> {
    const held = observed.parsed.ipv4?.dhcp?.hosts ?? [];
    const flags = observed.active
      ? [NetworkUpdateFlags.Live, NetworkUpdateFlags.Config]
      : NetworkUpdateFlags.Config;
    const update = (cmd: NetworkUpdateCommand, host: DhcpHost): Promise<void> =>
      this.#calls.call(c, 'virNetworkUpdate', () =>
        net.update(cmd, NetworkUpdateSection.IpDhcpHost, -1, buildDhcpHostXml(host), flags),
      );
    let changed = false;
    for (const host of change.remove) {
      if (!held.some((h) => h.mac === host.mac.toLowerCase())) continue;
      await update(NetworkUpdateCommand.Delete, host);
      changed = true;
    }
    for (const host of change.modify) {
      const current = held.find((h) => h.mac === host.mac.toLowerCase());
      if (current && sameHost(current, host)) continue;
      await update(current ? NetworkUpdateCommand.Modify : NetworkUpdateCommand.AddLast, host);
      changed = true;
    }
    for (const host of change.add) {
      const current = held.find((h) => h.mac === host.mac.toLowerCase());
      if (current && sameHost(current, host)) continue;
      await update(current ? NetworkUpdateCommand.Modify : NetworkUpdateCommand.AddLast, host);
      changed = true;
    }
    return changed;
  }

  async deleteNetwork(name: string, owner: OwnerRef): Promise<Change> {
    const c = await this.#calls.conn();
    const found = await this.#ownedNetwork(c, name, owner);
    if (!found) return { changed: false };
    using net = found.net;
    if (found.observed.active) await this.#calls.call(c, 'virNetworkDestroy', () => net.destroy());
    await this.#calls.call(c, 'virNetworkUndefine', () => net.undefine());
    return { changed: true };
  }
}
