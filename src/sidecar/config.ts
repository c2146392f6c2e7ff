/**
 * The sidecar's config: the rendered config the controller publishes (a mounted Secret file), or one
 * built from command-line flags outside Kubernetes. Either way it is validated whole before use, and
 * a new version replaces the old one whole: there is never a half-applied config.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { API_VERSION, RESERVED_HEADERS } from '../api/emailsender.ts';
import {
  configRevision,
  RENDERED_CONFIG_KIND,
  type RenderedConfig,
  renderedConfigSchema,
} from '../api/rendered-config.ts';
import { loadPrivateKey } from '../deliverability/dkim-key.ts';
import { Redactor, redactUris } from '../runtime/redact.ts';
import { parsePemBundle } from '../smtp/trust.ts';
import {
  InvalidUriError,
  parseSmtpUri,
  type SmtpEndpoint,
  type UriWarning,
  uriSecrets,
} from '../smtp/uri.ts';

/** A validated config, ready to deliver with. */
export interface ActiveConfig {
  config: RenderedConfig;
  endpoint: SmtpEndpoint;
  warnings: UriWarning[];
  /** Removes this config's secrets (password, DKIM key) from what the sidecar writes. */
  redactor: Redactor;
  /** Where it came from: a file path or `flags`. */
  source: string;
  loadedAt: Date;
}

/** Why a config was refused. The message never holds the URI's password. */
export class ConfigError extends Error {
  readonly reason: 'ConfigNotFound' | 'ConfigInvalid';
  constructor(reason: ConfigError['reason'], message: string, opts?: { cause?: unknown }) {
    super(redactUris(message), opts);
    this.name = 'ConfigError';
    this.reason = reason;
  }
}

/** Defaults of `spec.delivery`, for configs built from flags. */
export const DEFAULT_DELIVERY = { maxAttempts: 6, maxBackoffMs: 3_600_000, ratePerSecond: 0 } as const;

/**
 * Validates a rendered config object (the parsed `config.json`) into an {@link ActiveConfig}.
 * Beyond the schema it parses the URI and the CA bundle, and re-checks the headers, because the
 * sidecar must not trust that every writer of the file ran the controller's validation.
 */
export function activate(raw: unknown, source: string): ActiveConfig {
  const r = renderedConfigSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const at = issue.path.map(String).join('.');
    throw new ConfigError('ConfigInvalid', `${source}: ${at ? `${at}: ` : ''}${issue.message}`);
  }
  const config = r.data;
  let parsed: ReturnType<typeof parseSmtpUri>;
  try {
    parsed = parseSmtpUri(config.smtp.uri);
  } catch (err) {
    if (err instanceof InvalidUriError)
      throw new ConfigError('ConfigInvalid', `${source}: smtp.uri: ${err.message}`);
    throw err;
  }
  if (config.smtp.ca) {
    try {
      parsePemBundle(config.smtp.ca, 'smtp.ca');
    } catch (err) {
      throw new ConfigError('ConfigInvalid', `${source}: ${(err as Error).message}`);
    }
  }
  if (config.dkim) {
    // Refused here, not per message at send time: nodemailer signs RSA keys only.
    let type: string | undefined;
    try {
      type = loadPrivateKey(config.dkim.privateKey).asymmetricKeyType;
    } catch (err) {
      throw new ConfigError('ConfigInvalid', `${source}: dkim.privateKey: ${(err as Error).message}`);
    }
    if (type !== 'rsa') throw new ConfigError('ConfigInvalid', `${source}: dkim.privateKey: not an RSA key`);
  }
  for (const [name, value] of Object.entries(config.headers)) {
    if (!/^[!-9;-~]{1,76}$/.test(name) || /[\r\n]/.test(value)) {
      throw new ConfigError(
        'ConfigInvalid',
        `${source}: headers.${name.slice(0, 40)}: not a valid header (CR/LF or bad name)`,
      );
    }
    if ((RESERVED_HEADERS as readonly string[]).includes(name.toLowerCase())) {
      throw new ConfigError('ConfigInvalid', `${source}: headers.${name}: reserved header name`);
    }
  }
  const redactor = new Redactor([...uriSecrets(config.smtp.uri), config.dkim?.privateKey]);
  return {
    config,
    endpoint: parsed.endpoint,
    warnings: parsed.warnings,
    redactor,
    source,
    loadedAt: new Date(),
  };
}

/** Parses the text of a `config.json`. */
export function activateText(text: string, source: string): ActiveConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    // JSON.parse quotes the text around the error, which may hold the URI: say only where.
    throw new ConfigError('ConfigInvalid', `${source} is not valid JSON`);
  }
  return activate(raw, source);
}

/** What `mailroom sidecar` takes instead of a rendered config, outside Kubernetes. */
export interface FlagConfig {
  uri: string;
  from: string;
  fromName?: string;
  ca?: string;
  localName?: string;
  headers?: Record<string, string>;
  maxAttempts?: number;
  maxBackoffMs?: number;
  ratePerSecond?: number;
}

/**
 * The revision key of configs built from flags: random per process. They are never published, so
 * their revision need only tell configs apart within one process; a random key keeps the revision
 * (on the status page and in metrics) from letting anyone test password guesses against it.
 */
const FLAGS_REVISION_KEY = randomBytes(32);

/** Builds and validates a config from flags, as if the controller had rendered it. */
export function configFromFlags(f: FlagConfig, source = 'flags'): ActiveConfig {
  const smtp: RenderedConfig['smtp'] = { uri: f.uri.trim() };
  if (f.localName) smtp.localName = f.localName;
  if (f.ca) smtp.ca = f.ca;
  const from: RenderedConfig['from'] = { address: f.from };
  if (f.fromName) from.name = f.fromName;
  const body = {
    apiVersion: API_VERSION,
    kind: RENDERED_CONFIG_KIND,
    sender: { namespace: '', name: hostname() },
    smtp,
    from,
    headers: f.headers ?? {},
    delivery: {
      maxAttempts: f.maxAttempts ?? DEFAULT_DELIVERY.maxAttempts,
      maxBackoffMs: f.maxBackoffMs ?? DEFAULT_DELIVERY.maxBackoffMs,
      ratePerSecond: f.ratePerSecond ?? DEFAULT_DELIVERY.ratePerSecond,
    },
  } as Omit<RenderedConfig, 'revision'>;
  return activate({ ...body, revision: configRevision(body, FLAGS_REVISION_KEY) }, source);
}
