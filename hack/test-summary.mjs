// Adds up the results files the mocha reporter wrote and prints the closing line.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const [dir, ...expected] = process.argv.slice(2);
const total = { passed: 0, failed: 0, skipped: 0 };
const present = new Set(readdirSync(dir));
for (const suite of expected) {
  if (!present.has(`${suite}.json`)) {
    // A suite that crashed before its reporter finished counts as one failure.
    console.log(`${suite}: did not report results`);
    total.failed += 1;
    continue;
  }
  const r = JSON.parse(readFileSync(join(dir, `${suite}.json`), 'utf8'));
  console.log(`${suite}: ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped`);
  for (const k of Object.keys(total)) total[k] += r[k];
}
console.log(`tests: ${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
