import { expect } from 'chai';
import { consoleLines } from '../../support/serial-console.js';

describe('consoleLines (a serial log read as lines)', () => {
  it('removes CRs and terminal escapes, and keeps lines as written', () => {
    const log =
      '\u001b[0;32m  OK  \u001b[0m] Reached target network.target\r\n' +
      "[   37.218980] cloud-init[317]: Cloud-init v. 22.4.2 running 'init'\r\n" +
      'MAASLAB-STEP boot ok\r\n';
    expect(consoleLines(log)).to.deep.equal([
      '  OK  ] Reached target network.target',
      "[   37.218980] cloud-init[317]: Cloud-init v. 22.4.2 running 'init'",
      'MAASLAB-STEP boot ok',
      '',
    ]);
  });

  it('a kernel record inside a line becomes a line of its own, and the line it split is joined again', () => {
    const log =
      'MAASLAB-STEP seed-lo[   72.775676] cloud-init[443]: MAASLAB-STEP seed-loaded failed (exit 127)\r\n' +
      'aded failed (exit 127)\r\n';
    expect(consoleLines(log)).to.deep.equal([
      '[   72.775676] cloud-init[443]: MAASLAB-STEP seed-loaded failed (exit 127)',
      'MAASLAB-STEP seed-loaded failed (exit 127)',
      '',
    ]);
  });

  it('several records in a row inside one line: each on its own, the line whole after them', () => {
    const log =
      'MAAS[    1.000001] first\n[    1.000002] second\n[    1.000003] third\nLAB-STEP boot ok\n';
    expect(consoleLines(log)).to.deep.equal([
      '[    1.000001] first',
      '[    1.000002] second',
      '[    1.000003] third',
      'MAASLAB-STEP boot ok',
      '',
    ]);
  });

  it("getty's prompt, which ends without a newline, keeps what follows it on its line", () => {
    // As seen on the controller boot test's console: the prompt, then a kernel record.
    const log =
      "boot-maas login: [   71.659072] cloud-init[443]: running 'modules:final'\r\n" +
      'MAASLAB-STEP seed-loaded failed (exit 127)\r\n';
    expect(consoleLines(log)).to.deep.equal([
      "[   71.659072] cloud-init[443]: running 'modules:final'",
      'boot-maas login: MAASLAB-STEP seed-loaded failed (exit 127)',
      '',
    ]);
  });

  it('a line cut off by a record at the very end of the log is kept', () => {
    expect(consoleLines('MAASLAB-ST[    9.999999] late\n')).to.deep.equal([
      '[    9.999999] late',
      'MAASLAB-ST',
    ]);
  });

  it('text that only looks like a timestamp is not a record: brackets without six decimals', () => {
    expect(consoleLines('ci-info: | [1.5] | x |\nsee [ 12.34] here\n')).to.deep.equal([
      'ci-info: | [1.5] | x |',
      'see [ 12.34] here',
      '',
    ]);
  });
});
