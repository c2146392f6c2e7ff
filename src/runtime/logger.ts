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

const pad2 = (n: number): string => (n < 10 ? `0${n}` : String(n));

/**
 * The time of a log line as pino's `isoTime` writes it (`,"time":"2026-11-29T20:33:28.123Z"`), from
 * the UTC getters instead of `Date.prototype.toISOString`. V8's toISOString looks up the local time
 * zone and its display names through ICU: ~0.8 MB of ICU code and data made resident in the idle
 * sidecar, which needs no time zone otherwise (see the commit). The UTC getters read no time zone.
 */
export function isoTime(now = Date.now()): string {
  const d = new Date(now);
  const ms = d.getUTCMilliseconds();
  return `,"time":"${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}T${pad2(
    d.getUTCHours(),
  )}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}.${ms < 10 ? '00' : ms < 100 ? '0' : ''}${ms}Z"`;
}

/** Creates a redacting pino logger. */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const redactor = opts.redactor ?? (() => NO_SECRETS);
  return pino(
    {
      level: opts.level ?? 'info',
      name: opts.name,
      base: { pid: process.pid },
      timestamp: () => isoTime(),
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
