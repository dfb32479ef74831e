// Holding a lab's MAAS controller VM, the pure part: who else is acting on the lab, when the
// lab's controller has acknowledged a capture's hold, and who holds the controller VM in a
// pass of the MaasLab controller.
import { expect } from 'chai';
import {
  HeldReason,
  heldMessage,
  HoldAnnotation,
  type MaasLab,
} from '../../../../src/api/v1alpha1/index.js';
import {
  controllerHoldOf,
  labBusyWith,
  labHoldAcknowledged,
} from '../../../../src/controllers/maas-lab-snapshot/hold.js';
import { heldController } from '../../../../src/controllers/maas/controller-vm.js';
import { recipeLab } from '../fixtures.js';
import { withController } from './support.js';

const held = (lab: MaasLab, holder: string): MaasLab => ({
  ...lab,
  metadata: { ...lab.metadata, annotations: { [HoldAnnotation]: holder } },
});
const restoring = (lab: MaasLab, token: string, phase: string): MaasLab => ({
  ...lab,
  spec: { ...lab.spec, restoreFrom: { snapshot: 's', token } },
  status: { ...lab.status, restore: { snapshot: 's', token, phase } as never },
});
const acked = (lab: MaasLab, status: 'True' | 'False', reason: string, message: string) => ({
  ...lab,
  status: {
    conditions: [
      {
        type: 'ControllerReady',
        status,
        reason,
        message,
        lastTransitionTime: '2026-01-01T00:00:00Z',
      },
    ],
  },
});

describe('controllers/maas-lab-snapshot/hold (the lab and its controller VM)', () => {
  const lab = withController(recipeLab());
  const me = 'MaasLabSnapshot/golden';

  it("says who else acts on the lab: another holder's annotation, or a restore under way", () => {
    expect(labBusyWith(lab, me)).to.equal(undefined);
    expect(labBusyWith(held(lab, me), me)).to.equal(undefined);
    expect(labBusyWith(held(lab, 'MaasLabSnapshot/other'), me)).to.equal('MaasLabSnapshot/other');
    for (const phase of ['Holding', 'Stopping', 'Restoring', 'Starting']) {
      expect(labBusyWith(restoring(lab, 't', phase), me), phase).to.equal(
        'MaasLab/recipe/restore/t',
      );
      // The restore itself is not busy with itself.
      expect(labBusyWith(restoring(lab, 't', phase), 'MaasLab/recipe/restore/t')).to.equal(
        undefined,
      );
    }
    for (const phase of ['Pending', 'Completed', 'Refused']) {
      expect(labBusyWith(restoring(lab, 't', phase), me), phase).to.equal(undefined);
    }
    // A status of an older token than the spec asks for: that restore is over.
    const old = restoring(lab, 't', 'Restoring');
    old.spec.restoreFrom = { snapshot: 's', token: 'newer' };
    expect(labBusyWith(old, me)).to.equal(undefined);
  });

  it("takes only ControllerReady False, Held, with this holder's message as the acknowledgement", () => {
    expect(labHoldAcknowledged(lab, me)).to.equal(false);
    expect(labHoldAcknowledged(acked(lab, 'False', HeldReason, heldMessage(me)), me)).to.equal(
      true,
    );
    expect(
      labHoldAcknowledged(acked(lab, 'False', HeldReason, heldMessage('MaasLabSnapshot/x')), me),
    ).to.equal(false);
    expect(labHoldAcknowledged(acked(lab, 'True', 'Running', 'runs'), me)).to.equal(false);
  });

  it("holds the controller VM for a capture's annotation, else for the lab's own restore", () => {
    expect(controllerHoldOf(lab, undefined)).to.equal(undefined);
    expect(controllerHoldOf(held(lab, me), undefined)).to.equal(me);
    expect(controllerHoldOf(lab, 'MaasLab/recipe/restore/t')).to.equal('MaasLab/recipe/restore/t');
    // A lab without a controller VM has nothing to hold.
    expect(controllerHoldOf(held(recipeLab(), me), 'x')).to.equal(undefined);
  });

  it('reports a held controller VM as ControllerReady False, Held, keeping its last status', () => {
    const l: MaasLab = {
      ...lab,
      status: { maas: { controller: { domain: 'maas.recipe-maas', address: '10.77.0.2' } } },
    };
    const f = heldController(l, me);
    expect(f.condition).to.deep.equal({
      type: 'ControllerReady',
      status: 'False',
      reason: HeldReason,
      message: heldMessage(me),
    });
    expect(f.status).to.deep.equal({ domain: 'maas.recipe-maas', address: '10.77.0.2' });
    expect(f.apiKeyReady).to.equal(false);
    expect(f.requeueAfterMs).to.equal(0);
  });
});
