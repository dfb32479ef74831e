// What the MaasLab controller remembers between passes, on its own.
import { expect } from 'chai';
import type { MaasLab } from '../../../../src/api/v1alpha1/index.js';
import { createLabMemory } from '../../../../src/controllers/maas-lab/memory.js';

describe('controllers/maas-lab memory', () => {
  const lab = (uid: string, name = 'lab'): MaasLab =>
    ({ metadata: { name, namespace: 'maas', uid } }) as MaasLab;

  it('remembers the last status write per lab, and nothing for another lab', () => {
    const memory = createLabMemory();
    expect(memory.lastStatusWrite(lab('u1'))).to.equal(undefined);
    memory.statusWritten(lab('u1'), 1_000);
    memory.statusWritten(lab('u1'), 2_000);
    expect(memory.lastStatusWrite(lab('u1'))).to.equal(2_000);
    expect(memory.lastStatusWrite(lab('u2', 'other'))).to.equal(undefined);
    expect(memory.size()).to.equal(1);
  });

  it('a lab recreated under the same name (new UID) starts clean', () => {
    const memory = createLabMemory();
    memory.statusWritten(lab('u1'), 1_000);
    expect(memory.lastStatusWrite(lab('u2'))).to.equal(undefined);
    memory.statusWritten(lab('u2'), 3_000);
    expect(memory.lastStatusWrite(lab('u2'))).to.equal(3_000);
    expect(memory.size()).to.equal(1);
  });

  it('forgets a lab that is gone, by its key', () => {
    const memory = createLabMemory();
    memory.statusWritten(lab('u1'), 1_000);
    memory.statusWritten(lab('u9', 'other'), 1_000);
    memory.forget('maas/lab');
    expect(memory.lastStatusWrite(lab('u1'))).to.equal(undefined);
    expect(memory.size()).to.equal(1);
  });
});
