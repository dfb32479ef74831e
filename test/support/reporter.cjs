// Mocha's spec reporter, plus a results file for hack/test-summary.mjs, which
// prints one "N passed, N failed, N skipped" line over every suite that ran.
'use strict';
const fs = require('node:fs');
const Mocha = require('mocha');

const { EVENT_RUN_END } = Mocha.Runner.constants;

class SpecWithResults extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once(EVENT_RUN_END, () => {
      const file = process.env.MAASLAB_RESULTS;
      if (!file) return;
      const { passes, failures, pending } = this.stats;
      fs.writeFileSync(
        file,
        JSON.stringify({ passed: passes, failed: failures, skipped: pending }),
      );
    });
  }
}
module.exports = SpecWithResults;
