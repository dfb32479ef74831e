// Mocha's spec reporter, plus a results file for hack/test-summary.mjs, which prints one
// "N passed, N failed, N skipped" line over every suite that ran, and under it each failure
// and skip by name: CI keeps only the tail of a run's output, and the integration suites print
// one after the other, so a failure in the first would otherwise be out of sight.
'use strict';
const fs = require('node:fs');
const Mocha = require('mocha');

const { EVENT_RUN_END, EVENT_TEST_FAIL, EVENT_TEST_PENDING } = Mocha.Runner.constants;

/** The first lines of an error's message: enough to tell one failure from another. */
function firstLines(err, lines = 6) {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n').slice(0, lines).join('\n').slice(0, 1500);
}

class SpecWithResults extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    const failures = [];
    const skips = [];
    runner.on(EVENT_TEST_FAIL, (test, err) => {
      failures.push({ title: test.fullTitle(), file: test.file, error: firstLines(err) });
    });
    runner.on(EVENT_TEST_PENDING, (test) => {
      skips.push({ title: test.fullTitle(), file: test.file });
    });
    runner.once(EVENT_RUN_END, () => {
      const file = process.env.MAASLAB_RESULTS;
      if (!file) return;
      const { passes, failures: failed, pending } = this.stats;
      fs.writeFileSync(
        file,
        JSON.stringify({ passed: passes, failed, skipped: pending, failures, skips }),
      );
    });
  }
}
module.exports = SpecWithResults;
