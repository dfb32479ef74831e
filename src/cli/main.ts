#!/usr/bin/env node
// maaslab-operator: the process entry point. Parsing lives in options.ts and the wiring in
// operator.ts; this file only connects them to argv, the environment and process signals.

import { readFileSync } from 'node:fs';
import { SERVICE_ACCOUNT_NAMESPACE_FILE, createProgram } from './options.js';
import { runOperator } from './operator.js';

/** The service account's namespace, when running in a pod. */
function serviceAccountNamespace(): string | undefined {
  try {
    return readFileSync(SERVICE_ACCOUNT_NAMESPACE_FILE, 'utf8');
  } catch {
    return undefined;
  }
}

const program = createProgram(
  {
    serviceAccountNamespace: serviceAccountNamespace(),
    ...(process.env.NODE_NAME && { nodeName: process.env.NODE_NAME }),
  },
  async (options) => {
    const stop = new AbortController();
    // The first signal starts an orderly shutdown; a second one means "now".
    const onSignal = (sig: NodeJS.Signals): void => {
      if (stop.signal.aborted) process.exit(130);
      process.stderr.write(`received ${sig}, shutting down\n`);
      stop.abort();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    await runOperator(options, stop.signal);
  },
);

try {
  await program.parseAsync(process.argv);
  process.exit(0);
} catch (err) {
  // A startup failure (bad kubeconfig, port in use) is the user's to fix: the message and
  // its causes say what; the stack only helps us, so it is kept for MAASLAB_DEBUG.
  const why = (e: unknown): string =>
    e instanceof Error ? e.message + (e.cause === undefined ? '' : `: ${why(e.cause)}`) : String(e);
  const stack = process.env.MAASLAB_DEBUG && err instanceof Error ? `\n${err.stack}` : '';
  process.stderr.write(`maaslab-operator: ${why(err)}${stack}\n`);
  process.exit(1);
}
