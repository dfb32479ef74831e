#!/usr/bin/env node
// kubectl-maaslab: the plugin's entry point. kubectl runs it for `kubectl maaslab ...` when
// it is on the PATH; everything but argv, the streams, the clock and exit is in program.ts.

import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from './api.js';
import { type StreamDeps, processStreamDeps } from './console-verbs.js';
import { startPortForward } from './endpoint.js';
import { run } from './program.js';
import { openNodeStream } from './stream-client.js';

let streams: StreamDeps | undefined;
/** Made on first use: only `console` and `vnc` take over SIGINT and SIGTERM. */
const streamDeps = (): StreamDeps => {
  if (streams) return streams;
  const stop = new AbortController();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => stop.abort());
  streams = processStreamDeps(openNodeStream, startPortForward, stop.signal);
  return streams;
};

const code = await run(process.argv.slice(2), {
  connect,
  stdout: (s) => void process.stdout.write(s),
  stderr: (s) => void process.stderr.write(s),
  now: () => new Date(),
  sleep: (ms) => sleep(ms),
  stderrTty: process.stderr.isTTY === true,
  ...(process.stderr.columns ? { stderrColumns: process.stderr.columns } : {}),
  streams: streamDeps,
});
process.exitCode = code;
