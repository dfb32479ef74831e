// Adds up the results files the mocha reporter wrote and prints the closing lines: a count per
// suite, the total, then every failure and skip by name and file, so that the tail of a CI
// log says what failed whichever suite printed first.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const [dir, ...expected] = process.argv.slice(2);
const total = { passed: 0, failed: 0, skipped: 0 };
const present = new Set(readdirSync(dir));
const named = [];
const where = (file) => (file ? ` (${relative(process.cwd(), file)})` : '');
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
  for (const f of r.failures ?? []) {
    const error = f.error.replace(/\n/g, '\n      ');
    named.push(`  ${suite}: FAILED ${f.title}${where(f.file)}\n      ${error}`);
  }
  for (const s of r.skips ?? []) named.push(`  ${suite}: skipped ${s.title}${where(s.file)}`);
}
console.log(`tests: ${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
if (named.length) console.log(named.join('\n'));
