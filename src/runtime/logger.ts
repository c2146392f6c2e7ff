/**
 * The process logger: pino JSON lines with credential redaction built in.
 *
 * Every record passes through {@link redactRecord} and every message string through
 * {@link redactUris}, so a URI that slips into a log call is printed as `smtp://user:***@host/`.
 *
 * @module
 */
import { type DestinationStream, type Logger, pino } from 'pino';
import { redactError, redactRecord, redactUris } from './redact.ts';

export type { Logger } from 'pino';

export interface LoggerOptions {
  /** pino level; default `info`, or `LOG_LEVEL` from the environment read by the caller. */
  level?: string;
  /** Component name added to each line (`controller`, `sidecar`, …). */
  name?: string;
  /** Where lines go; default stdout. Tests pass a stream to capture lines. */
  destination?: DestinationStream;
}

/** Creates a redacting pino logger. */
export function createLogger(opts: LoggerOptions = {}): Logger {
  return pino(
    {
      level: opts.level ?? 'info',
      name: opts.name,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      serializers: { err: redactError, error: redactError },
      formatters: {
        level: (label) => ({ level: label }),
        log: (record) => redactRecord(record),
      },
      hooks: {
        // Message strings and interpolation arguments are not seen by formatters.log.
        logMethod(args, method) {
          const redacted = args.map((a) => (typeof a === 'string' ? redactUris(a) : a)) as Parameters<
            typeof method
          >;
          method.apply(this, redacted);
        },
      },
    },
    opts.destination ?? pino.destination({ dest: 1, sync: false }),
  );
}
