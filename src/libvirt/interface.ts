// virInterface: a host network interface, as the host's interface driver (udev or
// netcf) reports it. Method names are libvirt's C names without `vir` and
// `Interface`. Only what the operator needs: a bridge-mode network checks that
// its host bridge exists before starting (virNetworkCreate does not).
import { raw, type InterfaceHandle } from './binding.js';
import { LibvirtObject } from './object.js';

/** A host network interface (virInterfacePtr). */
export class Interface extends LibvirtObject<InterfaceHandle> {
  /**
   * virInterfaceGetName (local, no I/O).
   * @see https://libvirt.org/html/libvirt-libvirt-interface.html#virInterfaceGetName
   */
  getName(): string {
    return raw.interfaceGetName(this.handle);
  }

  /**
   * virInterfaceGetMACString (local, no I/O).
   * @see https://libvirt.org/html/libvirt-libvirt-interface.html#virInterfaceGetMACString
   */
  getMACString(): string {
    return raw.interfaceGetMACString(this.handle);
  }

  /**
   * virInterfaceIsActive
   * @see https://libvirt.org/html/libvirt-libvirt-interface.html#virInterfaceIsActive
   */
  isActive(): Promise<boolean> {
    return raw.interfaceIsActive(this.handle);
  }
}
