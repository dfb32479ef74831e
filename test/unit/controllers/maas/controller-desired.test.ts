// The MAAS controller VM's desired state: defaults, the shared base volume, the overlay, the
// seed volume, the domain, the MAAS URL, the refusals; and the seed the operator would write
// for it, checked by Debian's `cloud-init schema`.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TypeRegistry } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { expect } from 'chai';
import {
  ControllerDefaults,
  MaasControllerSchema,
  NoPxeSubnetReason,
  type HypervisorSpec,
  type MaasController,
  type MaasLab,
} from '../../../../src/api/v1alpha1/index.js';
import {
  ControllerMisdeclaredReason,
  baseVolumeName,
  consoleLogPath,
  controllerDomain,
  controllerInstanceId,
  controllerOwner,
  controllerPlan,
  controllerProblem,
  controllerSeedInput,
  defaultControllerAddress,
} from '../../../../src/controllers/maas/controller-desired.js';
import { maasEndpoint } from '../../../../src/controllers/maas/desired.js';
import { buildDomainXml, parseDomainXml } from '../../../../src/libvirt/xml/index.js';
import { buildControllerSeed } from '../../../../src/maas/controller/seed.js';
import { recipeLab } from '../fixtures.js';

if (!TypeRegistry.Has('Unsafe')) TypeRegistry.Set('Unsafe', () => true);

const SHA = 'ab'.repeat(32);
const HV: HypervisorSpec = { uri: 'qemu:///system', storagePool: 'labpool' };
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBq7 alice@example';

function controllerLab(
  controller: Partial<MaasController> = {},
  over: { name?: string; networks?: MaasLab['spec']['networks']; macPrefix?: string | null } = {},
): MaasLab {
  const lab = recipeLab();
  const nodes = { ...lab.spec.nodes };
  if (over.macPrefix === null) delete nodes.macPrefix;
  else if (over.macPrefix !== undefined) nodes.macPrefix = over.macPrefix;
  return {
    ...lab,
    metadata: { ...lab.metadata, name: over.name ?? 'recipe' },
    spec: {
      ...lab.spec,
      networks: over.networks ?? [
        ...(lab.spec.networks ?? []),
        { name: 'up', mode: 'nat', ipv4: { address: '10.78.0.1', prefixLength: 24 } },
      ],
      nodes,
      maas: {
        controller: {
          image: { url: 'http://127.0.0.1:8080/img.qcow2', sha256: SHA },
          ...controller,
        },
      },
    },
  };
}

describe('controllers/maas controller desired state', () => {
  it("the schema's defaults are the issue's: 2 vCPUs, 4Gi, 40Gi, 3.7/stable", () => {
    const filled = Value.Default(MaasControllerSchema, {
      image: { volume: 'v' },
    }) as MaasController;
    expect(filled).to.deep.include({
      vcpus: 2,
      memory: '4Gi',
      diskSize: '40Gi',
      channel: '3.7/stable',
    });
    expect(ControllerDefaults).to.deep.include({ vcpus: 2, memory: '4Gi', diskSize: '40Gi' });
  });

  it('the schema takes url+sha256 or volume(+pool), and refuses a bad sha256 or channel', () => {
    const ok = (c: unknown): boolean => Value.Check(MaasControllerSchema, c);
    expect(ok({ image: { url: 'https://x.example/a.img', sha256: SHA } })).to.equal(true);
    expect(ok({ image: { volume: 'noble.qcow2', pool: 'images' } })).to.equal(true);
    expect(ok({ image: { url: 'https://x.example/a.img', sha256: 'AB'.repeat(32) } })).to.equal(
      false,
    );
    expect(ok({ image: { volume: 'v' }, channel: '3.7' })).to.equal(false);
    expect(ok({ image: { volume: 'v' }, sshAuthorizedKeys: ['not a key'] })).to.equal(false);
    expect(ok({ image: { volume: 'v' }, sshAuthorizedKeys: [KEY] })).to.equal(true);
  });

  it('plans with every default: .2 on the PXE subnet, 4 GiB, 40 GiB, MAAS at http://10.77.0.2:5240/MAAS', () => {
    const plan = controllerPlan(controllerLab(), HV)!;
    expect(plan).to.deep.include({
      domainName: 'maas.recipe-maas',
      hostname: 'recipe-maas',
      pool: 'labpool',
      overlayVolume: 'maas.recipe-maas-disk.qcow2',
      seedVolume: 'maas.recipe-maas-seed.iso',
      consoleLogName: 'maas.recipe-maas.console.log',
      vcpus: 2,
      memoryBytes: 4 * 1024 ** 3,
      diskBytes: 40 * 1024 ** 3,
      channel: '3.7/stable',
      address: '10.77.0.2',
      prefixLength: 24,
      pxeHostAddress: '10.77.0.1',
      pxeNetwork: 'maas.recipe-maas',
      maasUrl: 'http://10.77.0.2:5240/MAAS',
      adminSecretName: 'recipe-maas-admin',
      generateAdminSecret: true,
      apiKeySecretName: 'recipe-maas-api-key',
    });
    expect(plan.base).to.deep.equal({
      kind: 'download',
      pool: 'labpool',
      volume: `maaslab-base-${SHA}.qcow2`,
      url: 'http://127.0.0.1:8080/img.qcow2',
      sha256: SHA,
    });
  });

  it('the base volume is named after the sha256 alone: two labs with one image share it', () => {
    const a = controllerPlan(controllerLab({}, { name: 'a' }), HV)!;
    const b = controllerPlan(controllerLab({}, { name: 'b' }), HV)!;
    expect(a.base).to.deep.equal(b.base);
    expect(a.overlayVolume).to.not.equal(b.overlayVolume);
    expect(baseVolumeName(SHA.toUpperCase())).to.equal(`maaslab-base-${SHA}.qcow2`);
    const other = controllerPlan(
      controllerLab({ image: { url: 'http://h/i', sha256: 'cd'.repeat(32) } }),
      HV,
    )!;
    expect(other.base.volume).to.not.equal(a.base.volume);
  });

  it('an image volume is used as it is, from its pool or the Hypervisor pool', () => {
    expect(
      controllerPlan(controllerLab({ image: { volume: 'noble.qcow2', pool: 'img' } }), HV)!.base,
    ).to.deep.equal({
      kind: 'volume',
      pool: 'img',
      volume: 'noble.qcow2',
    });
    expect(
      controllerPlan(controllerLab({ image: { volume: 'noble.qcow2' } }), HV)!.base.pool,
    ).to.equal('labpool');
  });

  it('takes the spec: vcpus, memory, diskSize, channel, address, uplink, admin Secret, keys', () => {
    const plan = controllerPlan(
      controllerLab({
        vcpus: 4,
        memory: '8Gi',
        diskSize: 60 * 1024 ** 3,
        channel: '3.6/candidate',
        address: '10.77.0.250',
        uplink: 'up',
        adminSecretRef: { name: 'mine' },
        sshAuthorizedKeys: [KEY],
      }),
      HV,
    )!;
    expect(plan).to.deep.include({
      vcpus: 4,
      memoryBytes: 8 * 1024 ** 3,
      diskBytes: 60 * 1024 ** 3,
      channel: '3.6/candidate',
      address: '10.77.0.250',
      maasUrl: 'http://10.77.0.250:5240/MAAS',
      adminSecretName: 'mine',
      generateAdminSecret: false,
    });
    expect(plan.sshAuthorizedKeys).to.deep.equal([KEY]);
    expect(plan.uplink).to.deep.include({ network: 'maas.recipe-up', dns: '10.78.0.1' });
    expect(plan.uplink?.mac).to.match(/^52:54:00(:[0-9a-f]{2}){3}$/);
    expect(plan.uplink?.mac).to.not.equal(plan.pxeMac);
  });

  it("the PXE NIC takes the macPrefix's free :00 (nodes have :01..), else a derived MAC", () => {
    expect(controllerPlan(controllerLab(), HV)!.pxeMac).to.equal('52:54:00:7f:04:00');
    const derived = controllerPlan(controllerLab({}, { macPrefix: null }), HV)!.pxeMac;
    expect(derived).to.match(/^52:54:00(:[0-9a-f]{2}){3}$/);
    expect(controllerPlan(controllerLab({}, { macPrefix: null }), HV)!.pxeMac).to.equal(derived);
  });

  it('defaultControllerAddress is the .2 of the subnet, whatever the host address', () => {
    expect(defaultControllerAddress('10.77.0.1', 24)).to.equal('10.77.0.2');
    expect(defaultControllerAddress('192.168.5.129', 25)).to.equal('192.168.5.130');
    expect(defaultControllerAddress('172.16.3.1', 16)).to.equal('172.16.0.2');
  });

  it('refuses an address outside the subnet, the host, network or broadcast address, and the PXE network as uplink', () => {
    const reason = (c: Partial<MaasController>): string | undefined =>
      controllerProblem(controllerLab(c))?.reason;
    expect(controllerProblem(controllerLab())).to.equal(undefined);
    for (const address of ['10.77.1.2', '10.77.0.1', '10.77.0.0', '10.77.0.255']) {
      expect(reason({ address }), address).to.equal(ControllerMisdeclaredReason);
    }
    expect(controllerProblem(controllerLab({ address: '10.77.1.2' }))?.message).to.include(
      'outside',
    );
    expect(reason({ uplink: 'maas' })).to.equal(ControllerMisdeclaredReason);
    const noSubnet = controllerLab({}, { networks: [{ name: 'maas', mode: 'isolated' }] });
    expect(controllerProblem(noSubnet)?.reason).to.equal(NoPxeSubnetReason);
    expect(controllerPlan(noSubnet, HV)).to.equal(undefined);
    expect(controllerPlan(controllerLab({ address: '10.77.1.2' }), HV)).to.equal(undefined);
  });

  it("maasEndpoint of a controller lab: the controller's URL and the operator's API key Secret", () => {
    expect(maasEndpoint(controllerLab())).to.deep.equal({
      url: 'http://10.77.0.2:5240/MAAS',
      apiKeySecretRef: { name: 'recipe-maas-api-key', key: 'api-key' },
    });
    expect(maasEndpoint(controllerLab({ address: '10.77.0.9' }))?.url).to.equal(
      'http://10.77.0.9:5240/MAAS',
    );
  });

  it('the domain: boots its overlay, seed ISO on SCSI, PXE NIC then uplink, serial log, no VNC, stamped by the lab', () => {
    const lab = controllerLab({ uplink: 'up' });
    const plan = controllerPlan(lab, HV)!;
    const owner = controllerOwner(lab);
    expect(owner).to.deep.equal({
      kind: 'MaasLab',
      namespace: 'maas',
      name: 'recipe',
      uid: 'lab-uid',
    });
    const log = consoleLogPath('/var/lib/labpool/maas.recipe-maas-seed.iso', plan);
    expect(log).to.equal('/var/lib/labpool/maas.recipe-maas.console.log');
    const desc = controllerDomain(plan, owner, { kvm: false, consoleLogPath: log });
    expect(desc).to.deep.include({
      name: 'maas.recipe-maas',
      type: 'qemu',
      vcpus: 2,
      bootOrder: ['disk'],
    });
    expect(desc.vnc).to.equal(undefined);
    const xml = buildDomainXml(desc);
    expect(xml).to.include(
      '<log file="/var/lib/labpool/maas.recipe-maas.console.log" append="on"/>',
    );
    const parsed = parseDomainXml(xml);
    expect(parsed.disks.map((d) => [d.device, d.pool, d.volume, d.bus])).to.deep.equal([
      ['disk', 'labpool', 'maas.recipe-maas-disk.qcow2', 'virtio'],
      ['cdrom', 'labpool', 'maas.recipe-maas-seed.iso', 'scsi'],
    ]);
    expect(parsed.interfaces.map((i) => [i.network, i.mac])).to.deep.equal([
      ['maas.recipe-maas', '52:54:00:7f:04:00'],
      ['maas.recipe-up', plan.uplink!.mac],
    ]);
    expect(parsed.owner).to.deep.include(owner);
    expect(controllerDomain(plan, owner, { kvm: true, consoleLogPath: log }).type).to.equal('kvm');
  });

  describe('the seed the operator writes for it', () => {
    const admin = { username: 'admin', password: 'p4ss w0rd "quoted"' };
    const cases: Record<string, MaasLab> = {
      'no uplink: the PXE host is gateway and DNS': controllerLab(),
      'with uplink and keys': controllerLab({ uplink: 'up', sshAuthorizedKeys: [KEY] }),
    };
    for (const [name, lab] of Object.entries(cases)) {
      it(`${name}: buildControllerSeed takes it and \`cloud-init schema\` accepts the user-data`, function () {
        const plan = controllerPlan(lab, HV)!;
        const input = controllerSeedInput(plan, admin, controllerInstanceId(lab));
        expect(input.instanceId).to.equal('maaslab-lab-uid');
        expect(input.address).to.equal('10.77.0.2/24');
        if (plan.uplink) {
          expect(input).to.deep.include({ uplinkMac: plan.uplink.mac, dns: ['10.78.0.1'] });
          expect(input.gateway).to.equal(undefined);
        } else {
          expect(input).to.deep.include({ gateway: '10.77.0.1', dns: ['10.77.0.1'] });
        }
        const seed = buildControllerSeed(input);
        expect(seed.userData).to.include("MAASLAB_MAAS_URL='http://10.77.0.2:5240/MAAS'");
        expect(seed.userData).to.include("MAASLAB_CHANNEL='3.7/stable'");
        if (!existsSync('/usr/bin/cloud-init')) this.skip(); // cloud-init is not installed
        const dir = mkdtempSync(join(tmpdir(), 'maaslab-ctl-seed-'));
        try {
          const file = join(dir, 'user-data');
          writeFileSync(file, seed.userData);
          const r = spawnSync('/usr/bin/cloud-init', ['schema', '--config-file', file], {
            encoding: 'utf8',
          });
          expect(r.status, `${r.stdout}${r.stderr}`).to.equal(0);
          expect(r.stdout).to.match(/Valid (cloud-config|schema)/);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      });
    }
  });
});
