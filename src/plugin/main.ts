#!/usr/bin/env node
// kubectl-maaslab: the plugin's entry point. kubectl runs it for `kubectl maaslab ...` when
// it is on the PATH; everything but argv, the streams, the clock and exit is in program.ts.

import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from './api.js';
import { run } from './program.js';

const code = await run(process.argv.slice(2), {
  connect,
  stdout: (s) => void process.stdout.write(s),
  stderr: (s) => void process.stderr.write(s),
  now: () => new Date(),
  sleep: (ms) => sleep(ms),
  stderrTty: process.stderr.isTTY === true,
  ...(process.stderr.columns ? { stderrColumns: process.stderr.columns } : {}),
});
process.exitCode = code;
