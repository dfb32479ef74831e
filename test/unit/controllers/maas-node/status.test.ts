import { expect } from 'chai';
import type { MaasNodePrintableStatus } from '../../../../src/api/v1alpha1/index.js';
import {
  disksStatus,
  interfacesStatus,
  nodeConditions,
  powerFor,
  printableStatus,
  vncFor,
  type NodeObservation,
} from '../../../../src/controllers/maas-node/status.js';
import type { ParsedDomain } from '../../../../src/libvirt/xml/index.js';
import { node } from '../fixtures.js';

/** A healthy, running, converged node; each case changes what it is about. */
const running: NodeObservation = {
  deleting: false,
  hypervisorReachable: true,
  networksReady: true,
  volumesReady: true,
  domainDefined: true,
  state: 'running',
  hasManagedSave: false,
  wantsRunning: false,
  wantsStopped: false,
  pendingRestart: [],
};
const why = { reason: 'NameConflict', message: 'not ours' };

const parsed = (extra: Partial<ParsedDomain> = {}): ParsedDomain => ({
  type: 'qemu',
  name: 'maas.n1',
  memoryBytes: 1024 ** 3,
  vcpus: 1,
  firmware: 'bios',
  bootOrder: [],
  disks: [],
  interfaces: [],
  ...extra,
});

describe('controllers/maas-node/status', () => {
  describe('printableStatus: first match wins', () => {
    const cases: [string, Partial<NodeObservation>, MaasNodePrintableStatus][] = [
      [
        'deletion beats everything',
        { deleting: true, hypervisorReachable: false, stalled: why },
        'Terminating',
      ],
      [
        'unreachable beats stalled: never guess',
        { hypervisorReachable: false, stalled: why },
        'Unknown',
      ],
      ['stalled', { stalled: why, networksReady: false }, 'Failed'],
      [
        'waiting on networks before anything exists',
        { networksReady: false, domainDefined: false, state: undefined },
        'Pending',
      ],
      ['a network restarts under a defined domain', { networksReady: false }, 'Running'],
      ['no domain yet', { domainDefined: false, state: undefined }, 'Provisioning'],
      ['volumes missing', { volumesReady: false }, 'Provisioning'],
      ['start pending', { state: 'shutoff', wantsRunning: true }, 'Starting'],
      [
        'restore pending',
        { state: 'shutoff', hasManagedSave: true, wantsRunning: true },
        'Starting',
      ],
      ['crashed, start pending', { state: 'crashed', wantsRunning: true }, 'Starting'],
      ['running', {}, 'Running'],
      ['blocked is running', { state: 'blocked' }, 'Running'],
      ['shutting down is still running', { state: 'shutdown', wantsStopped: true }, 'Running'],
      ['paused', { state: 'paused', wantsRunning: true }, 'Paused'],
      ['pmsuspended', { state: 'pmsuspended' }, 'Paused'],
      ['saved', { state: 'shutoff', hasManagedSave: true }, 'Saved'],
      ['stopped', { state: 'shutoff' }, 'Stopped'],
      ['crashed and left', { state: 'crashed' }, 'Stopped'],
      ['nostate falls back', { state: 'nostate' }, 'Unknown'],
    ];
    for (const [name, patch, want] of cases) {
      it(`${name}: ${want}`, () => {
        expect(printableStatus({ ...running, ...patch })).to.equal(want);
      });
    }
  });

  describe('powerFor', () => {
    const cases: [string, string][] = [
      ['qemu+ssh://maas@host/system', 'qemu+ssh://maas@host/system'],
      ['qemu+unix:///system?socket=/x', 'qemu+unix:///system'],
      ['qemu+ssh://maas@host/system?keyfile=/k&no_verify=1', 'qemu+ssh://maas@host/system'],
      ['qemu:///system#frag', 'qemu:///system'],
      ['test:///default', 'test:///default'],
    ];
    for (const [uri, address] of cases) {
      it(`${uri} → ${address}`, () => {
        expect(powerFor(uri, 'maas.n1')).to.deep.equal({ type: 'virsh', address, id: 'maas.n1' });
      });
    }
  });

  describe('vncFor', () => {
    it('reports host, port and display from live XML', () => {
      const live = parsed({ vnc: { port: 5901, autoport: true, listen: '127.0.0.1' } });
      expect(vncFor(live, '0.0.0.0')).to.deep.equal({
        host: '127.0.0.1',
        port: 5901,
        display: '127.0.0.1:5901',
      });
    });
    it('falls back to the spec address, and omits an unassigned port', () => {
      expect(vncFor(parsed({ vnc: { autoport: true } }), '127.0.0.1')).to.deep.equal({
        host: '127.0.0.1',
      });
    });
    it('is undefined without VNC or without a domain', () => {
      expect(vncFor(parsed(), '127.0.0.1')).to.equal(undefined);
      expect(vncFor(undefined, '127.0.0.1')).to.equal(undefined);
    });
  });

  it('interfacesStatus matches NICs by MAC and reports the live bridge', () => {
    const n = node('n1', { interfaces: [{ network: 'lan', name: 'pxe' }, { network: 'wan' }] });
    const live = parsed({
      interfaces: [
        { type: 'network', mac: '52:54:00:00:00:01', network: 'maas.lan', bridge: 'virbr3' },
      ],
    });
    expect(interfacesStatus(n, ['52:54:00:00:00:01', '52:54:00:00:00:02'], live)).to.deep.equal([
      { name: 'pxe', network: 'lan', mac: '52:54:00:00:00:01', bridge: 'virbr3' },
      { network: 'wan' },
    ]);
    expect(interfacesStatus(node('n2'), [], undefined)).to.deep.equal([]);
  });

  it('disksStatus reports volume, path and capacity once the volume exists', () => {
    const volumes = [
      {
        name: 'maas.n1-root.qcow2',
        pool: 'default',
        capacityBytes: 8 * 1024 ** 3,
        format: 'qcow2' as const,
        diskName: 'root',
        deletionPolicy: 'Delete' as const,
      },
      {
        name: 'maas.n1-data.raw',
        pool: 'default',
        capacityBytes: 1024,
        format: 'raw' as const,
        diskName: 'data',
        deletionPolicy: 'Retain' as const,
      },
    ];
    const observed = new Map([
      [
        'maas.n1-root.qcow2',
        {
          name: 'maas.n1-root.qcow2',
          path: '/var/lib/libvirt/images/maas.n1-root.qcow2',
          capacityBytes: 8 * 1024 ** 3,
        },
      ],
    ]);
    expect(disksStatus(volumes, observed)).to.deep.equal([
      {
        name: 'root',
        volume: 'maas.n1-root.qcow2',
        path: '/var/lib/libvirt/images/maas.n1-root.qcow2',
        capacity: '8Gi',
      },
      { name: 'data', volume: 'maas.n1-data.raw' },
    ]);
  });

  describe('nodeConditions', () => {
    const summary = (o: Partial<NodeObservation>) => {
      const plan = nodeConditions({ ...running, ...o });
      return {
        set: Object.fromEntries(plan.set.map((c) => [c.type, `${c.status}/${c.reason}`])),
        remove: [...plan.remove].sort(),
      };
    };
    const cases: [string, Partial<NodeObservation>, Record<string, string>, string[]][] = [
      [
        'running and converged',
        {},
        { Ready: 'True/Reconciled' },
        ['Reconciling', 'RestartRequired', 'Stalled'],
      ],
      [
        'deleting',
        { deleting: true },
        { Ready: 'False/Deleting', Reconciling: 'True/Deleting' },
        ['RestartRequired', 'Stalled'],
      ],
      [
        'unreachable',
        { hypervisorReachable: false },
        { Ready: 'Unknown/HypervisorUnreachable', Reconciling: 'True/HypervisorUnreachable' },
        ['RestartRequired', 'Stalled'],
      ],
      [
        'stalled',
        { stalled: why },
        { Ready: 'False/NameConflict', Stalled: 'True/NameConflict' },
        ['Reconciling', 'RestartRequired'],
      ],
      [
        'libvirt error',
        { error: { reason: 'LibvirtError', message: 'boom' } },
        { Ready: 'False/LibvirtError', Reconciling: 'True/LibvirtError' },
        ['RestartRequired', 'Stalled'],
      ],
      [
        'networks not ready',
        { networksReady: false, networksNotReady: ['lan'] },
        { Ready: 'False/NetworkNotReady', Reconciling: 'True/NetworkNotReady' },
        ['RestartRequired', 'Stalled'],
      ],
      [
        'building',
        { domainDefined: false, state: undefined },
        { Ready: 'False/Progressing', Reconciling: 'True/Progressing' },
        ['RestartRequired', 'Stalled'],
      ],
      [
        'starting',
        { state: 'shutoff', wantsRunning: true },
        { Ready: 'False/Progressing', Reconciling: 'True/Progressing' },
        ['RestartRequired', 'Stalled'],
      ],
      [
        'halting',
        { wantsStopped: true },
        { Ready: 'False/Progressing', Reconciling: 'True/Progressing' },
        ['RestartRequired', 'Stalled'],
      ],
      [
        'halted on purpose: Ready, as declared',
        { state: 'shutoff' },
        { Ready: 'True/Halted' },
        ['Reconciling', 'RestartRequired', 'Stalled'],
      ],
      [
        'saved on purpose',
        { state: 'shutoff', hasManagedSave: true },
        { Ready: 'True/Halted' },
        ['Reconciling', 'RestartRequired', 'Stalled'],
      ],
      [
        'restart pending',
        { pendingRestart: ['memory: 1 → 2'] },
        { Ready: 'True/Reconciled', RestartRequired: 'True/RestartPending' },
        ['Reconciling', 'Stalled'],
      ],
      [
        'restart pending is moot when off',
        { state: 'shutoff', pendingRestart: ['memory: 1 → 2'] },
        { Ready: 'True/Halted' },
        ['Reconciling', 'RestartRequired', 'Stalled'],
      ],
    ];
    for (const [name, patch, set, remove] of cases) {
      it(name, () => {
        expect(summary(patch)).to.deep.equal({ set, remove });
      });
    }
    it('messages name the networks, the changes and the halted state', () => {
      const msg = (o: Partial<NodeObservation>, type: string) =>
        nodeConditions({ ...running, ...o }).set.find((c) => c.type === type)?.message;
      expect(msg({ networksReady: false, networksNotReady: ['a', 'b'] }, 'Ready')).to.equal(
        'waiting for networks to be Ready: a, b',
      );
      expect(msg({ networksReady: false }, 'Ready')).to.equal('waiting for networks to be Ready');
      expect(msg({ pendingRestart: ['x', 'y'] }, 'RestartRequired')).to.equal(
        'restart to apply: x; y',
      );
      expect(msg({ state: 'shutoff', hasManagedSave: true }, 'Ready')).to.equal(
        'the domain is saved',
      );
      expect(msg({ state: 'paused' }, 'Ready')).to.equal('the domain is paused');
      expect(msg({ wantsStopped: true }, 'Ready')).to.equal('halting the domain');
    });
  });
});
