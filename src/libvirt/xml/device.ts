// Device XML for live updates (virDomainUpdateDeviceFlags), and what the host's capabilities
// offer. Pure, like the rest of src/libvirt/xml: every escape happens in codec.ts.
import { attr, attrs, buildXml, child, children, parseRoot, type XmlElement } from './codec.js';
import { MAC } from './domain.js';

/** Where a NIC's tap is plugged: a libvirt network, or a host bridge by name. */
export type InterfaceSource = { readonly network: string } | { readonly bridge: string };

/** The NIC of a running domain to update, matched by MAC (a parsed interface will do). */
export interface InterfaceUpdate {
  readonly mac: string;
  /** Repeated because libvirt refuses to see it change live; left out, libvirt keeps it. */
  readonly model?: string | undefined;
  /** Repeated for the same reason. */
  readonly bootOrder?: number | undefined;
}

/**
 * `<interface>` device XML for virDomainUpdateDeviceFlags, matched by MAC. Only the fields libvirt
 * would refuse to see change live (model, boot order) are repeated; it keeps the tap name, alias
 * and PCI address of the running device when they are left out.
 * @see https://libvirt.org/formatdomain.html#network-interfaces
 */
export function buildInterfaceUpdateXml(update: InterfaceUpdate, source: InterfaceSource): string {
  if (!MAC.test(update.mac)) throw new RangeError(`mac: invalid MAC ${update.mac}`);
  const element: XmlElement = {
    ...attrs({ type: 'network' in source ? 'network' : 'bridge' }),
    mac: attrs({ address: update.mac.toLowerCase() }),
    source: attrs('network' in source ? { network: source.network } : { bridge: source.bridge }),
    model: update.model === undefined ? undefined : attrs({ type: update.model }),
    boot: update.bootOrder === undefined ? undefined : attrs({ order: update.bootOrder }),
  };
  return buildXml('interface', element);
}

/**
 * The domain types (`qemu`, `kvm`, …) virConnectGetCapabilities offers for any guest.
 * @see https://libvirt.org/formatcaps.html
 */
export function capabilityDomainTypes(xml: string): ReadonlySet<string> {
  const root = parseRoot(xml, 'capabilities');
  const types = new Set<string>();
  for (const guest of children(root, 'guest')) {
    for (const domain of children(child(guest, 'arch'), 'domain')) {
      const type = attr(domain, 'type');
      if (type !== undefined) types.add(type);
    }
  }
  return types;
}
