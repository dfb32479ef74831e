// Shared fixtures for the binding tests on libvirt's test driver (test:///default),
// which runs in-process and touches nothing on the host. XML is written literally
// here on purpose: the XML builders are tested on their own.
import { Connection } from '../../../src/libvirt/index.js';

/** The in-process test driver. Its state is shared while any connection is open. */
export const TEST_URI = 'test:///default';

let counter = 0;
/** A name no other test uses, so tests sharing the driver state never collide. */
export function uniqueName(prefix: string): string {
  counter += 1;
  return `${prefix}-${process.pid}-${counter}`;
}

/** Opens test:///default. */
export function openTest(): Promise<Connection> {
  return Connection.open(TEST_URI);
}

/** A minimal valid test-driver domain with our ownership metadata and one NIC. */
export function domainXML(name: string, extra = ''): string {
  return `<domain type='test'>
  <name>${name}</name>
  <metadata>
    <maaslab:owner xmlns:maaslab='https://maaslab.dev/xmlns/v1alpha1' uid='0b9c7c1e-1111-4d3c-9c1d-000000000001' namespace='lab' name='${name}' kind='Machine'/>
  </metadata>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
  <devices>
    <interface type='network'>
      <mac address='52:54:00:7f:04:01'/>
      <source network='default'/>
    </interface>
    ${extra}
  </devices>
</domain>`;
}

/** An isolated network with DHCP, in the test driver. */
export function networkXML(name: string, bridge: string, octet: number): string {
  return `<network>
  <name>${name}</name>
  <bridge name='${bridge}'/>
  <ip address='10.77.${octet}.1' prefix='24'>
    <dhcp>
      <range start='10.77.${octet}.100' end='10.77.${octet}.200'/>
    </dhcp>
  </ip>
</network>`;
}

/** A dir pool; the test driver never touches the path. */
export function poolXML(name: string): string {
  return `<pool type='dir'>
  <name>${name}</name>
  <target><path>/maaslab-test/${name}</path></target>
</pool>`;
}

/** A raw volume of `mib` MiB. */
export function volumeXML(name: string, mib: number): string {
  return `<volume>
  <name>${name}</name>
  <capacity unit='MiB'>${mib}</capacity>
  <target><format type='raw'/></target>
</volume>`;
}

/** Runs `fn`, expecting it to reject; returns the rejection. */
export async function rejection(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}
