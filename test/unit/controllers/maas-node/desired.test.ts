import { expect } from 'chai';
import type { DomainState, HaltMode, RunStrategy } from '../../../../src/api/v1alpha1/index.js';
import { desiredChildren } from '../../../../src/controllers/maas-lab/desired.js';
import {
  DEFAULT_SHUTDOWN_TIMEOUT_MS,
  defaultMac,
  desiredDomain,
  desiredVolumes,
  domainNameFor,
  nodeOwner,
  NVRAM_DISK,
  nvramVolume,
  nvramVolumeName,
  powerAction,
  remainingShutdownMs,
  volumeNameFor,
  type NodeContext,
  type PowerAction,
  type PowerObservation,
} from '../../../../src/controllers/maas-node/desired.js';
import { diffDomain } from '../../../../src/controllers/maas-node/domain-diff.js';
import {
  buildDomainXml,
  buildVolumeXml,
  parseDomainXml,
  parseVolumeXml,
  type DomainDescription,
  type ParsedDomain,
} from '../../../../src/libvirt/xml/index.js';
import { justDefined } from '../../../../src/controllers/maas-node/normal.js';
import { node, recipeHypervisor, recipeLab } from '../fixtures.js';

const GiB = 1024 ** 3;
const ctx: NodeContext = { hypervisor: recipeHypervisor.spec, kvm: false };

/** The recipe lab's nodes as the API server would hand them back (uids set). */
function recipeNodes() {
  return desiredChildren(recipeLab()).nodes.map((n) => ({
    ...n,
    metadata: { ...n.metadata, uid: `${n.metadata?.name}-uid` },
  }));
}

describe('controllers/maas-node/desired', () => {
  describe('names and MACs', () => {
    it('domainNameFor: spec.domainName, else <namespace>.<name>', () => {
      expect(domainNameFor(node('n1'))).to.equal('maas.n1');
      expect(domainNameFor(node('n1', { domainName: 'node1' }))).to.equal('node1');
      expect(() => domainNameFor({ spec: { hypervisor: 'h' } })).to.throw(TypeError);
    });

    it('volumeNameFor: <domain>-<disk>.<format>', () => {
      expect(volumeNameFor('maas.n1', 'root')).to.equal('maas.n1-root.qcow2');
      expect(volumeNameFor('maas.n1', 'data', 'raw')).to.equal('maas.n1-data.raw');
    });

    it('nodeOwner needs namespace, name and uid', () => {
      expect(nodeOwner(node('n1'))).to.deep.equal({
        kind: 'MaasNode',
        namespace: 'maas',
        name: 'n1',
        uid: 'n1-uid',
      });
      expect(() => nodeOwner({ metadata: { name: 'x' }, spec: { hypervisor: 'h' } })).to.throw(
        TypeError,
      );
    });

    it('defaultMac is stable, unicast, under 52:54:00, and differs by input', () => {
      const mac = defaultMac('maas', 'n1', 0);
      expect(mac).to.match(/^52:54:00(:[0-9a-f]{2}){3}$/);
      expect(defaultMac('maas', 'n1', 0)).to.equal(mac);
      // Pinned: a derived MAC must never change between releases.
      expect(mac).to.equal('52:54:00:93:77:a6');
      const others = [
        defaultMac('maas', 'n1', 1),
        defaultMac('maas', 'n2', 0),
        defaultMac('other', 'n1', 0),
      ];
      expect(new Set([mac, ...others]).size).to.equal(4);
    });
  });

  describe('the recipe lab', () => {
    it('gives exactly MACs 52:54:00:7f:04:01..03', () => {
      const macs = recipeNodes().map((n) => desiredDomain(n, ctx).interfaces[0]?.mac);
      expect(macs).to.deep.equal(['52:54:00:7f:04:01', '52:54:00:7f:04:02', '52:54:00:7f:04:03']);
    });

    it('builds domain XML with 1 GiB, an 8 GiB qcow2 virtio disk, PXE first, VNC on 127.0.0.1', () => {
      const [first] = recipeNodes();
      const desired = desiredDomain(first!, ctx);
      const xml = buildDomainXml(desired);
      expect(xml).to.contain('<domain type="qemu">');
      expect(xml).to.contain('<name>maas.recipe-node1</name>');
      expect(xml).to.contain('<memory unit="KiB">1048576</memory>');
      expect(xml).to.contain('<vcpu placement="static">1</vcpu>');
      expect(xml).to.contain('<type arch="x86_64">hvm</type>');
      expect(xml).to.contain('<source pool="default" volume="maas.recipe-node1-root.qcow2"/>');
      expect(xml).to.contain('<target dev="vda" bus="virtio"/>');
      expect(xml).to.contain('<source network="maas.recipe-maas"/>');
      expect(xml).to.contain('<listen type="address" address="127.0.0.1"/>');
      const parsed = parseDomainXml(xml);
      expect(parsed.memoryBytes).to.equal(GiB);
      expect(parsed.bootOrder).to.deep.equal(['network', 'disk']);
      expect(parsed.owner).to.deep.equal({
        kind: 'MaasNode',
        namespace: 'maas',
        name: 'recipe-node1',
        uid: 'recipe-node1-uid',
      });
      // What we build, read back, is what we want: no churn on the next pass.
      expect(diffDomain(desired, parsed)).to.deep.equal({
        redefine: false,
        restartRequired: false,
        changes: [],
        pendingRestart: [],
      });
      const [volume] = desiredVolumes(first!, ctx);
      const vol = parseVolumeXml(buildVolumeXml(volume!));
      expect([vol.capacityBytes, vol.format, volume?.pool]).to.deep.equal([
        8 * GiB,
        'qcow2',
        'default',
      ]);
    });
  });

  describe('desiredDomain', () => {
    it('fills in CRD defaults for a bare node, with a derived MAC and kvm when available', () => {
      const d = desiredDomain(node('bare', { interfaces: [{ network: 'lan' }] }), {
        hypervisor: { uri: 'qemu:///system' },
        kvm: true,
      });
      expect(d).to.deep.include({
        name: 'maas.bare',
        type: 'kvm',
        memoryBytes: GiB,
        vcpus: 1,
        arch: 'x86_64',
        firmware: 'bios',
        // No disks: disk boot is dropped rather than rejected by libvirt.
        bootOrder: ['network'],
        disks: [],
        vnc: { listen: '127.0.0.1' },
      });
      expect(d.interfaces).to.deep.equal([
        { mac: defaultMac('maas', 'bare', 0), network: 'maas.lan', model: 'virtio' },
      ]);
    });

    it('honours every spec field', () => {
      const d = desiredDomain(
        node('full', {
          domainName: 'full-vm',
          vcpus: 4,
          memory: '1.5Gi',
          arch: 'aarch64',
          firmware: 'uefi',
          bootOrder: ['disk', 'network'],
          disks: [
            { name: 'root', size: '8Gi', bus: 'scsi', format: 'raw', pool: 'fast' },
            { name: 'data', size: 1e9 },
          ],
          interfaces: [
            { network: 'a', mac: '52:54:00:AA:BB:CC', model: 'e1000' },
            { network: 'b', model: 'rtl8139' },
          ],
          vnc: { enabled: false },
        }),
        ctx,
      );
      expect(d).to.deep.include({
        name: 'full-vm',
        memoryBytes: 1.5 * GiB,
        vcpus: 4,
        arch: 'aarch64',
        firmware: 'uefi',
        bootOrder: ['disk', 'network'],
      });
      expect(d.vnc).to.equal(undefined);
      expect(d.disks).to.deep.equal([
        { pool: 'fast', volume: 'full-vm-root.raw', format: 'raw', bus: 'scsi' },
        { pool: 'default', volume: 'full-vm-data.qcow2', format: 'qcow2', bus: 'virtio' },
      ]);
      expect(d.interfaces.map((n) => [n.mac, n.network, n.model])).to.deep.equal([
        ['52:54:00:aa:bb:cc', 'maas.a', 'e1000'],
        [defaultMac('maas', 'full', 1), 'maas.b', 'rtl8139'],
      ]);
      expect(d.nvram).to.deep.equal({ pool: 'default', volume: 'full-vm-VARS.fd' });
      expect(() => buildDomainXml(d, { nvramPath: '/pool/full-vm-VARS.fd' })).not.to.throw();
    });

    it('rounds decimal memory up to whole KiB, as libvirt would', () => {
      const d = desiredDomain(node('m', { memory: '1000M' }), ctx);
      expect(d.memoryBytes).to.equal(Math.ceil(1e9 / 1024) * 1024);
      expect(() => buildDomainXml(d)).not.to.throw();
    });

    it("uses the hypervisor's pool, or libvirt's default pool name", () => {
      const spec = { disks: [{ name: 'root', size: '1Gi' }] };
      const pool = (hv: NodeContext['hypervisor']) =>
        desiredDomain(node('p', spec), { hypervisor: hv, kvm: false }).disks[0]?.pool;
      expect(pool({ uri: 'test:///default', storagePool: 'labs' })).to.equal('labs');
      expect(pool({ uri: 'test:///default' })).to.equal('default');
    });

    it('a clone gets volumes copied from the source, and its own MACs', () => {
      const source = node('src', {
        disks: [{ name: 'root', size: '8Gi' }],
        interfaces: [{ network: 'lan' }],
      });
      const clone = node('copy', { cloneFrom: { name: 'src' }, interfaces: [{ network: 'lan' }] });
      const cloneCtx = { ...ctx, cloneSource: source };
      expect(desiredVolumes(clone, cloneCtx)).to.deep.equal([
        {
          name: 'maas.copy-root.qcow2',
          pool: 'default',
          capacityBytes: 8 * GiB,
          format: 'qcow2',
          diskName: 'root',
          deletionPolicy: 'Delete',
          cloneFrom: { pool: 'default', volume: 'maas.src-root.qcow2' },
        },
      ]);
      const d = desiredDomain(clone, cloneCtx);
      expect(d.disks.map((x) => x.volume)).to.deep.equal(['maas.copy-root.qcow2']);
      expect(d.interfaces[0]?.mac).to.not.equal(desiredDomain(source, ctx).interfaces[0]?.mac);
      expect(() => desiredVolumes(clone, ctx)).to.throw(TypeError);
    });

    it('desiredVolumes keeps Retain and raw', () => {
      const v = desiredVolumes(
        node('r', { disks: [{ name: 'd', size: '1Mi', format: 'raw', deletionPolicy: 'Retain' }] }),
        ctx,
      );
      expect(v).to.deep.equal([
        {
          name: 'maas.r-d.raw',
          pool: 'default',
          capacityBytes: 1024 ** 2,
          format: 'raw',
          diskName: 'd',
          deletionPolicy: 'Retain',
        },
      ]);
    });
  });

  describe('diffDomain', () => {
    const base: DomainDescription = desiredDomain(recipeNodes()[0]!, ctx);
    const stored = parseDomainXml(buildDomainXml(base));

    it('ignores what libvirt adds: machine expansion, controllers, video, uuid, addresses', () => {
      const expanded = buildDomainXml(base)
        .replace(
          '<type arch="x86_64">hvm</type>',
          '<type arch="x86_64" machine="pc-i440fx-7.2">hvm</type>',
        )
        .replace('<name>', '<uuid>5d3c1f0a-2b4e-4f6a-8c9d-0e1f2a3b4c5d</uuid><name>')
        .replace(
          '<serial',
          '<controller type="usb" index="0"/><video><model type="cirrus"/></video><memballoon model="virtio"/><serial',
        );
      expect(diffDomain({ ...base, machine: 'pc' }, parseDomainXml(expanded)).redefine).to.equal(
        false,
      );
      expect(diffDomain(base, parseDomainXml(expanded)).redefine).to.equal(false);
      expect(
        diffDomain({ ...base, machine: 'q35' }, parseDomainXml(expanded)).changes,
      ).to.deep.equal(['machine: "pc-i440fx-7.2" → "q35"']);
    });

    const changed: [string, Partial<DomainDescription>, string][] = [
      ['memory', { memoryBytes: 2 * GiB }, 'memory'],
      ['vcpus', { vcpus: 2 }, 'vcpus'],
      ['boot order', { bootOrder: ['disk', 'network'] }, 'bootOrder'],
      ['arch', { arch: 'aarch64' }, 'arch'],
      ['firmware', { firmware: 'uefi' }, 'firmware'],
      ['domain type', { type: 'kvm' }, 'type'],
      ['disk bus', { disks: [{ ...base.disks[0]!, bus: 'sata' }] }, 'disks'],
      ['an added disk', { disks: [...base.disks, { ...base.disks[0]!, volume: 'x' }] }, 'disks'],
      [
        'a MAC',
        { interfaces: [{ ...base.interfaces[0]!, mac: '52:54:00:00:00:01' }] },
        'interfaces',
      ],
      ['a NIC model', { interfaces: [{ ...base.interfaces[0]!, model: 'e1000' }] }, 'interfaces'],
      ['the NIC set', { interfaces: [], bootOrder: ['disk'] }, 'interfaces'],
      ['VNC off', { vnc: undefined }, 'vnc.listen'],
      ['a fixed VNC port', { vnc: { listen: '127.0.0.1', port: 5901 } }, 'vnc.port'],
      ['current memory', { currentMemoryBytes: GiB / 2 }, 'currentMemory'],
    ];
    for (const [name, patch, field] of changed) {
      it(`${name} needs a redefine, and a restart when running`, () => {
        const desired = { ...base, ...patch };
        const offline = diffDomain(desired, stored);
        expect(offline.redefine).to.equal(true);
        expect(offline.restartRequired).to.equal(false);
        expect(offline.changes.map((c) => c.split(':')[0])).to.include(field);
        const running = diffDomain(desired, stored, stored);
        if (field === 'currentMemory') {
          // The balloon moves current memory at run time; the live value is not compared.
          expect(running.restartRequired).to.equal(false);
        } else {
          expect(running.restartRequired).to.equal(true);
          expect(running.pendingRestart).to.not.be.empty;
        }
      });
    }

    it('keeps RestartRequired after the redefinition, until the domain restarts', () => {
      const desired = { ...base, memoryBytes: 2 * GiB };
      const redefined = parseDomainXml(buildDomainXml(desired));
      const liveOld: ParsedDomain = {
        ...stored,
        id: 7,
        vnc: { port: 5900, autoport: true, listen: '127.0.0.1' },
      };
      const d = diffDomain(desired, redefined, liveOld);
      expect(d).to.deep.include({ redefine: false, restartRequired: true });
      expect(d.pendingRestart).to.deep.equal([`memory: ${GiB} → ${2 * GiB}`]);
      // A live VNC port chosen by autoport is not a difference.
      expect(diffDomain(base, stored, liveOld).restartRequired).to.equal(false);
    });

    it('an x86 BIOS node gets the BIOS on its serial console; older domains are redefined, never restarted for it', () => {
      expect(base.serialBios).to.equal(true);
      expect(buildDomainXml(base)).to.include('<bios useserial="yes"/>');
      expect(
        desiredDomain(
          { ...recipeNodes()[0]!, spec: { ...recipeNodes()[0]!.spec, firmware: 'uefi' } },
          ctx,
        ).serialBios,
      ).to.equal(undefined);
      // A domain defined before the change: no <bios> element, running with it.
      const before = parseDomainXml(buildDomainXml({ ...base, serialBios: undefined }));
      expect(before.serialBios).to.equal(undefined);
      const d = diffDomain(base, before, { ...before, id: 3 });
      expect(d).to.deep.include({ redefine: true, restartRequired: false });
      expect(d.changes).to.deep.equal(['bios.useserial: false → true']);
      expect(d.pendingRestart).to.deep.equal([]);
      // Once redefined, nothing is left to do while it runs on with the old live definition.
      const after = diffDomain(base, stored, { ...before, id: 3 });
      expect(after).to.deep.include({ redefine: false, restartRequired: false });
    });

    describe('a UEFI node', () => {
      const recipe = recipeNodes()[0]!;
      const uefiNode = { ...recipe, spec: { ...recipe.spec, firmware: 'uefi' as const } };
      const uefi = desiredDomain(uefiNode, ctx);
      const path = '/var/lib/maaslab/pool/maas.recipe-node1-VARS.fd';

      it('names its NVRAM: <domain>-VARS.fd, raw, in the Hypervisor pool; a BIOS node has none', () => {
        expect(uefi.nvram).to.deep.equal({ pool: 'default', volume: 'maas.recipe-node1-VARS.fd' });
        expect(nvramVolumeName('lab.n')).to.equal('lab.n-VARS.fd');
        expect(nvramVolume(uefiNode, ctx)).to.deep.equal({
          name: 'maas.recipe-node1-VARS.fd',
          pool: 'default',
          capacityBytes: 0,
          format: 'raw',
          diskName: NVRAM_DISK,
          deletionPolicy: 'Delete',
          madeOutside: true,
        });
        expect(base.nvram).to.equal(undefined);
        expect(nvramVolume(recipe, ctx)).to.equal(undefined);
        // Never made through the storage API: libvirt copies the firmware's template.
        expect(desiredVolumes(uefiNode, ctx).map((v) => v.name)).to.not.include(
          'maas.recipe-node1-VARS.fd',
        );
      });

      it('sees no drift in its definition read back, expanded by libvirt at start', () => {
        const back = parseDomainXml(buildDomainXml(uefi, { nvramPath: path }));
        expect(diffDomain(uefi, back, back)).to.deep.include({
          redefine: false,
          restartRequired: false,
        });
        // Live XML: the loader and template filled in, no firmware attribute any more.
        const live = parseDomainXml(
          buildDomainXml(uefi, { nvramPath: path })
            .replace('<os firmware="efi">', '<os>')
            .replace(
              `<nvram>${path}</nvram>`,
              `<loader readonly="yes" type="pflash">/usr/share/OVMF/OVMF_CODE_4M.fd</loader><nvram template="/usr/share/OVMF/OVMF_VARS_4M.fd">${path}</nvram>`,
            ),
        );
        expect(diffDomain(uefi, back, { ...live, id: 4 }).restartRequired).to.equal(false);
      });

      it('a UEFI domain defined before (NVRAM outside the pool) is redefined, and restarted to use it', () => {
        const before = parseDomainXml(buildDomainXml({ ...uefi, nvram: undefined }));
        const d = diffDomain(uefi, before, { ...before, id: 3 });
        expect(d).to.deep.include({ redefine: true, restartRequired: true });
        expect(d.changes).to.deep.equal(['nvram: unset → "maas.recipe-node1-VARS.fd"']);
      });

      it('a BIOS node does not look at NVRAM: nothing changes for BIOS domains', () => {
        const odd: ParsedDomain = { ...stored, nvram: '/somewhere/else.fd' };
        expect(diffDomain(base, odd, { ...odd, id: 2 })).to.deep.include({
          redefine: false,
          restartRequired: false,
        });
      });
    });

    it('a cdrom added by hand is drift in our disks', () => {
      const withCdrom: ParsedDomain = {
        ...stored,
        disks: [...stored.disks, { device: 'cdrom', sourceType: 'file', path: '/x.iso' }],
      };
      expect(diffDomain(base, withCdrom).changes[0]).to.match(/^disks: /);
    });
  });

  describe('a node with a virtual BMC', () => {
    const withBmc = node('bmc-1', {
      disks: [{ name: 'root', size: '1Gi' }],
      interfaces: [{ network: 'maas' }],
      bootOrder: ['disk', 'network'],
      bmc: { type: 'ipmi', credentialsSecretRef: { name: 'creds' } },
    });

    it('has one empty SCSI CD-ROM drive; a node without a BMC has none', () => {
      expect(desiredDomain(withBmc, ctx).cdroms).to.deep.equal([{ bus: 'scsi' }]);
      const plain = node('plain-1', { disks: [{ name: 'root', size: '1Gi' }] });
      expect(desiredDomain(plain, ctx).cdroms).to.equal(undefined);
      const none = node('none-1', { bmc: { type: 'none' } });
      expect(desiredDomain(none, ctx).cdroms).to.equal(undefined);
    });

    it('boots the drive first under a Cd override, and the spec order otherwise', () => {
      expect(desiredDomain(withBmc, ctx).bootOrder).to.deep.equal(['disk', 'network']);
      const cd = {
        ...ctx,
        bootOverride: { target: 'Cd', enabled: 'Once', mode: 'Legacy' },
      } as const;
      expect(desiredDomain(withBmc, cd).bootOrder).to.deep.equal(['cdrom', 'disk', 'network']);
    });

    it('sees no drift in its own definition read back, with or without the override', () => {
      for (const c of [
        ctx,
        { ...ctx, bootOverride: { target: 'Cd', enabled: 'Continuous', mode: 'UEFI' } } as const,
      ]) {
        const desired = desiredDomain(withBmc, c);
        const stored = parseDomainXml(buildDomainXml(desired));
        expect(diffDomain(desired, stored).changes).to.deep.equal([]);
      }
    });

    it('an empty drive read back from a running domain (libvirt leaves its driver out) is no pending restart', () => {
      const desired = desiredDomain(withBmc, ctx);
      const xml = buildDomainXml(desired);
      const live = xml.replace(/(<disk[^>]*device="cdrom"[^>]*>[\s\S]*?)<driver[^>]*\/>/, '$1');
      expect(live).to.not.equal(xml);
      const diff = diffDomain(desired, parseDomainXml(xml), parseDomainXml(live), {
        liveBootOrder: false,
      });
      expect(diff.pendingRestart).to.deep.equal([]);
    });

    it('a disc put in the drive by hand is drift', () => {
      const desired = desiredDomain(withBmc, ctx);
      const withDisc = buildDomainXml({
        ...desired,
        cdroms: [{ bus: 'scsi', source: { pool: 'p', volume: 'x.iso' } }],
      });
      expect(diffDomain(desired, parseDomainXml(withDisc)).changes[0]).to.match(/^disks: /);
    });
  });

  describe('powerAction', () => {
    const at = (state: DomainState, extra: Partial<PowerObservation> = {}): PowerObservation => ({
      state,
      hasManagedSave: false,
      startedOnce: true,
      restartTokenChanged: false,
      now: 1_000_000,
      ...extra,
    });
    const states: DomainState[] = [
      'nostate',
      'running',
      'blocked',
      'paused',
      'shutdown',
      'shutoff',
      'crashed',
      'pmsuspended',
    ];
    // strategy, haltMode, then the action for each state in `states` order.
    const table: [RunStrategy, HaltMode, PowerAction[]][] = [
      ['Always', 'Shutdown', ['none', 'none', 'none', 'none', 'none', 'start', 'destroy', 'none']],
      [
        'Halted',
        'Shutdown',
        ['none', 'shutdown', 'shutdown', 'destroy', 'shutdown', 'none', 'destroy', 'destroy'],
      ],
      [
        'Halted',
        'Destroy',
        ['none', 'destroy', 'destroy', 'destroy', 'destroy', 'none', 'destroy', 'destroy'],
      ],
      [
        'Halted',
        'Save',
        [
          'none',
          'managedSave',
          'managedSave',
          'managedSave',
          'destroy',
          'none',
          'destroy',
          'destroy',
        ],
      ],
      ['Once', 'Shutdown', ['none', 'none', 'none', 'none', 'none', 'none', 'none', 'none']],
      ['Manual', 'Shutdown', ['none', 'none', 'none', 'none', 'none', 'none', 'none', 'none']],
    ];
    for (const [strategy, haltMode, actions] of table) {
      it(`${strategy}/${haltMode}: ${actions.join(' ')}`, () => {
        expect(states.map((s) => powerAction(strategy, haltMode, at(s)))).to.deep.equal(actions);
      });
    }

    it('halt mode does not matter unless Halted', () => {
      for (const strategy of ['Always', 'Once', 'Manual'] as const) {
        for (const state of states) {
          const actions = (['Shutdown', 'Destroy', 'Save'] as const).map((h) =>
            powerAction(strategy, h, at(state)),
          );
          expect(new Set(actions).size, `${strategy} ${state}`).to.equal(1);
        }
      }
    });

    const special: [string, RunStrategy, HaltMode, PowerObservation, PowerAction][] = [
      [
        'Always restores a saved domain',
        'Always',
        'Save',
        at('shutoff', { hasManagedSave: true }),
        'restore',
      ],
      [
        'Once starts a new domain',
        'Once',
        'Shutdown',
        at('shutoff', { startedOnce: false }),
        'start',
      ],
      [
        'Once restores a new saved domain',
        'Once',
        'Shutdown',
        at('shutoff', { startedOnce: false, hasManagedSave: true }),
        'restore',
      ],
      [
        'Always reboots on a new token',
        'Always',
        'Shutdown',
        at('running', { restartTokenChanged: true }),
        'reboot',
      ],
      [
        'Once reboots on a new token',
        'Once',
        'Shutdown',
        at('blocked', { restartTokenChanged: true }),
        'reboot',
      ],
      [
        'Manual reboots on a new token',
        'Manual',
        'Shutdown',
        at('running', { restartTokenChanged: true }),
        'reboot',
      ],
      [
        'no reboot of a stopped domain',
        'Manual',
        'Shutdown',
        at('shutoff', { restartTokenChanged: true }),
        'none',
      ],
      [
        'Halted ignores the token',
        'Halted',
        'Destroy',
        at('running', { restartTokenChanged: true }),
        'destroy',
      ],
      [
        'Shutdown waits within the grace period',
        'Halted',
        'Shutdown',
        at('running', { shutdownRequestedAt: 1_000_000 - 119_999 }),
        'none',
      ],
      [
        'Shutdown destroys after the grace period',
        'Halted',
        'Shutdown',
        at('running', { shutdownRequestedAt: 1_000_000 - DEFAULT_SHUTDOWN_TIMEOUT_MS }),
        'destroy',
      ],
      [
        'a custom grace period',
        'Halted',
        'Shutdown',
        at('shutdown', { shutdownRequestedAt: 999_000, shutdownTimeoutMs: 500 }),
        'destroy',
      ],
    ];
    for (const [name, strategy, haltMode, observation, action] of special) {
      it(`${name}: ${action}`, () => {
        expect(powerAction(strategy, haltMode, observation)).to.equal(action);
      });
    }

    it('remainingShutdownMs counts down to 0', () => {
      expect(remainingShutdownMs(at('running'))).to.equal(0);
      expect(
        remainingShutdownMs(at('running', { shutdownRequestedAt: 1_000_000 - 20_000 })),
      ).to.equal(100_000);
      expect(remainingShutdownMs(at('running', { shutdownRequestedAt: 0 }))).to.equal(0);
    });
  });
});

describe('controllers/maas-node/normal justDefined', () => {
  it('reads like the definition read back through the XML layer, and parses only when asked', () => {
    for (const spec of [{}, { firmware: 'uefi' as const }]) {
      const n = { ...recipeNodes()[0]!, spec: { ...recipeNodes()[0]!.spec, ...spec } };
      const desired = desiredDomain(n, ctx);
      const readBack = parseDomainXml(buildDomainXml({ ...desired, nvram: undefined }));
      const d = justDefined(desired);
      // Eager fields without a parse: the same as the read-back's.
      expect({ name: d.name, uuid: d.uuid, owner: d.owner }).to.deep.equal({
        name: readBack.name,
        uuid: readBack.uuid ?? '',
        owner: readBack.owner,
      });
      expect(d).to.deep.include({
        id: -1,
        state: 'shutoff',
        hasManagedSave: false,
        persistent: true,
      });
      const inactive = d.inactive;
      expect(inactive).to.deep.equal({
        ...readBack,
        ...(desired.nvram && { nvram: desired.nvram.volume }),
      });
      expect(d.inactive).to.equal(inactive); // parsed once
    }
  });
});
