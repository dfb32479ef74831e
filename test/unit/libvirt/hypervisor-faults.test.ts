// The test-only fault hook (src/libvirt/hypervisor/faults.ts): it fails the creation of a
// matching volume, never a call that creates nothing, and follows its pattern per call.
import { expect } from 'chai';
import { InjectedFaultError, withInjectedFaults } from '../../../src/libvirt/hypervisor/index.js';
import { createFakeHypervisor } from '../../fakes/hypervisor.js';

describe('libvirt/hypervisor faults (test-only hook)', () => {
  it('fails creating a matching volume, lets existing ones and other verbs through', async () => {
    const hv = createFakeHypervisor();
    let pattern: RegExp | undefined = /node2/;
    const faulty = withInjectedFaults(hv, () => pattern);
    const vol = (name: string) => ({
      pool: 'default',
      name,
      capacityBytes: 1024,
      format: 'qcow2' as const,
    });
    await faulty.ensureVolumes([vol('node1.qcow2')]);
    let thrown: unknown;
    try {
      await faulty.ensureVolumes([vol('node2.qcow2')]);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).to.be.instanceOf(InjectedFaultError);
    expect(hv.volumes()).to.deep.equal(['default/node1.qcow2']);
    pattern = undefined;
    await faulty.ensureVolumes([vol('node2.qcow2')]);
    pattern = /node2/;
    // It exists now: ensuring it creates nothing, so nothing fails.
    const again = await faulty.ensureVolumes([vol('node2.qcow2')]);
    expect(again.changed).to.equal(false);
    expect(
      (await faulty.deleteVolumes([{ pool: 'default', name: 'node2.qcow2' }])).deleted,
    ).to.deep.equal(['node2.qcow2']);
  });
});
