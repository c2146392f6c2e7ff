/**
 * The process logger: pino JSON lines with credential redaction built in.
 *
 * Every record passes through {@link redactRecord} and every message string through
 * the redactor (URI passwords, and the secret values the process knows), so a URI that slips into a log call is printed as `smtp://user:***@host/`.
 *
 * @module
 */
import { type DestinationStream, type Logger, pino } from 'pino';
import { NO_SECRETS, type Redactor, redactError, redactRecord } from './redact.ts';

export type { Logger } from 'pino';

export interface LoggerOptions {
  /** pino level; default `info`, or `LOG_LEVEL` from the environment read by the caller. */
  level?: string;
  /** Component name added to each line (`controller`, `sidecar`, …). */
  name?: string;
  /** Where lines go; default stdout. Tests pass a stream to capture lines. */
  destination?: DestinationStream;
  /**
   * The secret values this process knows, removed from every line besides URI passwords. A getter,
   * because they change (the sidecar's password, with each config).
   */
  redactor?: () => Redactor;
}

/** Creates a redacting pino logger. */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const redactor = opts.redactor ?? (() => NO_SECRETS);
  return pino(
    {
      level: opts.level ?? 'info',
      name: opts.name,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      serializers: {
        err: (e: Error) => redactError(e, redactor()),
        error: (e: Error) => redactError(e, redactor()),
      },
      formatters: {
        level: (label) => ({ level: label }),
        log: (record) => redactRecord(record, redactor()),
      },
      hooks: {
        // Message strings and interpolation arguments are not seen by formatters.log.
        logMethod(args, method) {
          const r = redactor();
          const redacted = args.map((a) => (typeof a === 'string' ? r.text(a) : a)) as Parameters<
            typeof method
          >;
          method.apply(this, redacted);
        },
      },
    },
    opts.destination ?? pino.destination({ dest: 1, sync: false }),
  );
}
