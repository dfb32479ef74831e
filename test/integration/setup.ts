// Mocha root hook plugin (required by .mocharc.integration.json): one control plane for
// the whole integration run, with crds/ applied, stopped when the run ends; and the choice
// between KVM and TCG for every private libvirtd of the run.
import { ensureCloudImage } from '../support/cloud-image.js';
import {
  setSharedControlPlane,
  startControlPlane,
  type ControlPlane,
} from '../support/controlplane.js';
import { applyCrds } from '../support/crds.js';
import { hostHasKvm, kvmBootsLinux, kvmHiddenByEnv } from '../support/libvirtd.js';

/**
 * KVM counts as usable where it runs guests, not only where /dev/kvm opens: some nested hosts
 * of ours start QEMU with KVM, then stop guests with "KVM internal error … emulation failure"
 * (a Linux kernel right after GRUB, and node guests at some point later, which show as
 * `paused (unknown)`). There the whole run hides /dev/kvm from its daemons, as
 * MAASLAB_LIBVIRTD_NO_KVM=1 does, and says so. Root only (the probe's image is built as root).
 */
async function chooseAccelerator(): Promise<void> {
  if (kvmHiddenByEnv() || process.getuid?.() !== 0 || !(await hostHasKvm())) return;
  const image = await ensureCloudImage();
  const probe = await kvmBootsLinux(image.path);
  if (probe.boots) {
    console.log(`  KVM: ${probe.why}; the private libvirtds offer KVM`);
    return;
  }
  process.env.MAASLAB_LIBVIRTD_NO_KVM = '1';
  console.log(
    `  KVM: /dev/kvm is here but ${probe.why}: this run uses TCG (MAASLAB_LIBVIRTD_NO_KVM=1)`,
  );
}

let cp: ControlPlane | undefined;

/** Mocha root hooks: see https://mochajs.org/#root-hook-plugins */
export const mochaHooks = {
  async beforeAll(this: Mocha.Context): Promise<void> {
    // A cold start plus CRD establishment can exceed the per-test timeout.
    this.timeout(300_000);
    await chooseAccelerator();
    cp = await startControlPlane();
    setSharedControlPlane(cp);
    // If this throws, mocha still runs afterAll, which stops the control plane.
    await applyCrds(cp);
  },
  async afterAll(this: Mocha.Context): Promise<void> {
    this.timeout(90_000);
    setSharedControlPlane(undefined);
    await cp?.stop();
    cp = undefined;
  },
};
