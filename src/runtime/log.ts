// Log: the runtime's logger interface and its winston implementation.
// Runtime code depends on the small `Logger` interface so tests can capture lines; the
// fixed log keys (controller, kind, namespace, name, reconcileID) are defined here once.

import winston from 'winston';

/** Structured fields attached to a log line. */
export type LogMeta = Readonly<Record<string, unknown>>;

/** The logging surface the runtime uses (a subset of winston's). */
export interface Logger {
  /** A failure worth a human's attention. */
  error(message: string, meta?: LogMeta): void;
  /** Something odd that the runtime handled. */
  warn(message: string, meta?: LogMeta): void;
  /** A significant action. */
  info(message: string, meta?: LogMeta): void;
  /** Detail for debugging. */
  debug(message: string, meta?: LogMeta): void;
  /** A logger that adds `meta` to every line. */
  child(meta: LogMeta): Logger;
}

/** The fixed log keys: controllers never invent their own names for these. */
export const LogKey = {
  Controller: 'controller',
  Kind: 'kind',
  Namespace: 'namespace',
  Name: 'name',
  ReconcileID: 'reconcileID',
} as const;

/** Output format: JSON lines (default, for collectors) or human-readable text. */
export type LogFormat = 'json' | 'text';

/** Options for `createLogger`. */
export interface LoggerOptions {
  /** Lowest level written: error, warn, info or debug (default info). */
  readonly level?: string;
  /** json (default) or text. */
  readonly format?: LogFormat;
  /** Where lines go (default stderr, like controller-runtime). */
  readonly stream?: NodeJS.WritableStream;
}

/** Turns Error values in fields into plain objects, since JSON.stringify drops their message. */
const serializeErrors = winston.format((info) => {
  for (const [k, v] of Object.entries(info)) {
    if (v instanceof Error) info[k] = describeError(v);
  }
  return info;
});

/** A JSON-friendly description of an error, with its cause chain. */
export function describeError(err: unknown, depth = 0): unknown {
  if (!(err instanceof Error)) return String(err);
  const out: Record<string, unknown> = { name: err.name, message: err.message };
  if (err.cause !== undefined && depth < 5) out['cause'] = describeError(err.cause, depth + 1);
  return out;
}

const textLine = winston.format.printf((info) => {
  const { level, message, timestamp, ...rest } = info;
  const fields = Object.entries(rest)
    // Bare words stay bare (logfmt style); anything else is quoted JSON so lines stay parseable.
    .map(
      ([k, v]) => `${k}=${typeof v === 'string' && /^[\w./:@-]+$/.test(v) ? v : JSON.stringify(v)}`,
    )
    .join(' ');
  return `${String(timestamp)} ${level.toUpperCase()} ${String(message)}${fields ? ' ' + fields : ''}`;
});

/** Creates a winston logger writing JSON (default) or text. */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const transport = opts.stream
    ? new winston.transports.Stream({ stream: opts.stream })
    : new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'debug'] });
  const logger = winston.createLogger({
    level: opts.level ?? 'info',
    format: winston.format.combine(
      winston.format.timestamp(),
      serializeErrors(),
      opts.format === 'text' ? textLine : winston.format.json(),
    ),
    transports: [transport],
  });
  // Winston builds every call's record, merges a child's fields into it and pipes it through
  // its stream before the level drops it: every pass's two debug lines cost that at the
  // default level (2 % of the operator's main thread in the scale bench's perf profile). A
  // level below the logger's does nothing at all instead; children (Object.create of their
  // parent) inherit the no-op. The level is fixed at creation: nothing here changes it later.
  for (const level of ['error', 'warn', 'info', 'debug'] as const) {
    if (!logger.isLevelEnabled(level)) {
      Object.defineProperty(logger, level, { value: () => logger, configurable: true });
    }
  }
  return logger;
}

/** A logger that drops everything. */
export const noopLogger: Logger = {
  error: () => undefined,
  warn: () => undefined,
  info: () => undefined,
  debug: () => undefined,
  child: () => noopLogger,
};
