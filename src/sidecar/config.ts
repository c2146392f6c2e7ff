/**
 * The sidecar's config: the rendered config the controller publishes (a mounted Secret file), or one
 * built from command-line flags outside Kubernetes. Either way it is validated whole before use, and
 * a new version replaces the old one whole: there is never a half-applied config.
 *
 * @module
 */
import { hostname } from 'node:os';
import { API_VERSION } from '../api/message-fields.ts';
import {
  configRevision,
  issueMessage,
  type LoadedConfig,
  RENDERED_CONFIG_KIND,
  type RenderedConfig,
  renderedConfigSchema,
} from '../api/rendered-config.ts';
import { Redactor, redactUris } from '../runtime/redact.ts';
import { type SmtpEndpoint, type UriWarning, uriSecrets } from '../smtp/uri.ts';

/** A validated config, ready to deliver with. */
export interface ActiveConfig {
  /** The config as parsed: `smtp.uri` is the parsed URI, CA bundle and DKIM key are checked. */
  config: LoadedConfig;
  /** `config.smtp.uri.endpoint`. */
  endpoint: SmtpEndpoint;
  /** `config.smtp.uri.warnings`. */
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
 * Validates a rendered config object (the parsed `config.json`) into an {@link ActiveConfig}, through
 * the same schema the controller renders with: the URI, the CA bundle, the DKIM key and the headers
 * are checked there, because the sidecar must not trust that every writer of the file ran the
 * controller. A refusal names the field and never quotes a secret.
 */
export function activate(raw: unknown, source: string): ActiveConfig {
  const r = renderedConfigSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    // Header names are the user's own words, not secrets; every other path is the schema's.
    const at = issue.path.map((p) => String(p).slice(0, 76)).join('.');
    throw new ConfigError('ConfigInvalid', `${source}: ${at ? `${at}: ` : ''}${issueMessage(issue)}`);
  }
  const config = r.data;
  const { endpoint, warnings } = config.smtp.uri;
  const redactor = new Redactor([...uriSecrets(config.smtp.uri), config.dkim?.privateKey]);
  return { config, endpoint, warnings, redactor, source, loadedAt: new Date() };
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
let flagsKey: Uint8Array | undefined;
// Made when first needed: node:crypto is not loaded by an idle sidecar that reads a config file.
function flagsRevisionKey(): Uint8Array {
  flagsKey ??= process.getBuiltinModule('node:crypto').randomBytes(32);
  return flagsKey;
}

/**
 * The rendered config document flags stand for (the URI as text), keyed by `revisionKey` (default:
 * this process's random key).
 */
export function renderFromFlags(
  f: FlagConfig,
  revisionKey: string | Uint8Array = flagsRevisionKey(),
): RenderedConfig {
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
  return { ...body, revision: configRevision(body, revisionKey) };
}

/** Builds and validates a config from flags, as if the controller had rendered it. */
export function configFromFlags(f: FlagConfig, source = 'flags'): ActiveConfig {
  return activate(renderFromFlags(f), source);
}
