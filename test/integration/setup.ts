// Mocha root hook plugin (required by .mocharc.integration.json): one control plane for
// the whole integration run, with crds/ applied, stopped when the run ends.
import {
  setSharedControlPlane,
  startControlPlane,
  type ControlPlane,
} from '../support/controlplane.js';
import { applyCrds } from '../support/crds.js';

let cp: ControlPlane | undefined;

/** Mocha root hooks: see https://mochajs.org/#root-hook-plugins */
export const mochaHooks = {
  async beforeAll(this: Mocha.Context): Promise<void> {
    // A cold start plus CRD establishment can exceed the per-test timeout.
    this.timeout(300_000);
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
