/**
 * `mailroom sidecar` (the sender beside an app) and `mailroom deliveries` (its delivery log).
 *
 * In a pod: `mailroom sidecar --config /etc/mailroom/config.json` (the mounted rendered config).
 * Elsewhere: `mailroom sidecar --uri-file smtp.uri --from no-reply@example.com` (or `--uri`, or
 * `MAILROOM_SMTP_URI`; a file or the environment keeps the password out of `ps`).
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { parseDuration } from '../api/duration.ts';
import { startHttpServer } from '../runtime/health.ts';
import { createLogger } from '../runtime/logger.ts';
import { NO_SECRETS } from '../runtime/redact.ts';
import { onShutdown } from '../runtime/shutdown.ts';
import { type ActiveConfig, ConfigError, configFromFlags, type FlagConfig } from '../sidecar/config.ts';
import { DEFAULT_MAX_QUEUE_BYTES } from '../sidecar/limits.ts';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../sidecar/message.ts';
import { type ConfigSource, type Listen, type Sidecar, startSidecar } from '../sidecar/sidecar.ts';
import { MESSAGE_STATES, type MessageState } from '../sidecar/types.ts';
import { DeliveriesApiError, runDeliveries } from './deliveries.ts';

/** Parses `host:port` (`[::1]:1025` for IPv6). */
export function parseListen(text: string): Listen {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text);
  const port = Number(m?.[3]);
  if (!m || port > 65535)
    throw new InvalidArgumentError(`expected host:port (e.g. 127.0.0.1:1025), got "${text}"`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

/** Parses a size: `10485760`, `512KB`, `10MB`. */
export function parseSize(text: string): number {
  const m = /^(\d+)\s*(B|KB|KiB|MB|MiB|GB|GiB)?$/i.exec(text.trim());
  if (!m) throw new InvalidArgumentError(`expected a size such as 10MB, 512KB or 1GB, got "${text}"`);
  const unit = (m[2] ?? 'B').toUpperCase();
  const mult = unit.startsWith('K')
    ? 1024
    : unit.startsWith('M')
      ? 1024 ** 2
      : unit.startsWith('G')
        ? 1024 ** 3
        : 1;
  return Number(m[1]) * mult;
}

const duration = (text: string): number => {
  const ms = parseDuration(text);
  if (ms === undefined)
    throw new InvalidArgumentError(`expected a duration such as 30s, 5m or 1h, got "${text}"`);
  return ms;
};

const positiveInt = (text: string): number => {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1)
    throw new InvalidArgumentError(`expected a positive integer, got "${text}"`);
  return n;
};

const header = (text: string, prev: Record<string, string> = {}): Record<string, string> => {
  const colon = text.indexOf(':');
  if (colon <= 0) throw new InvalidArgumentError(`expected "Name: value", got "${text}"`);
  return { ...prev, [text.slice(0, colon).trim()]: text.slice(colon + 1).trim() };
};

interface SidecarFlags {
  config?: string;
  uri?: string;
  uriFile?: string;
  from?: string;
  fromName?: string;
  caFile?: string;
  localName?: string;
  header?: Record<string, string>;
  maxAttempts?: number;
  maxBackoff?: number;
  rate?: number;
  dataDir: string;
  smtpListen: Listen;
  httpListen: Listen;
  metricsListen?: string;
  maxMessageSize: number;
  smtpAuth?: string;
  maxConnections?: number;
  maxInFlight?: number;
  retryBase?: number;
  retention?: number;
  maxInFlightBytes?: number;
  maxQueueBytes?: number;
  sendTimeout?: number;
  httpToken?: string;
  logLevel: string;
}

/** Turns the flags into a config source; throws a usage error message when they do not add up. */
export function configSource(f: SidecarFlags, env: NodeJS.ProcessEnv = process.env): ConfigSource {
  const uriGiven = f.uri ?? env.MAILROOM_SMTP_URI;
  if (f.config) {
    if (uriGiven || f.uriFile)
      throw new ConfigError('ConfigInvalid', '--config excludes --uri and --uri-file');
    return { kind: 'file', path: f.config };
  }
  if (!f.from) {
    throw new ConfigError(
      'ConfigNotFound',
      'no config: give --config PATH (the mounted rendered config), or --uri/--uri-file/MAILROOM_SMTP_URI with --from ADDRESS',
    );
  }
  const flags = (uri: string): FlagConfig => ({
    uri,
    from: f.from!,
    ...(f.fromName ? { fromName: f.fromName } : {}),
    ...(f.caFile ? { ca: readFileSync(f.caFile, 'utf8') } : {}),
    ...(f.localName ? { localName: f.localName } : {}),
    ...(f.header ? { headers: f.header } : {}),
    ...(f.maxAttempts ? { maxAttempts: f.maxAttempts } : {}),
    ...(f.maxBackoff ? { maxBackoffMs: f.maxBackoff } : {}),
    ...(f.rate !== undefined ? { ratePerSecond: f.rate } : {}),
  });
  if (f.uriFile) {
    // The URI file is followed like the rendered config: a rotated password is picked up without a restart.
    return {
      kind: 'file',
      path: f.uriFile,
      parse: (text: string, source: string): ActiveConfig => configFromFlags(flags(text.trim()), source),
    };
  }
  if (!uriGiven)
    throw new ConfigError('ConfigNotFound', '--from needs --uri, --uri-file or MAILROOM_SMTP_URI');
  return { kind: 'static', config: configFromFlags(flags(uriGiven), f.uri ? '--uri' : 'MAILROOM_SMTP_URI') };
}

/** Registers `mailroom sidecar` and `mailroom deliveries` on the program. */
export function registerSidecarCommands(program: Command): void {
  program
    .command('sidecar')
    .description(
      'Run the sidecar sender: SMTP and HTTP front doors on loopback, durable queue, delivery upstream',
    )
    .option(
      '--config <path>',
      'rendered config file (the mounted Secret, key config.json)',
      process.env.MAILROOM_CONFIG,
    )
    .option(
      '--uri <uri>',
      'SMTP URI, outside Kubernetes (prefer --uri-file or MAILROOM_SMTP_URI: argv is visible)',
    )
    .option('--uri-file <path>', 'file holding the SMTP URI (followed for changes)')
    .option('--from <address>', 'sender address (From and MAIL FROM)')
    .option('--from-name <name>', 'sender display name')
    .option('--ca-file <pem>', 'extra trusted CA certificates for the SMTP server')
    .option('--local-name <name>', 'EHLO name (default: the host name)')
    .option('--header <name:value>', 'header added to every message (repeatable)', header)
    .option('--max-attempts <n>', 'attempts before a message is abandoned (default 6)', positiveInt)
    .option('--max-backoff <duration>', 'longest wait between attempts (default 1h)', duration)
    .option('--rate <perSecond>', 'messages per second at most (default 0: no limit)', Number)
    .option('--data-dir <dir>', 'queue directory', process.env.MAILROOM_DATA_DIR ?? './mailroom-data')
    .option('--smtp-listen <host:port>', 'SMTP front door', parseListen, parseListen('127.0.0.1:1025'))
    .option(
      '--http-listen <host:port>',
      'HTTP API, health, metrics and delivery page',
      parseListen,
      parseListen('127.0.0.1:8025'),
    )
    .option(
      '--metrics-listen <host:port>',
      'also serve /metrics alone here, e.g. :9025 for Prometheus on the pod IP (the doors stay on loopback)',
      (v: string) => {
        parseListen(v);
        return v;
      },
    )
    .option(
      '--max-message-size <size>',
      'largest message accepted (e.g. 10MB)',
      parseSize,
      DEFAULT_MAX_MESSAGE_BYTES,
    )
    .addOption(
      new Option('--smtp-auth <user:pass>', 'require this login on the SMTP door').env('MAILROOM_SMTP_AUTH'),
    )
    .option('--max-connections <n>', 'upstream connections at most (default 4)', positiveInt)
    .option('--max-in-flight <n>', 'messages being delivered at once (default 32)', positiveInt)
    .option(
      '--retry-base <duration>',
      'first retry delay, doubling up to --max-backoff (default 5s)',
      duration,
    )
    .option(
      '--retention <duration>',
      'how long sent and abandoned messages stay in the log (default 168h)',
      duration,
    )
    .option(
      '--max-in-flight-bytes <size>',
      'memory for messages being accepted and sent (default: a third of the V8 heap limit)',
      parseSize,
    )
    .option(
      '--max-queue-bytes <size>',
      `quota of the queue on disk; new mail is refused beyond it (default ${DEFAULT_MAX_QUEUE_BYTES / 1024 ** 2}MiB)`,
      parseSize,
    )
    .option('--send-timeout <duration>', 'longest one delivery attempt may take (default 5m)', duration)
    .addOption(
      new Option('--http-token <token>', 'require Authorization: Bearer <token> on the HTTP API').env(
        'MAILROOM_HTTP_TOKEN',
      ),
    )
    .option('--log-level <level>', 'pino log level', process.env.LOG_LEVEL ?? 'info')
    .action(async (flags: SidecarFlags) => {
      // Every line is redacted of the secrets of the config in use (known once the sidecar runs).
      let running: Sidecar | undefined;
      const logger = createLogger({
        level: flags.logLevel,
        name: 'sidecar',
        redactor: () => running?.configState().current?.redactor ?? NO_SECRETS,
      });
      let source: ConfigSource;
      try {
        source = configSource(flags);
      } catch (err) {
        process.stderr.write(`mailroom sidecar: ${(err as Error).message}\n`);
        process.exitCode = 2;
        return;
      }
      const auth = flags.smtpAuth?.split(':');
      const sidecar = await startSidecar({
        dataDir: flags.dataDir,
        config: source,
        logger,
        smtpListen: flags.smtpListen,
        httpListen: flags.httpListen,
        maxMessageBytes: flags.maxMessageSize,
        ...(auth && auth.length >= 2 ? { smtpAuth: { user: auth[0]!, pass: auth.slice(1).join(':') } } : {}),
        ...(flags.maxConnections ? { maxConnections: flags.maxConnections } : {}),
        ...(flags.maxInFlight ? { maxInFlight: flags.maxInFlight } : {}),
        ...(flags.retryBase !== undefined ? { retryBaseMs: flags.retryBase } : {}),
        ...(flags.retention !== undefined ? { retentionMs: flags.retention } : {}),
        ...(flags.maxInFlightBytes ? { maxInFlightBytes: flags.maxInFlightBytes } : {}),
        ...(flags.maxQueueBytes ? { maxQueueBytes: flags.maxQueueBytes } : {}),
        ...(flags.sendTimeout ? { sendTimeoutMs: flags.sendTimeout } : {}),
        ...(flags.httpToken ? { httpToken: flags.httpToken } : {}),
      });
      running = sidecar;
      const metricsServer = flags.metricsListen
        ? await startHttpServer({
            listen: flags.metricsListen,
            registry: sidecar.registry,
            healthz: sidecar.checks.healthz,
            readyz: sidecar.checks.readyz,
            log: logger,
          })
        : undefined;
      if (metricsServer) logger.info({ url: `${metricsServer.url}/metrics` }, 'metrics listening');
      // SIGTERM/SIGINT: stop accepting, let deliveries under way finish, close the queue; a second
      // signal, or a cleanup past the kubelet's grace period, exits at once.
      onShutdown(
        async () => {
          await Promise.all([sidecar.stop(), metricsServer?.close()]);
          logger.flush();
        },
        { log: logger },
      );
    });

  program
    .command('deliveries')
    .description("Show the sidecar's delivery log: state, attempts and the server's replies")
    .addOption(new Option('--state <state>', 'only messages in this state').choices(MESSAGE_STATES))
    .option('--recipient <address>', 'only messages to this address')
    .option('--limit <n>', 'messages to show', positiveInt, 50)
    .option('-f, --follow', 'keep printing changes', false)
    .option('--json', 'one JSON object per line', false)
    .option('--api <url>', 'the sidecar HTTP API', process.env.MAILROOM_API_URL ?? 'http://127.0.0.1:8025')
    .addOption(
      new Option('--token <token>', "the sidecar's --http-token, when it has one").env('MAILROOM_HTTP_TOKEN'),
    )
    .action(
      async (o: {
        state?: MessageState;
        recipient?: string;
        limit: number;
        follow: boolean;
        json: boolean;
        api: string;
        token?: string;
      }) => {
        const ac = new AbortController();
        process.once('SIGINT', () => ac.abort());
        try {
          await runDeliveries({ ...o, intervalMs: 1000, signal: ac.signal }, (line) =>
            process.stdout.write(`${line}\n`),
          );
        } catch (err) {
          if (err instanceof DeliveriesApiError) {
            process.stderr.write(`mailroom deliveries: ${err.message}\n`);
            process.exitCode = 1;
            return;
          }
          throw err;
        }
      },
    );
}
