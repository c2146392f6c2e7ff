/**
 * `mailroom sidecar` once its flags are read (by commander or by {@link parseSidecarArgs}): starts
 * the sender, the optional metrics listener, and the graceful shutdown on SIGTERM/SIGINT.
 *
 * In a pod: `mailroom sidecar --config /etc/mailroom/config.json` (the mounted rendered config).
 * Elsewhere: `mailroom sidecar --uri-file smtp.uri --from no-reply@example.com` (or `--uri`, or
 * `MAILROOM_SMTP_URI`; a file or the environment keeps the password out of `ps`).
 *
 * This module does not load commander (see sidecar-flags.ts): the injected sidecar starts without it.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { startHttpServer } from '../runtime/health.ts';
import { createLogger } from '../runtime/logger.ts';
import { NO_SECRETS } from '../runtime/redact.ts';
import { onShutdown } from '../runtime/shutdown.ts';
import { type ActiveConfig, ConfigError, configFromFlags, type FlagConfig } from '../sidecar/config.ts';
import { type ConfigSource, type Sidecar, startSidecar } from '../sidecar/sidecar.ts';
import { parseSidecarArgs, type SidecarFlags } from './sidecar-flags.ts';

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

/** Runs the sidecar with its flags read. */
export async function runSidecar(flags: SidecarFlags): Promise<void> {
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
}

/**
 * Runs `mailroom sidecar ARGS` when {@link parseSidecarArgs} can read ARGS; returns false (having
 * done nothing) when commander must read them, for help or for an error message.
 */
export async function runSidecarArgs(args: readonly string[]): Promise<boolean> {
  const flags = parseSidecarArgs(args);
  if (!flags) return false;
  await runSidecar(flags);
  return true;
}
