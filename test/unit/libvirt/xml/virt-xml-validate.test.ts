// Checks built XML against libvirt's own RelaxNG schemas with `virt-xml-validate`. This file
// touches the filesystem and spawns a process, so it lives apart from the pure golden tests.
import { expect } from 'chai';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  buildDomainXml,
  buildNetworkXml,
  buildPoolXml,
  buildVolumeXml,
  type DomainDescription,
} from '../../../../src/libvirt/xml/index.js';

const run = promisify(execFile);
const TOOL = 'virt-xml-validate';
const missing = spawnSync(TOOL, [], { stdio: 'ignore' }).error !== undefined;

const GiB = 1024 ** 3;
const nasty = `Zoë <lab> & "co" 'n'`;
const node: DomainDescription = {
  name: 'maas-node-1',
  type: 'qemu',
  memoryBytes: GiB,
  vcpus: 1,
  arch: 'x86_64',
  firmware: 'bios',
  bootOrder: ['network', 'disk'],
  disks: [{ pool: 'maaslab', volume: 'maas-node-1.qcow2', format: 'qcow2', bus: 'virtio' }],
  interfaces: [{ mac: '52:54:00:7f:04:01', network: 'default', model: 'virtio' }],
  vnc: { listen: '127.0.0.1' },
};

const documents: [name: string, schema: string, xml: () => string][] = [
  ["the recipe's node", 'domain', () => buildDomainXml(node)],
  [
    'a UEFI q35 KVM node with owner, title, SATA and SCSI disks',
    'domain',
    () =>
      buildDomainXml({
        ...node,
        type: 'kvm',
        machine: 'q35',
        firmware: 'uefi',
        uuid: '0b8a3c3e-5a0e-4c8e-9d27-0f6c3e1c2a11',
        title: 'node one',
        description: nasty,
        disks: [
          ...node.disks,
          { pool: 'p', volume: 'b.raw', format: 'raw', bus: 'sata' },
          { pool: 'p', volume: 'c.qcow2', format: 'qcow2', bus: 'scsi' },
        ],
        owner: { kind: 'MaasNode', namespace: 'lab', name: 'node-1', uid: 'u', specHash: 'h' },
      }),
  ],
  [
    'a UEFI node whose NVRAM is a file in its pool directory',
    'domain',
    () =>
      buildDomainXml(
        {
          ...node,
          firmware: 'uefi',
          nvram: { pool: 'maaslab', volume: 'maas-node-1-VARS.fd' },
        },
        { nvramPath: '/var/lib/maaslab/pool/maas-node-1-VARS.fd' },
      ),
  ],
  [
    'a BMC node: an empty SCSI CD-ROM drive booted first, and an ISO volume on SATA',
    'domain',
    () =>
      buildDomainXml({
        ...node,
        bootOrder: ['cdrom', 'network', 'disk'],
        cdroms: [{ bus: 'scsi' }, { bus: 'sata', source: { pool: 'p', volume: 'seed.iso' } }],
      }),
  ],
  [
    'a MAAS controller: disk first, the seed ISO on SCSI, two NICs, the serial console logged',
    'domain',
    () =>
      buildDomainXml({
        ...node,
        bootOrder: ['disk'],
        cdroms: [{ bus: 'scsi', source: { pool: 'p', volume: 'lab-maas-seed.iso' } }],
        interfaces: [
          ...node.interfaces,
          { mac: '52:54:00:12:34:56', network: 'up', model: 'virtio' },
        ],
        serialLogFile: '/var/lib/maaslab/pool/lab.maas.console.log',
      }),
  ],
  [
    'an aarch64 virt node with a fixed VNC port',
    'domain',
    () =>
      buildDomainXml({
        ...node,
        arch: 'aarch64',
        machine: 'virt',
        firmware: 'uefi',
        vnc: { listen: '0.0.0.0', port: 5901 },
      }),
  ],
  [
    "the recipe's isolated network",
    'network',
    () =>
      buildNetworkXml({
        name: 'maas',
        mode: 'isolated',
        ipv4: { address: '10.77.0.1', prefix: 24 },
      }),
  ],
  [
    'a NAT network with owner, MTU, domain and DHCP',
    'network',
    () =>
      buildNetworkXml({
        name: 'lab-nat',
        mode: 'nat',
        bridge: { name: 'virbr77', stp: true },
        mtu: 9000,
        domain: 'lab.maas',
        ipv4: {
          address: '10.77.0.1',
          prefix: 24,
          dhcp: {
            ranges: [{ start: '10.77.0.100', end: '10.77.0.200' }],
            hosts: [{ mac: '52:54:00:7f:04:01', ip: '10.77.0.11', name: 'node-1' }],
          },
        },
        owner: { kind: 'VirtNetwork', namespace: 'lab', name: 'nat', uid: 'u' },
      }),
  ],
  [
    'a routed network',
    'network',
    () => buildNetworkXml({ name: 'r', mode: 'route', ipv4: { address: '10.78.0.1', prefix: 16 } }),
  ],
  [
    'a bridged network',
    'network',
    () => buildNetworkXml({ name: 'b', mode: 'bridge', bridge: { name: 'br0' } }),
  ],
  [
    'a dir pool',
    'storagepool',
    () => buildPoolXml({ name: 'maaslab', type: 'dir', path: '/var/lib/maaslab/pool' }),
  ],
  [
    "the recipe's 8 GiB qcow2 volume",
    'storagevol',
    () => buildVolumeXml({ name: 'maas-node-1.qcow2', capacityBytes: 8 * GiB, format: 'qcow2' }),
  ],
  [
    "a snapshot's read-only golden copy",
    'storagevol',
    () =>
      buildVolumeXml({
        name: 'n-root.snap-s-0123abcd.qcow2',
        capacityBytes: GiB,
        format: 'qcow2',
        mode: '0444',
      }),
  ],
  [
    'a preallocated raw volume',
    'storagevol',
    () =>
      buildVolumeXml({ name: 'seed.raw', capacityBytes: GiB, format: 'raw', allocationBytes: GiB }),
  ],
  [
    "a controller's 40 GiB qcow2 overlay on a cloud image",
    'storagevol',
    () =>
      buildVolumeXml({
        name: 'lab.maas-disk.qcow2',
        capacityBytes: 40 * GiB,
        format: 'qcow2',
        backingStore: { path: '/var/lib/maaslab/pool/maaslab-base-0a1b.qcow2', format: 'qcow2' },
      }),
  ],
];

describe(`libvirt/xml against libvirt's schemas (${TOOL})`, function () {
  let dir = '';

  before(async function () {
    if (missing) {
      // Pending, not failed: the unit tier must run on machines without libvirt-clients.
      console.warn(`    skipping: ${TOOL} is not installed (apt-get install libvirt-clients)`);
      this.skip();
    }
    dir = await mkdtemp(join(tmpdir(), 'maaslab-xml-'));
  });

  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  documents.forEach(([name, schema, xml], i) => {
    it(`${name} is a valid ${schema}`, async () => {
      const file = join(dir, `${i}-${schema}.xml`);
      await writeFile(file, xml());
      const { stdout, stderr } = await run(TOOL, [file, schema]).catch((err: unknown) => {
        const { stdout: out = '', stderr: errText = '' } = err as {
          stdout?: string;
          stderr?: string;
        };
        throw new Error(`${TOOL} rejected ${name}:\n${out}${errText}\n${xml()}`, { cause: err });
      });
      expect(`${stdout}${stderr}`).to.include('validates');
    });
  });
});
